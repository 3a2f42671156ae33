//! Optimizers over the flat parameter and gradient buffers, with PyTorch's update rules.
//!
//! Hyperparameters are `f64`, like the Python floats PyTorch receives. Scalars derived from them
//! (`1 - dampening`, `lr / bias_correction1`, ...) are computed in f64 and rounded to f32 once,
//! as PyTorch does when it passes a Python scalar to a float32 kernel; the per-element arithmetic
//! is f32 in the operation order of PyTorch's single-tensor CPU code path (the default on CPU).
//! PyTorch's vectorized kernels fuse some multiply-adds (FMA), so results agree with PyTorch to
//! within a rounding error per step rather than bit for bit.
//!
//! State (momentum buffers, Adam moments) is allocated by the first [`Optimizer::step`]; later
//! steps never allocate.

use std::fmt;

use crate::threads::{VALUES_PER_PIECE, for_values, in_pieces};

/// An update rule over a flat parameter buffer.
pub trait Optimizer {
    /// Applies one update to `params` given `grads` of the same length.
    ///
    /// # Panics
    ///
    /// If `params.len() != grads.len()`, or the length differs from the first step's. Both are
    /// bugs in the caller (generated code always passes the same buffers), not bad input.
    fn step(&mut self, params: &mut [f32], grads: &[f32]);
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate used by later steps (for schedules).
    ///
    /// # Errors
    ///
    /// As the builders: a learning rate that is negative or not finite (as an f32, which the
    /// steps compute in); the rate is left as it was.
    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError>;
}

/// An invalid optimizer configuration, reported by a builder's `build`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OptimError {
    /// A hyperparameter outside its valid range (the checks `torch.optim` makes).
    Invalid {
        /// The hyperparameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The valid range.
        requirement: &'static str,
    },
    /// Nesterov momentum without `momentum > 0` and `dampening == 0`.
    Nesterov {
        /// The momentum given.
        momentum: f64,
        /// The dampening given.
        dampening: f64,
    },
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::Invalid { name, value, requirement } => {
                write!(f, "invalid optimizer setting {name} = {value}: it must be {requirement}")
            }
            OptimError::Nesterov { momentum, dampening } => write!(
                f,
                "Nesterov momentum requires momentum > 0 and dampening = 0, got momentum = \
                 {momentum} and dampening = {dampening}; set a positive momentum and no dampening, \
                 or turn nesterov off"
            ),
        }
    }
}

impl std::error::Error for OptimError {}

/// Checks `low <= value` (and `value < high` when given), rejecting NaN.
fn check(
    name: &'static str,
    value: f64,
    high: Option<f64>,
    requirement: &'static str,
) -> Result<(), OptimError> {
    // Steps compute in f32: a value finite in f64 but not in f32 (1e300) is refused too.
    let ok = value >= 0.0 && (value as f32).is_finite() && high.is_none_or(|h| value < h);
    if ok { Ok(()) } else { Err(OptimError::Invalid { name, value, requirement }) }
}

fn check_lengths(params: &[f32], grads: &[f32], state_len: Option<usize>) {
    assert_eq!(
        params.len(),
        grads.len(),
        "optimizer step: {} parameters but {} gradients",
        params.len(),
        grads.len()
    );
    if let Some(n) = state_len {
        assert_eq!(
            n,
            params.len(),
            "optimizer step: the optimizer was first used with {n} parameters, now {}; \
             use one optimizer per parameter buffer",
            params.len()
        );
    }
}

/// Stochastic gradient descent with optional momentum, as `torch.optim.SGD`.
#[derive(Clone, Debug)]
pub struct Sgd {
    lr: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
    /// `None` until the first step, which sets it to the gradient (PyTorch's rule).
    momentum_buffer: Option<Vec<f32>>,
}

/// Builder for [`Sgd`]; every setting defaults to `torch.optim.SGD`'s.
#[derive(Clone, Debug)]
pub struct SgdBuilder {
    lr: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
}

