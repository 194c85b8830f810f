//! kestrel command-line interface.
fn main() {}
