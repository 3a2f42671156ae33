//! `dense` (nn.Linear), with DropConnect (Wan et al. 2013) when the layer asks for it.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::Role;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{Ctx, Field, LayerCode, Step, f32_tokens, usize_lit};

pub(super) fn code(ctx: &Ctx<'_>, step: &Step<'_>) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let (forward, backward, sample) = (
        format_ident!("{name}_forward"),
        format_ident!("{name}_backward"),
        format_ident!("{name}_sample"),
    );
    let (win, wout) = (usize_lit(step.width_in), usize_lit(step.width_out));
    let param = |role| layer.params.iter().map(|&i| &ctx.net.params[i]).find(|p| p.role == role);
    let Some(weight) = param(Role::Weight) else {
        return Err(Diagnostic::error(
            layer.span,
            "internal error: a dense layer without a weight",
        ));
    };
    let (w0, w1) = (usize_lit(weight.offset), usize_lit(weight.offset + weight.len));
    let bias = param(Role::Bias);
    let dropconnect = match layer.op {
        netspec_grammar::ir::Op::Dense { dropconnect, .. } => dropconnect,
        _ => None,
    };

    // Bias: an argument, its use forward and its gradient.
    let (b_param, b_arg, b_add, b_grad) = match bias {
        Some(b) => {
            let (b0, b1) = (usize_lit(b.offset), usize_lit(b.offset + b.len));
            (
                quote!(b: &[f32],),
                quote!(&self.params[#b0..#b1],),
                quote!(+ *b),
                quote! {
                    // dL/db = sum over the batch of dy
                    let db = &mut grads[#b0..#b1];
                    for dy in dy {
                        for (db, &g) in db.iter_mut().zip(dy) {
                            *db += g;
                        }
                    }
                },
            )
        }
        None => (TokenStream::new(), TokenStream::new(), TokenStream::new(), TokenStream::new()),
    };
    let (zip_b, b_pat) = if bias.is_some() {
        (quote!(.zip(b)), quote!(((y, w), b)))
    } else {
        (quote!(), quote!((y, w)))
    };
    let (dx_param, dx_body) = if step.needs_dx() {
        (
            quote!(, dx: &mut [[f32; #win]]),
            quote! {
                // dL/dx += dy W
                let (w, _) = w.as_chunks::<#win>();
                for (dx, dy) in dx.iter_mut().zip(dy) {
                    for (w, &g) in w.iter().zip(dy) {
                        for (dx, &w) in dx.iter_mut().zip(w) {
                            *dx += g * w;
                        }
                    }
                }
            },
        )
    } else {
        (TokenStream::new(), TokenStream::new())
    };
    let w_param = format!("params[{}..{}]", weight.offset, weight.offset + weight.len);
    let doc_f = match dropconnect {
        None => format!(
            "`{name}` forward: y = x W^T + b (nn.Linear); `w` is W `[{}, {}]` = {w_param}.",
            step.width_out, step.width_in
        ),
        Some(p) => format!(
            "`{name}` forward: y = x W^T + b (nn.Linear); `w` is W `[{}, {}]` = {w_param} in eval \
             mode (the mean network) and the DropConnect weight W * M / (1 - {p}) while training, \
             one mask M per mini-batch.",
            step.width_out, step.width_in
        ),
    };
    let x = ctx.rows(step.x, step.width_in);
    let y = ctx.rows_mut(step.y, step.width_out);
    let dy = ctx.grad_rows(step.y, step.width_out);
    let dx = ctx.grad_rows_mut(step.x, step.width_in).map(|dx| quote!(, #dx));
    let (one_x, one_y) = (ctx.one(step.x), ctx.one_mut(step.y));
    let predict = quote!(Self::#forward(&self.params[#w0..#w1], #b_arg #one_x, #one_y););
    let mut code = LayerCode { predict: predict.clone(), ..LayerCode::default() };

    let forward_rows = quote! {
        let (w, _) = w.as_chunks::<#win>();
        for (x, y) in x.iter().zip(y.iter_mut()) {
            for #b_pat in y.iter_mut().zip(w) #zip_b {
                *y = #p::dot(w, x) #b_add;
            }
        }
    };
    let dw_rows = quote! {
        // dL/dW += dy^T x
        let (dw, _) = grads[#w0..#w1].as_chunks_mut::<#win>();
        for (x, dy) in x.iter().zip(dy) {
            for (dw, &g) in dw.iter_mut().zip(dy) {
                for (dw, &x) in dw.iter_mut().zip(x) {
                    *dw += g * x;
                }
            }
        }
    };

    match dropconnect {
        None => {
            code.items = quote! {
                #[doc = #doc_f]
                fn #forward(w: &[f32], #b_param x: &[[f32; #win]], y: &mut [[f32; #wout]]) {
                    #forward_rows
                }

                /// Backward of the layer above: accumulates dL/dW and dL/db into `grads` and
                /// adds dL/dx to `dx`.
                fn #backward(w: &[f32], grads: &mut [f32], x: &[[f32; #win]], dy: &[[f32; #wout]] #dx_param) {
                    #dw_rows
                    #b_grad
                    let _ = w;
                    #dx_body
                }
            };
            code.forward = quote!(Self::#forward(&self.params[#w0..#w1], #b_arg #x, #y););
            code.backward =
                quote!(Self::#backward(&self.params[#w0..#w1], &mut self.grads, #x, #dy #dx););
            code.sample = predict;
        }
        Some(drop) => {
            let keep = 1.0 - drop;
            let p_lit = f32_tokens(drop, "the DropConnect probability", layer.span)?;
            let scale = f32_tokens(1.0 / keep, "1 / (1 - p)", layer.span)?;
            let mask = format_ident!("{name}_mask");
            let masked = format_ident!("{name}_masked_weight");
            let len = usize_lit(weight.len);
            code.fields.push(Field {
                name: mask.clone(),
                ty: quote!(::std::vec::Vec<f32>),
                init: quote!(::std::vec![#scale; #len]),
                doc: format!(
                    "`{name}` DropConnect mask, one per mini-batch: 0 (dropped) or 1/(1-p) per weight."
                ),
            });
            code.fields.push(Field {
                name: masked.clone(),
                ty: quote!(::std::vec::Vec<f32>),
                init: quote!(::std::vec![0.0f32; #len]),
                doc: format!("`{name}` weight times its DropConnect mask, while training."),
            });
            code.noise_hook = Some(mask.clone());
            code.resample = quote!(#p::bernoulli_mask(&mut self.#mask, #p_lit, #scale, rng););
            code.items = quote! {
                #[doc = #doc_f]
                fn #forward(w: &[f32], #b_param x: &[[f32; #win]], y: &mut [[f32; #wout]]) {
                    #forward_rows
                }

                /// Backward of the layer above, with `w` the weight the forward pass used:
                /// accumulates dL/dW (times the DropConnect mask while training, `mask` then)
                /// and dL/db into `grads` and adds dL/dx = dy w to `dx`.
                fn #backward(w: &[f32], mask: ::core::option::Option<&[f32]>, grads: &mut [f32], x: &[[f32; #win]], dy: &[[f32; #wout]] #dx_param) {
                    #dw_rows
                    // dL/dW = (dy^T x) * M / (1 - p): only kept weights learn.
                    if let ::core::option::Option::Some(mask) = mask {
                        for (dw, &m) in grads[#w0..#w1].iter_mut().zip(mask) {
                            *dw *= m;
                        }
                    }
                    #b_grad
                    let _ = w;
                    #dx_body
                }

                /// One sample with its own DropConnect mask, drawn from `rng` weight by weight
                /// (MC inference).
                fn #sample(w: &[f32], #b_param x: &[f32; #win], y: &mut [f32; #wout], rng: &mut #p::Rng) {
                    let (w, _) = w.as_chunks::<#win>();
                    for #b_pat in y.iter_mut().zip(w) #zip_b {
                        let mut sum = 0.0f32;
                        for (&w, &x) in w.iter().zip(x) {
                            // w * m with m = 0 (probability p) or 1/(1-p)
                            if !rng.bernoulli(#p_lit) {
                                sum += w * #scale * x;
                            }
                        }
                        *y = sum #b_add;
                    }
                }
            };
            code.forward = quote! {
                if training {
                    #p::mask_weights(&self.params[#w0..#w1], &self.#mask, &mut self.#masked);
                    Self::#forward(&self.#masked, #b_arg #x, #y);
                } else {
                    Self::#forward(&self.params[#w0..#w1], #b_arg #x, #y);
                }
            };
            code.backward = quote! {
                if training {
                    Self::#backward(&self.#masked, ::core::option::Option::Some(&self.#mask), &mut self.grads, #x, #dy #dx);
                } else {
                    Self::#backward(&self.params[#w0..#w1], ::core::option::Option::None, &mut self.grads, #x, #dy #dx);
                }
            };
            let (row_x, row_y) = (ctx.one_row(step.x), ctx.one_row_mut(step.y));
            code.sample =
                quote!(Self::#sample(&self.params[#w0..#w1], #b_arg #row_x, #row_y, rng););
        }
    }
    Ok(code)
}
