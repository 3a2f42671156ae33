//! Pooling: `maxpool` (nn.MaxPool2d), `avgpool` (nn.AvgPool2d, count_include_pad=True),
//! `global_avgpool` (nn.AdaptiveAvgPool2d(1) + flatten) and `fractional_maxpool`
//! (nn.FractionalMaxPool2d(2, output_size), Graham 2014), through the runtime's `pool` kernels.

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::Op;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::conv::{dx_scratch, flat, flat_mut, image, one_flat, one_flat_mut};
use super::{Ctx, Field, LayerCode, Step, usize_lit};

pub(super) fn code(ctx: &Ctx<'_>, step: &Step<'_>) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let (channels, height, width) = image(layer.input, step)?;
    let (c_l, h_l, w_l) = (usize_lit(channels), usize_lit(height), usize_lit(width));
    let shape_const = format_ident!("{}", name.to_uppercase());
    let forward = format_ident!("{name}_forward");
    let argmax = format_ident!("{name}_argmax");
    let batch = usize_lit(ctx.batch);
    let out_len = usize_lit(step.width_out);
    let (x, y) = (flat(step.x), flat_mut(step.y));
    let dy = ctx.grad_flat(step.y);
    let (one_x, one_y) = (one_flat(step.x), one_flat_mut(step.y));
    let expect = quote!(.expect("the generated pooling shapes are consistent"));
    let mut fields = Vec::new();
    let scratch = dx_scratch(ctx, step);
    let dx_tok = scratch.as_ref().map_or(TokenStream::new(), |(_, dx, _)| quote!(&mut self.#dx));
    let argmax_field = |fields: &mut Vec<Field>| {
        let len = usize_lit(ctx.batch * step.width_out);
        fields.push(Field {
            name: argmax.clone(),
            ty: quote!(::std::vec::Vec<u32>),
            init: quote!(::std::vec![0u32; #len]),
            doc: format!("`{name}` index of each output's maximum in its sample's input row."),
        });
    };
    let (shape_item, items, forward_call, backward_kernel, predict, sample, resample, hook);
    match layer.op {
        Op::MaxPool(pool) | Op::AvgPool(pool) => {
            let (k, s, pd) = (usize_lit(pool.kernel), usize_lit(pool.stride), usize_lit(pool.pad));
            shape_item = quote! {
                const #shape_const: #p::PoolShape = #p::PoolShape {
                    channels: #c_l, height: #h_l, width: #w_l, kernel: #k, stride: #s, pad: #pd,
                };
            };
            if matches!(layer.op, Op::MaxPool(_)) {
                argmax_field(&mut fields);
                let doc = format!(
                    "`{name}` forward (nn.MaxPool2d({}, stride={}, padding={})): the maximum of \
                     each window, its index kept in `argmax`.",
                    pool.kernel, pool.stride, pool.pad
                );
                items = quote! {
                    #[doc = #doc]
                    fn #forward(x: &[f32], y: &mut [f32], argmax: &mut [u32], rows: usize) {
                        #p::maxpool2d_forward(Self::#shape_const, x, y, argmax, rows) #expect;
                    }
                };
                forward_call = quote!(Self::#forward(#x, #y, &mut self.#argmax, #batch););
                backward_kernel = quote! {
                    // dx[argmax] += dy
                    #p::maxpool2d_backward(Self::#shape_const, #dy, &self.#argmax, #dx_tok, #batch) #expect;
                };
                predict = quote! {
                    let mut argmax = [[0u32; #out_len]; ROWS];
                    Self::#forward(#one_x, #one_y, argmax.as_flattened_mut(), ROWS);
                };
            } else {
                let doc = format!(
                    "`{name}` forward (nn.AvgPool2d({}, stride={}, padding={}), \
                     count_include_pad=True): each window's sum / {}.",
                    pool.kernel,
                    pool.stride,
                    pool.pad,
                    pool.kernel * pool.kernel
                );
                items = quote! {
                    #[doc = #doc]
                    fn #forward(x: &[f32], y: &mut [f32], rows: usize) {
                        #p::avgpool2d_forward(Self::#shape_const, x, y, rows) #expect;
                    }
                };
                forward_call = quote!(Self::#forward(#x, #y, #batch););
                backward_kernel = quote! {
                    // dx = dy / k^2 over each window
                    #p::avgpool2d_backward(Self::#shape_const, #dy, #dx_tok, #batch) #expect;
                };
                predict = quote!(Self::#forward(#one_x, #one_y, ROWS););
            }
            sample = predict.clone();
            resample = TokenStream::new();
            hook = None;
        }
        Op::GlobalAvgPool => {
            shape_item = quote! {
                const #shape_const: #p::ImageShape = #p::ImageShape {
                    channels: #c_l, height: #h_l, width: #w_l,
                };
            };
            let doc =
                format!("`{name}` forward: y[c] = mean of channel c's {height}x{width} values.");
            items = quote! {
                #[doc = #doc]
                fn #forward(x: &[f32], y: &mut [f32], rows: usize) {
                    #p::global_avgpool_forward(Self::#shape_const, x, y, rows) #expect;
                }
            };
            forward_call = quote!(Self::#forward(#x, #y, #batch););
            backward_kernel = quote! {
                // dx[c, :, :] = dy[c] / (H W)
                #p::global_avgpool_backward(Self::#shape_const, #dy, #dx_tok, #batch) #expect;
            };
            predict = quote!(Self::#forward(#one_x, #one_y, ROWS););
            sample = predict.clone();
            resample = TokenStream::new();
            hook = None;
        }
        Op::FractionalMaxPool { alpha } => {
            let (_, out_h, out_w) = image(layer.output, step)?;
            let (oh, ow) = (usize_lit(out_h), usize_lit(out_w));
            shape_item = quote! {
                const #shape_const: #p::FractionalPoolShape = #p::FractionalPoolShape {
                    channels: #c_l, height: #h_l, width: #w_l, out_height: #oh, out_width: #ow,
                };
            };
            argmax_field(&mut fields);
            let samples = format_ident!("{name}_samples");
            let eval_samples = format_ident!("{name}_eval_samples");
            let len = usize_lit(2 * ctx.batch);
            fields.push(Field {
                name: samples.clone(),
                ty: quote!(::std::vec::Vec<f32>),
                init: quote!(::std::vec![#p::FRACTIONAL_EVAL_SAMPLE; #len]),
                doc: format!(
                    "`{name}` training draws u ~ U[0, 1), [u_width, u_height] per sample."
                ),
            });
            fields.push(Field {
                name: eval_samples.clone(),
                ty: quote!(::std::vec::Vec<f32>),
                init: quote!(::std::vec![#p::FRACTIONAL_EVAL_SAMPLE; #len]),
                doc: format!("`{name}` eval samples, u = 0.5."),
            });
            let doc = format!(
                "`{name}` forward (fractional max pooling, alpha {alpha}, 2x2 windows, \
                 {height}x{width} -> {out_h}x{out_w}): window starts from one u per sample and \
                 axis (drawn while training, 0.5 in eval)."
            );
            items = quote! {
                #[doc = #doc]
                fn #forward(samples: &[f32], x: &[f32], y: &mut [f32], argmax: &mut [u32], rows: usize) {
                    #p::fractional_maxpool2d_forward(Self::#shape_const, samples, x, y, argmax, rows) #expect;
                }
            };
            forward_call = quote! {
                let samples = if training { &self.#samples } else { &self.#eval_samples };
                Self::#forward(samples, #x, #y, &mut self.#argmax, #batch);
            };
            backward_kernel = quote! {
                // dx[argmax] += dy
                #p::fractional_maxpool2d_backward(Self::#shape_const, #dy, &self.#argmax, #dx_tok, #batch) #expect;
            };
            predict = quote! {
                let mut argmax = [[0u32; #out_len]; ROWS];
                let u = [[#p::FRACTIONAL_EVAL_SAMPLE; 2]; ROWS];
                Self::#forward(u.as_flattened(), #one_x, #one_y, argmax.as_flattened_mut(), ROWS);
            };
            sample = quote! {
                let mut argmax = [[0u32; #out_len]; ROWS];
                let mut u = [[0.0f32; 2]; ROWS];
                #p::fractional_samples(rng, u.as_flattened_mut());
                Self::#forward(u.as_flattened(), #one_x, #one_y, argmax.as_flattened_mut(), ROWS);
            };
            resample = quote!(#p::fractional_samples(rng, &mut self.#samples););
            hook = Some(samples);
        }
        _ => return Err(Diagnostic::error(layer.span, "internal error: not a pooling layer")),
    }
    let backward = match scratch {
        Some((field, _, add)) => {
            fields.push(field);
            quote! {
                #backward_kernel
                #add
            }
        }
        None => TokenStream::new(),
    };
    Ok(LayerCode {
        items: quote! {
            #shape_item
            #items
        },
        fields,
        forward: forward_call,
        backward,
        predict,
        sample,
        resample,
        noise_hook: hook,
    })
}
