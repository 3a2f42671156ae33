//! Elementwise layers: activations, dropout and Gaussian noise.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::{Activation, Rescale};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{Ctx, Field, LayerCode, Step, f32_tokens, usize_lit};

pub(super) fn activation(
    ctx: &Ctx<'_>,
    step: &Step<'_>,
    activation: Activation,
) -> Result<LayerCode, Diagnostic> {
    let layer = step.layer;
    let forward = format_ident!("{}_forward", layer.name);
    let backward = format_ident!("{}_backward", layer.name);
    let (win, wout) = (usize_lit(step.width_in), usize_lit(step.width_out));
    let (name, fwd, bwd, uses_x, uses_y) = match activation {
        // PyTorch: relu(x) = max(x, 0) (NaN stays NaN); threshold_backward: dy where y > 0.
        Activation::Relu => (
            "relu",
            quote!(if x < 0.0 { 0.0 } else { x }),
            quote!(if x > 0.0 { dy } else { 0.0 }),
            true,
            false,
        ),
        Activation::LeakyRelu { slope } => {
            let a = f32_tokens(slope, "the leaky_relu slope", layer.span)?;
            // nn.LeakyReLU: x > 0 ? x : slope * x, and the same factor backward.
            (
                "leaky_relu",
                quote!(if x > 0.0 { x } else { #a * x }),
                quote!(if x > 0.0 { dy } else { #a * dy }),
                true,
                false,
            )
        }
        // d tanh(x)/dx = 1 - tanh(x)^2
        Activation::Tanh => ("tanh", quote!(x.tanh()), quote!(dy * (1.0 - y * y)), false, true),
        // d sigmoid(x)/dx = s (1 - s)
        Activation::Sigmoid => {
            ("sigmoid", quote!(1.0 / (1.0 + (-x).exp())), quote!(dy * y * (1.0 - y)), false, true)
        }
        Activation::Identity => ("identity", quote!(x), quote!(dy), false, false),
    };
    let x_pat = if uses_x { quote!(&x) } else { quote!(_) };
    let y_pat = if uses_y { quote!(&y) } else { quote!(_) };
    let doc_f = format!("`{}` forward: {name}, {} values per sample.", layer.name, step.width_out);
    let backward_fn = step.needs_dx().then(|| {
        quote! {
            /// Backward of the activation above, from its input `x` and output `y`; adds to `dx`.
            fn #backward(x: &[[f32; #win]], y: &[[f32; #wout]], dy: &[[f32; #wout]], dx: &mut [[f32; #win]]) {
                // One loop over every value (rows flattened), which the compiler vectorizes.
                let (x, y, dy) = (x.as_flattened(), y.as_flattened(), dy.as_flattened());
                for (((#x_pat, #y_pat), &dy), dx) in x.iter().zip(y).zip(dy).zip(dx.as_flattened_mut()) {
                    *dx += #bwd;
                }
            }
        }
    });
    let (x, y) = (ctx.rows(step.x, step.width_in), ctx.rows_mut(step.y, step.width_out));
    let predict = {
        let (x, y) = (ctx.one(step.x), ctx.one_mut(step.y));
        quote!(Self::#forward(#x, #y);)
    };
    let backward_call = match ctx.grad_rows_mut(step.x, step.width_in) {
        Some(dx) => {
            let y_read = ctx.rows(step.y, step.width_out);
            let dy = ctx.grad_rows(step.y, step.width_out);
            quote!(Self::#backward(#x, #y_read, #dy, #dx);)
        }
        None => TokenStream::new(),
    };
    Ok(LayerCode {
        items: quote! {
            #[doc = #doc_f]
            fn #forward(x: &[[f32; #win]], y: &mut [[f32; #wout]]) {
                // One loop over every value (rows flattened), which the compiler vectorizes.
                for (&x, y) in x.as_flattened().iter().zip(y.as_flattened_mut()) {
                    *y = #fwd;
                }
            }
            #backward_fn
        },
        forward: quote!(Self::#forward(#x, #y);),
        backward: backward_call,
        sample: predict.clone(),
        predict,
        ..LayerCode::default()
    })
}

/// `dropout p [rescale train|test]`: one Bernoulli draw per sample and unit.
pub(super) fn dropout(
    ctx: &Ctx<'_>,
    step: &Step<'_>,
    drop: f64,
    rescale: Rescale,
) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let (forward, backward, sample) = (
        format_ident!("{name}_forward"),
        format_ident!("{name}_backward"),
        format_ident!("{name}_sample"),
    );
    let w = usize_lit(step.width_out);
    let p_lit = f32_tokens(drop, "the dropout probability", layer.span)?;
    // Inverted (nn.Dropout): kept units times 1/(1-p) while training, identity in eval.
    // Original paper: kept units unscaled while training, times (1-p) in eval.
    let (keep, eval, rule) = match rescale {
        Rescale::Train => (
            1.0 / (1.0 - drop),
            1.0,
            "inverted: kept units times 1/(1-p) while training, identity in eval (nn.Dropout)",
        ),
        Rescale::Test => (
            1.0,
            1.0 - drop,
            "kept units unscaled while training, every unit times (1-p) in eval (Srivastava et al. 2014, weight scaling)",
        ),
    };
    let keep = f32_tokens(keep, "the kept-unit scale", layer.span)?;
    let eval = f32_tokens(eval, "the eval scale", layer.span)?;
    let mask = format_ident!("{name}_mask");
    let doc_f = format!(
        "`{name}` forward: y = x * mask while training (mask 0 with probability {drop}, one draw \
         per sample and unit), `mask = None` in eval; {rule}."
    );
    let (x, y) = (ctx.rows(step.x, step.width_out), ctx.rows_mut(step.y, step.width_out));
    let mask_arg = quote!(training.then(|| self.#mask.as_chunks::<#w>().0));
    let (one_x, one_y) = (ctx.one(step.x), ctx.one_mut(step.y));
    let (row_x, row_y) = (ctx.one_row(step.x), ctx.one_row_mut(step.y));
    let backward_call = match ctx.grad_rows_mut(step.x, step.width_in) {
        Some(dx) => {
            let dy = ctx.grad_rows(step.y, step.width_out);
            quote!(Self::#backward(#dy, #mask_arg, #dx);)
        }
        None => TokenStream::new(),
    };
    let backward_fn = step.needs_dx().then(|| {
        quote! {
            /// Backward of the dropout above: dx += dy * mask (dy * eval scale in eval).
            fn #backward(dy: &[[f32; #w]], mask: ::core::option::Option<&[[f32; #w]]>, dx: &mut [[f32; #w]]) {
                match mask {
                    ::core::option::Option::Some(mask) => {
                        for ((dy, m), dx) in dy.iter().zip(mask).zip(dx.iter_mut()) {
                            for ((&dy, &m), dx) in dy.iter().zip(m).zip(dx.iter_mut()) {
                                *dx += dy * m;
                            }
                        }
                    }
                    ::core::option::Option::None => {
                        for (dy, dx) in dy.iter().zip(dx.iter_mut()) {
                            for (&dy, dx) in dy.iter().zip(dx.iter_mut()) {
                                *dx += dy * #eval;
                            }
                        }
                    }
                }
            }
        }
    });
    let len = usize_lit(ctx.batch * step.width_out);
    Ok(LayerCode {
        items: quote! {
            #[doc = #doc_f]
            fn #forward(x: &[[f32; #w]], mask: ::core::option::Option<&[[f32; #w]]>, y: &mut [[f32; #w]]) {
                match mask {
                    ::core::option::Option::Some(mask) => {
                        for ((x, m), y) in x.iter().zip(mask).zip(y.iter_mut()) {
                            for ((&x, &m), y) in x.iter().zip(m).zip(y.iter_mut()) {
                                *y = x * m;
                            }
                        }
                    }
                    ::core::option::Option::None => {
                        for (x, y) in x.iter().zip(y.iter_mut()) {
                            for (&x, y) in x.iter().zip(y.iter_mut()) {
                                *y = x * #eval;
                            }
                        }
                    }
                }
            }
            #backward_fn

            /// One sample with a fresh mask drawn from `rng` (MC dropout).
            fn #sample(x: &[f32; #w], y: &mut [f32; #w], rng: &mut #p::Rng) {
                for (&x, y) in x.iter().zip(y.iter_mut()) {
                    *y = if rng.bernoulli(#p_lit) { 0.0 } else { x * #keep };
                }
            }
        },
        fields: vec![Field {
            name: mask.clone(),
            ty: quote!(::std::vec::Vec<f32>),
            init: quote!(::std::vec![#keep; #len]),
            doc: format!(
                "`{name}` mask of the last draw: 0 or the kept-unit scale per sample and unit."
            ),
        }],
        forward: quote!(Self::#forward(#x, #mask_arg, #y);),
        backward: backward_call,
        predict: quote!(Self::#forward(#one_x, ::core::option::Option::None, #one_y);),
        sample: quote!(Self::#sample(#row_x, #row_y, rng);),
        resample: quote!(#p::bernoulli_mask(&mut self.#mask, #p_lit, #keep, rng);),
        noise_hook: Some(mask),
    })
}

/// `noise gaussian sigma`: y = x + sigma * N(0, 1) per sample and unit while training.
pub(super) fn noise(ctx: &Ctx<'_>, step: &Step<'_>, sigma: f64) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let (forward, backward, sample) = (
        format_ident!("{name}_forward"),
        format_ident!("{name}_backward"),
        format_ident!("{name}_sample"),
    );
    let w = usize_lit(step.width_out);
    let sigma_lit = f32_tokens(sigma, "the noise level", layer.span)?;
    let noise = format_ident!("{name}_noise");
    let doc_f = format!(
        "`{name}` forward: y = x + n while training, n ~ N(0, {sigma}^2) drawn per sample and \
         unit (`noise = None` in eval: y = x)."
    );
    let (x, y) = (ctx.rows(step.x, step.width_out), ctx.rows_mut(step.y, step.width_out));
    let (one_x, one_y) = (ctx.one(step.x), ctx.one_mut(step.y));
    let (row_x, row_y) = (ctx.one_row(step.x), ctx.one_row_mut(step.y));
    let backward_call = match ctx.grad_rows_mut(step.x, step.width_in) {
        Some(dx) => {
            let dy = ctx.grad_rows(step.y, step.width_out);
            quote!(Self::#backward(#dy, #dx);)
        }
        None => TokenStream::new(),
    };
    let backward_fn = step.needs_dx().then(|| {
        quote! {
            /// Backward of the noise above: dx += dy (the noise does not depend on x).
            fn #backward(dy: &[[f32; #w]], dx: &mut [[f32; #w]]) {
                for (dy, dx) in dy.iter().zip(dx.iter_mut()) {
                    for (&dy, dx) in dy.iter().zip(dx.iter_mut()) {
                        *dx += dy;
                    }
                }
            }
        }
    });
    let len = usize_lit(ctx.batch * step.width_out);
    Ok(LayerCode {
        items: quote! {
            #[doc = #doc_f]
            fn #forward(x: &[[f32; #w]], noise: ::core::option::Option<&[[f32; #w]]>, y: &mut [[f32; #w]]) {
                match noise {
                    ::core::option::Option::Some(noise) => {
                        for ((x, n), y) in x.iter().zip(noise).zip(y.iter_mut()) {
                            for ((&x, &n), y) in x.iter().zip(n).zip(y.iter_mut()) {
                                *y = x + n;
                            }
                        }
                    }
                    ::core::option::Option::None => {
                        for (x, y) in x.iter().zip(y.iter_mut()) {
                            *y = *x;
                        }
                    }
                }
            }
            #backward_fn

            /// One sample with fresh noise drawn from `rng`.
            fn #sample(x: &[f32; #w], y: &mut [f32; #w], rng: &mut #p::Rng) {
                for (&x, y) in x.iter().zip(y.iter_mut()) {
                    *y = x + rng.normal(0.0, #sigma_lit);
                }
            }
        },
        fields: vec![Field {
            name: noise.clone(),
            ty: quote!(::std::vec::Vec<f32>),
            init: quote!(::std::vec![0.0f32; #len]),
            doc: format!("`{name}` noise of the last draw, per sample and unit."),
        }],
        forward: quote!(Self::#forward(#x, training.then(|| self.#noise.as_chunks::<#w>().0), #y);),
        backward: backward_call,
        predict: quote!(Self::#forward(#one_x, ::core::option::Option::None, #one_y);),
        sample: quote!(Self::#sample(#row_x, #row_y, rng);),
        resample: quote!(#p::gaussian_noise(&mut self.#noise, #sigma_lit, rng);),
        noise_hook: Some(noise),
    })
}
