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

/// The checks every gradient-check file makes once a network's parameters are set: inputs and
/// targets (of the kind the loss takes) drawn from `rng`; training mode with the masks of a
/// fresh `resample` frozen (with `real_draw`, the masks must not all keep every unit); eval mode
/// with the running statistics shifted off their initial values; each loss and gradient against
/// the f64 oracle, `loss_and_grad` repeated on the same masks to the same loss, and
/// `predict_batch` against the oracle's eval forward within 1e-5 relative. Returns the inputs
/// and `predict_batch`'s outputs.
pub fn check_modes<N: Net>(
    net: &mut N,
    ir: &netspec_grammar::ir::Network,
    rng: &mut netspec::Rng,
    real_draw: bool,
) -> (Vec<f32>, Vec<f32>) {
    use super::{Mode, Targets};
    let inputs = super::uniform(rng, N::BATCH * N::INPUT, 2.0);
    let labels: Vec<usize> = (0..N::BATCH).map(|_| rng.below(N::OUTPUT)).collect();
    let values: Vec<f32> = (0..N::BATCH * N::OUTPUT).map(|_| rng.uniform(0.0, 1.0)).collect();
    let uses_labels = ir.loss.unwrap().kind == netspec_grammar::ir::LossKind::SoftmaxCrossEntropy;
    let targets = if uses_labels { Targets::Labels(&labels) } else { Targets::Values(&values) };

    net.resample(rng);
    let mode = Mode::frozen(ir, true, net.buffers(), |l| net.noise(l));
    let stochastic = ir.all_layers().iter().any(|l| net.noise(&l.name).is_some());
    if real_draw && stochastic {
        // The masks are not all-keep: the hook exposes a real draw.
        assert!(mode.masks.values().any(|m| m.iter().any(|&v| v == 0.0 || v.fract() != 0.0)));
    }
    // The loss and gradients of `loss_and_grad` in `mode`, against the oracle.
    let check_loss = |net: &mut N, mode: &Mode| {
        let loss = net.loss(&inputs, &targets);
        super::assert_matches_oracle(
            N::SPEC,
            mode,
            net.params(),
            &inputs,
            &targets,
            loss,
            net.grads(),
        );
        loss
    };
    let loss = check_loss(net, &mode);
    assert_eq!(net.loss(&inputs, &targets), loss, "loss_and_grad draws nothing");

    net.set_training(false);
    for v in net.buffers_mut().chunks_mut(1) {
        v[0] += rng.uniform(0.1, 0.6); // running means shifted, variances kept positive
    }
    let mode = Mode::frozen(ir, false, net.buffers(), |l| net.noise(l));
    check_loss(net, &mode);
    let mut outputs = vec![0.0; N::BATCH * N::OUTPUT];
    net.predict_batch(&inputs, &mut outputs);
    let wide: Vec<f64> = net.params().iter().map(|&p| p as f64).collect();
    let want = super::forward_in(ir, &wide, &inputs, &mode);
    for (&y, &w) in outputs.iter().zip(&want) {
        assert!((y as f64 - w).abs() <= 1e-5 * w.abs().max(1.0), "predict {y}, oracle {w}");
    }
    (inputs, outputs)
}

/// Batch-norm gamma and beta away from 1 and 0, so their gradients are not special: with beta = 0
/// a unit whose DropConnect mask drops its whole weight row is constant over the batch, batch
/// norm maps it to exactly 0, and the central difference straddles ReLU's kink there.
pub fn away_from_kinks(
    ir: &netspec_grammar::ir::Network,
    params: &mut [f32],
    rng: &mut netspec::Rng,
) {
    for param in ir.params.iter().filter(|p| p.fans.is_none()) {
        for v in &mut params[param.offset..param.offset + param.len] {
            *v = rng.uniform(0.5, 1.5) * if param.name.ends_with("bias") { 0.3 } else { 1.0 };
        }
    }
}