impl Sgd {
    /// Starts an SGD configuration with learning rate `lr`, no momentum and no weight decay.
    #[allow(clippy::new_ret_no_self)] // `Sgd::new(0.1).momentum(0.9).build()` reads as intended.
    pub fn new(lr: f64) -> SgdBuilder {
        SgdBuilder { lr, momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

impl SgdBuilder {
    /// Momentum factor (default 0).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Dampening for momentum (default 0).
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Nesterov momentum (default off); needs momentum > 0 and dampening 0.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// L2 weight decay added to the gradient (default 0).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Validates the settings as `torch.optim.SGD.__init__` does.
    pub fn build(self) -> Result<Sgd, OptimError> {
        check("lr", self.lr, None, "finite and >= 0")?;
        check("momentum", self.momentum, None, "finite and >= 0")?;
        check("dampening", self.dampening, None, "finite and >= 0")?;
        check("weight_decay", self.weight_decay, None, "finite and >= 0")?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(OptimError::Nesterov {
                momentum: self.momentum,
                dampening: self.dampening,
            });
        }
        Ok(Sgd {
            lr: self.lr,
            momentum: self.momentum,
            dampening: self.dampening,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            momentum_buffer: None,
        })
    }
}

impl Optimizer for Sgd {
    /// `torch.optim.sgd._single_tensor_sgd`.
    fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        check_lengths(params, grads, self.momentum_buffer.as_ref().map(Vec::len));
        let first_step = self.momentum_buffer.is_none();
        if self.momentum != 0.0 && first_step {
            self.momentum_buffer = Some(vec![0.0; params.len()]);
        }
        let update = SgdUpdate {
            lr: self.lr as f32,
            weight_decay: (self.weight_decay != 0.0).then_some(self.weight_decay as f32),
            momentum: self.momentum as f32,
            one_minus_dampening: (1.0 - self.dampening) as f32,
            nesterov: self.nesterov,
            first_step,
        };
        // Value by value, so pieces on several threads give the same bits as one thread.
        let groups = for_values(params.len());
        match self.momentum_buffer.as_mut() {
            None => in_pieces([grads], [params], VALUES_PER_PIECE, groups, &|_, [g], [p]| {
                update.plain(g, p);
            }),
            Some(buf) => {
                in_pieces([grads], [params, buf], VALUES_PER_PIECE, groups, &|_, [g], [p, b]| {
                    update.with_momentum(g, p, b);
                })
            }
        }
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        check("lr", lr, None, "finite and >= 0")?;
        self.lr = lr;
        Ok(())
    }
}

/// The scalars of one SGD step, taken by value by the loops over each piece. Captured by
/// reference, the compiler read them again after every store to the parameters (a piece might
/// have held them) and left the loop scalar: SGD with momentum over 235,146 values took 359 us
/// on one AVX2 core (29% of the medium MLP's train step), 75.5 us now.
#[derive(Clone, Copy)]
struct SgdUpdate {
    lr: f32,
    weight_decay: Option<f32>,
    momentum: f32,
    one_minus_dampening: f32,
    nesterov: bool,
    first_step: bool,
}

impl SgdUpdate {
    /// grad = grad.add(param, alpha=weight_decay)
    #[inline(always)]
    fn decayed(self, p: f32, g: f32) -> f32 {
        match self.weight_decay {
            Some(wd) => g + wd * p,
            None => g,
        }
    }

    /// Without momentum: param.add_(grad, alpha=-lr).
    #[inline(always)]
    fn plain(self, grads: &[f32], params: &mut [f32]) {
        for (p, &g) in params.iter_mut().zip(grads) {
            *p += -self.lr * self.decayed(*p, g);
        }
    }

    /// With the momentum buffer `bufs`.
    #[inline(always)]
    fn with_momentum(self, grads: &[f32], params: &mut [f32], bufs: &mut [f32]) {
        for ((p, &g), b) in params.iter_mut().zip(grads).zip(bufs.iter_mut()) {
            let g = self.decayed(*p, g);
            // buf = clone(grad) on the first step, else
            // buf.mul_(momentum).add_(grad, alpha=1-dampening)
            *b =
                if self.first_step { g } else { *b * self.momentum + self.one_minus_dampening * g };
            // nesterov: grad = grad.add(buf, alpha=momentum); else grad = buf
            let g = if self.nesterov { g + self.momentum * *b } else { *b };
            *p += -self.lr * g;
        }
    }
}

/// Adam (Kingma and Ba, 2015) and AdamW (Loshchilov and Hutter, 2019), as `torch.optim.Adam`
/// and `torch.optim.AdamW`, with optional AMSGrad.
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled_weight_decay: bool,
    amsgrad: bool,
    step: u64,
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    /// Empty unless `amsgrad`.
    max_exp_avg_sq: Vec<f32>,
}

