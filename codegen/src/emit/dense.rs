//! `dense` (nn.Linear), with DropConnect (Wan et al. 2013) when the layer asks for it.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::{Op, Role};
use quote::{format_ident, quote};

use super::{Ctx, Field, LayerCode, Step, f32_tokens, option_tokens, usize_lit};

// A layer of at least `PACKED_MIN` weights (and 16 outputs, so that most of a 16-wide panel is
// used) runs its batched backward pass through the runtime's packed matrix product
// (`netspec_runtime::ops::gemm`: FMA tiles where the CPU has them, sharded over threads), with
// its packed copies in a workspace field, and its batched forward pass through the
// register-tiled kernel sharded over threads; smaller layers, `predict` and DropConnect layers
// run the register-tiled kernels (`netspec_runtime::ops::kernels`) on the calling thread. `matrixmultiply::sgemm`
// allocates its packing buffer on every call, and the generated code must not allocate per step
// (README "Performance").
const PACKED_MIN: usize = 16_384;

pub(super) fn code(ctx: &Ctx<'_>, step: &Step<'_>) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let param = |role| layer.params.iter().map(|&i| &ctx.net.params[i]).find(|p| p.role == role);
    let Some(weight) = param(Role::Weight) else {
        return Err(Diagnostic::error(layer.span, "internal error: a dense layer without weight"));
    };
    let Op::Dense { dropconnect, .. } = layer.op else {
        return Err(Diagnostic::error(layer.span, "internal error: not a dense layer"));
    };
    let w0 = usize_lit(weight.offset);
    let bias = param(Role::Bias);
    let constructor = match bias {
        Some(b) => {
            let b = usize_lit(b.offset);
            quote!(new(#w0, #b))
        }
        None => quote!(without_bias(#w0)),
    };
    let dense = format_ident!("{}", name.to_uppercase());
    let (x, y) = (ctx.rows(step.x, step.width_in), ctx.rows_mut(step.y, step.width_out));
    let dy = ctx.grad_rows(step.y, step.width_out);
    let dx = option_tokens(ctx.grad_rows_mut(step.x, step.width_in));
    let (one_x, one_y) = (ctx.one(step.x), ctx.one_mut(step.y));
    let b_doc = match bias {
        Some(b) => format!(" + b, b = params[{}..{}]", b.offset, b.offset + b.len),
        None => String::new(),
    };
    let params = quote!(&self.core.params);
    let mut code = LayerCode {
        doc: format!(
            "`{name}`: y = x W^T{b_doc} (nn.Linear), W = params[{}..{}] `[{}, {}]`",
            weight.offset,
            weight.offset + weight.len,
            step.width_out,
            step.width_in
        ),
        items: quote!(const #dense: #p::Dense = #p::Dense::#constructor;),
        predict: quote!(Self::#dense.forward(#params, #one_x, #one_y);),
        ..LayerCode::default()
    };
    let Some(drop) = dropconnect else {
        if step.width_in * step.width_out >= PACKED_MIN && step.width_out >= 16 {
            let work = format_ident!("{name}_packed");
            let (i, o, rows) =
                (usize_lit(step.width_in), usize_lit(step.width_out), usize_lit(ctx.batch));
            code.fields = vec![Field {
                name: work.clone(),
                ty: quote!(::std::vec::Vec<f32>),
                init: quote!(::std::vec![0.0; #p::Dense::packed_len(#i, #o, #rows)]),
                doc: format!("`{name}` packed copies of the matrix products' operands."),
            }];
            code.forward = quote!(Self::#dense.forward_packed(#params, #x, #y););
            code.backward = quote! {
                Self::#dense.backward_packed(#params, &mut self.core.grads, (#x, #dy), #dx, &mut self.#work);
            };
            // backward_packed writes dW and db rather than adding to them.
            code.overwritten_grads =
                [Some(weight), bias].into_iter().flatten().map(|p| (p.offset, p.len)).collect();
            return Ok(code);
        }
        code.forward = quote!(Self::#dense.forward(#params, #x, #y););
        code.backward = quote!(Self::#dense.backward(#params, &mut self.core.grads, #x, #dy, #dx););
        return Ok(code);
    };
    let p_lit = f32_tokens(drop, "the DropConnect probability", layer.span)?;
    let keep = f32_tokens(1.0 / (1.0 - drop), "1 / (1 - p)", layer.span)?;
    let (mask, masked) = (format_ident!("{name}_mask"), format_ident!("{name}_masked_weight"));
    let len = usize_lit(weight.len);
    code.doc.push_str(&format!(
        "; while training W * M / (1 - {drop}), one DropConnect mask M per mini-batch, and the \
         mean network W in eval"
    ));
    code.fields = vec![
        Field::f32s(
            &mask,
            quote!(#keep),
            &len,
            format!("`{name}` DropConnect mask: 0 (dropped) or 1/(1-p) per weight."),
        ),
        Field::f32s(
            &masked,
            quote!(0.0),
            &len,
            format!("`{name}` weight times its DropConnect mask, while training."),
        ),
    ];
    code.noise_hook = Some(mask.clone());
    code.resample = quote!(#p::bernoulli_mask(&mut self.#mask, #p_lit, #keep, rng););
    code.forward = quote! {
        Self::#dense.forward_dropconnect(training, #params, (&self.#mask, &mut self.#masked), #x, #y);
    };
    code.backward = quote! {
        Self::#dense.backward_dropconnect(training, #params, (&self.#mask, &self.#masked), &mut self.core.grads, #x, #dy, #dx);
    };
    code.predict = quote! {
        Self::#dense.predict_dropconnect(#params, (#p_lit, #keep), #one_x, #one_y, &mut rng);
    };
    Ok(code)
}
