//! A frozen network: inference only, its parameters, batch-norm running statistics and fitted
//! preprocessing baked in as `static` arrays, for `no_std` targets without a heap.
//!
//! `predict` is the trained network's `predict_fixed` (the layers' own predict statements, the
//! regions bound to stack arrays), with every `self.core.params` and `self.core.buffers` of the
//! statements replaced by the statics: the same kernels on the same values, so the outputs are
//! the trained network's bit for bit on the same machine.

use netspec_grammar::ir;
use netspec_grammar::memory::predict_memory;
use netspec_grammar::{Diagnostic, Span};
use proc_macro2::{Group, Ident, TokenStream, TokenTree};
use quote::{format_ident, quote};

use super::predict::{self, Region};
use super::{Ctx, f32_tokens, layer_code, output_row, plan, usize_lit};

/// The values a frozen network bakes in, read from its checkpoint and checked against its
/// layout.
pub(crate) struct Values {
    /// The parameters, laid out as the network's flat parameter buffer.
    pub(crate) params: Vec<f32>,
    /// The f32 buffers (running means and variances), laid out as the flat buffer.
    pub(crate) buffers: Vec<f32>,
    /// The preprocessing statistics, as in the checkpoint: `preprocess.mean`, then
    /// `preprocess.std` or `preprocess.whiten` where the method keeps them.
    pub(crate) preprocess: Vec<(&'static str, Vec<f32>)>,
    /// Where they were read from, for the docs.
    pub(crate) source: String,
}

/// `DigitsMlpFrozen` -> `DIGITS_MLP_FROZEN`.
fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 && !out.ends_with('_') {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// `static NAME: [f32; N] = [...];`.
fn f32_static(
    name: &Ident,
    values: &[f32],
    doc: &str,
    span: Span,
) -> Result<TokenStream, Diagnostic> {
    let len = usize_lit(values.len());
    let items = values
        .iter()
        .map(|&v| f32_tokens(f64::from(v), "a baked-in value", span))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(quote! {
        #[doc = #doc]
        #[allow(clippy::approx_constant, clippy::excessive_precision)]
        static #name: [f32; #len] = [#(#items),*];
    })
}

/// `tokens` with each `self.core.FIELD` replaced by the static `fields` names for it; an error
/// naming the field for any other `self.core` access (state a frozen network does not have).
fn bake(tokens: TokenStream, fields: &[(&str, &Ident)]) -> Result<TokenStream, String> {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = TokenStream::new();
    let mut i = 0;
    while i < trees.len() {
        let is = |k: usize, text: &str| match trees.get(i + k) {
            Some(TokenTree::Ident(id)) => id == text,
            Some(TokenTree::Punct(p)) => {
                text.len() == 1 && p.as_char() == text.as_bytes()[0] as char
            }
            _ => false,
        };
        if is(0, "self") && is(1, ".") && is(2, "core") && is(3, ".") {
            let field = match trees.get(i + 4) {
                Some(TokenTree::Ident(id)) => id.to_string(),
                _ => String::from("?"),
            };
            let Some((_, name)) = fields.iter().find(|(f, _)| *f == field) else {
                return Err(field);
            };
            out.extend([TokenTree::Ident((*name).clone())]);
            i += 5;
            continue;
        }
        out.extend([match &trees[i] {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), bake(g.stream(), fields)?);
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            other => other.clone(),
        }]);
        i += 1;
    }
    Ok(out)
}