/// Builder for [`Adam`]; defaults are `torch.optim.Adam`'s (from [`Adam::new`]) or
/// `torch.optim.AdamW`'s (from [`Adam::adamw`]).
#[derive(Clone, Debug)]
pub struct AdamBuilder {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    decoupled_weight_decay: bool,
    amsgrad: bool,
}

impl Adam {
    /// Adam with PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0
    /// (L2, added to the gradient), no AMSGrad.
    #[allow(clippy::new_ret_no_self)] // a builder, like `Sgd::new`.
    pub fn new() -> AdamBuilder {
        AdamBuilder {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            amsgrad: false,
        }
    }

    /// AdamW with PyTorch's defaults: as [`Adam::new`] but weight_decay 1e-2, decoupled
    /// (`p *= 1 - lr * weight_decay` before the Adam update).
    pub fn adamw() -> AdamBuilder {
        AdamBuilder { weight_decay: 1e-2, decoupled_weight_decay: true, ..Adam::new() }
    }

    /// Number of steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }
}

impl AdamBuilder {
    /// Learning rate.
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    /// Decay rates of the first and second moment averages.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }

    /// Term added to the denominator.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Weight decay: L2 added to the gradient for Adam, decoupled for AdamW.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Decoupled weight decay (`torch.optim.Adam(decoupled_weight_decay=True)`, i.e. AdamW).
    pub fn decoupled_weight_decay(mut self, decoupled: bool) -> Self {
        self.decoupled_weight_decay = decoupled;
        self
    }

    /// The AMSGrad variant (Reddi et al., 2018): divide by the running maximum of the second
    /// moment.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }

    /// Validates the settings as `torch.optim.Adam.__init__` does.
    pub fn build(self) -> Result<Adam, OptimError> {
        check("lr", self.lr, None, "finite and >= 0")?;
        check("eps", self.eps, None, "finite and >= 0")?;
        check("beta1", self.betas.0, Some(1.0), "in [0, 1)")?;
        check("beta2", self.betas.1, Some(1.0), "in [0, 1)")?;
        check("weight_decay", self.weight_decay, None, "finite and >= 0")?;
        Ok(Adam {
            lr: self.lr,
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled_weight_decay: self.decoupled_weight_decay,
            amsgrad: self.amsgrad,
            step: 0,
            exp_avg: Vec::new(),
            exp_avg_sq: Vec::new(),
            max_exp_avg_sq: Vec::new(),
        })
    }
}

/// `torch.lerp(start, end, weight)` for a scalar weight, as PyTorch's CPU kernel computes it.
fn lerp(start: f32, end: f32, weight: f32) -> f32 {
    if weight.abs() < 0.5 {
        start + weight * (end - start)
    } else {
        end - (end - start) * (1.0 - weight)
    }
}

impl Optimizer for Adam {
    /// `torch.optim.adam._single_tensor_adam` (non-capturable path).
    fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        check_lengths(params, grads, (self.step > 0).then_some(self.exp_avg.len()));
        if self.step == 0 {
            self.exp_avg = vec![0.0; params.len()];
            self.exp_avg_sq = vec![0.0; params.len()];
            if self.amsgrad {
                self.max_exp_avg_sq = vec![0.0; params.len()];
            }
        }
        self.step += 1;
        // Python-float scalars, computed in f64 like adam.py does.
        let step = self.step as f64;
        let bias_correction1 = 1.0 - self.beta1.powf(step);
        let bias_correction2 = 1.0 - self.beta2.powf(step);
        let step_size = self.lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.powf(0.5);
        let update = AdamUpdate {
            weight_decay: (self.weight_decay != 0.0).then_some(if self.decoupled_weight_decay {
                WeightDecay::Decoupled((1.0 - self.lr * self.weight_decay) as f32)
            } else {
                WeightDecay::L2(self.weight_decay as f32)
            }),
            one_minus_beta1: (1.0 - self.beta1) as f32,
            beta2: self.beta2 as f32,
            one_minus_beta2: (1.0 - self.beta2) as f32,
            bc2_sqrt: bias_correction2_sqrt as f32,
            eps: self.eps as f32,
            neg_step_size: (-step_size) as f32,
        };
        let amsgrad = self.amsgrad;
        let state =
            [params, &mut self.exp_avg[..], &mut self.exp_avg_sq[..], &mut self.max_exp_avg_sq[..]];
        // Value by value, so pieces on several threads give the same bits as one thread.
        let groups = for_values(grads.len());
        in_pieces([grads], state, VALUES_PER_PIECE, groups, &|_, [g], [p, m, v, max]| {
            let values = p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut()));
            if amsgrad {
                for (((p, &g), (m, v)), max) in values.zip(max) {
                    update.value(p, g, m, v, Some(max));
                }
            } else {
                for ((p, &g), (m, v)) in values {
                    update.value(p, g, m, v, None);
                }
            }
        });
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        check("lr", lr, None, "finite and >= 0")?;
        self.lr = lr;
        Ok(())
    }
}

