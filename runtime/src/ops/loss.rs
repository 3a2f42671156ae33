//! Losses and weight penalties over mini-batches of rows, with PyTorch's definitions. Each
//! returns its value in f64 (summed in f64) and writes or adds its gradient.
use crate::math::{exp, ln, ln_1p};

/// nn.CrossEntropyLoss on logits, mean over the rows, times `weight`: per row
/// `logsumexp(z) - z[label]`; writes `weight * (softmax(z) - onehot(label)) / rows`.
/// Labels were checked to be below `K`.
pub fn softmax_cross_entropy<const K: usize>(
    logits: &[[f32; K]],
    labels: &[usize],
    weight: f32,
    dlogits: &mut [[f32; K]],
) -> f64 {
    let scale = weight / logits.len().max(1) as f32;
    let mut total = 0.0f64;
    for ((z, &label), dz) in logits.iter().zip(labels).zip(dlogits.iter_mut()) {
        // logsumexp with the max subtracted, so exp cannot overflow.
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (dz, &z) in dz.iter_mut().zip(z) {
            *dz = crate::ops::vmath::exp(z - max);
            sum += *dz;
        }
        total += f64::from(max + ln(sum) - z[label]);
        let inv = scale / sum;
        for dz in dz.iter_mut() {
            *dz *= inv;
        }
        dz[label] -= scale;
    }
    f64::from(weight) * total / logits.len().max(1) as f64
}

/// nn.CrossEntropyLoss with probability targets (soft labels, as mixup and cutmix make): mean
/// over the rows of `-sum_k t_k log softmax(z)_k`, times `weight`. Writes the exact gradient
/// `weight * (softmax(z) sum_k t_k - t) / rows`, which is `weight * (softmax(z) - t) / rows` for
/// targets summing to 1. Terms with `t_k = 0` contribute nothing (even for a logit of -inf).
/// With one-hot targets this equals [`softmax_cross_entropy`] bit for bit.
pub fn softmax_cross_entropy_soft<const K: usize>(
    logits: &[[f32; K]],
    targets: &[[f32; K]],
    weight: f32,
    dlogits: &mut [[f32; K]],
) -> f64 {
    let scale = weight / logits.len().max(1) as f32;
    let mut total = 0.0f64;
    for ((z, t), dz) in logits.iter().zip(targets).zip(dlogits.iter_mut()) {
        // logsumexp with the max subtracted, so exp cannot overflow.
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (dz, &z) in dz.iter_mut().zip(z) {
            *dz = crate::ops::vmath::exp(z - max);
            sum += *dz;
        }
        let lse = max + ln(sum);
        let mut t_sum = 0.0f32;
        for (&t, &z) in t.iter().zip(z) {
            if t != 0.0 {
                total += f64::from(t * (lse - z));
                t_sum += t;
            }
        }
        let inv = scale * t_sum / sum;
        for (dz, &t) in dz.iter_mut().zip(t) {
            *dz = *dz * inv - scale * t;
        }
    }
    f64::from(weight) * total / logits.len().max(1) as f64
}

/// nn.MSELoss: mean of (y - t)^2 over every value, times `weight`; writes
/// `weight * 2 (y - t) / count`.
pub fn mse<const K: usize>(
    outputs: &[[f32; K]],
    targets: &[[f32; K]],
    weight: f32,
    doutputs: &mut [[f32; K]],
) -> f64 {
    mean_over_values(outputs, targets, weight, doutputs, |y, t| {
        let diff = y - t;
        (diff * diff, 2.0 * diff)
    })
}

/// The mean over every value of a pointwise loss, `loss(y, t) -> (value, d value / d y)`, times
/// `weight`; writes `weight * d value / d y / count`. The losses of outputs against targets of
/// the same shape share it.
fn mean_over_values<const K: usize>(
    outputs: &[[f32; K]],
    targets: &[[f32; K]],
    weight: f32,
    doutputs: &mut [[f32; K]],
    loss: impl Fn(f32, f32) -> (f32, f32),
) -> f64 {
    let count = (outputs.len() * K).max(1);
    let scale = weight / count as f32;
    let mut total = 0.0f64;
    for ((y, t), dy) in outputs.iter().zip(targets).zip(doutputs.iter_mut()) {
        for ((&y, &t), dy) in y.iter().zip(t).zip(dy.iter_mut()) {
            let (value, gradient) = loss(y, t);
            total += f64::from(value);
            *dy = scale * gradient;
        }
    }
    f64::from(weight) * total / count as f64
}

