//! Pass 2: a supported network -> its struct, layout table, layer functions and API.
//!
//! Activations are stored as arrays of rows, `[[f32; WIDTH]]`, so every inner loop has a
//! constant bound and indexes fixed-size arrays (no bounds checks), and the same layer function
//! serves a training batch (`BATCH` rows in the workspace) and one sample on the stack.

use netspec_grammar::ir::{self, Activation, LossKind, Op, Role};
use netspec_grammar::{Diagnostic, Span};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

// Dot products are not written out term by term for narrow inputs: measured with
// `netspec/tests/unroll.rs` (a dense forward over 64 rows, 16 outputs, --release), the
// written-out sum is 1.2x (IN = 2) to 2.2x (IN = 4) slower than `__private::dot`, equal at
// IN = 8 and 12, and at most 4% faster at IN = 16 and 32 (noise level). LLVM fully unrolls the
// constant-bound loops of `dot::<IN>` by itself, so the unroll threshold is effectively 0.

/// Where a layer reads or writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buf {
    /// The caller's input slice.
    Input,
    /// The `index`-th activation buffer.
    Act(usize),
}

/// One layer that computes something (`flatten` only renames a buffer).
struct Step<'a> {
    layer: &'a ir::Layer,
    x: Buf,
    y: Buf,
    width_in: usize,
    width_out: usize,
}

struct Plan<'a> {
    steps: Vec<Step<'a>>,
    /// Width of each activation buffer.
    act_widths: Vec<usize>,
    output: Buf,
}

fn plan(net: &ir::Network) -> Plan<'_> {
    let mut steps = Vec::new();
    let mut act_widths = Vec::new();
    let mut current = Buf::Input;
    for layer in &net.layers {
        if matches!(layer.op, Op::Flatten) {
            // C x H x W rows are already flat in C, H, W order.
            continue;
        }
        let y = Buf::Act(act_widths.len());
        act_widths.push(layer.output.len());
        steps.push(Step {
            layer,
            x: current,
            y,
            width_in: layer.input.len(),
            width_out: layer.output.len(),
        });
        current = y;
    }
    Plan { steps, act_widths, output: current }
}

fn usize_lit(n: usize) -> Literal {
    Literal::usize_suffixed(n)
}

