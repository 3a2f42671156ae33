//! Elementwise layers: activations, dropout and Gaussian noise, through the runtime's
//! `activation` kernels over flat slices.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::{Activation, Rescale};
use quote::{format_ident, quote};

use super::{Ctx, Field, LayerCode, Step, f32_tokens, usize_lit};

pub(super) fn activation(
    ctx: &Ctx<'_>,
    step: &Step<'_>,
    activation: Activation,
) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let (kind, formula) = match activation {
        Activation::Relu => (quote!(Relu), "max(x, 0) (nn.ReLU)".to_string()),
        Activation::LeakyRelu { slope } => {
            let a = f32_tokens(slope, "the leaky_relu slope", layer.span)?;
            (quote!(LeakyRelu { slope: #a }), format!("x > 0 ? x : {slope} x (nn.LeakyReLU)"))
        }
        Activation::Tanh => (quote!(Tanh), "tanh(x) (nn.Tanh)".to_string()),
        Activation::Sigmoid => (quote!(Sigmoid), "1 / (1 + exp(-x)) (nn.Sigmoid)".to_string()),
        Activation::Identity => (quote!(Identity), "x".to_string()),
        Activation::Gelu => (quote!(Gelu), "x Phi(x) (nn.GELU, exact erf form)".to_string()),
        Activation::Silu => (quote!(Silu), "x sigmoid(x) (nn.SiLU)".to_string()),
    };
    let f = quote!(#p::Activation::#kind);
    let (x, y) = (ctx.flat(step.x), ctx.flat_mut(step.y));
    let (one_x, one_y) = (ctx.one_flat(step.x), ctx.one_flat_mut(step.y));
    let backward = ctx.grad_flat_mut(step.x).map(|dx| {
        let (y, dy, mode) = (ctx.flat(step.y), ctx.grad_flat(step.y), ctx.input_grad_mode(step));
        quote!(#f.backward(#x, #y, #dy, #dx, #mode);)
    });
    Ok(LayerCode {
        doc: format!("`{}`: y = {formula}", layer.name),
        forward: quote!(#f.forward(#x, #y);),
        backward: backward.unwrap_or_default(),
        predict: quote!(#f.forward(#one_x, #one_y);),
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
            "kept units unscaled while training, every unit times (1-p) in eval (Srivastava et \
             al. 2014, weight scaling)",
        ),
    };
    let keep = f32_tokens(keep, "the kept-unit scale", layer.span)?;
    let eval = f32_tokens(eval, "the eval scale", layer.span)?;
    let mask = format_ident!("{name}_mask");
    let mask_rows = ctx.sample_field(&mask, step.width_out);
    let mask_arg = quote!(training.then_some(&#mask_rows));
    let (x, y) = (ctx.flat(step.x), ctx.flat_mut(step.y));
    let (one_x, one_y) = (ctx.one_flat(step.x), ctx.one_flat_mut(step.y));
    let backward = ctx.grad_flat_mut(step.x).map(|dx| {
        let dy = ctx.grad_flat(step.y);
        quote!(#p::dropout_backward(#dy, #mask_arg, #eval, #dx);)
    });
    let len = usize_lit(ctx.batch * step.width_out);
    Ok(LayerCode {
        doc: format!(
            "`{name}`: y = x * mask while training (mask 0 with probability {drop}, one draw per \
             sample and unit); {rule}"
        ),
        fields: vec![Field::f32s(
            &mask,
            quote!(#keep),
            &len,
            format!(
                "`{name}` mask of the last draw: 0 or the kept-unit scale per sample and unit."
            ),
        )],
        forward: quote!(#p::dropout_forward(#x, #mask_arg, #eval, #y);),
        backward: backward.unwrap_or_default(),
        predict: quote!(#p::dropout_predict(#one_x, (#p_lit, #keep, #eval), #one_y, &mut rng);),
        resample: quote!(#p::bernoulli_mask(&mut #mask_rows, #p_lit, #keep, rng);),
        noise_hook: Some(mask),
        ..LayerCode::default()
    })
}

/// `noise gaussian sigma`: y = x + sigma * N(0, 1) per sample and unit while training.
pub(super) fn noise(ctx: &Ctx<'_>, step: &Step<'_>, sigma: f64) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let sigma_lit = f32_tokens(sigma, "the noise level", layer.span)?;
    let noise = format_ident!("{name}_noise");
    let noise_rows = ctx.sample_field(&noise, step.width_out);
    let (x, y) = (ctx.flat(step.x), ctx.flat_mut(step.y));
    let (one_x, one_y) = (ctx.one_flat(step.x), ctx.one_flat_mut(step.y));
    let backward = ctx.grad_flat_mut(step.x).map(|dx| {
        let dy = ctx.grad_flat(step.y);
        // the noise does not depend on x: dx += dy
        quote!(#p::add_into(#dy, #dx);)
    });
    let len = usize_lit(ctx.batch * step.width_out);
    Ok(LayerCode {
        doc: format!(
            "`{name}`: y = x + n while training, n ~ N(0, {sigma}^2) drawn per sample and unit; \
             y = x in eval"
        ),
        fields: vec![Field::f32s(
            &noise,
            quote!(0.0),
            &len,
            format!("`{name}` noise of the last draw, per sample and unit."),
        )],
        forward: quote!(#p::noise_forward(#x, training.then_some(&#noise_rows), #y);),
        backward: backward.unwrap_or_default(),
        predict: quote!(#p::noise_predict(#one_x, #sigma_lit, #one_y, &mut rng);),
        resample: quote!(#p::gaussian_noise(&mut #noise_rows, #sigma_lit, rng);),
        noise_hook: Some(noise),
        ..LayerCode::default()
    })
}
