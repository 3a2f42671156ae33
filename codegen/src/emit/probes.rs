//! Layer probes: the `LAYERS` table and the two methods that lend each layer's output buffer
//! and its gradient by index, from which the runtime's `activations` and `activation_grads`
//! build their views.

use netspec_grammar::ir;
use proc_macro2::TokenStream;
use quote::quote;

use super::{Buf, Plan, act_field, grad_field, rows_len, usize_lit};

/// `LAYERS`, `layer_output` and `layer_grad`, items of the `Network` impl. `input_grad`: the
/// struct keeps dLoss/dinput (a loss reads the input), which a `flatten` of the input shares.
pub(super) fn items(
    net: &ir::Network,
    plan: &Plan<'_>,
    p: &TokenStream,
    input_grad: bool,
) -> TokenStream {
    let layers = net.all_layers();
    let mut infos = Vec::new();
    let (mut outputs, mut grads) = (Vec::new(), Vec::new());
    for (i, &(name, buf)) in plan.layer_out.iter().enumerate() {
        let Some(layer) = layers.iter().find(|l| l.name == name) else { continue };
        // names are kind + index: `dense1`, `leaky_relu2`; a shortcut's layers are named after
        // their block (`residual1.shortcut.0`), their kind is their label's first word
        let kind = match name.contains('.') {
            true => netspec_grammar::layers::label(layer)
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_string(),
            false => name.trim_end_matches(|c: char| c.is_ascii_digit()).to_string(),
        };
        let shape = layer.output.dims().into_iter().map(usize_lit);
        infos.push(quote!(#p::LayerInfo::new(#name, #kind, &[#(#shape),*])));
        let i = usize_lit(i);
        // The last mini-batch's `n` rows.
        let len = rows_len(layer.output.len());
        let (output, grad) = match buf {
            Buf::Input if input_grad => {
                (quote!(&self.core.input[..#len]), quote!(&self.input_grad[..#len]))
            }
            Buf::Input => (quote!(&self.core.input[..#len]), quote!(&[])),
            Buf::Act(layer) => {
                let (f, g) = (act_field(layer), grad_field(layer));
                (quote!(&self.#f[..#len]), quote!(&self.#g[..#len]))
            }
        };
        outputs.push(quote!(#i => #output,));
        grads.push(quote!(#i => #grad,));
    }
    if infos.is_empty() {
        // a network of only a loss: the trait's empty defaults
        return TokenStream::new();
    }
    quote! {
        const LAYERS: &'static [#p::LayerInfo] = &[#(#infos),*];

        fn layer_output(&self, layer: usize) -> &[f32] {
            let n = self.core.rows;
            match layer {
                #(#outputs)*
                _ => &[],
            }
        }

        fn layer_grad(&self, layer: usize) -> &[f32] {
            let n = self.core.rows;
            match layer {
                #(#grads)*
                _ => &[],
            }
        }
    }
}