/// `(1 + e)^-1` or `e (1 + e)^-1`: sigmoid(z) from `e = exp(-|z|)`, stable on both sides.
fn sigmoid_from_exp_neg_abs(z: f32, e: f32) -> f32 {
    if z >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) }
}

/// nn.BCEWithLogitsLoss: mean over every value of
/// `max(z, 0) - z t + ln(1 + e^-|z|)` (never overflows), times `weight`; writes
/// `weight * (sigmoid(z) - t) / count`.
pub fn binary_cross_entropy_with_logits<const K: usize>(
    logits: &[[f32; K]],
    targets: &[[f32; K]],
    weight: f32,
    dlogits: &mut [[f32; K]],
) -> f64 {
    mean_over_values(logits, targets, weight, dlogits, |z, t| {
        let e = exp(-z.abs());
        (z.max(0.0) - z * t + ln_1p(e), sigmoid_from_exp_neg_abs(z, e) - t)
    })
}

/// nn.CrossEntropyLoss(weight=class_weights, label_smoothing=smoothing) on class indices, times
/// `weight`. Row i with label y, `K` classes and `lse = logsumexp(z)` loses
/// `(1 - e) w[y] (lse - z[y]) + (e / K) sum_k w[k] (lse - z[k])`, and the batch's loss is the
/// sum over rows divided by `sum_i w[y_i]`, PyTorch's weighted mean (with all weights 1 this is
/// the plain mean). A batch whose labels all weigh 0 gives 0 and a zero gradient (PyTorch's
/// 0 / 0 is NaN). Labels were checked to be below `K`.
pub fn softmax_cross_entropy_weighted<const K: usize>(
    logits: &[[f32; K]],
    labels: &[usize],
    class_weights: &[f32; K],
    smoothing: f32,
    weight: f32,
    dlogits: &mut [[f32; K]],
) -> f64 {
    let total_weight: f64 = labels.iter().map(|&y| f64::from(class_weights[y])).sum();
    if total_weight == 0.0 {
        dlogits.iter_mut().for_each(|dz| *dz = [0.0; K]);
        return 0.0;
    }
    let scale = weight / total_weight as f32;
    let spread = smoothing / K as f32;
    let mut total = 0.0f64;
    for ((z, &label), dz) in logits.iter().zip(labels).zip(dlogits.iter_mut()) {
        // The row's target mass q: (1 - e) w[y] onehot(y) + (e / K) w.
        let mut q: [f32; K] = core::array::from_fn(|k| spread * class_weights[k]);
        q[label] += (1.0 - smoothing) * class_weights[label];
        total += weighted_cross_entropy_row(z, &q, scale, dz);
    }
    f64::from(weight) * total / total_weight
}

/// nn.CrossEntropyLoss(weight=class_weights, label_smoothing=smoothing) on probability targets
/// (mixup and cutmix), times `weight`: the targets become `t (1 - e) + e / K`, and the loss is
/// `-sum_i sum_k w[k] t_ik log softmax(z_i)_k / rows`. PyTorch divides by the number of rows
/// here, not by a sum of weights as for class indices.
pub fn softmax_cross_entropy_soft_weighted<const K: usize>(
    logits: &[[f32; K]],
    targets: &[[f32; K]],
    class_weights: &[f32; K],
    smoothing: f32,
    weight: f32,
    dlogits: &mut [[f32; K]],
) -> f64 {
    let rows = logits.len().max(1);
    let scale = weight / rows as f32;
    let spread = smoothing / K as f32;
    let mut total = 0.0f64;
    for ((z, t), dz) in logits.iter().zip(targets).zip(dlogits.iter_mut()) {
        let q: [f32; K] =
            core::array::from_fn(|k| class_weights[k] * (t[k] * (1.0 - smoothing) + spread));
        total += weighted_cross_entropy_row(z, &q, scale, dz);
    }
    f64::from(weight) * total / rows as f64
}

