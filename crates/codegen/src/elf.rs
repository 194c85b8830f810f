//! ELF writer (to be written).