/// The frozen type `{Name}Frozen` of a checked network, with `values` baked in.
pub(crate) fn network(
    net: &ir::Network,
    rt: &TokenStream,
    values: &Values,
) -> Result<TokenStream, Vec<Diagnostic>> {
    let p = quote!(#rt::__private);
    let plan = plan(net);
    let [output] = plan.outputs.as_slice() else {
        return Err(vec![
            Diagnostic::error(
                net.name_span,
                format!("`{}` has heads: frozen networks have one output", net.name),
            )
            .with_help("freeze a network with a single `loss` (without `head` blocks)"),
        ]);
    };
    let ctx = Ctx { net, p: p.clone(), batch: net.batch, widths: &plan.buffers, overwritten: &[] };
    let name = format_ident!("{}Frozen", net.name);
    let prefix = screaming_snake(&name.to_string());
    let params = format_ident!("{prefix}_PARAMS");
    let buffers = format_ident!("{prefix}_BUFFERS");
    let fields = [("params", &params), ("buffers", &buffers)];

    let mut errors = Vec::new();
    let mut codes = Vec::new();
    for step in &plan.steps {
        let code = layer_code(&ctx, step).and_then(|mut code| {
            code.predict = bake(std::mem::take(&mut code.predict), &fields).map_err(|field| {
                Diagnostic::error(
                    step.layer.span,
                    format!(
                        "internal error: layer `{}` reads `{field}` in predict, which a frozen \
                         network does not have",
                        step.layer.name
                    ),
                )
            })?;
            Ok(code)
        });
        match code {
            Ok(code) => codes.push(code),
            Err(d) => errors.push(d),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let stochastic = codes.iter().any(|c| !c.resample.is_empty());

    let what = |tensor: &str| format!("`{tensor}` of {}", values.source);
    let mut statics = TokenStream::new();
    let params_doc = format!("`{}`'s parameters, from {}.", net.name, values.source);
    statics
        .extend(f32_static(&params, &values.params, &params_doc, net.span).map_err(|d| vec![d])?);
    if !values.buffers.is_empty() {
        let doc =
            format!("`{}`'s batch-norm running statistics, from {}.", net.name, values.source);
        statics.extend(f32_static(&buffers, &values.buffers, &doc, net.span).map_err(|d| vec![d])?);
    }

    let preprocess = match net.preprocess {
        None => None,
        Some(pre) => {
            // Each statistic the method keeps, as a static; `&[]` for the others.
            let mut stat = |tensor: &str| -> Result<TokenStream, Vec<Diagnostic>> {
                let Some((_, data)) = values.preprocess.iter().find(|(n, _)| *n == tensor) else {
                    return Ok(quote!(&[]));
                };
                let ident = format_ident!("{prefix}_{}", tensor.replace('.', "_").to_uppercase());
                statics.extend(
                    f32_static(&ident, data, &what(tensor), pre.span).map_err(|d| vec![d])?,
                );
                Ok(quote!(&#ident))
            };
            let mean = stat("preprocess.mean")?;
            let std = stat("preprocess.std")?;
            let whiten = stat("preprocess.whiten")?;
            let kind = super::pipeline::preprocess_kind(pre.kind);
            // Values per channel: H * W of an image, D of a vector.
            let dims = net.input.dims();
            let plane =
                usize_lit(if dims.len() == 3 { dims[1] * dims[2] } else { net.input.len() });
            let stats = format_ident!("{prefix}_PREPROCESS");
            let doc = format!("`{}`'s fitted `preprocess`, from {}.", net.name, values.source);
            statics.extend(quote! {
                #[doc = #doc]
                static #stats: #p::Stats<'static> = #p::Stats {
                    kind: #p::PreprocessKind::#kind,
                    plane: #plane,
                    mean: #mean,
                    std: #std,
                    whiten: #whiten,
                };
            });
            let preprocessed = format_ident!("preprocessed");
            let statement = quote! {
                for (x, y) in input.iter().zip(#preprocessed.iter_mut()) {
                    #stats.apply_into(x, y);
                }
                let input = &*#preprocessed;
            };
            Some((statement, Region::f32_rows(preprocessed, net.input.len())))
        }
    };

    let (input_lit, output_lit) = (usize_lit(net.input.len()), usize_lit(output.width));
    let out_ty = quote!([f32; #output_lit]);
    let predict_fixed = predict::predict_fixed(
        net,
        &plan,
        &codes,
        predict::Signature {
            p: p.clone(),
            input_lit: input_lit.clone(),
            out_ty: out_ty.clone(),
            rng_param: TokenStream::new(),
            stochastic,
            preprocess,
            assemble_r: output_row(output.buf, &quote!(r)),
            frozen: true,
        },
    )
    .map_err(|d| vec![d])?
    .method;
    let stack = predict_memory(net).chunk_bytes(1);
    let stack_lit = usize_lit(stack);
    let param_count = usize_lit(net.param_count());
    let layer_items = codes.iter().map(|c| &c.items);
    let struct_doc = format!(
        "The `{}` network frozen for inference: its {} parameters{}{} baked in from {} as \
         `static` arrays at build time. `predict` runs on the stack ({stack} bytes of \
         activations and scratch), allocates nothing and needs no initialization; it uses only \
         `core`, so it runs on `no_std` targets.",
        net.name,
        net.param_count(),
        if values.buffers.is_empty() { "" } else { ", batch-norm running statistics" },
        if net.preprocess.is_some() { " and fitted preprocessing" } else { "" },
        values.source,
    );
    let predict_doc = format!(
        " The network's output for one sample (eval mode{}), as the trained network's \
         `predict`.",
        if stochastic { ": dropout and noise off" } else { "" }
    );
    Ok(quote! {
        #statics

        #[doc = #struct_doc]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct #name;

        #[allow(clippy::approx_constant)]
        impl #name {
            /// Values per input sample.
            pub const INPUT: usize = #input_lit;
            /// Values per output.
            pub const OUTPUT: usize = #output_lit;
            /// Trainable parameters baked in.
            pub const PARAM_COUNT: usize = #param_count;
            /// Bytes of stack `predict` takes for activations and scratch (`netspec summary`'s
            /// frozen stack figure; the call frames come on top).
            pub const STACK_BYTES: usize = #stack_lit;

            #(#layer_items)*

            #[doc = #predict_doc]
            pub fn predict(&self, input: &[f32; #input_lit]) -> #out_ty {
                let mut out = [[0.0f32; #output_lit]];
                self.predict_fixed(::core::array::from_ref(input), &mut out);
                out[0]
            }

            #predict_fixed
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(screaming_snake("DigitsMlpFrozen"), "DIGITS_MLP_FROZEN");
        assert_eq!(screaming_snake("Xor"), "XOR");
    }

    #[test]
    fn bake_replaces_core_fields_and_refuses_others() {
        let params = format_ident!("P");
        let fields = [("params", &params)];
        let baked = bake(quote!(f(&self.core.params, [self.core.params[0]])), &fields).unwrap();
        assert_eq!(baked.to_string(), quote!(f(&P, [P[0]])).to_string());
        assert_eq!(bake(quote!(g(&self.core.grads)), &fields).unwrap_err(), "grads");
    }
}
