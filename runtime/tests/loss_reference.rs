//! The losses with options against PyTorch: nn.CrossEntropyLoss(weight, label_smoothing) on
//! class indices and on probability targets, nn.HuberLoss(delta), nn.L1Loss and
//! nn.BCEWithLogitsLoss(pos_weight), for the cases in `reference/loss_reference_data.rs`,
//! generated from the repository root by
//!
//! ```text
//! ~/.cache/netspec/torch-venv/bin/python runtime/tests/reference/loss_reference.py \
//!     > runtime/tests/reference/loss_reference_data.rs
//! ```
//!
//! (any Python with torch and numpy; the torch version is recorded there as `TORCH_VERSION`).
//! The references are torch's float64 results from the f32 inputs.
//!
//! Tolerance: `|got - want| <= max(1e-5 |want|, 1e-6)` for the loss and each gradient value.

use netspec_runtime::ops::loss;

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Softmax cross-entropy on class indices (`targets` holds them as f32).
    Labels,
    /// Softmax cross-entropy on probability targets.
    Soft,
    /// `param` is delta.
    Huber,
    L1,
    /// `param` is pos_weight.
    BinaryPosWeight,
}

struct LossCase {
    name: &'static str,
    kind: Kind,
    rows: usize,
    width: usize,
    weight: f32,
    class_weights: &'static [f32],
    smoothing: f32,
    param: f32,
    outputs: &'static [f32],
    targets: &'static [f32],
    loss: f64,
    grad: &'static [f32],
}

include!("reference/loss_reference_data.rs");

fn within(got: f64, want: f64) -> f64 {
    (got - want).abs() / (1e-5 * want.abs()).max(1e-6)
}

/// The loss and gradient netspec computes for a case of `K` columns.
fn run<const K: usize>(c: &LossCase) -> (f64, Vec<f32>) {
    let outputs = c.outputs.as_chunks::<K>().0;
    let targets = c.targets.as_chunks::<K>().0;
    let mut grad = vec![[f32::NAN; K]; c.rows];
    let class_weights: [f32; K] =
        std::array::from_fn(|k| c.class_weights.get(k).copied().unwrap_or(1.0));
    let value = match c.kind {
        Kind::Labels => {
            let labels: Vec<usize> = c.targets.iter().map(|&t| t as usize).collect();
            loss::softmax_cross_entropy_weighted(
                outputs,
                &labels,
                &class_weights,
                c.smoothing,
                c.weight,
                &mut grad,
            )
        }
        Kind::Soft => loss::softmax_cross_entropy_soft_weighted(
            outputs,
            targets,
            &class_weights,
            c.smoothing,
            c.weight,
            &mut grad,
        ),
        Kind::Huber => loss::huber(outputs, targets, c.param, c.weight, &mut grad),
        Kind::L1 => loss::l1_loss(outputs, targets, c.weight, &mut grad),
        Kind::BinaryPosWeight => loss::binary_cross_entropy_with_logits_pos_weight(
            outputs, targets, c.param, c.weight, &mut grad,
        ),
    };
    (value, grad.into_iter().flatten().collect())
}

#[test]
fn losses_with_options_match_pytorch() {
    for c in CASES {
        assert_eq!(c.outputs.len(), c.rows * c.width, "{}", c.name);
        let (value, grad) = match c.width {
            3 => run::<3>(c),
            5 => run::<5>(c),
            w => panic!("{}: add a width {w} arm", c.name),
        };
        let mut worst = within(value, c.loss);
        assert!(
            worst <= 1.0,
            "{} ({:?}): loss {value}, torch {TORCH_VERSION} gives {}",
            c.name,
            c.kind,
            c.loss
        );
        for (i, (&g, &w)) in grad.iter().zip(c.grad).enumerate() {
            let err = within(f64::from(g), f64::from(w));
            assert!(err <= 1.0, "{} grad[{i}]: got {g}, torch {TORCH_VERSION} gives {w}", c.name);
            worst = worst.max(err);
        }
        println!("{}: worst error {worst:.3} of the tolerance", c.name);
    }
}