/// One row of a cross-entropy against target masses `q` (weights times targets): returns
/// `sum_k q_k (lse(z) - z_k)` and writes its gradient times `scale`,
/// `scale (softmax(z) sum_k q_k - q)`. Terms with `q_k = 0` contribute nothing.
fn weighted_cross_entropy_row<const K: usize>(
    z: &[f32; K],
    q: &[f32; K],
    scale: f32,
    dz: &mut [f32; K],
) -> f64 {
    // logsumexp with the max subtracted, so exp cannot overflow.
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (dz, &z) in dz.iter_mut().zip(z) {
        *dz = exp(z - max);
        sum += *dz;
    }
    let lse = max + ln(sum);
    let (mut loss, mut q_sum) = (0.0f64, 0.0f32);
    for (&q, &z) in q.iter().zip(z) {
        if q != 0.0 {
            loss += f64::from(q * (lse - z));
            q_sum += q;
        }
    }
    let inv = scale * q_sum / sum;
    for (dz, &q) in dz.iter_mut().zip(q) {
        *dz = *dz * inv - scale * q;
    }
    loss
}

/// nn.HuberLoss(delta): mean over every value of `d^2 / 2` where `|d| <= delta` and
/// `delta (|d| - delta / 2)` beyond, `d = y - t`, times `weight`; writes
/// `weight * clamp(d, -delta, delta) / count`.
pub fn huber<const K: usize>(
    outputs: &[[f32; K]],
    targets: &[[f32; K]],
    delta: f32,
    weight: f32,
    doutputs: &mut [[f32; K]],
) -> f64 {
    mean_over_values(outputs, targets, weight, doutputs, |y, t| {
        let d = y - t;
        let value = if d.abs() <= delta { 0.5 * d * d } else { delta * (d.abs() - 0.5 * delta) };
        (value, d.clamp(-delta, delta))
    })
}

/// nn.L1Loss: mean of |y - t| over every value, times `weight`; writes
/// `weight * sign(y - t) / count` (sign(0) = 0, as PyTorch).
pub fn l1_loss<const K: usize>(
    outputs: &[[f32; K]],
    targets: &[[f32; K]],
    weight: f32,
    doutputs: &mut [[f32; K]],
) -> f64 {
    mean_over_values(outputs, targets, weight, doutputs, |y, t| {
        let d = y - t;
        (d.abs(), if d == 0.0 { 0.0 } else { d.signum() })
    })
}

/// nn.BCEWithLogitsLoss(pos_weight=p): mean over every value of
/// `(1 - t) z + (1 + (p - 1) t) (ln(1 + e^-|z|) + max(-z, 0))` (PyTorch's stable form of
/// `-p t ln sigmoid(z) - (1 - t) ln(1 - sigmoid(z))`), times `weight`; writes
/// `weight * ((1 + (p - 1) t) sigmoid(z) - p t) / count`.
pub fn binary_cross_entropy_with_logits_pos_weight<const K: usize>(
    logits: &[[f32; K]],
    targets: &[[f32; K]],
    pos_weight: f32,
    weight: f32,
    dlogits: &mut [[f32; K]],
) -> f64 {
    mean_over_values(logits, targets, weight, dlogits, |z, t| {
        let e = exp(-z.abs());
        let log_weight = 1.0 + (pos_weight - 1.0) * t;
        let value = (1.0 - t) * z + log_weight * (ln_1p(e) + (-z).max(0.0));
        (value, log_weight * sigmoid_from_exp_neg_abs(z, e) - pos_weight * t)
    })
}

/// `penalty l2 a`: returns (a/2) sum(w^2), adds a w to the gradient.
pub fn l2_penalty(w: &[f32], grad: &mut [f32], a: f32) -> f64 {
    let mut sum = 0.0f64;
    for (&w, g) in w.iter().zip(grad.iter_mut()) {
        sum += f64::from(w * w);
        *g += a * w;
    }
    0.5 * f64::from(a) * sum
}

/// `penalty l1 a`: returns a sum|w|, adds the subgradient a sign(w) (sign(0) = 0).
pub fn l1_penalty(w: &[f32], grad: &mut [f32], a: f32) -> f64 {
    let mut sum = 0.0f64;
    for (&w, g) in w.iter().zip(grad.iter_mut()) {
        sum += f64::from(w.abs());
        if w != 0.0 {
            *g += a * w.signum();
        }
    }
    f64::from(a) * sum
}

