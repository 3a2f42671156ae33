//! `layernorm` (nn.LayerNorm over the features of a vector): the same computation in training
//! and eval, through the runtime's `layernorm` module.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::Role;
use quote::{format_ident, quote};

use super::predict::Region;
use super::{Ctx, Field, LayerCode, Step, f32_tokens, option_tokens, usize_lit};

pub(super) fn code(ctx: &Ctx<'_>, step: &Step<'_>, eps: f64) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let param = |role| layer.params.iter().map(|&i| &ctx.net.params[i]).find(|p| p.role == role);
    let internal = |what: &str| {
        Diagnostic::error(layer.span, format!("internal error: layer norm without its {what}"))
    };
    let gamma = param(Role::NormWeight).ok_or_else(|| internal("weight"))?;
    let beta = param(Role::NormBias).ok_or_else(|| internal("bias"))?;
    if gamma.offset + gamma.len > beta.offset {
        return Err(internal("weight before its bias"));
    }
    let features = step.width_out;
    let (features_lit, g, b) =
        (usize_lit(features), usize_lit(gamma.offset), usize_lit(beta.offset));
    let eps_lit = f32_tokens(eps, "the layer-norm eps", layer.span)?;
    let layer_const = format_ident!("{}", name.to_uppercase());
    let (x_hat, inv_std) = (format_ident!("{name}_x_hat"), format_ident!("{name}_inv_std"));
    let (x_hat_rows, inv_std_rows) =
        (ctx.sample_field(&x_hat, features), ctx.sample_field(&inv_std, 1));
    let (x, y) = (ctx.flat(step.x), ctx.flat_mut(step.y));
    let dy = ctx.grad_flat(step.y);
    let dx = option_tokens(ctx.grad_flat_mut(step.x));
    let (one_x, one_y) = (ctx.one_flat(step.x), ctx.one_flat_mut(step.y));
    let ln = quote!(Self::#layer_const);
    let doc_const = format!(
        "`{name}` (nn.LayerNorm({features}, eps={eps})): gamma = params[{}..], beta = params[{}..]",
        gamma.offset, beta.offset
    );
    let len = usize_lit(ctx.batch * features);
    let batch = usize_lit(ctx.batch);
    Ok(LayerCode {
        doc: format!(
            "`{name}`: y = gamma (x - mean) / sqrt(var + {eps}) + beta over each sample's {features} \
             features (nn.LayerNorm, biased variance)"
        ),
        items: quote! {
            #[doc = #doc_const]
            const #layer_const: #p::LayerNorm = #p::LayerNorm {
                shape: #p::LayerNormShape { features: #features_lit, eps: #eps_lit },
                gamma: #g,
                beta: #b,
            };
        },
        fields: vec![
            Field::f32s(
                &x_hat,
                quote!(0.0),
                &len,
                format!("`{name}` normalized input of the last forward."),
            ),
            Field::f32s(
                &inv_std,
                quote!(0.0),
                &batch,
                format!("`{name}` 1/sqrt(var + eps) per sample, last forward."),
            ),
        ],
        forward: quote!(#ln.forward(&self.core.params, #x, #y, (&mut #x_hat_rows, &mut #inv_std_rows));),
        // dx += inv_std (g - mean(g) - x_hat mean(g x_hat)), g = gamma dy
        backward: quote!(#ln.backward(&self.core.params, &mut self.core.grads, (&#x_hat_rows, &#inv_std_rows), #dy, #dx);),
        predict: quote! {
            #ln.forward(&self.core.params, #one_x, #one_y, (#x_hat.as_flattened_mut(), #inv_std.as_flattened_mut()));
        },
        regions: vec![
            Region::f32_rows(x_hat.clone(), features),
            Region::f32_rows(inv_std.clone(), 1),
        ],
        ..LayerCode::default()
    })
}
