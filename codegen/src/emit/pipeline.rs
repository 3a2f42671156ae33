//! The input pipeline: `preprocess` (fitted on training rows, applied by every forward pass,
//! saved with the checkpoint) and `augment` (in `train_step` only, on the raw inputs before
//! preprocessing, as torchvision's transforms: augment, then normalize). Both work on a
//! workspace copy of the inputs; the caller's slice is never changed.

use netspec_grammar::ir::{self, Augmentation, LossKind, PreprocessKind};
use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{LossCode, Plan, usize_lit};

/// The pipeline's tokens, in the places of the network they go to.
pub(super) struct InputPipeline {
    pub(super) fields: TokenStream,
    pub(super) inits: TokenStream,
    /// `predict_rows`, `predict_sample`: `input` (`ROWS` samples) rebound to its preprocessed
    /// copy.
    pub(super) one: TokenStream,
    /// Binds `x_in` to the prepared rows of `inputs` (`forward`, `loss_and_grad`).
    pub(super) prepare: TokenStream,
    /// As `prepare`, with the augmentation first (`train_step`, `rng` in scope).
    pub(super) prepare_train: TokenStream,
    /// Gives the workspace back.
    pub(super) restore: TokenStream,
    /// Whether `train_step` uses the soft targets.
    pub(super) soft: TokenStream,
    pub(super) soft_calls: Vec<TokenStream>,
    pub(super) methods: TokenStream,
    pub(super) save: TokenStream,
    pub(super) load: TokenStream,
}

fn f64_lit(v: f64) -> Literal {
    Literal::f64_suffixed(v)
}