/// `penalty l1_activity a on LAYER` (Keras `ActivityRegularization(l1=a)`, whose loss Keras
/// divides by the batch size): returns `a * sum(|x|) / rows`, the L1 norm of each sample's
/// activation averaged over the mini-batch, and adds the subgradient `a * sign(x) / rows`
/// (sign(0) = 0) to `grad` when given.
pub fn l1_activity(x: &[f32], grad: Option<&mut [f32]>, a: f32, rows: usize) -> f64 {
    let rows = rows.max(1);
    let sum: f64 = x.iter().map(|&v| f64::from(v.abs())).sum();
    if let Some(grad) = grad {
        let scale = a / rows as f32;
        for (g, &v) in grad.iter_mut().zip(x) {
            if v != 0.0 {
                *g += scale * v.signum();
            }
        }
    }
    f64::from(a) * sum / rows as f64
}

/// The loss of one mini-batch, in parts: what `train_step` returned is `total`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepLoss {
    /// The data loss: the mean loss over the mini-batch (the weighted sum over heads).
    pub data: f32,
    /// Every `penalty` term: l1/l2 on parameters and l1_activity on activations.
    pub penalty: f32,
    /// `data + penalty`.
    pub total: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn softmax_cross_entropy_matches_its_definition() {
        // Row 0: logsumexp(1, 2, 3) - 3 = 0.40760596; row 1: logsumexp(0, 0, 0) - 0 = ln 3.
        let logits = [[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0]];
        let mut grad = [[0.0f32; 3]; 2];
        let loss = softmax_cross_entropy(&logits, &[2, 0], 1.0, &mut grad);
        assert!(close(loss, (0.407_605_964 + 3f64.ln()) / 2.0), "{loss}");
        // d/dz = (softmax(z) - onehot) / rows.
        let softmax0 = [0.090_030_57, 0.244_728_48, 0.665_240_96];
        for (g, (s, t)) in grad[0].iter().zip(softmax0.iter().zip([0.0, 0.0, 1.0])) {
            assert!(close(f64::from(*g), (s - t) / 2.0), "{grad:?}");
        }
        assert!(close(f64::from(grad[1][0]), (1.0 / 3.0 - 1.0) / 2.0));
        // A weight scales loss and gradient; huge logits do not overflow.
        let loss = softmax_cross_entropy(&[[1000.0f32, 0.0]], &[1], 0.5, &mut [[0.0; 2]]);
        assert!(close(loss, 0.5 * 1000.0), "{loss}");
    }

    #[test]
    fn soft_cross_entropy_matches_its_definition() {
        // Row 0: z = (1, 2, 3), t = (0.2, 0, 0.8): lse = 3.40760596,
        // loss = 0.2 (lse - 1) + 0.8 (lse - 3) = 0.2 * 2.40760596 + 0.8 * 0.40760596.
        // Row 1: z = 0, t = (0.5, 0.5, 0): loss = ln 3.
        let logits = [[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0]];
        let targets = [[0.2f32, 0.0, 0.8], [0.5, 0.5, 0.0]];
        let mut grad = [[0.0f32; 3]; 2];
        let loss = softmax_cross_entropy_soft(&logits, &targets, 1.0, &mut grad);
        let row0 = 0.2 * 2.407_605_964 + 0.8 * 0.407_605_964;
        assert!(close(loss, (row0 + 3f64.ln()) / 2.0), "{loss}");
        // d/dz = (softmax(z) - t) / rows.
        let softmax0 = [0.090_030_57, 0.244_728_48, 0.665_240_96];
        for ((g, s), t) in grad[0].iter().zip(softmax0).zip([0.2, 0.0, 0.8]) {
            assert!(close(f64::from(*g), (s - t) / 2.0), "{grad:?}");
        }
        for (g, t) in grad[1].iter().zip([0.5, 0.5, 0.0]) {
            assert!(close(f64::from(*g), (1.0 / 3.0 - t) / 2.0), "{grad:?}");
        }
        // Weight scales both; huge logits do not overflow; a zero target ignores -inf.
        let mut g = [[0.0f32; 2]];
        let loss = softmax_cross_entropy_soft(&[[1000.0f32, 0.0]], &[[0.5, 0.5]], 0.5, &mut g);
        assert!(close(loss, 0.5 * 500.0), "{loss}");
        assert!(close(f64::from(g[0][0]), 0.5 * 0.5) && close(f64::from(g[0][1]), -0.5 * 0.5));
        let loss =
            softmax_cross_entropy_soft(&[[0.0f32, f32::NEG_INFINITY]], &[[1.0, 0.0]], 1.0, &mut g);
        assert_eq!((loss, g), (0.0, [[0.0, 0.0]]));
    }

    #[test]
    fn soft_cross_entropy_with_one_hot_targets_is_the_hard_one() {
        let mut rng = crate::Rng::seed(4);
        let logits: Vec<[f32; 5]> =
            (0..16).map(|_| std::array::from_fn(|_| rng.normal(0.0, 3.0))).collect();
        let labels: Vec<usize> = (0..16).map(|_| rng.below(5)).collect();
        let targets: Vec<[f32; 5]> = labels
            .iter()
            .map(|&l| std::array::from_fn(|k| if k == l { 1.0 } else { 0.0 }))
            .collect();
        let (mut g_hard, mut g_soft) = (vec![[0.0f32; 5]; 16], vec![[0.0f32; 5]; 16]);
        let hard = softmax_cross_entropy(&logits, &labels, 0.7, &mut g_hard);
        let soft = softmax_cross_entropy_soft(&logits, &targets, 0.7, &mut g_soft);
        assert_eq!(hard, soft);
        assert_eq!(g_hard, g_soft);
    }

    #[test]
    fn mse_and_binary_cross_entropy_match_their_definitions() {
        let mut grad = [[0.0f32; 2]];
        // ((1 - 0)^2 + (2 - 4)^2) / 2 = 2.5; d/dy = 2 (y - t) / 2.
        let loss = mse(&[[1.0f32, 2.0]], &[[0.0, 4.0]], 1.0, &mut grad);
        assert!(close(loss, 2.5));
        assert_eq!(grad, [[1.0, -2.0]]);
        // BCE with logits: z = 0, t = 1 gives ln 2; z = 100, t = 0 gives 100 without overflow.
        let loss =
            binary_cross_entropy_with_logits(&[[0.0f32, 100.0]], &[[1.0, 0.0]], 1.0, &mut grad);
        assert!(close(loss, (2f64.ln() + 100.0) / 2.0), "{loss}");
        // d/dz = (sigmoid(z) - t) / count.
        assert!(close(f64::from(grad[0][0]), (0.5 - 1.0) / 2.0));
        assert!(close(f64::from(grad[0][1]), 0.5));
    }

    #[test]
    fn weighted_cross_entropy_matches_its_definition() {
        // Rows as above, class weights (1, 2, 3), labels 2 and 0: sum w[y] = 4, loss
        // (3 (lse0 - 3) + 1 ln 3) / 4 and gradient w[y] (softmax(z) - onehot) / 4.
        let logits = [[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0]];
        let mut grad = [[f32::NAN; 3]; 2];
        let w = [1.0, 2.0, 3.0];
        let loss = softmax_cross_entropy_weighted(&logits, &[2, 0], &w, 0.0, 1.0, &mut grad);
        assert!(close(loss, (3.0 * 0.407_605_964 + 3f64.ln()) / 4.0), "{loss}");
        let softmax0 = [0.090_030_57, 0.244_728_48, 0.665_240_96];
        for (g, (s, t)) in grad[0].iter().zip(softmax0.iter().zip([0.0, 0.0, 1.0])) {
            assert!(close(f64::from(*g), 3.0 * (s - t) / 4.0), "{grad:?}");
        }
        assert!(close(f64::from(grad[1][0]), (1.0 / 3.0 - 1.0) / 4.0));
        // Smoothing e over K = 3 classes: row 1 (uniform logits) still loses ln 3; row 0 loses
        // (1 - e)(lse - 3) + (e / 3) sum_k (lse - z_k).
        let e = 0.3;
        let loss = softmax_cross_entropy_weighted(&logits, &[2, 0], &[1.0; 3], e, 1.0, &mut grad);
        let lse = 3.407_605_964f64;
        let row0 = (1.0 - 0.3) * (lse - 3.0) + 0.1 * (3.0 * lse - 6.0);
        assert!(close(loss, (row0 + 3f64.ln()) / 2.0), "{loss}");
        // With weights 1 and no smoothing it is the plain loss.
        let mut plain = [[0.0f32; 3]; 2];
        let want = softmax_cross_entropy(&logits, &[2, 0], 0.5, &mut plain);
        let got = softmax_cross_entropy_weighted(&logits, &[2, 0], &[1.0; 3], 0.0, 0.5, &mut grad);
        assert!(
            close(got, want)
                && grad
                    .iter()
                    .flatten()
                    .zip(plain.iter().flatten())
                    .all(|(a, b)| (a - b).abs() < 1e-7)
        );
        // Labels whose weights are all 0: no loss and no gradient (PyTorch's 0/0 is NaN).
        let loss =
            softmax_cross_entropy_weighted(&logits, &[0, 0], &[0.0, 1.0, 1.0], 0.1, 1.0, &mut grad);
        assert_eq!((loss, grad), (0.0, [[0.0; 3]; 2]));
    }

    #[test]
    fn huber_l1_and_pos_weight_match_their_definitions() {
        let mut grad = [[f32::NAN; 3]];
        // d = (0.5, -3, 0), delta 1: (0.125 + 1 * (3 - 0.5) + 0) / 3; gradient clamp(d) / 3.
        let y = [[1.5f32, -1.0, 2.0]];
        let t = [[1.0f32, 2.0, 2.0]];
        let loss = huber(&y, &t, 1.0, 1.0, &mut grad);
        assert!(close(loss, (0.125 + 2.5) / 3.0), "{loss}");
        assert_eq!(grad, [[0.5 / 3.0, -1.0 / 3.0, 0.0]]);
        // L1: (0.5 + 3 + 0) / 3, gradient sign(d) / 3 with sign(0) = 0.
        let loss = l1_loss(&y, &t, 1.0, &mut grad);
        assert!(close(loss, 3.5 / 3.0), "{loss}");
        assert_eq!(grad, [[1.0 / 3.0, -1.0 / 3.0, 0.0]]);
        // pos_weight 2 at z = 0: t = 1 loses 2 ln 2, t = 0 loses ln 2; gradients 2 (0.5 - 1)
        // and 0.5; pos_weight 1 is the plain loss.
        let mut g2 = [[0.0f32; 2]];
        let loss = binary_cross_entropy_with_logits_pos_weight(
            &[[0.0, 0.0]],
            &[[1.0, 0.0]],
            2.0,
            1.0,
            &mut g2,
        );
        assert!(close(loss, 3.0 * 2f64.ln() / 2.0), "{loss}");
        assert_eq!(g2, [[-0.5, 0.25]]);
        let z = [[0.3f32, -100.0]];
        let t = [[0.2f32, 1.0]];
        let (mut a, mut b) = ([[0.0f32; 2]], [[0.0f32; 2]]);
        let with = binary_cross_entropy_with_logits_pos_weight(&z, &t, 1.0, 0.5, &mut a);
        let plain = binary_cross_entropy_with_logits(&z, &t, 0.5, &mut b);
        assert!(close(with, plain) && close(with, 0.5 * (0.3 * 0.8 + 0.554_355_244 + 100.0) / 2.0));
        assert!(a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| (x - y).abs() < 1e-7));
    }

    #[test]
    fn penalties_add_their_value_and_gradient() {
        let w = [1.0f32, -2.0, 0.0];
        let mut grad = [0.5f32; 3];
        // (a/2) sum w^2 = 0.05 * 5; gradient a w added to what is there.
        assert!(close(l2_penalty(&w, &mut grad, 0.1), 0.25));
        assert_eq!(grad, [0.6, 0.3, 0.5]);
        // a sum |w| = 0.1 * 3; subgradient a sign(w), sign(0) = 0.
        assert!(close(l1_penalty(&w, &mut grad, 0.1), 0.3));
        assert_eq!(grad, [0.70000005, 0.20000002, 0.5]);
    }

    #[test]
    fn l1_activity_is_the_batch_mean_of_each_sample_l1_norm() {
        // rows [1, -2] and [0, 3]: 0.5 * (3 + 3) / 2 = 1.5; gradient 0.5 sign(x) / 2, sign(0) = 0.
        let x = [1.0f32, -2.0, 0.0, 3.0];
        let mut grad = [1.0f32; 4];
        assert!(close(l1_activity(&x, Some(&mut grad), 0.5, 2), 1.5));
        assert_eq!(grad, [1.25, 0.75, 1.0, 1.25]);
        assert!(close(l1_activity(&x, None, 0.5, 2), 1.5));
    }
}
