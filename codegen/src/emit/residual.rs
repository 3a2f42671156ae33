//! `residual [shortcut] [stochastic_depth p] { F }`: y = x + F(x), or y = S(x) + F(x) with the
//! projection shortcut S (its conv and batch norm are layers of their own, planned before the
//! sum, whose x is then S's output). With stochastic depth the branch is
//! kept per sample with probability 1-p and scaled by 1/(1-p) while training, y = x + m F(x)
//! with m in {0, 1/(1-p)} (torchvision.ops.stochastic_depth, mode "row"); eval: y = x + F(x).

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::Op;
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
    let (x, f, y) = (ctx.flat(step.x), ctx.flat(branch), ctx.flat_mut(step.y));
    let (one_x, one_f, one_y) =
        (ctx.one_flat(step.x), ctx.one_flat(branch), ctx.one_flat_mut(step.y));
    let none = quote!(::core::option::Option::None);
    let mask = format_ident!("{name}_mask");
    let stochastic = drop > 0.0;
    let mask_rows = ctx.sample_field(&mask, 1);
    let mask_arg = if stochastic { quote!(training.then_some(&#mask_rows)) } else { none.clone() };
    let dy = ctx.grad_flat(step.y);
    // dL/dF += m dy (the branch's gradient, a buffer of its own unless F is empty)
    let df =
        ctx.grad_flat_mut(branch).map(|df| quote!(#p::residual_backward(#dy, #mask_arg, #w, #df);));
    // dL/dx += dy (the skip connection)
    let dx = ctx.grad_flat_mut(step.x).map(|dx| quote!(#p::add_into(#dy, #dx);));
    // With a projection shortcut, x is its output S(x) (the step reads that buffer).
    let (skip, projection) = match &layer.op {
        Op::Residual { shortcut, .. } if !shortcut.is_empty() => {
            ("S(x)", format!(", S = `{name}.shortcut` (1x1 conv, batch norm)"))
        }
        _ => ("x", String::new()),
    };
    let mut code = LayerCode {
        doc: format!("`{name}`: y = {skip} + F(x){projection}"),
        forward: quote!(#p::residual_forward(#x, #f, #mask_arg, #w, #y);),
        backward: quote!(#df #dx),
        predict: quote!(#p::residual_forward(#one_x, #one_f, #none, #w, #one_y);),
        ..LayerCode::default()
    };
    if stochastic {
        let p_lit = f32_tokens(drop, "the stochastic depth probability", layer.span)?;
        let keep = f32_tokens(1.0 / (1.0 - drop), "1 / (1 - p)", layer.span)?;
        let len = usize_lit(ctx.batch);
        code.doc = format!(
            "`{name}`: y = {skip} + m F(x), m = 0 with probability {drop} and 1/(1-{drop}) \
             otherwise, one per sample, while training (torchvision.ops.stochastic_depth, mode \
             \"row\"); y = {skip} + F(x) in eval{projection}"
        );
        code.fields.push(Field::f32s(
            &mask,
            quote!(#keep),
            &len,
            format!("`{name}` stochastic-depth mask: 0 or 1/(1-p) per sample."),
        ));
        code.resample = quote!(#p::bernoulli_mask(&mut #mask_rows, #p_lit, #keep, rng););
        code.noise_hook = Some(mask);
        code.predict = quote! {
            #p::residual_predict(#one_x, #one_f, (#w, #p_lit, #keep), #one_y, &mut rng);
        };
    }
    Ok(code)
}
