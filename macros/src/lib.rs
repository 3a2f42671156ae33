//! The `network!` procedural macro; use it as `netspec::network!`.
//!
//! A thin shim: the tokens go to [`netspec_codegen::expand_macro`], which turns them into spec
//! text, checks and generates it, and reports errors as `compile_error!`s at the tokens they
//! concern (followed by a stub type, so that one error does not cause many).
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

/// (This crate is the macro's implementation: use it as `netspec::network!`, whose page has the
/// example, the language and the generated API.)
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    netspec_codegen::expand_macro(input.into(), &netspec_codegen::Config::default()).into()
}
