//! Pooling: `maxpool` (nn.MaxPool2d), `avgpool` (nn.AvgPool2d), `global_avgpool`
//! (nn.AdaptiveAvgPool2d(1) + flatten), `global_maxpool` (nn.AdaptiveMaxPool2d(1) + flatten, a
//! max pooling whose window is the whole image) and `fractional_maxpool`
//! (nn.FractionalMaxPool2d(2, output_size), Graham 2014), through the runtime's `pool` kernels.
//! On a sequence the same kernels run on a single row (nn.MaxPool1d, nn.AvgPool1d).

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::{Op, Pool, Shape};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::conv::{image, pair_lit};
use super::predict::Region;
use super::{Ctx, Field, LayerCode, Step, usize_lit};

pub(super) fn code(ctx: &Ctx<'_>, step: &Step<'_>) -> Result<LayerCode, Diagnostic> {
    let p = &ctx.p;
    let layer = step.layer;
    let name = &layer.name;
    let (channels, height, width) = image(layer.input, step)?;
    let (c_l, h_l, w_l) = (usize_lit(channels), usize_lit(height), usize_lit(width));
    let shape = format_ident!("{}", name.to_uppercase());
    let argmax = format_ident!("{name}_argmax");
    let argmax_rows = ctx.sample_field(&argmax, step.width_out);
    let (x, y) = (ctx.flat(step.x), ctx.flat_mut(step.y));
    let dy = ctx.grad_flat(step.y);
    let dx = ctx.grad_flat_mut(step.x);
    let (one_x, one_y) = (ctx.one_flat(step.x), ctx.one_flat_mut(step.y));
    let expect = quote!(.expect("the generated pooling shapes are consistent"));
    let len_all = usize_lit(ctx.batch * step.width_out);
    let argmax_field = Field {
        name: argmax.clone(),
        ty: quote!(::std::vec::Vec<u32>),
        init: quote!(::std::vec![0; #len_all]),
        doc: format!("`{name}` index of each output's maximum in its sample's input row."),
    };
    let mut code = LayerCode::default();
    // None without an input gradient; each adds into dx or overwrites it, as `mode` says.
    let backward = |kernel: TokenStream| dx.as_ref().map(|_| kernel).unwrap_or_default();
    let dx = dx.clone().unwrap_or_default();
    let mode = ctx.input_grad_mode(step);
    // Global max pooling: one window over the whole image.
    let whole =
        Pool { kernel: [height, width], stride: [height, width], pad: [0, 0], count_pad: true };
    match layer.op {
        Op::MaxPool(_) | Op::AvgPool(_) | Op::GlobalMaxPool => {
            let pool = match layer.op {
                Op::MaxPool(pool) | Op::AvgPool(pool) => pool,
                _ => whole,
            };
            let [k, s, pd] = [pool.kernel, pool.stride, pool.pad].map(pair_lit);
            let count_pad = pool.count_pad;
            let sequence = matches!(layer.input, Shape::Sequence { .. });
            let dim = if sequence { "1d" } else { "2d" };
            let [kernel, stride, pad] =
                [pool.kernel, pool.stride, pool.pad].map(|a| crate::torch::axes(a, sequence));
            let what = format!("({kernel}, stride={stride}, padding={pad})");
            let max = !matches!(layer.op, Op::AvgPool(_));
            let doc_const = format!("`{name}` on {}", layer.input);
            code.items = quote! {
                #[doc = #doc_const]
                const #shape: #p::PoolShape = #p::PoolShape {
                    channels: #c_l, height: #h_l, width: #w_l, kernel: #k, stride: #s, pad: #pd,
                    count_pad: #count_pad,
                };
            };
            if max {
                code.doc = if matches!(layer.op, Op::GlobalMaxPool) {
                    format!(
                        "`{name}`: `y[c]` = the maximum of channel c's {height}x{width} values \
                         (nn.AdaptiveMaxPool2d(1)), its index kept"
                    )
                } else {
                    format!(
                        "`{name}`: the maximum of each window (nn.MaxPool{dim}{what}), its index \
                         kept"
                    )
                };
                code.fields.push(argmax_field);
                code.forward = quote! {
                    #p::maxpool2d_forward(Self::#shape, #x, #y, &mut #argmax_rows, n) #expect;
                };
                // dx[argmax] (+)= dy
                code.backward = backward(quote! {
                    #p::maxpool2d_backward(Self::#shape, #dy, &#argmax_rows, #dx, #mode, n) #expect;
                });
                // No backward pass reads predict's argmaxes.
                code.predict = quote! {
                    #p::maxpool2d_forward_values(Self::#shape, #one_x, #one_y, ROWS) #expect;
                };
            } else {
                code.doc = if count_pad {
                    format!(
                        "`{name}`: each window's sum / {} (nn.AvgPool{dim}{what}, \
                         count_include_pad=True)",
                        pool.kernel[0] * pool.kernel[1]
                    )
                } else {
                    format!(
                        "`{name}`: each window's sum / its positions inside the input \
                         (nn.AvgPool{dim}{what}, count_include_pad=False)"
                    )
                };
                code.forward = quote!(#p::avgpool2d_forward(Self::#shape, #x, #y, n) #expect;);
                // dx (+)= dy / k^2 over each window
                code.backward = backward(quote! {
                    #p::avgpool2d_backward(Self::#shape, #dy, #dx, #mode, n) #expect;
                });
                code.predict =
                    quote!(#p::avgpool2d_forward(Self::#shape, #one_x, #one_y, ROWS) #expect;);
            }
        }
        Op::GlobalAvgPool => {
            let doc_const = format!("`{name}` on {channels}x{height}x{width}");
            code.items = quote! {
                #[doc = #doc_const]
                const #shape: #p::ImageShape = #p::ImageShape { channels: #c_l, height: #h_l, width: #w_l };
            };
            code.doc =
                format!("`{name}`: `y[c]` = the mean of channel c's {height}x{width} values");
            code.forward = quote!(#p::global_avgpool_forward(Self::#shape, #x, #y, n) #expect;);
            // dx[c, :, :] (+)= dy[c] / (H W)
            code.backward = backward(quote! {
                #p::global_avgpool_backward(Self::#shape, #dy, #dx, #mode, n) #expect;
            });
            code.predict =
                quote!(#p::global_avgpool_forward(Self::#shape, #one_x, #one_y, ROWS) #expect;);
        }
        Op::FractionalMaxPool { alpha } => {
            let (_, out_h, out_w) = image(layer.output, step)?;
            let (oh, ow) = (usize_lit(out_h), usize_lit(out_w));
            let doc_const = format!("`{name}` on {channels}x{height}x{width}");
            code.items = quote! {
                #[doc = #doc_const]
                const #shape: #p::FractionalPoolShape = #p::FractionalPoolShape {
                    channels: #c_l, height: #h_l, width: #w_l, out_height: #oh, out_width: #ow,
                };
            };
            code.fields.push(argmax_field);
            let samples = format_ident!("{name}_samples");
            let eval_samples = format_ident!("{name}_eval_samples");
            let len = usize_lit(2 * ctx.batch);
            let (samples_rows, eval_rows) =
                (ctx.sample_field(&samples, 2), ctx.sample_field(&eval_samples, 2));
            code.fields.push(Field::f32s(
                &samples,
                quote!(#p::FRACTIONAL_EVAL_SAMPLE),
                &len,
                format!("`{name}` training draws u ~ U[0, 1), [u_width, u_height] per sample."),
            ));
            code.fields.push(Field::f32s(
                &eval_samples,
                quote!(#p::FRACTIONAL_EVAL_SAMPLE),
                &len,
                format!("`{name}` eval samples, u = 0.5."),
            ));
            code.doc = format!(
                "`{name}`: fractional max pooling (alpha {alpha}, 2x2 windows, {height}x{width} \
                 -> {out_h}x{out_w}), window starts from one u per sample and axis (drawn while \
                 training, 0.5 in eval)"
            );
            let forward = quote!(#p::fractional_maxpool2d_forward);
            code.forward = quote! {
                let samples = if training { &#samples_rows } else { &#eval_rows };
                #forward(Self::#shape, samples, #x, #y, &mut #argmax_rows, n) #expect;
            };
            // dx[argmax] (+)= dy
            code.backward = backward(quote! {
                #p::fractional_maxpool2d_backward(Self::#shape, #dy, &#argmax_rows, #dx, #mode, n) #expect;
            });
            // u = 0.5 in eval; drawn per sample with `rng` (predict_sample)
            let u = format_ident!("{name}_u");
            code.predict = quote! {
                match &mut rng {
                    ::core::option::Option::Some(rng) => #p::fractional_samples(rng, #u.as_flattened_mut()),
                    ::core::option::Option::None => #u.as_flattened_mut().fill(#p::FRACTIONAL_EVAL_SAMPLE),
                }
                #forward(Self::#shape, #u.as_flattened(), #one_x, #one_y, #argmax.as_flattened_mut(), ROWS) #expect;
            };
            code.regions.push(Region::u32_rows(argmax.clone(), step.width_out));
            code.regions.push(Region::f32_rows(u, 2));
            code.resample = quote!(#p::fractional_samples(rng, &mut #samples_rows););
            code.noise_hook = Some(samples);
            return Ok(code);
        }
        _ => return Err(Diagnostic::error(layer.span, "internal error: not a pooling layer")),
    }
    Ok(code)
}
