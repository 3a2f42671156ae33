//! No code: the `network!` macro's compile-time tests are in `tests/ui.rs`. They live in a
//! package of their own so that trybuild's project builds the facade with `std` alone.

#![forbid(unsafe_code)]
