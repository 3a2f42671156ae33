//! `batchnorm`: nn.BatchNorm1d on vectors and sequences (per channel), nn.BatchNorm2d (per
//! channel) on images; the arithmetic is the runtime's `batchnorm` module, parameterized by
//! channels and spatial size.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::{BufferKind, Role, Shape};
use quote::{format_ident, quote};

use super::{Ctx, Field, LayerCode, Step, f32_tokens, usize_lit};

pub(super) fn code(
    ctx: &Ctx<'_>,
    step: &Step<'_>,
    eps: f64,
    momentum: f64,
) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let internal = |what: &str| {
        Diagnostic::error(layer.span, format!("internal error: batch norm without its {what}"))
    };
    let param = |role| layer.params.iter().map(|&i| &ctx.net.params[i]).find(|p| p.role == role);
    let buffer = |kind| layer.buffers.iter().map(|&i| &ctx.net.buffers[i]).find(|b| b.kind == kind);
    // `affine false` lays out neither gamma nor beta.
    let affine = match (param(Role::NormWeight), param(Role::NormBias)) {
        (Some(gamma), Some(beta)) => Some((gamma.offset, beta.offset)),
        (None, None) => None,
        _ => return Err(internal("weight or bias")),
    };
    // `track_running_stats false` lays out no buffers.
    let running = match (
        buffer(BufferKind::RunningMean),
        buffer(BufferKind::RunningVar),
        buffer(BufferKind::NumBatchesTracked),
    ) {
        (Some(mean), Some(var), Some(count)) => Some((mean.offset, var.offset, count.offset)),
        (None, None, None) => None,
        _ => return Err(internal("running statistics")),
    };
    let (channels, spatial) = match layer.input.grid() {
        None => (layer.input.len(), 1),
        Some((channels, height, width)) => (channels, height * width),
    };
    let (gamma, beta) = affine.unwrap_or_default();
    let (mean, var, count) = running.unwrap_or_default();
    let [g, b, m, v, c] = [gamma, beta, mean, var, count].map(usize_lit);
    let (affine_lit, track_lit) = (affine.is_some(), running.is_some());
    let eps_lit = f32_tokens(eps, "the batch-norm eps", layer.span)?;
    let momentum_lit = f32_tokens(momentum, "the batch-norm momentum", layer.span)?;
    let (channels_lit, spatial_lit) = (usize_lit(channels), usize_lit(spatial));
    let ident = super::ident_name(name);
    let layer_const = format_ident!("{}", ident.to_uppercase());
    let (x_hat, inv_std) = (format_ident!("{ident}_x_hat"), format_ident!("{ident}_inv_std"));
    let kind = if matches!(layer.input, Shape::Image { .. }) {
        "nn.BatchNorm2d"
    } else {
        "nn.BatchNorm1d"
    };
    let (torch_affine, params_doc) = match affine {
        Some((gamma, beta)) => {
            (String::new(), format!("gamma = params[{gamma}..], beta = params[{beta}..]"))
        }
        None => (", affine=False".to_string(), "no gamma or beta".to_string()),
    };
    let torch_track = if running.is_some() { "" } else { ", track_running_stats=False" };
    let doc_const = format!(
        "`{name}` ({kind}({channels}, eps={eps}, momentum={momentum}{torch_affine}{torch_track})): {channels} \
         channel(s) of {spatial} value(s) per sample; {params_doc}"
    );
    let x_hat_rows = ctx.sample_field(&x_hat, step.width_out);
    let (x, y) = (ctx.flat(step.x), ctx.flat_mut(step.y));
    let dy = ctx.grad_flat(step.y);
    let dx = ctx.input_grad_arg(step);
    let (one_x, one_y) = (ctx.one_flat(step.x), ctx.one_flat_mut(step.y));
    let bn = quote!(Self::#layer_const);
    // Without running statistics eval reads no buffers (a frozen network may have none).
    let buffers = if running.is_some() { quote!(&self.core.buffers) } else { quote!(&[]) };
    let predict = quote!(#bn.forward_eval(&self.core.params, #buffers, #one_x, #one_y););
    let x_len = usize_lit(ctx.batch * step.width_out);
    let (scale, shift) = if affine.is_some() { ("gamma ", " + beta") } else { ("", "") };
    let modes = if running.is_some() {
        format!(
            "running statistics updated (unbiased running_var, momentum {momentum}); eval: the \
             running statistics"
        )
    } else {
        "no running statistics; eval: each sample's own mean and biased variance".to_string()
    };
    // Eval without running statistics keeps each sample's 1/sqrt(var + eps) for the backward.
    let (inv_std_len, inv_std_doc, x_hat_doc) = if running.is_some() {
        (channels_lit.clone(), "per channel, last training forward", "training forward")
    } else {
        (
            usize_lit(ctx.batch * channels),
            "per channel (per sample in eval), last forward",
            "forward",
        )
    };
    Ok(LayerCode {
        doc: format!(
            "`{name}`: y = {scale}(x - mean) / sqrt(var + {eps}){shift} per channel ({kind}); \
             training mode: the batch mean and biased variance, {modes}"
        ),
        items: quote! {
            #[doc = #doc_const]
            const #layer_const: #p::BatchNorm = #p::BatchNorm {
                shape: #p::NormShape { channels: #channels_lit, spatial: #spatial_lit, eps: #eps_lit, momentum: #momentum_lit },
                gamma: #g,
                beta: #b,
                running_mean: #m,
                running_var: #v,
                counter: #c,
                affine: #affine_lit,
                track_running_stats: #track_lit,
            };
        },
        fields: vec![
            Field::f32s(
                &x_hat,
                quote!(0.0),
                &x_len,
                format!("`{name}` normalized input of the last {x_hat_doc}."),
            ),
            Field::f32s(
                &inv_std,
                quote!(0.0),
                &inv_std_len,
                format!("`{name}` 1/sqrt(batch var + eps) {inv_std_doc}."),
            ),
        ],
        forward: quote! {
            #bn.forward(training, &self.core.params, &mut self.core.buffers, &mut self.core.counters, #x, #y, (&mut #x_hat_rows, &mut self.#inv_std));
        },
        // dx += gamma inv_std (dy - mean(dy) - x_hat mean(dy x_hat)) while training
        backward: quote! {
            #bn.backward(training, &self.core.params, &self.core.buffers, &mut self.core.grads, #x, (&#x_hat_rows, &self.#inv_std), #dy, #dx);
        },
        predict,
        ..LayerCode::default()
    })
}
