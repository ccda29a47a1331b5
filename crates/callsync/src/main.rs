//! The `callsync` binary: a thin shell over the library; see `lib.rs`.
fn main() {}
