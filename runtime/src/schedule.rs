//! Learning-rate schedules in PyTorch's closed form (`_get_closed_form_lr`), by epoch.
//!
//! Use with [`Optimizer::set_lr`](crate::Optimizer::set_lr) at the start of each epoch:
//! `opt.set_lr(schedule.lr_at(epoch, base_lr))`, epochs counted from 0.

use std::fmt;

/// A learning rate as a function of the epoch.
pub trait LrSchedule {
    /// The learning rate for `epoch` (0-based) given the optimizer's initial `base_lr`.
    fn lr_at(&self, epoch: usize, base_lr: f64) -> f64;
}

/// An invalid schedule setting.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleError {
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScheduleError {}

/// `torch.optim.lr_scheduler.StepLR`: `base_lr * gamma^(epoch / step_size)` (integer division).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    step_size: usize,
    gamma: f64,
}

impl StepLr {
    /// Decays by `gamma` every `step_size` epochs; `step_size` must be at least 1 and `gamma`
    /// finite.
    pub fn new(step_size: usize, gamma: f64) -> Result<Self, ScheduleError> {
        if step_size == 0 {
            return Err(ScheduleError {
                message: "StepLr step_size must be at least 1 epoch".into(),
            });
        }
        if !gamma.is_finite() {
            return Err(ScheduleError {
                message: format!("StepLr gamma must be finite, got {gamma}"),
            });
        }
        Ok(StepLr { step_size, gamma })
    }
}

impl LrSchedule for StepLr {
    /// `base_lr * gamma ** (last_epoch // step_size)`.
    fn lr_at(&self, epoch: usize, base_lr: f64) -> f64 {
        base_lr * self.gamma.powf((epoch / self.step_size) as f64)
    }
}

/// `torch.optim.lr_scheduler.CosineAnnealingLR` in closed form:
/// `eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2`.
///
/// Past `t_max` the closed form keeps following the cosine (the rate rises again), as PyTorch's
/// closed form does; stop training at `t_max` for a single annealing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineLr {
    t_max: usize,
    eta_min: f64,
}

impl CosineLr {
    /// Anneals from `base_lr` to `eta_min` over `t_max` epochs; `t_max` must be at least 1.
    pub fn new(t_max: usize, eta_min: f64) -> Result<Self, ScheduleError> {
        if t_max == 0 {
            return Err(ScheduleError {
                message: "CosineLr t_max must be at least 1 epoch".into(),
            });
        }
        if !eta_min.is_finite() {
            return Err(ScheduleError {
                message: format!("CosineLr eta_min must be finite, got {eta_min}"),
            });
        }
        Ok(CosineLr { t_max, eta_min })
    }
}

impl LrSchedule for CosineLr {
    fn lr_at(&self, epoch: usize, base_lr: f64) -> f64 {
        let phase = std::f64::consts::PI * epoch as f64 / self.t_max as f64;
        self.eta_min + (base_lr - self.eta_min) * (1.0 + phase.cos()) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lr_values() {
        // step_size 3, gamma 0.5, base 0.8: epochs 0-2 -> 0.8, 3-5 -> 0.4, 6 -> 0.2.
        let s = StepLr::new(3, 0.5).unwrap();
        let got: Vec<f64> = (0..7).map(|e| s.lr_at(e, 0.8)).collect();
        assert_eq!(got, [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]);
    }

    #[test]
    fn cosine_lr_values() {
        // t_max 4, eta_min 0.1, base 1.1 (range 1.0):
        //   epoch 0: 0.1 + 1.0 * (1 + cos 0) / 2         = 1.1
        //   epoch 1: 0.1 + (1 + cos(pi/4)) / 2 = 0.1 + 0.853553 = 0.953553
        //   epoch 2: 0.1 + (1 + 0) / 2                    = 0.6
        //   epoch 3: 0.1 + (1 - 0.707107) / 2             = 0.246447
        //   epoch 4: 0.1 + (1 - 1) / 2                    = 0.1
        //   epoch 5: 0.246447 again (the closed form is periodic)
        let s = CosineLr::new(4, 0.1).unwrap();
        let want = [1.1, 0.953_553_4, 0.6, 0.246_446_6, 0.1, 0.246_446_6];
        for (e, w) in want.iter().enumerate() {
            assert!((s.lr_at(e, 1.1) - w).abs() < 1e-7, "epoch {e}");
        }
    }

    #[test]
    fn invalid_settings_are_errors() {
        assert!(StepLr::new(0, 0.1).is_err());
        assert!(StepLr::new(1, f64::NAN).is_err());
        let err = CosineLr::new(0, 0.0).unwrap_err();
        assert!(err.to_string().contains("t_max"));
    }
}
