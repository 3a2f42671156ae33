//! The glue the gradient-check files share: `spec!` makes a network and keeps its text for the
//! oracle, `FromOracle` turns the oracle's targets into a network's, `check_modes` runs the
//! checks over any single-output `netspec::Network`. Used with `#[macro_use] mod common;`.

/// `spec!(module, network Net { ... })`: the network in `module`, and its text as `module::SPEC`.
macro_rules! spec {
    ($module:ident, $($spec:tt)*) => {
        mod $module {
            netspec::network! { $($spec)* }
            pub const SPEC: &str = stringify!($($spec)*);
        }
    };
}

/// A network's targets made from the oracle's (`&[usize]` from labels, `&[f32]` from values).
pub trait FromOracle<'a>: Sized {
    fn from_oracle(targets: &super::Targets<'a>) -> Self;
}

impl<'a> FromOracle<'a> for &'a [usize] {
    fn from_oracle(targets: &super::Targets<'a>) -> Self {
        match targets {
            super::Targets::Labels(labels) => labels,
            _ => panic!("the network takes class indices"),
        }
    }
}

impl<'a> FromOracle<'a> for &'a [f32] {
    fn from_oracle(targets: &super::Targets<'a>) -> Self {
        match targets {
            super::Targets::Values(values) => values,
            _ => panic!("the network takes values"),
        }
    }
}

/// The checks every gradient-check file makes once a network's parameters are set: inputs and
/// targets (of the kind the loss takes) drawn from `rng`; training mode with the masks of a
/// fresh `resample` frozen (with `real_draw`, the masks must not all keep every unit); eval mode
/// with the running statistics shifted off their initial values; each loss and gradient against
/// the f64 oracle, `loss_and_grad` repeated on the same masks to the same loss, and
/// `predict_batch` against the oracle's eval forward within 1e-5 relative. Returns the inputs
/// and `predict_batch`'s outputs.
pub fn check_modes<N>(
    net: &mut N,
    spec: &str,
    ir: &netspec_grammar::ir::Network,
    rng: &mut netspec::Rng,
    real_draw: bool,
) -> (Vec<f32>, Vec<f32>)
where
    N: netspec::Network<Output: netspec::Sample<Flat = f32>>,
    for<'a> N::Targets<'a>: FromOracle<'a>,
{
    use super::{Mode, Targets};
    let inputs = super::uniform(rng, N::BATCH * N::INPUT, 2.0);
    let labels: Vec<usize> = (0..N::BATCH).map(|_| rng.below(N::OUTPUT)).collect();
    let values: Vec<f32> = (0..N::BATCH * N::OUTPUT).map(|_| rng.uniform(0.0, 1.0)).collect();
    let uses_labels =
        ir.loss.as_ref().unwrap().kind == netspec_grammar::ir::LossKind::SoftmaxCrossEntropy;
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
        let loss = net.loss_and_grad(&inputs, FromOracle::from_oracle(&targets)).unwrap();
        super::assert_matches_oracle(
            spec,
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
    let again = net.loss_and_grad(&inputs, FromOracle::from_oracle(&targets)).unwrap();
    assert_eq!(again, loss, "loss_and_grad draws nothing");

    net.set_training(false);
    for v in net.buffers_mut().chunks_mut(1) {
        v[0] += rng.uniform(0.1, 0.6); // running means shifted, variances kept positive
    }
    let mode = Mode::frozen(ir, false, net.buffers(), |l| net.noise(l));
    check_loss(net, &mode);
    let mut outputs = vec![0.0; N::BATCH * N::OUTPUT];
    net.predict_batch(&inputs, &mut outputs).unwrap();
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
