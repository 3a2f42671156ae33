//! `conv` (nn.Conv2d) through the runtime's im2col kernels, and the flat-buffer helpers the
//! image layers share. The runtime's backward kernels overwrite `dx`, so each layer writes its
//! input gradient into a scratch buffer of its own and adds it to its input's gradient.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::{Op, Role, Shape};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{Buf, Ctx, Field, LayerCode, Step, act_field, grad_field, usize_lit};

/// `(channels, height, width)` of an image shape.
pub(super) fn image(shape: Shape, step: &Step<'_>) -> Result<(usize, usize, usize), Diagnostic> {
    match shape {
        Shape::Image { channels, height, width } => Ok((channels, height, width)),
        Shape::Vector(_) => Err(Diagnostic::error(
            step.layer.span,
            "internal error: an image layer on a vector reached the emitter",
        )),
    }
}

/// A buffer's `BATCH` rows as one flat slice, read.
pub(super) fn flat(buf: Buf) -> TokenStream {
    match buf {
        Buf::Input => quote!(x_in.as_flattened()),
        Buf::Act(i) => {
            let f = act_field(i);
            quote!(&self.#f[..])
        }
    }
}

/// A buffer's rows as one flat slice, written.
pub(super) fn flat_mut(buf: Buf) -> TokenStream {
    let Buf::Act(i) = buf else { unreachable!("no layer writes the input") };
    let f = act_field(i);
    quote!(&mut self.#f[..])
}

/// A buffer's `ROWS` samples on the stack as a flat slice (in `predict_rows`).
pub(super) fn one_flat(buf: Buf) -> TokenStream {
    match buf {
        Buf::Input => quote!(input.as_flattened()),
        Buf::Act(i) => {
            let f = act_field(i);
            quote!(#f.as_flattened())
        }
    }
}

/// A buffer's `ROWS` samples on the stack as a flat slice, written.
pub(super) fn one_flat_mut(buf: Buf) -> TokenStream {
    let Buf::Act(i) = buf else { unreachable!("no layer writes the input") };
    let f = act_field(i);
    quote!(#f.as_flattened_mut())
}

/// The field `{layer}_dx` that receives an overwriting backward's input gradient, and the
/// statement adding it to the input's gradient (`None` when the layer reads the input).
pub(super) fn dx_scratch(ctx: &Ctx<'_>, step: &Step<'_>) -> Option<(Field, Ident, TokenStream)> {
    let Buf::Act(i) = step.x else { return None };
    let grad = grad_field(i);
    let name = format_ident!("{}_dx", step.layer.name);
    let len = usize_lit(ctx.batch * step.width_in);
    let field = Field {
        name: name.clone(),
        ty: quote!(::std::vec::Vec<f32>),
        init: quote!(::std::vec![0.0f32; #len]),
        doc: format!(
            "`{}` input gradient of the last backward, before it is added.",
            step.layer.name
        ),
    };
    // dL/dx += the layer's contribution
    let add = quote! {
        for (g, &d) in self.#grad.iter_mut().zip(&self.#name) {
            *g += d;
        }
    };
    Some((field, name, add))
}

pub(super) fn code(ctx: &Ctx<'_>, step: &Step<'_>) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let Op::Conv { filters, kernel, stride, pad, .. } = layer.op else {
        return Err(Diagnostic::error(layer.span, "internal error: not a conv layer"));
    };
    let (channels, height, width) = image(layer.input, step)?;
    let (_, out_h, out_w) = image(layer.output, step)?;
    let param = |role| layer.params.iter().map(|&i| &ctx.net.params[i]).find(|p| p.role == role);
    let weight = param(Role::Weight)
        .ok_or_else(|| Diagnostic::error(layer.span, "internal error: a conv without weight"))?;
    let bias = param(Role::Bias);
    let (w0, w1) = (usize_lit(weight.offset), usize_lit(weight.offset + weight.len));
    let scratch_len = usize_lit(channels * kernel * kernel * out_h * out_w);
    let shape_const = format_ident!("{}", name.to_uppercase());
    let (forward, backward) = (format_ident!("{name}_forward"), format_ident!("{name}_backward"));
    let scratch = format_ident!("{name}_scratch");
    let lits = [channels, height, width, filters, kernel, stride, pad].map(usize_lit);
    let [c_l, h_l, w_l, f_l, k_l, s_l, p_l] = &lits;
    let (b_fwd, b_grad) = match bias {
        Some(b) => {
            let (b0, b1) = (usize_lit(b.offset), usize_lit(b.offset + b.len));
            if b.offset < weight.offset + weight.len {
                return Err(Diagnostic::error(layer.span, "internal error: bias before weight"));
            }
            (
                quote!(::core::option::Option::Some(&params[#b0..#b1])),
                quote! {
                    let (lo, hi) = grads.split_at_mut(#b0);
                    let (dw, db) = (&mut lo[#w0..#w1], ::core::option::Option::Some(&mut hi[..#b1 - #b0]));
                },
            )
        }
        None => (
            quote!(::core::option::Option::None),
            quote!(let (dw, db) = (&mut grads[#w0..#w1], ::core::option::Option::None);),
        ),
    };
    let doc_f = format!(
        "`{name}` forward (nn.Conv2d({channels}, {filters}, {kernel}, stride={stride}, \
         padding={pad})): y[f, oh, ow] = b[f] + sum w[f, c, kh, kw] x[c, oh*{stride} + kh - {pad}, \
         ow*{stride} + kw - {pad}], weight params[{}..{}].",
        weight.offset,
        weight.offset + weight.len
    );
    let (x, y) = (flat(step.x), flat_mut(step.y));
    let dy = ctx.grad_flat(step.y);
    let batch = usize_lit(ctx.batch);
    let mut fields = vec![Field {
        name: scratch.clone(),
        ty: quote!(::std::vec::Vec<f32>),
        init: quote!(::std::vec![0.0f32; #scratch_len]),
        doc: format!("`{name}` im2col scratch (one sample)."),
    }];
    let backward_call = match dx_scratch(ctx, step) {
        Some((field, dx, add)) => {
            fields.push(field);
            quote! {
                Self::#backward(&self.core.params, &mut self.core.grads, #x, #dy, ::core::option::Option::Some(&mut self.#dx), &mut self.#scratch);
                #add
            }
        }
        None => quote! {
            Self::#backward(&self.core.params, &mut self.core.grads, #x, #dy, ::core::option::Option::None, &mut self.#scratch);
        },
    };
    let (one_x, one_y) = (one_flat(step.x), one_flat_mut(step.y));
    let predict = quote! {
        let mut scratch = [0.0f32; #scratch_len];
        Self::#forward(&self.core.params, #one_x, #one_y, &mut scratch, ROWS);
    };
    Ok(LayerCode {
        items: quote! {
            const #shape_const: #p::ConvShape = #p::ConvShape {
                in_channels: #c_l, height: #h_l, width: #w_l, filters: #f_l,
                kernel: #k_l, stride: #s_l, pad: #p_l,
            };

            #[doc = #doc_f]
            fn #forward(params: &[f32], x: &[f32], y: &mut [f32], scratch: &mut [f32], rows: usize) {
                #p::conv2d_forward(Self::#shape_const, &params[#w0..#w1], #b_fwd, x, y, scratch, rows)
                    .expect("the generated conv shapes are consistent");
            }

            /// Backward of the conv above: dW += dy x_cols^T, db += sum dy, dx = col2im(W^T dy)
            /// (overwritten).
            fn #backward(params: &[f32], grads: &mut [f32], x: &[f32], dy: &[f32], dx: ::core::option::Option<&mut [f32]>, scratch: &mut [f32]) {
                #b_grad
                #p::conv2d_backward(Self::#shape_const, &params[#w0..#w1], x, dy, dw, db, dx, scratch, #batch)
                    .expect("the generated conv shapes are consistent");
            }
        },
        fields,
        forward: quote!(Self::#forward(&self.core.params, #x, #y, &mut self.#scratch, #batch);),
        backward: backward_call,
        sample: predict.clone(),
        predict,
        ..LayerCode::default()
    })
}
