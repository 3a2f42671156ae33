//! Rust tokens <-> spec text, for `network!`.
//!
//! The macro receives Rust tokens; the front end reads text. [`SpecText::from_tokens`] joins the
//! tokens with single spaces (writing group delimiters) and remembers, for every token, its byte
//! range in the text and its [`proc_macro2::Span`], so a diagnostic's byte span maps back to the
//! tokens the user wrote.

use std::ops::Range;

use netspec_grammar::Diagnostic;
use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// What kind of token stands at a range of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An identifier or keyword.
    Ident,
    /// A punctuation character.
    Punct,
    /// A literal.
    Literal,
    /// An opening or closing delimiter of a group.
    Delimiter,
}

/// One token of the macro input as it appears in the text.
#[derive(Debug, Clone)]
pub struct TextToken {
    /// Its bytes in [`SpecText::text`].
    pub range: Range<usize>,
    /// Where the user wrote it.
    pub span: Span,
    /// What it is.
    pub kind: TokenKind,
}

/// Spec text built from macro tokens, with the way back from bytes to tokens.
#[derive(Debug, Clone, Default)]
pub struct SpecText {
    /// The tokens joined by single spaces.
    pub text: String,
    /// Every token, in text order.
    pub tokens: Vec<TextToken>,
}

impl SpecText {
    /// Joins `input` into text, recursing into groups.
    pub fn from_tokens(input: TokenStream) -> SpecText {
        let mut spec = SpecText::default();
        spec.walk(input);
        spec
    }

    fn push(&mut self, text: &str, span: Span, kind: TokenKind) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        let start = self.text.len();
        self.text.push_str(text);
        self.tokens.push(TextToken { range: start..self.text.len(), span, kind });
    }

    fn walk(&mut self, input: TokenStream) {
        for tree in input {
            match tree {
                TokenTree::Group(group) => {
                    let (open, close) = match group.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Bracket => ("[", "]"),
                        // From `macro_rules!` fragments: no text of its own.
                        Delimiter::None => ("", ""),
                    };
                    if !open.is_empty() {
                        self.push(open, group.span_open(), TokenKind::Delimiter);
                    }
                    self.walk(group.stream());
                    if !close.is_empty() {
                        self.push(close, group.span_close(), TokenKind::Delimiter);
                    }
                }
                TokenTree::Ident(ident) => {
                    self.push(&ident.to_string(), ident.span(), TokenKind::Ident)
                }
                TokenTree::Punct(punct) => {
                    self.push(&punct.as_char().to_string(), punct.span(), TokenKind::Punct)
                }
                TokenTree::Literal(literal) => {
                    self.push(&literal.to_string(), literal.span(), TokenKind::Literal)
                }
            }
        }
    }

    /// The index of the token containing byte `offset`, else of the nearest token before it,
    /// else the first token; `None` only when there are no tokens.
    pub fn token_at(&self, offset: usize) -> Option<usize> {
        // Tokens are sorted by start: the last one starting at or before `offset` contains it
        // or is the nearest before it (offsets in the separating spaces map to the left).
        let after = self.tokens.partition_point(|t| t.range.start <= offset);
        if after == 0 { (!self.tokens.is_empty()).then_some(0) } else { Some(after - 1) }
    }

    /// The span of the token at byte `offset` (see [`SpecText::token_at`]); the macro call site
    /// when the input was empty.
    pub fn span_at(&self, offset: usize) -> Span {
        self.token_at(offset).map_or_else(Span::call_site, |i| self.tokens[i].span)
    }

    /// Every `network NAME` pair of the tokens: the names to give skeletons when checking fails.
    pub fn network_names(&self) -> Vec<(String, Span)> {
        self.tokens
            .windows(2)
            .filter(|pair| {
                pair[0].kind == TokenKind::Ident
                    && &self.text[pair[0].range.clone()] == "network"
                    && pair[1].kind == TokenKind::Ident
            })
            .map(|pair| (self.text[pair[1].range.clone()].to_string(), pair[1].span))
            .collect()
    }

    /// `::core::compile_error! { "..." }` located at the diagnostic's tokens, then its help as a
    /// second `compile_error!` at the same tokens.
    ///
    /// As `syn::Error::to_compile_error` does: the path carries the first token's span and the
    /// braces the last one's, so rustc underlines from the first to the last token of the span.
    /// rustc prints a `compile_error!`'s message above its location, and a stable proc macro
    /// can attach no `= help:` line below it; the help's own `error: help: ...` is what
    /// follows the location line (the label is left out: it is written to stand beside a
    /// caret, and would only repeat the message).
    pub fn compile_error(&self, diagnostic: &Diagnostic) -> TokenStream {
        let first = self.span_at(diagnostic.span.start);
        let last_byte = diagnostic.span.end.saturating_sub(1).max(diagnostic.span.start);
        let last = self.span_at(last_byte);
        let mut out = compile_error_tokens(&diagnostic.message, first, last);
        if let Some(help) = &diagnostic.help {
            out.extend(compile_error_tokens(&format!("help: {help}"), first, last));
        }
        out
    }
}

