//! `dense` (nn.Linear), with DropConnect (Wan et al. 2013) when the layer asks for it.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::Role;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{Ctx, Field, LayerCode, Step, f32_tokens, usize_lit};

// The dense loops are the runtime's register-tiled kernels (`netspec_runtime::kernels`), which
// pick their tile by the layer's shape and the CPU's instruction set and keep the summation
// order of plain loops (bit-identical results on every machine). `matrixmultiply::sgemm` is
// faster for layers 64 wide and up but allocates its packing buffer on every call, and the
// generated code must not allocate per step (README "Performance").

pub(super) fn code(ctx: &Ctx<'_>, step: &Step<'_>) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let k = &ctx.kernels;
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
    let (b_param, b_arg, b_add, b_opt, b_grad) = match bias {
        Some(b) => {
            let (b0, b1) = (usize_lit(b.offset), usize_lit(b.offset + b.len));
            (
                quote!(b: &[f32],),
                quote!(&self.core.params[#b0..#b1],),
                quote!(+ *b),
                quote!(::core::option::Option::Some(b)),
                quote! {
                    // dL/db = sum over the batch of dy
                    #k::dense_backward_db::<#wout>(&mut grads[#b0..#b1], dy);
                },
            )
        }
        None => (
            TokenStream::new(),
            TokenStream::new(),
            TokenStream::new(),
            quote!(::core::option::Option::None),
            TokenStream::new(),
        ),
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
                #k::dense_backward_dx::<#win, #wout>(w.as_chunks::<#win>().0, dy, dx);
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
    let predict = quote!(Self::#forward(&self.core.params[#w0..#w1], #b_arg #one_x, #one_y););
    let mut code = LayerCode { predict: predict.clone(), ..LayerCode::default() };

    let forward_rows = quote! {
        #k::dense_forward::<#win, #wout>(w.as_chunks::<#win>().0, #b_opt, x, y);
    };
    let dw_rows = quote! {
        // dL/dW += dy^T x
        #k::dense_backward_dw::<#win, #wout>(grads[#w0..#w1].as_chunks_mut::<#win>().0, x, dy);
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
            code.forward = quote!(Self::#forward(&self.core.params[#w0..#w1], #b_arg #x, #y););
            code.backward = quote!(Self::#backward(&self.core.params[#w0..#w1], &mut self.core.grads, #x, #dy #dx););
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
                    #p::mask_weights(&self.core.params[#w0..#w1], &self.#mask, &mut self.#masked);
                    Self::#forward(&self.#masked, #b_arg #x, #y);
                } else {
                    Self::#forward(&self.core.params[#w0..#w1], #b_arg #x, #y);
                }
            };
            code.backward = quote! {
                if training {
                    Self::#backward(&self.#masked, ::core::option::Option::Some(&self.#mask), &mut self.core.grads, #x, #dy #dx);
                } else {
                    Self::#backward(&self.core.params[#w0..#w1], ::core::option::Option::None, &mut self.core.grads, #x, #dy #dx);
                }
            };
            let (row_x, row_y) = (ctx.one_row(step.x), ctx.one_row_mut(step.y));
            code.sample =
                quote!(Self::#sample(&self.core.params[#w0..#w1], #b_arg #row_x, #row_y, rng););
        }
    }
    Ok(code)
}
