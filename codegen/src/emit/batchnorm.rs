//! `batchnorm`: nn.BatchNorm1d on vectors, nn.BatchNorm2d (per channel) on images; the
//! arithmetic is the runtime's `batchnorm` module, parameterized by channels and spatial size.

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
    let gamma = param(Role::NormWeight).ok_or_else(|| internal("weight"))?;
    let beta = param(Role::NormBias).ok_or_else(|| internal("bias"))?;
    let mean = buffer(BufferKind::RunningMean).ok_or_else(|| internal("running_mean"))?;
    let var = buffer(BufferKind::RunningVar).ok_or_else(|| internal("running_var"))?;
    let count = buffer(BufferKind::NumBatchesTracked).ok_or_else(|| internal("counter"))?;
    let (channels, spatial) = match layer.input {
        Shape::Vector(n) => (n, 1),
        Shape::Image { channels, height, width } => (channels, height * width),
    };
    if gamma.offset + gamma.len > beta.offset {
        return Err(internal("weight before its bias"));
    }
    let (g0, g1) = (usize_lit(gamma.offset), usize_lit(gamma.offset + gamma.len));
    let (b0, b1) = (usize_lit(beta.offset), usize_lit(beta.offset + beta.len));
    let (m0, m1) = (usize_lit(mean.offset), usize_lit(mean.offset + mean.len));
    let (v0, v1) = (usize_lit(var.offset), usize_lit(var.offset + var.len));
    let counter = usize_lit(count.offset);
    let eps_lit = f32_tokens(eps, "the batch-norm eps", layer.span)?;
    let momentum_lit = f32_tokens(momentum, "the batch-norm momentum", layer.span)?;
    let (channels_lit, spatial_lit) = (usize_lit(channels), usize_lit(spatial));
    let shape_const = format_ident!("{}", name.to_uppercase());
    let (forward, backward, eval, backward_eval) = (
        format_ident!("{name}_forward"),
        format_ident!("{name}_backward"),
        format_ident!("{name}_eval"),
        format_ident!("{name}_backward_eval"),
    );
    let (x_hat, inv_std) = (format_ident!("{name}_x_hat"), format_ident!("{name}_inv_std"));
    let w = usize_lit(step.width_out);
    let kind = if spatial == 1 { "nn.BatchNorm1d" } else { "nn.BatchNorm2d" };
    let doc_f = format!(
        "`{name}` forward in training mode ({kind}({channels}, eps={eps}, momentum={momentum})): \
         normalizes with the batch mean and biased batch variance over {spatial} value(s) per \
         channel and sample, y = gamma x_hat + beta; updates running_mean, the unbiased \
         running_var and num_batches_tracked."
    );
    let doc_shape = format!(
        "`{name}`: {channels} channel(s) of {spatial} value(s) per sample, eps {eps}, momentum {momentum}."
    );
    let x = ctx.rows(step.x, step.width_in);
    let y = ctx.rows_mut(step.y, step.width_out);
    let dy = ctx.grad_flat(step.y);
    let dx = match ctx.grad_flat_mut(step.x) {
        Some(dx) => quote!(::core::option::Option::Some(#dx)),
        None => quote!(::core::option::Option::None),
    };
    let (one_x, one_y) = (ctx.one(step.x), ctx.one_mut(step.y));
    let predict = quote!(Self::#eval(&self.core.params, &self.core.buffers, #one_x, #one_y););
    // The two running statistics as disjoint slices of the buffer array.
    let split = if mean.offset < var.offset {
        quote! {
            let (lo, hi) = buffers.split_at_mut(#v0);
            let (running_mean, running_var) = (&mut lo[#m0..#m1], &mut hi[..#v1 - #v0]);
        }
    } else {
        quote! {
            let (lo, hi) = buffers.split_at_mut(#m0);
            let (running_var, running_mean) = (&mut lo[#v0..#v1], &mut hi[..#m1 - #m0]);
        }
    };
    let x_len = usize_lit(ctx.batch * step.width_out);
    Ok(LayerCode {
        items: quote! {
            #[doc = #doc_shape]
            const #shape_const: #p::NormShape = #p::NormShape {
                channels: #channels_lit,
                spatial: #spatial_lit,
                eps: #eps_lit,
                momentum: #momentum_lit,
            };

            #[doc = #doc_f]
            #[allow(clippy::too_many_arguments)]
            fn #forward(params: &[f32], buffers: &mut [f32], counters: &mut [i64], x: &[[f32; #w]], y: &mut [[f32; #w]], x_hat: &mut [f32], inv_std: &mut [f32]) {
                #split
                #p::batch_norm_forward_train(
                    Self::#shape_const, x.as_flattened(), y.as_flattened_mut(), x_hat, inv_std,
                    &params[#g0..#g1], &params[#b0..#b1], running_mean, running_var,
                    &mut counters[#counter],
                );
            }

            /// Backward of the training-mode forward above, through the batch mean and
            /// variance: dx += gamma inv_std (dy - mean(dy) - x_hat mean(dy x_hat)); dgamma and
            /// dbeta accumulate into `grads`.
            fn #backward(params: &[f32], grads: &mut [f32], x_hat: &[f32], inv_std: &[f32], dy: &[f32], dx: ::core::option::Option<&mut [f32]>) {
                let (lo, hi) = grads.split_at_mut(#b0);
                #p::batch_norm_backward_train(
                    Self::#shape_const, dy, x_hat, inv_std, &params[#g0..#g1],
                    &mut lo[#g0..#g1], &mut hi[..#b1 - #b0], dx,
                );
            }

            /// Eval mode: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta.
            fn #eval(params: &[f32], buffers: &[f32], x: &[[f32; #w]], y: &mut [[f32; #w]]) {
                #p::batch_norm_forward_eval(
                    Self::#shape_const, x.as_flattened(), y.as_flattened_mut(),
                    &params[#g0..#g1], &params[#b0..#b1], &buffers[#m0..#m1], &buffers[#v0..#v1],
                );
            }

            /// Backward of the eval-mode forward (running statistics are constants).
            fn #backward_eval(params: &[f32], buffers: &[f32], grads: &mut [f32], x: &[[f32; #w]], dy: &[f32], dx: ::core::option::Option<&mut [f32]>) {
                let (lo, hi) = grads.split_at_mut(#b0);
                #p::batch_norm_backward_eval(
                    Self::#shape_const, dy, x.as_flattened(), &params[#g0..#g1],
                    &buffers[#m0..#m1], &buffers[#v0..#v1], &mut lo[#g0..#g1], &mut hi[..#b1 - #b0], dx,
                );
            }
        },
        fields: vec![
            Field {
                name: x_hat.clone(),
                ty: quote!(::std::vec::Vec<f32>),
                init: quote!(::std::vec![0.0f32; #x_len]),
                doc: format!("`{name}` normalized input of the last training forward."),
            },
            Field {
                name: inv_std.clone(),
                ty: quote!(::std::vec::Vec<f32>),
                init: quote!(::std::vec![0.0f32; #channels_lit]),
                doc: format!(
                    "`{name}` 1/sqrt(batch var + eps) per channel, last training forward."
                ),
            },
        ],
        forward: quote! {
            if training {
                Self::#forward(&self.core.params, &mut self.core.buffers, &mut self.core.counters, #x, #y, &mut self.#x_hat, &mut self.#inv_std);
            } else {
                Self::#eval(&self.core.params, &self.core.buffers, #x, #y);
            }
        },
        backward: quote! {
            if training {
                Self::#backward(&self.core.params, &mut self.core.grads, &self.#x_hat, &self.#inv_std, #dy, #dx);
            } else {
                Self::#backward_eval(&self.core.params, &self.core.buffers, &mut self.core.grads, #x, #dy, #dx);
            }
        },
        sample: predict.clone(),
        predict,
        ..LayerCode::default()
    })
}
