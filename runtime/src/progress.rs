//! A progress bar for training loops (epochs x steps), showing the running loss.
//!
//! The bar draws on stderr only when stderr is a terminal; in CI logs, pipes and tests it is
//! hidden and costs next to nothing (no message is even formatted).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

const TEMPLATE: &str = "[{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}  (eta {eta})";

/// Tracks `epochs * steps_per_epoch` training steps and the mean loss of the current epoch.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    epochs: usize,
    epoch: usize,
    loss_sum: f64,
    steps_in_epoch: usize,
    last_accuracy: Option<f64>,
}

impl Progress {
    /// A bar over `epochs * steps_per_epoch` steps, drawn on stderr if it is a terminal.
    pub fn new(epochs: usize, steps_per_epoch: usize) -> Progress {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress::with_target(epochs, steps_per_epoch, target)
    }

    /// A bar that never draws (it still tracks the epoch's mean loss).
    pub fn hidden(epochs: usize, steps_per_epoch: usize) -> Progress {
        Progress::with_target(epochs, steps_per_epoch, ProgressDrawTarget::hidden())
    }

    fn with_target(epochs: usize, steps_per_epoch: usize, target: ProgressDrawTarget) -> Progress {
        let total = epochs as u64 * steps_per_epoch as u64;
        let bar = ProgressBar::with_draw_target(Some(total), target);
        // TEMPLATE is a constant checked by a test; fall back to the default style regardless.
        bar.set_style(
            ProgressStyle::with_template(TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress { bar, epochs, epoch: 0, loss_sum: 0.0, steps_in_epoch: 0, last_accuracy: None }
    }

    /// `true` if nothing is drawn.
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Records one training step and its mini-batch loss.
    pub fn step(&mut self, loss: f32) {
        self.loss_sum += loss as f64;
        self.steps_in_epoch += 1;
        self.bar.inc(1);
        if !self.bar.is_hidden() {
            self.bar.set_message(self.message());
        }
    }

    /// Ends the epoch: prints a summary line above the bar (when drawn) with the epoch's mean
    /// loss and, if given, an accuracy in `[0, 1]`; returns the mean loss (NaN if no steps).
    pub fn end_epoch(&mut self, accuracy: Option<f64>) -> f64 {
        let mean = self.mean_loss();
        self.last_accuracy = accuracy;
        if !self.bar.is_hidden() {
            self.bar.println(self.message());
        }
        self.epoch += 1;
        self.loss_sum = 0.0;
        self.steps_in_epoch = 0;
        mean
    }

    /// Leaves the finished bar on screen.
    pub fn finish(&self) {
        self.bar.finish();
    }

    /// Mean loss of the current epoch so far (NaN before its first step).
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.steps_in_epoch as f64
    }

    /// `epoch 3/10  loss 0.1234  acc 97.50%`, epochs counted from 1; the accuracy is the last
    /// one passed to [`Progress::end_epoch`].
    pub fn message(&self) -> String {
        let mut msg = format!(
            "epoch {}/{}  loss {:.4}",
            (self.epoch + 1).min(self.epochs.max(1)),
            self.epochs,
            self.mean_loss()
        );
        if let Some(acc) = self.last_accuracy {
            msg.push_str(&format!("  acc {:.2}%", 100.0 * acc));
        }
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }

    #[test]
    fn tracks_epoch_mean_loss() {
        let mut p = Progress::hidden(2, 3);
        assert!(p.is_hidden());
        for loss in [1.0, 2.0, 3.0] {
            p.step(loss);
        }
        assert_eq!(p.message(), "epoch 1/2  loss 2.0000");
        assert_eq!(p.end_epoch(Some(0.975)), 2.0);
        p.step(0.5);
        assert_eq!(p.message(), "epoch 2/2  loss 0.5000  acc 97.50%");
        assert_eq!(p.end_epoch(None), 0.5);
        assert!(p.mean_loss().is_nan());
        p.finish();
    }

    #[test]
    fn hidden_when_stderr_is_not_a_terminal() {
        let p = Progress::new(1, 1);
        assert_eq!(p.is_hidden(), !std::io::stderr().is_terminal());
    }
}
