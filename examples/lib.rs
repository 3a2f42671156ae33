//! The examples live beside this file: `cargo run --release --example digits` (a spec file
//! compiled by `build.rs`) and `cargo run --release --example iris` (a `network!` block).

#![forbid(unsafe_code)]

pub mod claims;
