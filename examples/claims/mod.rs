//! The lecture's claims about training tricks as seeded experiments: each builds a spec (or a
//! few), trains or probes it, and returns its numbers, whether the claim holds (with a
//! margin), and the data of its figures. `cargo run --release --example lecture -- all` runs
//! them and draws the figures; `examples/tests/lecture.rs` asserts each claim at a reduced
//! number of epochs.

mod augment;
mod depth;
mod pipeline;
mod regularize;

use netspec::prelude::*;
use netspec::{Batches, Dataset, History, Rng, Role, accuracy, argmax};

/// Any error of an experiment.
pub type Error = Box<dyn std::error::Error>;

/// How long the training experiments run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// The epochs the report quotes.
    Full,
    /// A quarter of the epochs (at least 10) and one seed, for the test in a debug build.
    Quick,
}

impl Scale {
    /// `full` epochs at this scale.
    pub fn epochs(self, full: usize) -> usize {
        match self {
            Scale::Full => full,
            Scale::Quick => (full / 4).max(10),
        }
    }

    /// The seeds an experiment averages over: 3, or 1 when quick.
    pub fn seeds(self) -> u64 {
        match self {
            Scale::Full => 3,
            Scale::Quick => 1,
        }
    }
}

/// A figure's data; the lecture example draws it.
#[derive(Clone, Debug)]
pub enum Figure {
    /// One histogram panel per layer, in the lecture's layout (mean and std in each title).
    Histograms {
        /// The file name without extension (`target/lecture/<file>.png`).
        file: String,
        /// The figure's title.
        title: String,
        /// Each panel's name and values.
        panels: Vec<(String, Vec<f32>)>,
        /// The common x range of the panels.
        range: (f32, f32),
    },
    /// Curves over epochs (or layers).
    Curves {
        /// The file name without extension.
        file: String,
        /// The figure's title.
        title: String,
        /// The x axis label.
        x_label: String,
        /// The y axis label.
        y_label: String,
        /// A logarithmic y axis.
        log_y: bool,
        /// The curves, by name.
        history: History,
    },
}

/// What one experiment measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The experiment's name (`lecture -- NAME`).
    pub name: &'static str,
    /// The claim, in one sentence.
    pub claim: &'static str,
    /// Its numbers, one line each.
    pub report: Vec<String>,
    /// Whether the claim holds, with its margin.
    pub holds: bool,
    /// The figure the claim line quotes.
    pub measured: String,
    /// The figures' data.
    pub figures: Vec<Figure>,
}

/// An experiment: its name and how to run it.
pub type Experiment = (&'static str, fn(Scale) -> Result<Outcome, Error>);

/// Every experiment, in the lecture's order.
pub const EXPERIMENTS: &[Experiment] = &[
    ("symmetry", depth::symmetry),
    ("small_init", depth::small_init),
    ("small_init_gradients", depth::small_init_gradients),
    ("large_init", depth::large_init),
    ("xavier", depth::xavier),
    ("kaiming", depth::kaiming),
    ("residual", depth::residual),
    ("preprocess", pipeline::preprocess),
    ("weight_penalties", regularize::weight_penalties),
    ("activity_penalty", regularize::activity_penalty),
    ("dropout", regularize::dropout),
    ("batchnorm", pipeline::batchnorm),
    ("augment", augment::augment),
    ("stochastic_regularizers", regularize::stochastic_regularizers),
    ("multitask", augment::multitask),
];

/// The bundled digits with pixels scaled to [0, 1], split into `train_n` training samples
/// (stratified) and the rest for testing, by `seed`.
pub fn digits(train_n: usize, seed: u64) -> Result<(Dataset, Dataset), Error> {
    let mut data = Dataset::digits();
    data.scale(1.0 / 16.0);
    let test_fraction = 1.0 - train_n as f64 / data.len() as f64;
    Ok(data.split(test_fraction, &mut Rng::seed(seed))?)
}

/// Trains `net` for `epochs` on shuffled full mini-batches of `train`; records the mean
/// training loss and the train and test accuracies per epoch into `history` under
/// `"{label} train loss"`, `"{label} train accuracy"` and `"{label} test accuracy"`, and the
/// last step's gradient norm of each dense or conv weight under `"{label} |dL/dW| {weight}"`. A step that
/// diverges ends training and is returned as the error.
pub fn train<N: Classifier>(
    net: &mut N,
    opt: &mut impl Optimizer,
    (train, test): (&Dataset, &Dataset),
    epochs: usize,
    rng: &mut Rng,
    history: &mut History,
    label: &str,
) -> Result<(), Error> {
    let mut batches = Batches::new(train.len(), N::BATCH)?;
    let (mut x, mut y) = (vec![0.0; N::BATCH * N::INPUT], vec![0; N::BATCH]);
    for epoch in 1..=epochs {
        batches.shuffle(rng);
        let mut loss = 0.0;
        for batch in &batches {
            train.gather(batch, &mut x, &mut y)?;
            loss += f64::from(net.train_step(&x, &y, opt, rng)?);
        }
        let e = epoch as f64;
        history.record(&format!("{label} train loss"), e, loss / batches.len() as f64);
        history.record(&format!("{label} train accuracy"), e, accuracy_of(net, train)?);
        history.record(&format!("{label} test accuracy"), e, accuracy_of(net, test)?);
        let weights = net.grad_norms().zip(N::PARAMS).filter(|(_, p)| p.role == Role::Weight);
        for ((name, norm), _) in weights {
            history.record(&format!("{label} |dL/dW| {name}"), e, norm);
        }
    }
    Ok(())
}

/// The eval-mode accuracy of `net` on `data`.
pub fn accuracy_of<N: Classifier>(net: &N, data: &Dataset) -> Result<f64, Error> {
    let mut scores = vec![0.0; data.len() * N::OUTPUT];
    net.predict_batch(&data.features, &mut scores)?;
    let predicted: Vec<usize> =
        scores.chunks_exact(N::OUTPUT).map(|s| argmax(s).unwrap_or(0)).collect();
    Ok(accuracy(&predicted, &data.labels)?)
}

/// `n` values drawn from N(0, 1).
pub fn gaussian(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.normal(0.0, 1.0)).collect()
}

/// `values` formatted with 3 significant digits, comma-separated.
pub fn list(values: &[f64]) -> String {
    values.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(", ")
}

/// `values` in scientific notation with 2 digits, comma-separated.
pub fn list_e(values: &[f64]) -> String {
    values.iter().map(|v| format!("{v:.2e}")).collect::<Vec<_>>().join(", ")
}