/// An f32 constant, its sign as a separate token (as Rust writes `-0.5`); an error when the
/// value does not fit an f32, since `Literal::f32_suffixed` would panic.
fn f32_tokens(value: f64, what: &str, span: Span) -> Result<TokenStream, Diagnostic> {
    let single = value as f32;
    if !single.is_finite() {
        return Err(Diagnostic::error(span, format!("{what} = {value} is not a finite f32"))
            .with_help("use a value between -3.4e38 and 3.4e38"));
    }
    let magnitude = Literal::f32_suffixed(single.abs());
    Ok(if single.is_sign_negative() { quote!(-#magnitude) } else { quote!(#magnitude) })
}

fn act_field(index: usize) -> Ident {
    format_ident!("act{}", index + 1)
}

pub(crate) fn network(net: &ir::Network, rt: &TokenStream) -> Result<TokenStream, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut ok = |r: Result<TokenStream, Diagnostic>| {
        r.unwrap_or_else(|d| {
            errors.push(d);
            TokenStream::new()
        })
    };
    let p = quote!(#rt::__private);
    let name = format_ident!("{}", net.name);
    let name_str = &net.name;
    let plan = plan(net);
    let Some(loss) = net.loss else {
        // support::check rejects heads, and a network without heads has its loss.
        return Err(vec![Diagnostic::error(net.span, "the network has no `loss`")]);
    };

    let input_w = net.input.len();
    let output_w = net.trunk_output().len();
    let batch = net.batch;
    let param_count = net.param_count();
    let (input_lit, output_lit, batch_lit) =
        (usize_lit(input_w), usize_lit(output_w), usize_lit(batch));
    let param_count_lit = usize_lit(param_count);

    // The layout table.
    let param_infos: Vec<TokenStream> =
        net.params.iter().map(|param| ok(param_info(param, net.span, &p))).collect();

    // Layer functions: forward and backward of each layer side by side.
    let mut layer_fns = Vec::new();
    for step in &plan.steps {
        // The input gradient is needed unless the layer reads the network's input.
        let needs_dx = step.x != Buf::Input;
        layer_fns.push(ok(layer_functions(net, step, needs_dx, &p)));
    }

    // Workspace fields: one activation buffer per step, two gradient buffers used in turn.
    let act_fields: Vec<Ident> = (0..plan.act_widths.len()).map(act_field).collect();
    let act_lens: Vec<Literal> = plan.act_widths.iter().map(|w| usize_lit(batch * w)).collect();
    let grad_width = plan.act_widths.iter().copied().max().unwrap_or(output_w).max(output_w);
    let grad_len = usize_lit(batch * grad_width);

    // predict: one sample, activations on the stack.
    let mut predict_body = TokenStream::new();
    for (i, w) in plan.act_widths.iter().enumerate() {
        let field = act_field(i);
        let w = usize_lit(*w);
        predict_body.extend(quote!(let mut #field = [[0.0f32; #w]; 1];));
    }
    let sample_read = |buf: Buf| match buf {
        Buf::Input => quote!(::core::slice::from_ref(input)),
        Buf::Act(i) => {
            let f = act_field(i);
            quote!(&#f)
        }
    };
    for step in &plan.steps {
        let forward = format_ident!("{}_forward", step.layer.name);
        let x = sample_read(step.x);
        let Buf::Act(yi) = step.y else { unreachable!("every step writes an activation buffer") };
        let y = act_field(yi);
        let params_arg = has_params(step).then(|| quote!(&self.params,));
        predict_body.extend(quote!(Self::#forward(#params_arg #x, &mut #y);));
    }
    predict_body.extend(match plan.output {
        Buf::Input => quote!(*input),
        Buf::Act(i) => {
            let f = act_field(i);
            quote!(#f[0])
        }
    });

    // Training forward over the workspace.
    let batch_read = |buf: Buf, width: usize| {
        let w = usize_lit(width);
        match buf {
            Buf::Input => quote!(x_in),
            Buf::Act(i) => {
                let f = act_field(i);
                quote!(self.#f.as_chunks::<#w>().0)
            }
        }
    };
    let mut forward_body = TokenStream::new();
    for step in &plan.steps {
        let forward = format_ident!("{}_forward", step.layer.name);
        let x = batch_read(step.x, step.width_in);
        let Buf::Act(yi) = step.y else { unreachable!("every step writes an activation buffer") };
        let y = act_field(yi);
        let w = usize_lit(step.width_out);
        let params_arg = has_params(step).then(|| quote!(&self.params,));
        forward_body
            .extend(quote!(Self::#forward(#params_arg #x, self.#y.as_chunks_mut::<#w>().0);));
    }

    // The loss on the last buffer, its gradient into `grad_a`.
    let out_rows = batch_read(plan.output, output_w);
    let out_len = usize_lit(batch * output_w);
    let weight = ok(f32_tokens(loss.weight, "the loss weight", loss.span));
    let (target_ty, target_len, target_formula, loss_call) = match loss.kind {
        LossKind::SoftmaxCrossEntropy => (
            quote!(usize),
            batch,
            format!("BATCH = {batch}"),
            quote!(#p::softmax_cross_entropy(#out_rows, targets, #weight, self.grad_a[..#out_len].as_chunks_mut::<#output_lit>().0)),
        ),
        LossKind::Mse => (
            quote!(f32),
            batch * output_w,
            format!("BATCH * OUTPUT = {batch} * {output_w}"),
            quote!(#p::mse(#out_rows, targets.as_chunks::<#output_lit>().0, #weight, self.grad_a[..#out_len].as_chunks_mut::<#output_lit>().0)),
        ),
        LossKind::BinaryCrossEntropy => (
            quote!(f32),
            batch * output_w,
            format!("BATCH * OUTPUT = {batch} * {output_w}"),
            quote!(#p::binary_cross_entropy_with_logits(#out_rows, targets.as_chunks::<#output_lit>().0, #weight, self.grad_a[..#out_len].as_chunks_mut::<#output_lit>().0)),
        ),
    };
    let target_len_lit = usize_lit(target_len);
    let label_check = (loss.kind == LossKind::SoftmaxCrossEntropy)
        .then(|| quote!(#p::check_labels(#name_str, "loss_and_grad", targets, #output_lit)?;));
    let (loss_doc, target_doc) = match loss.kind {
        LossKind::SoftmaxCrossEntropy => (
            "softmax cross-entropy on the logits (PyTorch `CrossEntropyLoss`, mean over the batch)",
            "`targets` holds one class index per sample (`BATCH` values, each below `OUTPUT`)",
        ),
        LossKind::Mse => (
            "mean squared error over all `BATCH * OUTPUT` values (PyTorch `MSELoss`)",
            "`targets` holds `BATCH * OUTPUT` values, sample after sample",
        ),
        LossKind::BinaryCrossEntropy => (
            "binary cross-entropy on the logits, mean over all `BATCH * OUTPUT` values (PyTorch \
             `BCEWithLogitsLoss`)",
            "`targets` holds `BATCH * OUTPUT` probabilities in [0, 1], sample after sample",
        ),
    };

    // Backward: the gradient moves between `grad_a` and `grad_b`.
    let mut backward_body = TokenStream::new();
    let mut dy_in_a = true;
    for step in plan.steps.iter().rev() {
        let needs_dx = step.x != Buf::Input;
        if !needs_dx && !has_params(step) {
            // An activation on the input: nothing upstream wants its gradient.
            continue;
        }
        let backward = format_ident!("{}_backward", step.layer.name);
        let (win, wout) = (usize_lit(step.width_in), usize_lit(step.width_out));
        let (lin, lout) = (usize_lit(batch * step.width_in), usize_lit(batch * step.width_out));
        let (dy_field, dx_field) = if dy_in_a {
            (format_ident!("grad_a"), format_ident!("grad_b"))
        } else {
            (format_ident!("grad_b"), format_ident!("grad_a"))
        };
        let dy = quote!(self.#dy_field[..#lout].as_chunks::<#wout>().0);
        let dx = needs_dx.then(|| quote!(, self.#dx_field[..#lin].as_chunks_mut::<#win>().0));
        let x = batch_read(step.x, step.width_in);
        let call = match &step.layer.op {
            Op::Dense { .. } => {
                quote!(Self::#backward(&self.params, &mut self.grads, #x, #dy #dx);)
            }
            _ => {
                let y = batch_read(step.y, step.width_out);
                quote!(Self::#backward(#x, #y, #dy #dx);)
            }
        };
        backward_body.extend(call);
        dy_in_a = !dy_in_a;
    }

    // Penalties on parameters, into the loss and the gradient.
    let mut penalty_body = TokenStream::new();
    for param in &net.params {
        let (start, end) = (usize_lit(param.offset), usize_lit(param.offset + param.len));
        let what = format!("the penalty coefficient on `{}`", param.name);
        if let Some(a) = param.l2 {
            let a = ok(f32_tokens(a, &what, net.span));
            penalty_body.extend(quote!(
                penalty += #p::l2_penalty(&self.params[#start..#end], &mut self.grads[#start..#end], #a);
            ));
        }
        if let Some(a) = param.l1 {
            let a = ok(f32_tokens(a, &what, net.span));
            penalty_body.extend(quote!(
                penalty += #p::l1_penalty(&self.params[#start..#end], &mut self.grads[#start..#end], #a);
            ));
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }

    let inputs_len = usize_lit(batch * input_w);
    let inputs_formula = format!("BATCH * INPUT = {batch} * {input_w}");
    let layers_doc = layers_doc(net);
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let (inputs_s, outputs_s) = (plural(input_w), plural(output_w));
    let struct_doc = format!(
        "The `{name_str}` network generated by `netspec`: {input_w} input{inputs_s}, {output_w} output{outputs_s}, \
         {param_count} parameters, trained on mini-batches of {batch}.\n\n{layers_doc}\n\
         Loss: {loss_doc}.\n\n\
         The struct owns its parameters, their gradients and the activations the backward pass \
         needs, all allocated once by [`{name_str}::new`]; `predict`, `predict_batch`, \
         `loss_and_grad` and `train_step` never allocate."
    );
    let new_doc = "Allocates every buffer and initializes the parameters as the spec says, in \
                   layout order (the same `rng` state always gives the same parameters).";
    let loss_and_grad_doc = format!(
        "One mini-batch forward and backward in training mode: overwrites the gradients (see \
         [`Self::grads`]) and returns the mean loss plus the `penalty` terms.\n\n\
         `inputs` holds `BATCH * INPUT` values, sample after sample; {target_doc}.\n\n\
         # Errors\n\nA wrong `inputs` or `targets` length, or a class index out of range; nothing \
         is computed then and the gradients are left as they were."
    );

    let act_field_defs = act_fields.iter().map(|f| quote!(#f: ::std::vec::Vec<f32>,));
    let act_field_inits =
        act_fields.iter().zip(&act_lens).map(|(f, len)| quote!(#f: ::std::vec![0.0; #len],));

    Ok(quote! {
        #[doc = #struct_doc]
        #[derive(Clone)]
        pub struct #name {
            /// Every trainable value, laid out as [`Self::PARAMS`] says.
            params: ::std::vec::Vec<f32>,
            /// dLoss/dparams of the last `loss_and_grad`, same layout.
            grads: ::std::vec::Vec<f32>,
            #(#act_field_defs)*
            /// dLoss/d(activation), `BATCH` rows of the widest layer; the backward pass reads
            /// one of the two buffers and writes the other.
            grad_a: ::std::vec::Vec<f32>,
            grad_b: ::std::vec::Vec<f32>,
        }

        impl ::core::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name_str).field("param_count", &Self::PARAM_COUNT).finish_non_exhaustive()
            }
        }

        // Init bounds such as sqrt(6/3) are computed values that clippy would mistake for
        // hand-typed approximations of its constants (SQRT_2, ...).
        #[allow(clippy::approx_constant, clippy::excessive_precision)]
        impl #name {
            /// Values in one input sample.
            pub const INPUT: usize = #input_lit;
            /// Values in one output sample (logits for the cross-entropy losses).
            pub const OUTPUT: usize = #output_lit;
            /// Samples in the mini-batch that `loss_and_grad` and `train_step` take.
            pub const BATCH: usize = #batch_lit;
            /// Trainable values: the length of [`Self::params`] and [`Self::grads`].
            pub const PARAM_COUNT: usize = #param_count_lit;
            /// The layout of the flat parameter buffer: PyTorch `state_dict` name, shape
            /// (`[out, in]` for weights), offset, length, role and initial distribution.
            pub const PARAMS: &'static [#p::ParamInfo] = &[#(#param_infos),*];

            #[doc = #new_doc]
            pub fn new(rng: &mut #p::Rng) -> Self {
                let mut params = ::std::vec![0.0f32; #param_count_lit];
                #p::init_params(&mut params, Self::PARAMS, rng)
                    .expect("the generated layout table matches the generated buffer");
                Self {
                    params,
                    grads: ::std::vec![0.0f32; #param_count_lit],
                    #(#act_field_inits)*
                    grad_a: ::std::vec![0.0f32; #grad_len],
                    grad_b: ::std::vec![0.0f32; #grad_len],
                }
            }

            /// The parameters, laid out as [`Self::PARAMS`] says.
            pub fn params(&self) -> &[f32] {
                &self.params
            }

            /// The parameters, to set them by hand or load them.
            pub fn params_mut(&mut self) -> &mut [f32] {
                &mut self.params
            }

            /// The gradients of the last [`Self::loss_and_grad`], laid out as the parameters.
            pub fn grads(&self) -> &[f32] {
                &self.grads
            }

            /// The output for one sample in eval mode; the activations live on the stack.
            pub fn predict(&self, input: &[f32; #input_lit]) -> [f32; #output_lit] {
                #predict_body
            }

            /// [`Self::predict`] for any number of samples: `inputs` holds `n * INPUT` values and
            /// `outputs` receives `n * OUTPUT`.
            ///
            /// # Errors
            ///
            /// When `inputs` is not a whole number of samples or `outputs` has not room for
            /// exactly their outputs; `outputs` is not written then.
            pub fn predict_batch(&self, inputs: &[f32], outputs: &mut [f32]) -> ::core::result::Result<(), #p::BatchError> {
                let samples = #p::check_samples(#name_str, inputs.len(), #input_lit, outputs.len(), #output_lit)?;
                let (x, _) = inputs.as_chunks::<#input_lit>();
                let (y, _) = outputs.as_chunks_mut::<#output_lit>();
                for (x, y) in x[..samples].iter().zip(y.iter_mut()) {
                    *y = self.predict(x);
                }
                ::core::result::Result::Ok(())
            }

            #[doc = #loss_and_grad_doc]
            pub fn loss_and_grad(&mut self, inputs: &[f32], targets: &[#target_ty]) -> ::core::result::Result<f32, #p::BatchError> {
                #p::check_len(#name_str, "loss_and_grad", "inputs", inputs.len(), #inputs_len, #inputs_formula)?;
                #p::check_len(#name_str, "loss_and_grad", "targets", targets.len(), #target_len_lit, #target_formula)?;
                #label_check
                let (x_in, _) = inputs.as_chunks::<#input_lit>();
                self.grads.fill(0.0);
                #forward_body
                let data_loss: f64 = #loss_call;
                #backward_body
                let mut penalty = 0.0f64;
                #penalty_body
                ::core::result::Result::Ok((data_loss + penalty) as f32)
            }

            /// [`Self::loss_and_grad`], then one optimizer step on the parameters; returns the loss
            /// before the step. `rng` drives the training-time randomness of the network (none
            /// among the layers this generator supports yet; kept so the signature is stable).
            ///
            /// # Errors
            ///
            /// As [`Self::loss_and_grad`]; the parameters are not changed then.
            pub fn train_step(
                &mut self,
                inputs: &[f32],
                targets: &[#target_ty],
                optimizer: &mut impl #p::Optimizer,
                rng: &mut #p::Rng,
            ) -> ::core::result::Result<f32, #p::BatchError> {
                let _ = rng;
                let loss = self.loss_and_grad(inputs, targets)?;
                optimizer.step(&mut self.params, &self.grads);
                ::core::result::Result::Ok(loss)
            }

            /// Writes the parameters to a safetensors file with PyTorch's names and shapes
            /// (`model.load_state_dict(safetensors.torch.load_file(path))` accepts it).
            ///
            /// # Errors
            ///
            /// When the file cannot be written.
            pub fn save(&self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), #p::CheckpointError> {
                #p::save_params(path.as_ref(), Self::PARAMS, &self.params)
            }

            /// Reads parameters saved by [`Self::save`] (or from PyTorch with the same names and
            /// shapes).
            ///
            /// # Errors
            ///
            /// When the file is missing, corrupt, or holds other tensors, shapes or types than
            /// this network's; the parameters are unchanged then.
            pub fn load(&mut self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), #p::CheckpointError> {
                #p::load_params(path.as_ref(), Self::PARAMS, &mut self.params)
            }

            #(#layer_fns)*
        }
    })
}

fn has_params(step: &Step<'_>) -> bool {
    !step.layer.params.is_empty()
}

fn layers_doc(net: &ir::Network) -> String {
    let mut doc = String::from("| layer | output |\n|---|---|\n");
    doc.push_str(&format!("| input | {} |\n", net.input));
    for layer in &net.layers {
        doc.push_str(&format!("| `{}` | {} |\n", layer.name, layer.output));
    }
    doc
}

fn param_info(param: &ir::Param, span: Span, p: &TokenStream) -> Result<TokenStream, Diagnostic> {
    let name = &param.name;
    let shape = param.shape.iter().map(|d| usize_lit(*d));
    let (offset, len) = (usize_lit(param.offset), usize_lit(param.len));
    let role = match param.role {
        Role::Weight => quote!(Weight),
        Role::Bias => quote!(Bias),
        Role::NormWeight => quote!(NormWeight),
        Role::NormBias => quote!(NormBias),
    };
    let what = |field: &str| format!("the initial {field} of `{name}`");
    let init = match param.init {
        ir::Init::Zeros => quote!(#p::Init::Zeros),
        ir::Init::Constant(c) => {
            let c = f32_tokens(c, &what("value"), span)?;
            quote!(#p::Init::Constant(#c))
        }
        ir::Init::Uniform { lo, hi } => {
            let (lo, hi) = (
                f32_tokens(lo, &what("lower bound"), span)?,
                f32_tokens(hi, &what("upper bound"), span)?,
            );
            quote!(#p::Init::Uniform { lo: #lo, hi: #hi })
        }
        ir::Init::Normal { mean, std } => {
            let (mean, std) =
                (f32_tokens(mean, &what("mean"), span)?, f32_tokens(std, &what("std"), span)?);
            quote!(#p::Init::Normal { mean: #mean, std: #std })
        }
        ir::Init::Orthogonal { gain } => {
            let gain = f32_tokens(gain, &what("gain"), span)?;
            quote!(#p::Init::Orthogonal { gain: #gain })
        }
    };
    let fan_in = usize_lit(param.fans.map_or(0, |f| f.fan_in));
    Ok(quote! {
        #p::ParamInfo {
            name: #name,
            shape: &[#(#shape),*],
            offset: #offset,
            len: #len,
            role: #p::Role::#role,
            init: #init,
            fan_in: #fan_in,
        }
    })
}

/// The forward and backward functions of one layer, next to each other.
fn layer_functions(
    net: &ir::Network,
    step: &Step<'_>,
    needs_dx: bool,
    p: &TokenStream,
) -> Result<TokenStream, Diagnostic> {
    let layer = step.layer;
    let forward = format_ident!("{}_forward", layer.name);
    let backward = format_ident!("{}_backward", layer.name);
    let (win, wout) = (usize_lit(step.width_in), usize_lit(step.width_out));
    match &layer.op {
        Op::Dense { units, bias, .. } => {
            let params: Vec<&ir::Param> = layer.params.iter().map(|&i| &net.params[i]).collect();
            let Some(weight) = params.iter().find(|p| p.role == Role::Weight) else {
                return Err(Diagnostic::error(
                    layer.span,
                    "internal error: a dense layer without a weight",
                ));
            };
            let (w0, w1) = (usize_lit(weight.offset), usize_lit(weight.offset + weight.len));
            let bias_param = params.iter().find(|p| p.role == Role::Bias).filter(|_| *bias);
            // w · x with 8 partial sums (see the note on unrolling above).
            let dot = quote!(#p::dot(w, x));
            let doc_f = format!(
                "`{}` forward: y = x W^T + b (nn.Linear), W `[{units}, {}]` at params[{}..].",
                layer.name, step.width_in, weight.offset
            );
            let (forward_rows, bias_grad) = match bias_param {
                Some(b) => {
                    let (b0, b1) = (usize_lit(b.offset), usize_lit(b.offset + b.len));
                    (
                        quote! {
                            let b = &params[#b0..#b1];
                            for (x, y) in x.iter().zip(y.iter_mut()) {
                                for ((y, w), b) in y.iter_mut().zip(w).zip(b) {
                                    *y = #dot + *b;
                                }
                            }
                        },
                        quote! {
                            // dL/db = sum over the batch of dy
                            let db = &mut grads[#b0..#b1];
                            for dy in dy {
                                for (db, &g) in db.iter_mut().zip(dy) {
                                    *db += g;
                                }
                            }
                        },
                    )
                }
                None => (
                    quote! {
                        for (x, y) in x.iter().zip(y.iter_mut()) {
                            for (y, w) in y.iter_mut().zip(w) {
                                *y = #dot;
                            }
                        }
                    },
                    TokenStream::new(),
                ),
            };
            let (dx_param, dx_body) = if needs_dx {
                (
                    quote!(, dx: &mut [[f32; #win]]),
                    quote! {
                        // dL/dx = dy W
                        let (w, _) = params[#w0..#w1].as_chunks::<#win>();
                        for (dx, dy) in dx.iter_mut().zip(dy) {
                            *dx = [0.0; #win];
                            for (w, &g) in w.iter().zip(dy) {
                                for (dx, &w) in dx.iter_mut().zip(w) {
                                    *dx += g * w;
                                }
                            }
                        }
                    },
                )
            } else {
                (TokenStream::new(), quote!(let _ = params;))
            };
            Ok(quote! {
                #[doc = #doc_f]
                fn #forward(params: &[f32], x: &[[f32; #win]], y: &mut [[f32; #wout]]) {
                    let (w, _) = params[#w0..#w1].as_chunks::<#win>();
                    #forward_rows
                }

                /// Backward of the layer above: accumulates dL/dW and dL/db into `grads` and
                /// writes dL/dx.
                fn #backward(params: &[f32], grads: &mut [f32], x: &[[f32; #win]], dy: &[[f32; #wout]] #dx_param) {
                    // dL/dW = dy^T x
                    let (dw, _) = grads[#w0..#w1].as_chunks_mut::<#win>();
                    for (x, dy) in x.iter().zip(dy) {
                        for (dw, &g) in dw.iter_mut().zip(dy) {
                            for (dw, &x) in dw.iter_mut().zip(x) {
                                *dw += g * x;
                            }
                        }
                    }
                    #bias_grad
                    #dx_body
                }
            })
        }
        Op::Activation(activation) => {
            let (name, fwd, bwd, uses_x, uses_y) = match *activation {
                // PyTorch: relu(x) = max(x, 0) (NaN stays NaN); threshold_backward: dy where y > 0.
                Activation::Relu => (
                    "relu",
                    quote!(if x < 0.0 { 0.0 } else { x }),
                    quote!(if x > 0.0 { dy } else { 0.0 }),
                    true,
                    false,
                ),
                Activation::LeakyRelu { slope } => {
                    let a = f32_tokens(slope, "the leaky_relu slope", layer.span)?;
                    // nn.LeakyReLU: x > 0 ? x : slope * x, and the same factor backward.
                    (
                        "leaky_relu",
                        quote!(if x > 0.0 { x } else { #a * x }),
                        quote!(if x > 0.0 { dy } else { #a * dy }),
                        true,
                        false,
                    )
                }
                // d tanh(x)/dx = 1 - tanh(x)^2
                Activation::Tanh => {
                    ("tanh", quote!(x.tanh()), quote!(dy * (1.0 - y * y)), false, true)
                }
                // d sigmoid(x)/dx = s (1 - s)
                Activation::Sigmoid => (
                    "sigmoid",
                    quote!(1.0 / (1.0 + (-x).exp())),
                    quote!(dy * y * (1.0 - y)),
                    false,
                    true,
                ),
                Activation::Identity => ("identity", quote!(x), quote!(dy), false, false),
            };
            let x_pat = if uses_x { quote!(&x) } else { quote!(_) };
            let y_pat = if uses_y { quote!(&y) } else { quote!(_) };
            let doc_f =
                format!("`{}` forward: {name}, {} values per sample.", layer.name, step.width_out);
            let backward_fn = needs_dx.then(|| {
                quote! {
                    /// Backward of the activation above, from its input `x` and output `y`.
                    fn #backward(x: &[[f32; #win]], y: &[[f32; #wout]], dy: &[[f32; #wout]], dx: &mut [[f32; #win]]) {
                        for (((x, y), dy), dx) in x.iter().zip(y).zip(dy).zip(dx.iter_mut()) {
                            for (((#x_pat, #y_pat), &dy), dx) in x.iter().zip(y).zip(dy).zip(dx.iter_mut()) {
                                *dx = #bwd;
                            }
                        }
                    }
                }
            });
            Ok(quote! {
                #[doc = #doc_f]
                fn #forward(x: &[[f32; #win]], y: &mut [[f32; #wout]]) {
                    for (x, y) in x.iter().zip(y.iter_mut()) {
                        for (&x, y) in x.iter().zip(y.iter_mut()) {
                            *y = #fwd;
                        }
                    }
                }
                #backward_fn
            })
        }
        _ => Err(Diagnostic::error(
            layer.span,
            "internal error: unsupported layer reached the emitter",
        )),
    }
}