/// Adam's weight decay: added to the gradient (L2), or decoupled (AdamW: the parameter times
/// `1 - lr * weight_decay` first).
#[derive(Clone, Copy)]
enum WeightDecay {
    L2(f32),
    Decoupled(f32),
}

/// The f32 scalars of one Adam step, taken by value by the loop over each piece (see
/// [`SgdUpdate`]).
#[derive(Clone, Copy)]
struct AdamUpdate {
    weight_decay: Option<WeightDecay>,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bc2_sqrt: f32,
    eps: f32,
    neg_step_size: f32,
}

impl AdamUpdate {
    /// One parameter `p`, its gradient, moments and (amsgrad) largest second moment.
    #[inline(always)]
    fn value(self, p: &mut f32, mut g: f32, m: &mut f32, v: &mut f32, max: Option<&mut f32>) {
        match self.weight_decay {
            // param.mul_(1 - lr * weight_decay)
            Some(WeightDecay::Decoupled(factor)) => *p *= factor,
            // grad = grad.add(param, alpha=weight_decay)
            Some(WeightDecay::L2(wd)) => g += wd * *p,
            None => {}
        }
        // exp_avg.lerp_(grad, 1 - beta1)
        *m = lerp(*m, g, self.one_minus_beta1);
        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        *v *= self.beta2;
        *v += self.one_minus_beta2 * g * g;
        let second = match max {
            // torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=max_exp_avg_sqs[i])
            Some(max) => {
                *max = max.max(*v);
                *max
            }
            None => *v,
        };
        // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        let denom = second.sqrt() / self.bc2_sqrt + self.eps;
        // param.addcdiv_(exp_avg, denom, value=-step_size)
        *p += self.neg_step_size * *m / denom;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(got: &[f32], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() <= tol * w.abs().max(1.0), "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn sgd_plain_and_weight_decay() {
        // p = 1, g = 0.5, lr = 0.1, wd = 0.5: g' = 0.5 + 0.5 * 1 = 1, p = 1 - 0.1 * 1 = 0.9.
        // Step 2 with g = 0.5: g' = 0.5 + 0.5 * 0.9 = 0.95, p = 0.9 - 0.095 = 0.805.
        let mut opt = Sgd::new(0.1).weight_decay(0.5).build().unwrap();
        let mut p = [1.0f32];
        opt.step(&mut p, &[0.5]);
        assert_close(&p, &[0.9], 1e-7);
        opt.step(&mut p, &[0.5]);
        assert_close(&p, &[0.805], 1e-7);
    }

    #[test]
    fn sgd_momentum_with_dampening() {
        // lr 0.5, momentum 0.5, dampening 0.5; gradients 1, 2, 4 for p0 = 0.
        // step 1: buf = g = 1 (no dampening on the first step), p = 0 - 0.5 * 1 = -0.5
        // step 2: buf = 0.5 * 1 + 0.5 * 2 = 1.5, p = -0.5 - 0.75 = -1.25
        // step 3: buf = 0.5 * 1.5 + 0.5 * 4 = 2.75, p = -1.25 - 1.375 = -2.625
        let mut opt = Sgd::new(0.5).momentum(0.5).dampening(0.5).build().unwrap();
        let mut p = [0.0f32];
        let mut trace = Vec::new();
        for g in [1.0, 2.0, 4.0] {
            opt.step(&mut p, &[g]);
            trace.push(p[0]);
        }
        assert_eq!(trace, [-0.5, -1.25, -2.625]);
    }

    #[test]
    fn sgd_nesterov() {
        // lr 0.5, momentum 0.5, nesterov; gradients 1, 2 for p0 = 0.
        // step 1: buf = 1, g = 1 + 0.5 * 1 = 1.5, p = -0.75
        // step 2: buf = 0.5 * 1 + 2 = 2.5, g = 2 + 0.5 * 2.5 = 3.25, p = -0.75 - 1.625 = -2.375
        let mut opt = Sgd::new(0.5).momentum(0.5).nesterov(true).build().unwrap();
        let mut p = [0.0f32];
        opt.step(&mut p, &[1.0]);
        assert_eq!(p, [-0.75]);
        opt.step(&mut p, &[2.0]);
        assert_eq!(p, [-2.375]);
    }

    #[test]
    fn sgd_builder_errors() {
        assert_eq!(
            Sgd::new(0.1).nesterov(true).build().unwrap_err(),
            OptimError::Nesterov { momentum: 0.0, dampening: 0.0 }
        );
        let err = Sgd::new(0.1).momentum(0.9).dampening(0.1).nesterov(true).build().unwrap_err();
        assert!(err.to_string().contains("dampening = 0.1"), "{err}");
        let err = Sgd::new(-0.1).build().unwrap_err();
        assert!(matches!(err, OptimError::Invalid { name: "lr", .. }));
        assert!(Sgd::new(f64::NAN).build().is_err());
        assert!(Sgd::new(0.1).momentum(-1.0).build().is_err());
    }

    /// Adam by the textbook formulas in f64 (Kingma and Ba, Algorithm 1, with PyTorch's eps
    /// placement), for comparison.
    fn adam_reference(p0: f64, grads: &[f64], lr: f64, wd: f64, decoupled: bool) -> Vec<f64> {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (mut p, mut m, mut v) = (p0, 0.0, 0.0);
        let mut out = Vec::new();
        for (t, &g) in grads.iter().enumerate() {
            let t = (t + 1) as i32;
            let mut g = g;
            if decoupled {
                p *= 1.0 - lr * wd;
            } else {
                g += wd * p;
            }
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let denom = v.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
            p -= lr / (1.0 - b1.powi(t)) * m / denom;
            out.push(p);
        }
        out
    }

    #[test]
    fn adam_first_step_is_lr_times_sign() {
        // Step 1: m = 0.1 g, v = 0.001 g^2, bias corrections 0.1 and 0.001, so
        // denom = |g| + eps and p -= (lr / 0.1) * 0.1 g / (|g| + eps) = lr * g / (|g| + 1e-8).
        let mut opt = Adam::new().build().unwrap();
        let mut p = [1.0f32, 1.0, 1.0];
        opt.step(&mut p, &[0.5, -3.0, 0.0]);
        assert_close(&p, &[0.999, 1.001, 1.0], 1e-7);
    }

    #[test]
    fn adam_three_steps() {
        // Step 2 by hand for g1 = 0.5, g2 = -1.0, lr = 0.1, p after step 1 = 1 - 0.1 = 0.9:
        //   m = 0.9 * 0.05 + 0.1 * (-1) = -0.055
        //   v = 0.999 * 0.00025 + 0.001 * 1 = 0.00124975
        //   bias corrections: 1 - 0.81 = 0.19, 1 - 0.998001 = 0.001999
        //   denom = sqrt(0.00124975) / sqrt(0.001999) = 0.7906936...
        //   p = 0.9 - (0.1 / 0.19) * (-0.055) / 0.7906936 = 0.9 + 0.0366101... = 0.9366101
        let grads = [0.5, -1.0, 2.0];
        let want = adam_reference(1.0, &grads, 0.1, 0.0, false);
        assert!((want[1] - 0.936_610_1).abs() < 1e-6, "{want:?}");
        let mut opt = Adam::new().lr(0.1).build().unwrap();
        let mut p = [1.0f32];
        let mut trace = Vec::new();
        for g in grads {
            opt.step(&mut p, &[g as f32]);
            trace.push(p[0]);
        }
        assert_close(&trace, &want, 1e-6);
        assert_eq!(opt.steps(), 3);
    }

    #[test]
    fn adam_l2_vs_adamw_decoupled() {
        let grads = [0.5, -1.0, 2.0];
        // Adam: g += 0.1 * p before the moments.
        let mut adam = Adam::new().lr(0.1).weight_decay(0.1).build().unwrap();
        let mut p = [2.0f32];
        let mut trace = Vec::new();
        for g in grads {
            adam.step(&mut p, &[g as f32]);
            trace.push(p[0]);
        }
        assert_close(&trace, &adam_reference(2.0, &grads, 0.1, 0.1, false), 1e-6);

        // AdamW: p *= 1 - 0.1 * 0.1 = 0.99 first. Step 1: p = 2 * 0.99 - 0.1 = 1.88.
        let mut adamw = Adam::adamw().lr(0.1).weight_decay(0.1).build().unwrap();
        let mut p = [2.0f32];
        let mut trace = Vec::new();
        for g in grads {
            adamw.step(&mut p, &[g as f32]);
            trace.push(p[0]);
        }
        let want = adam_reference(2.0, &grads, 0.1, 0.1, true);
        assert!((want[0] - 1.88).abs() < 1e-7);
        assert_close(&trace, &want, 1e-6);
    }

    #[test]
    fn adamw_defaults() {
        let opt = Adam::adamw().build().unwrap();
        assert_eq!(
            (opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weight_decay),
            (1e-3, 0.9, 0.999, 1e-8, 1e-2)
        );
        assert!(opt.decoupled_weight_decay && !opt.amsgrad);
        let opt = Adam::new().build().unwrap();
        assert_eq!(opt.weight_decay, 0.0);
        assert!(!opt.decoupled_weight_decay);
    }

    #[test]
    fn amsgrad_uses_the_running_max() {
        // Gradients 10 then 0.1 (lr 0.1). After step 2, v = 0.999 * 0.1 + 0.001 * 0.01 = 0.09991
        // but max_v = 0.1 (from step 1: 0.001 * 100).
        //   m = 0.9 * 1 + 0.1 * 0.1 = 0.91; bias corrections 0.19 and 0.001999
        //   plain:   denom = sqrt(0.09991) / sqrt(0.001999), amsgrad: sqrt(0.1) / sqrt(0.001999)
        // so the AMSGrad step is smaller by sqrt(0.09991 / 0.1).
        let mut plain = Adam::new().lr(0.1).build().unwrap();
        let mut ams = Adam::new().lr(0.1).amsgrad(true).build().unwrap();
        let (mut p1, mut p2) = ([0.0f32], [0.0f32]);
        for g in [10.0, 0.1] {
            plain.step(&mut p1, &[g]);
            ams.step(&mut p2, &[g]);
        }
        let bc2 = 0.001999f64.sqrt();
        let step2 = |v: f64| 0.1 / 0.19 * 0.91 / (v.sqrt() / bc2 + 1e-8);
        // Step 1 moved both by -0.1 * 10 / (10 + 1e-8).
        let p_after1 = -0.1 * 10.0 / (10.0 + 1e-8);
        assert_close(&p1, &[p_after1 - step2(0.09991)], 1e-6);
        assert_close(&p2, &[p_after1 - step2(0.1)], 1e-6);
        assert!(p2[0] > p1[0]);
    }

    #[test]
    fn adam_builder_errors() {
        let err = Adam::new().betas(0.9, 1.0).build().unwrap_err();
        assert!(matches!(err, OptimError::Invalid { name: "beta2", .. }));
        assert!(err.to_string().contains("[0, 1)"), "{err}");
        assert!(Adam::new().eps(-1.0).build().is_err());
        assert!(Adam::new().lr(f64::INFINITY).build().is_err());
        assert!(Adam::adamw().weight_decay(-0.1).build().is_err());
    }

    #[test]
    fn state_is_allocated_once() {
        let mut opt = Adam::new().build().unwrap();
        let mut p = [1.0f32; 4];
        opt.step(&mut p, &[1.0; 4]);
        let ptr = opt.exp_avg.as_ptr();
        for _ in 0..10 {
            opt.step(&mut p, &[1.0; 4]);
        }
        assert_eq!(opt.exp_avg.as_ptr(), ptr);

        let mut sgd = Sgd::new(0.1).momentum(0.9).build().unwrap();
        sgd.step(&mut p, &[1.0; 4]);
        let ptr = sgd.momentum_buffer.as_ref().unwrap().as_ptr();
        sgd.step(&mut p, &[1.0; 4]);
        assert_eq!(sgd.momentum_buffer.as_ref().unwrap().as_ptr(), ptr);
    }

    #[test]
    #[should_panic(expected = "first used with 2 parameters")]
    fn changing_length_is_a_caller_bug() {
        let mut opt = Adam::new().build().unwrap();
        opt.step(&mut [0.0; 2], &[0.0; 2]);
        opt.step(&mut [0.0; 3], &[0.0; 3]);
    }

    #[test]
    fn set_lr_changes_the_step() {
        let mut opt = Sgd::new(0.1).build().unwrap();
        opt.set_lr(0.25).unwrap();
        assert_eq!(opt.lr(), 0.25);
        let mut p = [1.0f32];
        opt.step(&mut p, &[1.0]);
        assert_eq!(p, [0.75]);
    }

    /// Minimizes f(p) = sum_i a_i (p_i - c_i)^2 / 2 (gradient a_i (p_i - c_i)).
    fn converges(opt: &mut dyn Optimizer, steps: usize) -> f32 {
        let a = [1.0f32, 4.0, 0.5];
        let c = [3.0f32, -2.0, 0.5];
        let mut p = [0.0f32; 3];
        let mut g = [0.0f32; 3];
        for _ in 0..steps {
            for i in 0..3 {
                g[i] = a[i] * (p[i] - c[i]);
            }
            opt.step(&mut p, &g);
        }
        p.iter().zip(c).map(|(p, c)| (p - c).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn all_rules_converge_on_a_quadratic() {
        let mut opts: Vec<(&str, Box<dyn Optimizer>)> = vec![
            ("sgd", Box::new(Sgd::new(0.1).build().unwrap())),
            ("momentum", Box::new(Sgd::new(0.05).momentum(0.9).build().unwrap())),
            ("nesterov", Box::new(Sgd::new(0.05).momentum(0.9).nesterov(true).build().unwrap())),
            ("adam", Box::new(Adam::new().lr(0.05).build().unwrap())),
            ("amsgrad", Box::new(Adam::new().lr(0.05).amsgrad(true).build().unwrap())),
            ("adamw", Box::new(Adam::adamw().lr(0.05).weight_decay(0.0).build().unwrap())),
        ];
        for (name, opt) in opts.iter_mut() {
            let err = converges(opt.as_mut(), 2000);
            assert!(err < 1e-3, "{name}: max |p - c| = {err}");
        }
    }

    /// Steps over buffers of several pieces (on several threads) give each value the bits it
    /// gets alone: the same for 1, 2 and 3 threads, and the same as a one-piece buffer holding
    /// only the first or only the last values.
    #[test]
    fn steps_over_many_pieces_give_each_value_its_own_bits_for_any_thread_count() {
        let len = 3 * VALUES_PER_PIECE + 5;
        let wave = |i: usize, k: usize, m: usize| ((i * k) % m) as f32 / m as f32 - 0.5;
        let grads: Vec<f32> = (0..len).map(|i| wave(i, 7919, 1000)).collect();
        let params: Vec<f32> = (0..len).map(|i| wave(i, 104_729, 997)).collect();
        let builds: [fn() -> Box<dyn Optimizer>; 4] = [
            || Box::new(Sgd::new(0.1).build().unwrap()),
            || {
                Box::new(
                    Sgd::new(0.1).momentum(0.9).nesterov(true).weight_decay(0.01).build().unwrap(),
                )
            },
            || Box::new(Adam::new().amsgrad(true).weight_decay(0.01).build().unwrap()),
            || Box::new(Adam::adamw().build().unwrap()),
        ];
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        for (b, build) in builds.iter().enumerate() {
            let run = |threads: usize, range: core::ops::Range<usize>| {
                crate::threads::with_threads(threads, || {
                    let (mut opt, mut p) = (build(), params[range.clone()].to_vec());
                    for _ in 0..3 {
                        opt.step(&mut p, &grads[range.clone()]);
                    }
                    bits(&p)
                })
            };
            let one = run(1, 0..len);
            for threads in [2, 3] {
                assert_eq!(run(threads, 0..len), one, "optimizer {b}, {threads} threads");
            }
            assert_eq!(run(1, 0..1000), one[..1000], "optimizer {b}, first values");
            assert_eq!(run(1, len - 1000..len), one[len - 1000..], "optimizer {b}, last values");
        }
    }
}
