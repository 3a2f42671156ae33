//! The glue the gradient-check files share: `spec!` makes a network and keeps its text for the
//! oracle, `Net` is what the checks need from a generated single-output network, `impl_net!`
//! implements it for networks made by `spec!`. Used with `#[macro_use] mod common;`.

/// `spec!(module, network Net { ... })`: the network in `module`, and its text as `module::SPEC`.
macro_rules! spec {
    ($module:ident, $($spec:tt)*) => {
        mod $module {
            netspec::network! { $($spec)* }
            pub const SPEC: &str = stringify!($($spec)*);
        }
    };
}

/// What the checks need from a generated single-output network.
pub trait Net: Sized {
    const INPUT: usize;
    const OUTPUT: usize;
    const BATCH: usize;
    const SPEC: &'static str;
    fn new(rng: &mut netspec::Rng) -> Self;
    fn params(&self) -> &[f32];
    fn params_mut(&mut self) -> &mut [f32];
    fn grads(&self) -> &[f32];
    fn buffers_mut(&mut self) -> &mut [f32];
    fn buffers(&self) -> &[f32];
    fn set_training(&mut self, training: bool);
    fn resample(&mut self, rng: &mut netspec::Rng);
    fn noise(&self, layer: &str) -> Option<&[f32]>;
    fn loss(&mut self, inputs: &[f32], targets: &super::Targets<'_>) -> f32;
    fn predict_batch(&self, inputs: &[f32], outputs: &mut [f32]);
    fn predict(&self, input: &[f32]) -> Vec<f32>;
}

/// `impl_net!(module: Labels, ...)`: `Net` for `module::Net`, whose targets are that variant.
#[allow(unused_macros)] // gradcheck.rs makes networks with `spec!` only
macro_rules! impl_net {
    ($($module:ident: $target:ident),*) => {$(
        impl $crate::common::Net for $module::Net {
            const INPUT: usize = $module::Net::INPUT;
            const OUTPUT: usize = $module::Net::OUTPUT;
            const BATCH: usize = $module::Net::BATCH;
            const SPEC: &'static str = $module::SPEC;
            fn new(rng: &mut netspec::Rng) -> Self { $module::Net::new(rng) }
            fn params(&self) -> &[f32] { $module::Net::params(self) }
            fn params_mut(&mut self) -> &mut [f32] { $module::Net::params_mut(self) }
            fn grads(&self) -> &[f32] { $module::Net::grads(self) }
            fn buffers(&self) -> &[f32] { $module::Net::buffers(self) }
            fn buffers_mut(&mut self) -> &mut [f32] { $module::Net::buffers_mut(self) }
            fn set_training(&mut self, training: bool) { $module::Net::set_training(self, training) }
            fn resample(&mut self, rng: &mut netspec::Rng) { $module::Net::resample(self, rng) }
            fn noise(&self, layer: &str) -> Option<&[f32]> { $module::Net::__noise(self, layer) }
            fn loss(&mut self, inputs: &[f32], targets: &$crate::common::Targets<'_>) -> f32 {
                match targets {
                    $crate::common::Targets::$target(t) => $module::Net::loss_and_grad(self, inputs, t).unwrap(),
                    _ => panic!("wrong targets"),
                }
            }
            fn predict_batch(&self, inputs: &[f32], outputs: &mut [f32]) {
                $module::Net::predict_batch(self, inputs, outputs).unwrap()
            }
            fn predict(&self, input: &[f32]) -> Vec<f32> {
                let input: &[f32; $module::Net::INPUT] = input.try_into().unwrap();
                $module::Net::predict(self, input).to_vec()
            }
        }
    )*};
}