/// `::core::compile_error! { "message" }` spanning `first` to `last`.
pub fn compile_error_tokens(message: &str, first: Span, last: Span) -> TokenStream {
    let mut colon1 = Punct::new(':', Spacing::Joint);
    colon1.set_span(first);
    let mut colon2 = Punct::new(':', Spacing::Alone);
    colon2.set_span(first);
    let mut colon3 = colon1.clone();
    colon3.set_span(first);
    let mut colon4 = colon2.clone();
    colon4.set_span(first);
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(first);
    let mut literal = Literal::string(message);
    literal.set_span(last);
    let mut body = Group::new(Delimiter::Brace, TokenTree::Literal(literal).into());
    body.set_span(last);
    [
        TokenTree::Punct(colon1),
        TokenTree::Punct(colon2),
        TokenTree::Ident(Ident::new("core", first)),
        TokenTree::Punct(colon3),
        TokenTree::Punct(colon4),
        TokenTree::Ident(Ident::new("compile_error", first)),
        TokenTree::Punct(bang),
        TokenTree::Group(body),
    ]
    .into_iter()
    .collect()
}

/// After an error: a struct with the generated API's constants and methods (never run, since
/// the crate does not compile), so that uses of the type add no errors of their own; nothing
/// when `name` cannot be a type name, and only the struct when the runtime path is unusable.
pub fn skeleton(name: &str, span: Span, runtime: Option<&TokenStream>) -> TokenStream {
    if !netspec_grammar::is_type_name(name) {
        return TokenStream::new();
    }
    let ident = Ident::new(name, span);
    let Some(rt) = runtime else {
        return quote::quote! {
            #[allow(dead_code)]
            pub struct #ident;
        };
    };
    let p = quote::quote!(#rt::__private);
    let never = quote::quote!(::core::unreachable!("the network spec has errors"));
    quote::quote! {
        #[allow(dead_code)]
        pub struct #ident;
        #[allow(dead_code, unused_variables)]
        impl #ident {
            pub const INPUT: usize = 0;
            pub const OUTPUT: usize = 0;
            pub const BATCH: usize = 0;
            pub const PARAM_COUNT: usize = 0;
            pub const BUFFER_COUNT: usize = 0;
            pub const PARAMS: &'static [#p::ParamInfo] = &[];
            pub const BUFFERS: &'static [#p::BufferInfo] = &[];
            pub fn new(rng: &mut #p::Rng) -> Self { #never }
            pub fn params(&self) -> &[f32] { #never }
            pub fn params_mut(&mut self) -> &mut [f32] { #never }
            pub fn grads(&self) -> &[f32] { #never }
            pub fn buffers(&self) -> &[f32] { #never }
            pub fn buffers_mut(&mut self) -> &mut [f32] { #never }
            pub fn counters(&self) -> &[i64] { #never }
            pub fn set_training(&mut self, training: bool) { #never }
            pub fn is_training(&self) -> bool { #never }
            pub fn last_loss(&self) -> #p::StepLoss { #never }
            pub fn resample(&mut self, rng: &mut #p::Rng) { #never }
            pub fn predict<const I: usize, O>(&self, input: &[f32; I]) -> O { #never }
            pub fn predict_sample<const I: usize, O>(&self, input: &[f32; I], rng: &mut #p::Rng) -> O { #never }
            pub fn predict_mc<const I: usize, O>(&self, input: &[f32; I], k: usize, rng: &mut #p::Rng) -> O { #never }
            pub fn predict_batch<O>(&self, inputs: &[f32], outputs: &mut [O]) -> ::core::result::Result<(), #p::BatchError> { #never }
            pub fn forward<O>(&mut self, inputs: &[f32], outputs: &mut [O], rng: &mut #p::Rng) -> ::core::result::Result<(), #p::BatchError> { #never }
            pub fn loss_and_grad<T>(&mut self, inputs: &[f32], targets: T) -> ::core::result::Result<f32, #p::BatchError> { #never }
            pub fn train_step<T>(&mut self, inputs: &[f32], targets: T, optimizer: &mut impl #p::Optimizer, rng: &mut #p::Rng) -> ::core::result::Result<f32, #p::BatchError> { #never }
            pub fn save(&self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), #p::CheckpointError> { #never }
            pub fn load(&mut self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), #p::CheckpointError> { #never }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netspec_grammar::Span as ByteSpan;

    fn spec(text: &str) -> SpecText {
        SpecText::from_tokens(text.parse().unwrap())
    }

    #[test]
    fn joins_tokens_with_single_spaces() {
        let s = spec("network Xor { input image(1, 8, 8); penalty l1 -1e-5 on dense1.weight; }");
        assert_eq!(
            s.text,
            "network Xor { input image ( 1 , 8 , 8 ) ; penalty l1 - 1e-5 on dense1 . weight ; }"
        );
        for t in &s.tokens {
            assert!(!s.text[t.range.clone()].contains(' '));
        }
        assert_eq!(s.tokens.len(), s.text.split(' ').count());
    }

    #[test]
    fn maps_offsets_to_tokens() {
        let s = spec("network Xor { dense 8 ; }");
        // "network Xor { dense 8 ; }"
        //  0       8   12 14    20 22 24
        assert_eq!(s.token_at(0), Some(0));
        assert_eq!(s.token_at(6), Some(0));
        assert_eq!(s.token_at(7), Some(0), "the space after a token maps to it");
        assert_eq!(s.token_at(8), Some(1));
        assert_eq!(s.token_at(14), Some(3));
        assert_eq!(s.token_at(18), Some(3));
        assert_eq!(s.token_at(20), Some(4));
        assert_eq!(s.token_at(24), Some(6));
        assert_eq!(s.token_at(1000), Some(6), "past the end maps to the last token");
        assert_eq!(SpecText::default().token_at(0), None);
    }

    #[test]
    fn compile_error_carries_message_and_help() {
        let s = spec("network Xor { conv 3 ; }");
        let d = Diagnostic::error(ByteSpan::new(14, 20), "`conv` is not supported")
            .with_help("remove it");
        let out = s.compile_error(&d).to_string();
        assert_eq!(
            out,
            ":: core :: compile_error ! { \"`conv` is not supported\" } \
             :: core :: compile_error ! { \"help: remove it\" }"
        );
    }

    #[test]
    fn finds_network_names() {
        let s = spec("network A { } network B { network }");
        let names: Vec<String> = s.network_names().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A", "B"]);
        let runtime: TokenStream = "::netspec".parse().unwrap();
        assert!(skeleton("type", Span::call_site(), Some(&runtime)).is_empty());
        assert_eq!(
            skeleton("A", Span::call_site(), None).to_string(),
            "# [allow (dead_code)] pub struct A ;"
        );
        // With a runtime path the skeleton carries the API's names, typed through the runtime.
        let full = skeleton("A", Span::call_site(), Some(&runtime)).to_string();
        for item in ["pub struct A", "impl A", "fn new", "fn train_step", "const OUTPUT", "fn load"]
        {
            assert!(full.contains(item), "{item} missing from {full}");
        }
        assert!(full.contains(":: netspec :: __private :: Rng"), "{full}");
    }
}