pub(super) fn input_pipeline(
    net: &ir::Network,
    p: &TokenStream,
    plan: &Plan<'_>,
    losses: &[LossCode],
) -> InputPipeline {
    let input_w = usize_lit(net.input.len());
    let len = usize_lit(net.batch * net.input.len());
    let dims = net.input.dims().into_iter().map(usize_lit);
    let shape = quote!(&[#(#dims),*]);
    let augment = !net.augment.is_empty();
    let mut out = InputPipeline {
        fields: TokenStream::new(),
        inits: TokenStream::new(),
        one: TokenStream::new(),
        prepare: quote!(let (x_in, _) = inputs.as_chunks::<#input_w>();),
        prepare_train: quote!(let (x_in, _) = inputs.as_chunks::<#input_w>();),
        restore: TokenStream::new(),
        soft: quote!(false),
        soft_calls: Vec::new(),
        methods: TokenStream::new(),
        save: quote!(#p::save_state(path.as_ref(), state)),
        load: quote! {
            #p::load_state(path.as_ref(), Self::PARAMS, &mut self.params, Self::BUFFERS, &mut self.buffers, &mut self.counters)
        },
    };
    if net.preprocess.is_none() && !augment {
        return out;
    }
    out.fields.extend(quote! {
        /// The inputs as the layers see them (augmented, preprocessed), one mini-batch.
        input_work: ::std::vec::Vec<f32>,
    });
    out.inits.extend(quote!(input_work: ::std::vec![0.0f32; #len],));
    // x = the caller's rows copied, then preprocessed
    let mut pre_rows = TokenStream::new();
    if let Some(pre) = net.preprocess {
        let (kind, kind_name) = match pre.kind {
            PreprocessKind::MeanSubtractPerPixel => {
                (quote!(MeanSubtractPerPixel), "mean_subtract per_pixel")
            }
            PreprocessKind::MeanSubtractPerChannel => {
                (quote!(MeanSubtractPerChannel), "mean_subtract per_channel")
            }
            PreprocessKind::StandardizePerChannel => {
                (quote!(StandardizePerChannel), "standardize per_channel")
            }
            PreprocessKind::StandardizePerFeature => {
                (quote!(StandardizePerFeature), "standardize per_feature")
            }
            PreprocessKind::WhitenPca => (quote!(WhitenPca), "whiten pca"),
        };
        let eps = f64_lit(pre.eps);
        out.fields.extend(quote! {
            /// The fitted `preprocess` statistics (identity until fitted or loaded).
            preprocess: #p::Preprocessor,
        });
        out.inits.extend(quote! {
            preprocess: #p::Preprocessor::new(#p::PreprocessKind::#kind, #eps, #shape)
                .expect("the generated preprocessing shape is valid"),
        });
        out.one = quote! {
            // x = preprocess(input), on the stack
            let input = &{
                let mut x = *input;
                for x in x.iter_mut() {
                    self.preprocess.apply(x);
                }
                x
            };
        };
        pre_rows = quote!(self.preprocess.apply_rows(&mut work););
        let doc = format!(
            "Fits the spec's `preprocess {}` (eps {}) on training rows: `rows` holds `n * INPUT` \
             values, sample after sample (the training split only, never the test split). \
             `predict`, `predict_batch`, `forward`, `loss_and_grad` and `train_step` then apply \
             it to their inputs; `save` and `load` keep it (`preprocess.*` tensors).\n\n\
             # Errors\n\nWhen `rows` is empty or not whole samples; nothing is changed then.",
            kind_name, pre.eps
        );
        out.methods.extend(quote! {
            #[doc = #doc]
            pub fn fit_preprocess(&mut self, rows: &[f32]) -> ::core::result::Result<(), #p::PreprocessError> {
                self.preprocess = #p::Preprocessor::fit(#p::PreprocessKind::#kind, #eps, #shape, rows)?;
                ::core::result::Result::Ok(())
            }

            /// The preprocessing statistics in use (fitted, loaded, or the identity).
            pub fn preprocessor(&self) -> &#p::Preprocessor {
                &self.preprocess
            }
        });
        out.save = quote!(#p::save_state_preprocessed(path.as_ref(), state, &self.preprocess));
        out.load = quote! {
            #p::load_state_preprocessed(path.as_ref(), Self::PARAMS, &mut self.params, Self::BUFFERS, &mut self.buffers, &mut self.counters, &mut self.preprocess)
        };
    }
    out.prepare = quote! {
        let mut work = ::core::mem::take(&mut self.input_work);
        work.copy_from_slice(inputs);
        #pre_rows
        let (x_in, _) = work.as_chunks::<#input_w>();
    };
    out.prepare_train = out.prepare.clone();
    out.restore = quote!(self.input_work = work;);
    if augment {
        let classes = plan.outputs[0].width;
        let w = usize_lit(classes);
        let t_len = usize_lit(net.batch * classes);
        let ops = net.augment.iter().map(|a| match *a {
            Augmentation::Translate { pixels } => {
                let n = usize_lit(pixels);
                quote!(#p::Augmentation::Translate { pixels: #n })
            }
            Augmentation::FlipHorizontal => quote!(#p::Augmentation::FlipHorizontal),
            Augmentation::FlipVertical => quote!(#p::Augmentation::FlipVertical),
            Augmentation::Rotate { degrees } => {
                let d = f64_lit(degrees);
                quote!(#p::Augmentation::Rotate { degrees: #d })
            }
            Augmentation::GaussianNoise { sigma } => {
                let s = f64_lit(sigma);
                quote!(#p::Augmentation::GaussianNoise { sigma: #s })
            }
            Augmentation::Cutout { size } => {
                let n = usize_lit(size);
                quote!(#p::Augmentation::Cutout { size: #n })
            }
            Augmentation::Mixup { alpha } => {
                let a = f64_lit(alpha);
                quote!(#p::Augmentation::Mixup { alpha: #a })
            }
            Augmentation::Cutmix { alpha } => {
                let a = f64_lit(alpha);
                quote!(#p::Augmentation::Cutmix { alpha: #a })
            }
        });
        let batch = usize_lit(net.batch);
        out.fields.extend(quote! {
            /// The spec's `augment { ... }`, applied by `train_step`.
            augmenter: #p::Augmenter,
            /// The last `train_step`'s targets after augmentation, `BATCH x OUTPUT` (one-hot
            /// labels for softmax cross-entropy, mixed by mixup and cutmix).
            soft_targets: ::std::vec::Vec<f32>,
        });
        out.inits.extend(quote! {
            augmenter: #p::Augmenter::new(&[#(#ops),*], #shape, #batch, #w)
                .expect("the checked augmentations fit the input"),
            soft_targets: ::std::vec![0.0f32; #t_len],
        });
        let fill = if plan.outputs[0].loss.kind == LossKind::SoftmaxCrossEntropy {
            quote! {
                // one-hot rows, t[n][label] = 1
                self.soft_targets.fill(0.0);
                for (t, &label) in self.soft_targets.chunks_exact_mut(#w).zip(targets) {
                    t[label] = 1.0;
                }
            }
        } else {
            quote!(self.soft_targets.copy_from_slice(targets);)
        };
        out.prepare_train = quote! {
            let mut work = ::core::mem::take(&mut self.input_work);
            work.copy_from_slice(inputs);
            #fill
            // augment the raw inputs (and mix the targets), then preprocess
            self.augmenter
                .augment(&mut work, &mut self.soft_targets, rng)
                .expect("the workspace holds one mini-batch");
            #pre_rows
            let (x_in, _) = work.as_chunks::<#input_w>();
        };
        out.soft = quote!(true);
        out.soft_calls = losses.iter().map(|l| l.soft_call.clone()).collect();
        out.methods.extend(quote! {
            /// The targets the last [`Self::train_step`] trained on, after augmentation:
            /// `BATCH x OUTPUT` values, one-hot rows for softmax cross-entropy, mixed by mixup
            /// and cutmix (each row sums to 1).
            pub fn last_targets(&self) -> &[f32] {
                &self.soft_targets
            }

            /// The augmenter (its last mix and partners).
            pub fn augmenter(&self) -> &#p::Augmenter {
                &self.augmenter
            }
        });
    }
    out
}
