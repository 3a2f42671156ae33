//! `conv` (nn.Conv2d; nn.Conv1d on a sequence, as a conv of height 1) through the runtime's
//! im2col kernels (`netspec_runtime::ops::conv::Conv2d`).

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::{Op, Role, Shape};
use quote::{format_ident, quote};

use super::predict::shared_scratch;
use super::{Ctx, Field, LayerCode, Step, usize_lit};

/// `(channels, height, width)` of an image shape, `(channels, 1, length)` of a sequence.
pub(super) fn image(shape: Shape, step: &Step<'_>) -> Result<(usize, usize, usize), Diagnostic> {
    shape.grid().ok_or_else(|| {
        Diagnostic::error(
            step.layer.span,
            "internal error: an image layer on a vector reached the emitter",
        )
    })
}

/// `[h, w]` as the tokens of an array literal.
pub(super) fn pair_lit(pair: [usize; 2]) -> proc_macro2::TokenStream {
    let [h, w] = pair.map(usize_lit);
    quote!([#h, #w])
}

pub(super) fn code(ctx: &Ctx<'_>, step: &Step<'_>) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let Op::Conv { filters, kernel, stride, pad, dilation, groups, .. } = layer.op else {
        return Err(Diagnostic::error(layer.span, "internal error: not a conv layer"));
    };
    let (channels, height, width) = image(layer.input, step)?;
    let (_, out_h, out_w) = image(layer.output, step)?;
    let param = |role| layer.params.iter().map(|&i| &ctx.net.params[i]).find(|p| p.role == role);
    let weight = param(Role::Weight)
        .ok_or_else(|| Diagnostic::error(layer.span, "internal error: a conv without weight"))?;
    let bias = param(Role::Bias);
    if bias.is_some_and(|b| b.offset < weight.offset + weight.len) {
        return Err(Diagnostic::error(layer.span, "internal error: bias before weight"));
    }
    let scratch_values = channels / groups * kernel[0] * kernel[1] * out_h * out_w;
    let scratch_len = usize_lit(scratch_values);
    let ident = super::ident_name(name);
    let layer_const = format_ident!("{}", ident.to_uppercase());
    let work = format_ident!("{ident}_work");
    let rows = usize_lit(ctx.batch);
    let lits = [channels, height, width, filters, groups].map(usize_lit);
    let [c_l, h_l, w_l, f_l, g_l] = &lits;
    let [k_l, s_l, p_l, d_l] = [kernel, stride, pad, dilation].map(pair_lit);
    let w_at = usize_lit(weight.offset);
    let b_at = match bias {
        Some(b) => {
            let b = usize_lit(b.offset);
            quote!(::core::option::Option::Some(#b))
        }
        None => quote!(::core::option::Option::None),
    };
    let (b_term, b_doc) = match bias {
        Some(b) => (" + b[f]", format!(", b = params[{}..]", b.offset)),
        None => ("", String::new()),
    };
    let (x, y) = (ctx.flat(step.x), ctx.flat_mut(step.y));
    let dy = ctx.grad_flat(step.y);
    let dx = ctx.input_grad_arg(step);
    let (one_x, one_y) = (ctx.one_flat(step.x), ctx.one_flat_mut(step.y));
    let conv = quote!(Self::#layer_const);
    let shared = shared_scratch();
    let predict = quote! {
        #conv.forward(&self.core.params, #one_x, #one_y, &mut #shared[..#scratch_len], ROWS);
    };
    let sequence = matches!(layer.input, Shape::Sequence { .. });
    let module = crate::torch::conv_module(layer.input, channels, filters, &layer.op);
    let doc_const =
        format!("`{name}`: {module} on {}, weight = params[{}..]", layer.input, weight.offset);
    let group = if groups == 1 { "" } else { ", c in f's group" };
    // `oh*2 + kh*3 - 1`, the tap's dilation left out when it is 1.
    let index = |o: &str, k: &str, a: usize| {
        let tap = if dilation[a] == 1 { k.to_string() } else { format!("{k}*{}", dilation[a]) };
        format!("{o}*{} + {tap} - {}", stride[a], pad[a])
    };
    let formula = if sequence {
        format!("y[f, o] = sum w[f, c, k] x[c, {}]{b_term}", index("o", "k", 1))
    } else {
        let (h, w) = (index("oh", "kh", 0), index("ow", "kw", 1));
        format!("y[f, oh, ow] = sum w[f, c, kh, kw] x[c, {h}, {w}]{b_term}")
    };
    Ok(LayerCode {
        doc: format!(
            "`{name}`: `{formula}`{group} ({module}), w = params[{}..]{b_doc}",
            weight.offset
        ),
        items: quote! {
            #[doc = #doc_const]
            const #layer_const: #p::Conv2d = #p::Conv2d {
                shape: #p::ConvShape {
                    in_channels: #c_l, height: #h_l, width: #w_l, filters: #f_l,
                    kernel: #k_l, stride: #s_l, pad: #p_l, dilation: #d_l, groups: #g_l,
                },
                weight: #w_at,
                bias: #b_at,
            };
        },
        fields: vec![Field {
            name: work.clone(),
            ty: quote!(::std::vec::Vec<f32>),
            init: quote!(::std::vec![0.0; #conv.batch_workspace_len(#rows)]),
            doc: format!("`{name}` im2col scratch and partial gradients, per shard of samples."),
        }],
        forward: quote!(#conv.forward_batch(&self.core.params, #x, #y, &mut self.#work, n);),
        // dW += dy x_cols^T, db += sum dy, dx (+)= col2im(W^T dy)
        backward: quote! {
            #conv.backward_batch(&self.core.params, &mut self.core.grads, #x, #dy, #dx, &mut self.#work, n);
        },
        predict,
        shared_scratch: scratch_values,
        ..LayerCode::default()
    })
}
