//! kestrel-obj: the contract between kestrel's compilers and its loaders.
//!
//! An [`ObjectSpec`] is plain data, identical on every machine: programs (instructions,
//! where they attach, which instructions load which map), map specs, the printf and action
//! tables userspace needs to decode events. Compilers (codegen for scripts, net for packet
//! programs) produce it; loaders (runtime, through kestrel-sys) turn it into live objects.
//! This crate also holds what works on specs alone: the ELF writer behind `--emit-obj`
//! ([`elf`]), the structural checker every generated program passes ([`check`]) and the
//! printf grammar that sema and the runtime's formatter share ([`printf`]).
//! It makes no syscalls and knows nothing of the language.
//!
//! ```
//! use kestrel_obj::{MapKind, MapRole, MapSpec, ObjectSpec};
//! let mut obj = ObjectSpec::default();
//! obj.maps.push(MapSpec {
//!     name: "events".into(),
//!     kind: MapKind::RingBuf,
//!     key_size: 0,
//!     value_size: 0,
//!     max_entries: 1 << 16,
//!     flags: 0,
//!     role: MapRole::Events,
//! });
//! assert!(kestrel_obj::check::check_object(&obj).is_ok());
//! ```

pub mod check;
pub mod elf;
pub mod printf;
pub mod spec;

pub use spec::*;
