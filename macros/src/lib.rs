//! The `network!` procedural macro; use it as `netspec::network!`.
//!
//! A thin shim: the tokens go to [`netspec_codegen::expand_macro`], which turns them into spec
//! text, checks and generates it, and reports errors as `compile_error!`s at the tokens they
//! concern (followed by a stub type, so that one error does not cause many).
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

/// Compiles the network specs written inside into Rust types.
///
/// ```ignore
/// netspec::network! {
///     network Xor { input 2; dense 8 init xavier_normal; tanh; dense 1; loss mse; }
/// }
/// ```
///
/// See the `netspec` crate for the generated API.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    netspec_codegen::expand_macro(input.into(), &netspec_codegen::Config::default()).into()
}
