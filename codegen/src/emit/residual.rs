//! `residual [stochastic_depth p] { F }`: y = x + F(x). With stochastic depth the branch is
//! kept per sample with probability 1-p and scaled by 1/(1-p) while training, y = x + m F(x)
//! with m in {0, 1/(1-p)} (torchvision.ops.stochastic_depth, mode "row"); eval: y = x + F(x).

use netspec_grammar::Diagnostic;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{Ctx, Field, LayerCode, Step, f32_tokens, usize_lit};

pub(super) fn code(ctx: &Ctx<'_>, step: &Step<'_>, drop: f64) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let Some(branch) = step.branch else {
        return Err(Diagnostic::error(layer.span, "internal error: a residual without branch"));
    };
    let w = usize_lit(step.width_out);
    let (forward, backward, sample) = (
        format_ident!("{name}_forward"),
        format_ident!("{name}_backward"),
        format_ident!("{name}_sample"),
    );
    let x = ctx.rows(step.x, step.width_in);
    let f = ctx.rows(branch, step.width_out);
    let y = ctx.rows_mut(step.y, step.width_out);
    let dy = ctx.grad_rows(step.y, step.width_out);
    let (one_x, one_f, one_y) = (ctx.one(step.x), ctx.one(branch), ctx.one_mut(step.y));
    let (row_x, row_f, row_y) = (ctx.one_row(step.x), ctx.one_row(branch), ctx.one_row_mut(step.y));
    let none = quote!(::core::option::Option::None);
    // dL/dF += m dy (the branch's gradient, a buffer of its own unless F is empty)
    let df = ctx.grad_rows_mut(branch, step.width_out);
    // dL/dx += dy (the skip connection)
    let dx = ctx.grad_rows_mut(step.x, step.width_in);
    let mut code = LayerCode::default();
    let mask = format_ident!("{name}_mask");
    let stochastic = drop > 0.0;
    let mask_arg =
        if stochastic { quote!(training.then(|| &self.#mask[..])) } else { none.clone() };
    let add_df = df.map(|df| quote!(Self::#backward(#dy, #mask_arg, #df);));
    let add_dx = dx.map(|dx| quote!(Self::#backward(#dy, #none, #dx);));
    code.backward = quote!(#add_df #add_dx);
    code.forward = quote!(Self::#forward(#x, #f, #mask_arg, #y););
    code.predict = quote!(Self::#forward(#one_x, #one_f, #none, #one_y););
    code.sample = code.predict.clone();
    let doc_f = if stochastic {
        format!(
            "`{name}` forward: y = x + m F(x), m = 0 with probability {drop} and 1/(1-{drop}) \
             otherwise, one per sample, while training (torchvision.ops.stochastic_depth, \
             mode \"row\"); `mask = None` in eval: y = x + F(x)."
        )
    } else {
        format!("`{name}` forward: y = x + F(x).")
    };
    let mut sample_fn = TokenStream::new();
    if stochastic {
        let p_lit = f32_tokens(drop, "the stochastic depth probability", layer.span)?;
        let keep = f32_tokens(1.0 / (1.0 - drop), "1 / (1 - p)", layer.span)?;
        let len = usize_lit(ctx.batch);
        code.fields.push(Field {
            name: mask.clone(),
            ty: quote!(::std::vec::Vec<f32>),
            init: quote!(::std::vec![#keep; #len]),
            doc: format!("`{name}` stochastic-depth mask: 0 or 1/(1-p) per sample."),
        });
        code.resample = quote!(#p::bernoulli_mask(&mut self.#mask, #p_lit, #keep, rng););
        code.noise_hook = Some(mask.clone());
        code.sample = quote!(Self::#sample(#row_x, #row_f, #row_y, rng););
        sample_fn = quote! {
            /// One sample with its branch dropped with probability p (MC inference).
            fn #sample(x: &[f32; #w], f: &[f32; #w], y: &mut [f32; #w], rng: &mut #p::Rng) {
                let m = if rng.bernoulli(#p_lit) { 0.0 } else { #keep };
                for ((y, &x), &f) in y.iter_mut().zip(x).zip(f) {
                    *y = x + m * f;
                }
            }
        };
    }
    code.items = quote! {
        #[doc = #doc_f]
        fn #forward(x: &[[f32; #w]], f: &[[f32; #w]], mask: ::core::option::Option<&[f32]>, y: &mut [[f32; #w]]) {
            for (n, ((y, x), f)) in y.iter_mut().zip(x).zip(f).enumerate() {
                let m = mask.map_or(1.0, |m| m[n]);
                for ((y, &x), &f) in y.iter_mut().zip(x).zip(f) {
                    *y = x + m * f;
                }
            }
        }

        /// Backward of the sum above into one of its inputs: d += m dy (m = 1 without mask).
        fn #backward(dy: &[[f32; #w]], mask: ::core::option::Option<&[f32]>, d: &mut [[f32; #w]]) {
            for (n, (d, dy)) in d.iter_mut().zip(dy).enumerate() {
                let m = mask.map_or(1.0, |m| m[n]);
                for (d, &dy) in d.iter_mut().zip(dy) {
                    *d += m * dy;
                }
            }
        }

        #sample_fn
    };
    let _ = (&one_x, &one_f);
    Ok(code)
}
