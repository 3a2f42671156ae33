//! `netspec export torch` against netspec itself, with real PyTorch (a venv made by
//! `tests/torch/venv.sh` on first use, outside the clone; no skipping when it cannot be made).
//!
//! For every spec under `tests/specs/` and the repository's `specs/`, this writes netspec's
//! initial checkpoint, `STEPS` mini-batches with the masks and noise netspec drew for each
//! (`Network::noise`), the losses, the first step's gradients, the trained checkpoint and eval
//! outputs; `tests/torch/parity.py` loads the exported module strictly and replays it all
//! (eval outputs, losses, gradients, parameters after `STEPS` SGD-with-momentum steps, ONNX).
//! Then the reverse: the torch-trained weights, loaded here, predict what torch predicted.
//! A second test trains the digits MLP with the exported train script under
//! `torch.distributed.run` (2 processes, gloo) and checks the accuracy netspec measures on the
//! saved weights equals the one the script printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use netspec::prelude::*;
use netspec::{Rng, Sgd};
use netspec_grammar::SourceFile;
use netspec_runtime::checkpoint::{TensorData, TensorDataMut, TensorMut, TensorRef, load, save};

mod binary_classifier {
    netspec::include_spec!("binary_classifier");
}
mod conv_net {
    netspec::include_spec!("conv_net");
}
mod deep_tanh {
    netspec::include_spec!("deep_tanh");
}
mod every_init {
    netspec::include_spec!("every_init");
}
mod flattened_image {
    netspec::include_spec!("flattened_image");
}
mod loss_and_init_options {
    netspec::include_spec!("loss_and_init_options");
}
mod leaky_penalties {
    netspec::include_spec!("leaky_penalties");
}
mod norm_gelu {
    netspec::include_spec!("norm_gelu");
}
mod regularizers {
    netspec::include_spec!("regularizers");
}
mod two_networks {
    netspec::include_spec!("two_networks");
}
mod xor {
    netspec::include_spec!("xor");
}
mod digits {
    netspec::include_spec!("digits");
}
mod digits_cnn {
    netspec::include_spec!("digits_cnn");
}
mod kws_ds_cnn {
    netspec::include_spec!("kws_ds_cnn");
}
mod activity {
    netspec::include_spec!("activity");
}
mod resnet_stage {
    netspec::include_spec!("resnet_stage");
}
mod batchnorm_options {
    netspec::include_spec!("batchnorm_options");
}

/// Training steps replayed in torch.
const STEPS: usize = 3;
const LR: f64 = 0.05;
const MOMENTUM: f64 = 0.9;
/// Samples whose eval outputs are compared (not a multiple of any batch).
const EVAL_ROWS: usize = 13;
/// Relative tolerance of the reverse check (max |a - b| / max(max |b|, 1e-3)).
const EVAL_TOL: f64 = 1e-5;

/// The python of the torch venv, made once per test run.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = netspec_tests::crate_dir().join("torch/venv.sh");
        let out = Command::new("bash").arg(&script).output().expect("bash runs");
        assert!(
            out.status.success(),
            "{} could not make the torch venv (the parity tests need it):\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).expect("a path").trim())
    })
}

/// Runs python with `args`, printing its output; panics with it on failure.
fn run_python(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(python()).args(args).current_dir(dir).output().expect("python runs");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(out.status.success(), "python {args:?} failed:\n{stdout}\n{stderr}");
    stdout.into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netspec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The spec file `stem.nn` (tests/specs/ first, then the repository's specs/).
fn spec_path(stem: &str) -> PathBuf {
    let dir = netspec_tests::crate_dir();
    let local = dir.join(format!("specs/{stem}.nn"));
    if local.exists() { local } else { dir.join(format!("../specs/{stem}.nn")) }
}

/// Writes `netspec export torch` of `stem.nn` to `dir/stem.py`; returns the checked networks.
fn export(stem: &str, dir: &Path) -> Vec<netspec_grammar::ir::Network> {
    let path = spec_path(stem);
    let bytes = std::fs::read(&path).expect("the spec exists");
    let networks = SourceFile::from_bytes(path.display().to_string(), &bytes)
        .check()
        .unwrap_or_else(|e| panic!("{} does not check: {e:?}", path.display()));
    let module = netspec_codegen::torch::export_torch(&networks);
    std::fs::write(dir.join(format!("{stem}.py")), module).expect("the module is written");
    networks
}

/// One mini-batch's targets, kept for the case file.
enum Tgt {
    Classes(Vec<usize>),
    Values(Vec<f32>),
    Heads(Vec<usize>, Vec<f32>),
}

/// Named f32 tensors for a safetensors file.
#[derive(Default)]
struct Tensors(Vec<(String, Vec<usize>, Vec<f32>)>);

impl Tensors {
    fn add(&mut self, name: impl Into<String>, shape: &[usize], data: Vec<f32>) {
        self.0.push((name.into(), shape.to_vec(), data));
    }

    fn save(&self, path: &Path) {
        let refs: Vec<TensorRef<'_>> = self
            .0
            .iter()
            .map(|(name, shape, data)| TensorRef { name, shape, data: TensorData::F32(data) })
            .collect();
        save(path, &refs).expect("the case data is written");
    }
}

/// The eval outputs of `x`, heads side by side.
fn predictions<N: Network>(net: &N, x: &[f32]) -> Vec<f32> {
    N::Input::samples(x).iter().flat_map(|s| net.predict(s).values().collect::<Vec<_>>()).collect()
}

/// Random values, mean `mean`, standard deviation `std`.
fn normals(rng: &mut Rng, n: usize, mean: f32, std: f32) -> Vec<f32> {
    (0..n).map(|_| rng.normal(mean, std)).collect()
}

/// A case: netspec's side of the comparison for network `N` of `stem.nn`, in `root/N::NAME`.
/// `heads` names each output and whether its targets are class indices; `make` draws one
/// mini-batch's targets and `view` lends them as `N::Targets`.
fn write_case<N: Network>(
    root: &Path,
    stem: &str,
    heads: &[(&str, bool)],
    make: impl Fn(&mut Rng) -> Tgt,
    view: impl for<'a> Fn(&'a Tgt) -> N::Targets<'a>,
) -> PathBuf {
    let dir = root.join(N::NAME);
    std::fs::create_dir_all(&dir).expect("a case directory");
    let networks = export(stem, &dir);
    let ir = networks.iter().find(|n| n.name == N::NAME).expect("the network is in its spec");
    let layers: Vec<String> = ir.all_layers().iter().map(|l| l.name.clone()).collect();

    let mut rng = Rng::seed(11);
    let mut net = N::new(&mut rng);
    if N::PREPROCESS.is_some() {
        // statistics away from the identity: mean 0.7, std 2 (and a bit per value)
        let mut rows = normals(&mut rng, 64 * N::INPUT, 0.7, 2.0);
        rows.iter_mut().enumerate().for_each(|(i, v)| *v += (i % N::INPUT) as f32 * 0.01);
        net.fit_preprocess(&rows).expect("the preprocessing fits");
    }
    net.save(dir.join("init.safetensors")).expect("the checkpoint is written");
    let mut data = Tensors::default();
    let eval_x = normals(&mut rng, EVAL_ROWS * N::INPUT, 0.3, 1.5);
    let width = predictions(&net, &eval_x).len() / EVAL_ROWS;
    data.add("eval.init", &[EVAL_ROWS, width], predictions(&net, &eval_x));

    let mut sgd = Sgd::new(LR).momentum(MOMENTUM).build().expect("valid SGD settings");
    net.set_training(true);
    for step in 0..STEPS {
        let x = normals(&mut rng, N::BATCH * N::INPUT, 0.3, 1.5);
        let t = make(&mut rng);
        net.resample(&mut rng);
        for layer in &layers {
            if let Some(noise) = net.noise(layer) {
                data.add(format!("step{step}.noise.{layer}"), &[noise.len()], noise.to_vec());
            }
        }
        net.loss_and_grad(&x, view(&t)).expect("a valid batch");
        let loss = net.last_loss();
        data.add(format!("step{step}.loss"), &[3], vec![loss.total, loss.data, loss.penalty]);
        if step == 0 {
            for p in N::PARAMS {
                let grad = net.grads()[p.offset..p.offset + p.len].to_vec();
                data.add(format!("grad.{}", p.name), p.shape, grad);
            }
        }
        let core = net.core_mut();
        sgd.step(&mut core.params, &core.grads);
        data.add(format!("step{step}.x"), &[N::BATCH, N::INPUT], x);
        let classes = |labels: &[usize]| labels.iter().map(|&l| l as f32).collect::<Vec<_>>();
        match t {
            Tgt::Classes(labels) => {
                data.add(format!("step{step}.y"), &[N::BATCH], classes(&labels))
            }
            Tgt::Values(values) => {
                let shape = [N::BATCH, values.len() / N::BATCH];
                data.add(format!("step{step}.y"), &shape, values);
            }
            Tgt::Heads(labels, values) => {
                let (class_head, value_head) = (heads[0].0, heads[1].0);
                data.add(format!("step{step}.y.{class_head}"), &[N::BATCH], classes(&labels));
                let shape = [N::BATCH, values.len() / N::BATCH];
                data.add(format!("step{step}.y.{value_head}"), &shape, values);
            }
        }
    }
    net.save(dir.join("final.safetensors")).expect("the checkpoint is written");
    data.add("eval.final", &[EVAL_ROWS, width], predictions(&net, &eval_x));
    let mut alone = Tensors::default();
    alone.add("eval.x", &[EVAL_ROWS, N::INPUT], eval_x.clone());
    alone.save(&dir.join("eval_x.safetensors"));
    data.add("eval.x", &[EVAL_ROWS, N::INPUT], eval_x);
    data.save(&dir.join("data.safetensors"));
    let names: Vec<&str> = heads.iter().map(|h| h.0).filter(|h| !h.is_empty()).collect();
    let classes: Vec<&str> = heads.iter().map(|h| if h.1 { "1" } else { "0" }).collect();
    let case = format!(
        "module={stem}\nclass={}\nheads={}\nclasses={}\nsteps={STEPS}\nlr={LR}\nmomentum={MOMENTUM}\n",
        N::NAME,
        names.join(","),
        classes.join(",")
    );
    std::fs::write(dir.join("case.txt"), case).expect("the case file is written");
    dir
}

/// The reverse check of a case: torch's trained weights load into netspec (strictly, as
/// `load` does), and netspec's eval outputs equal torch's. Returns the relative error.
fn reverse<N: Network>(dir: &Path) -> f64 {
    let mut net = N::new(&mut Rng::seed(1));
    net.load(dir.join("torch_final.safetensors")).expect("torch's state_dict loads into netspec");
    let mut eval_x = vec![0.0f32; EVAL_ROWS * N::INPUT];
    let x_shape = [EVAL_ROWS, N::INPUT];
    let x = TensorMut { name: "eval.x", shape: &x_shape, data: TensorDataMut::F32(&mut eval_x) };
    load(dir.join("eval_x.safetensors"), &mut [x]).expect("the eval inputs");
    let ours = predictions(&net, &eval_x);
    let mut torch_eval = vec![0.0f32; ours.len()];
    let shape = [EVAL_ROWS, ours.len() / EVAL_ROWS];
    let y = TensorMut { name: "eval", shape: &shape, data: TensorDataMut::F32(&mut torch_eval) };
    load(dir.join("torch_eval.safetensors"), &mut [y]).expect("torch's eval outputs");
    let scale = torch_eval.iter().fold(1e-3f64, |m, v| m.max(f64::from(v.abs())));
    let err =
        ours.iter().zip(&torch_eval).fold(0.0f64, |m, (a, b)| m.max(f64::from((a - b).abs())));
    err / scale
}

fn regularized_targets(t: &Tgt) -> regularizers::RegularizedTargets<'_> {
    match t {
        Tgt::Heads(digit, parity) => regularizers::RegularizedTargets { digit, parity },
        _ => unreachable!("head targets"),
    }
}

fn classes(k: usize, batch: usize) -> impl Fn(&mut Rng) -> Tgt {
    move |rng| Tgt::Classes((0..batch).map(|_| rng.below(k)).collect())
}

fn values(n: usize) -> impl Fn(&mut Rng) -> Tgt {
    move |rng| Tgt::Values((0..n).map(|_| rng.uniform(0.0, 1.0)).collect())
}

fn as_classes(t: &Tgt) -> &[usize] {
    match t {
        Tgt::Classes(labels) => labels,
        _ => unreachable!("class targets"),
    }
}

fn as_values(t: &Tgt) -> &[f32] {
    match t {
        Tgt::Values(values) => values,
        _ => unreachable!("value targets"),
    }
}

/// A case's reverse check, [`reverse`] for its network.
type Reverse = fn(&Path) -> f64;

/// Every network of the corpus: export, strict load, eval, training replay, reverse, ONNX.
#[test]
fn exported_modules_match_netspec() {
    use regularizers::Regularized;
    let root = scratch("torch-parity");
    let one = [("", true)];
    let value = [("", false)];
    let mut cases: Vec<(PathBuf, Reverse)> = Vec::new();
    macro_rules! classifier {
        ($net:ty, $stem:literal, $k:expr) => {{
            let make = classes($k, <$net>::BATCH);
            cases.push((write_case::<$net>(&root, $stem, &one, make, as_classes), reverse::<$net>));
        }};
    }
    macro_rules! regressor {
        ($net:ty, $stem:literal) => {{
            let make = values(<$net>::BATCH * <$net>::OUTPUT);
            cases
                .push((write_case::<$net>(&root, $stem, &value, make, as_values), reverse::<$net>));
        }};
    }
    regressor!(binary_classifier::Spam, "binary_classifier");
    classifier!(conv_net::ConvNet, "conv_net", 3);
    regressor!(deep_tanh::DeepTanh, "deep_tanh");
    classifier!(every_init::Inits, "every_init", 2);
    classifier!(flattened_image::FlatDigits, "flattened_image", 10);
    classifier!(leaky_penalties::Leaky, "leaky_penalties", 3);
    classifier!(loss_and_init_options::Smoothed, "loss_and_init_options", 3);
    regressor!(loss_and_init_options::Robust, "loss_and_init_options");
    regressor!(loss_and_init_options::Absolute, "loss_and_init_options");
    regressor!(loss_and_init_options::WeightedBinary, "loss_and_init_options");
    classifier!(norm_gelu::NormGelu, "norm_gelu", 4);
    regressor!(two_networks::Regressor, "two_networks");
    classifier!(two_networks::Classifier, "two_networks", 3);
    regressor!(xor::Xor, "xor");
    classifier!(digits::DigitsMlp, "digits", 10);
    classifier!(digits_cnn::DigitsCnn, "digits_cnn", 10);
    classifier!(kws_ds_cnn::KwsDsCnn, "kws_ds_cnn", 12);
    classifier!(activity::Activity, "activity", 4);
    classifier!(resnet_stage::ResnetStage, "resnet_stage", 3);
    classifier!(resnet_stage::SequenceStage, "resnet_stage", 2);
    classifier!(batchnorm_options::BatchNormOptions, "batchnorm_options", 3);
    let batch = Regularized::BATCH;
    let make = move |rng: &mut Rng| {
        let labels = (0..batch).map(|_| rng.below(10)).collect();
        Tgt::Heads(labels, (0..batch).map(|_| f32::from(u8::from(rng.bernoulli(0.5)))).collect())
    };
    let heads = [("digit", true), ("parity", false)];
    cases.push((
        write_case::<Regularized>(&root, "regularizers", &heads, make, regularized_targets),
        reverse::<Regularized>,
    ));

    // every spec of both folders is a case
    let specs = netspec_tests::spec_files(&netspec_tests::crate_dir().join("specs")).len()
        + netspec_tests::spec_files(&netspec_tests::crate_dir().join("../specs")).len();
    let stems: std::collections::BTreeSet<String> = cases
        .iter()
        .map(|(dir, _)| {
            std::fs::read_to_string(dir.join("case.txt"))
                .expect("case")
                .lines()
                .next()
                .expect("module line")
                .to_string()
        })
        .collect();
    assert_eq!(stems.len(), specs, "add every spec of tests/specs and specs to this test");

    let script = netspec_tests::crate_dir().join("torch/parity.py");
    let mut args = vec![script.to_str().expect("a UTF-8 path").to_string()];
    args.extend(cases.iter().map(|(dir, _)| dir.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_python(&root, &args);
    for (dir, reverse) in &cases {
        let err = reverse(dir);
        println!(
            "{}: torch-trained weights in netspec, eval relative error {err:.1e}",
            dir.display()
        );
        assert!(err <= EVAL_TOL, "{}: {err}", dir.display());
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Trains network `N` of `stem.nn` with the exported train script under `torch.distributed.run`
/// (2 processes, gloo) on the digits, then loads the saved weights into `N` and checks the
/// test accuracy netspec measures equals the one the script printed; returns it.
fn ddp_round_trip<N: Classifier>(stem: &str, extra: &[&str]) -> f64 {
    let dir = scratch(&format!("torch-ddp-{stem}"));
    let mut data = netspec::Dataset::digits();
    data.scale(1.0 / 16.0);
    let (train, test) = data.split(0.2, &mut Rng::seed(3)).expect("a stratified split");
    for (name, set) in [("train.csv", &train), ("test.csv", &test)] {
        let rows: String = set
            .features
            .chunks_exact(set.n_features)
            .zip(&set.labels)
            .map(|(x, y)| {
                let x: Vec<String> = x.iter().map(f32::to_string).collect();
                format!("{},{y}\n", x.join(","))
            })
            .collect();
        std::fs::write(dir.join(name), rows).expect("the data is written");
    }
    let networks = export(stem, &dir);
    let snake = netspec_codegen::torch::snake(N::NAME);
    let script = netspec_codegen::torch::export_train_script(&networks[0], stem);
    let script_name = format!("train_{snake}.py");
    std::fs::write(dir.join(&script_name), script).expect("the script is written");
    // `torchrun` is `python -m torch.distributed.run`
    // --standalone: a free rendezvous port, so concurrent tests do not collide
    let mut args = vec!["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"];
    args.push(&script_name);
    args.extend(["--train", "train.csv", "--test", "test.csv"]);
    args.extend(extra);
    let stdout = run_python(&dir, &args);
    let steps = train.len() / 2 / N::BATCH;
    assert!(stdout.contains(&format!("({steps} steps x 2 processes)")), "2 processes, half each");
    let printed: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("test {snake} accuracy: ")))
        .expect("the script prints the test accuracy")
        .trim()
        .parse()
        .expect("a number");

    let mut net = N::new(&mut Rng::seed(1));
    net.load(dir.join(format!("{snake}.safetensors"))).expect("the DDP-trained weights load");
    let rows = N::Input::samples(&test.features);
    let correct = rows
        .iter()
        .zip(&test.labels)
        .filter(|(x, y)| netspec::argmax(&net.predict(x).values().collect::<Vec<_>>()) == Some(**y))
        .count();
    let accuracy = correct as f64 / test.labels.len() as f64;
    println!(
        "{}: DDP-trained in torch, {correct}/{} test rows right in netspec",
        N::NAME,
        test.len()
    );
    assert!((accuracy - printed).abs() < 1e-6, "netspec {accuracy}, torch printed {printed}");
    let _ = std::fs::remove_dir_all(&dir);
    accuracy
}

/// The digits MLP, trained well enough to mean something.
#[test]
fn ddp_trained_digits_load_into_netspec() {
    let accuracy = ddp_round_trip::<digits::DigitsMlp>("digits", &["--epochs", "8"]);
    assert!(accuracy > 0.9, "the network learned: {accuracy}");
}

/// DESIGN's DigitsCnn (augmentation, preprocessing, batch norm, a residual block with stochastic
/// depth, dropout) for 2 epochs: every construct survives the round trip.
#[test]
fn ddp_trained_digits_cnn_loads_into_netspec() {
    let accuracy = ddp_round_trip::<digits_cnn::DigitsCnn>(
        "digits_cnn",
        &["--epochs", "2", "--optimizer", "adam", "--lr", "0.003"],
    );
    assert!(accuracy > 0.2, "better than chance after 2 epochs: {accuracy}");
}

/// Each augmentation of the exported module (its helpers, given netspec's draws) against
/// netspec's `Augmenter` on the same batch: the draws are replayed from a clone of the
/// augmenter's `Rng` (translate, flips, rotate, noise, cutout) or read back from it (mixup and
/// cutmix partners, lambda and box). Then the module's `augment` on its own draws, for shape
/// and soft-label invariants.
#[test]
fn exported_augmentations_match_netspec() {
    use netspec::{Augmentation as A, Augmenter, Mix};
    let dir = scratch("torch-augment");
    export("digits_cnn", &dir);
    let (shape, batch, classes) = ([2usize, 7, 6], 5usize, 3usize);
    let (h, w) = (shape[1], shape[2]);
    let len: usize = shape.iter().product();
    let mut data = Tensors::default();
    let ops = [
        ("translate", A::Translate { pixels: 2 }),
        ("flip_horizontal", A::FlipHorizontal),
        ("flip_vertical", A::FlipVertical),
        ("rotate", A::Rotate { degrees: 40.0 }),
        ("noise", A::GaussianNoise { sigma: 0.3 }),
        ("cutout", A::Cutout { size: 3 }),
        ("mixup", A::Mixup { alpha: 0.4 }),
        ("cutmix", A::Cutmix { alpha: 1.0 }),
    ];
    for (seed, (name, op)) in (0u64..).zip(ops) {
        let mut augmenter = Augmenter::new(&[op], &shape, batch, classes).expect("valid");
        let mut rng = Rng::seed(100 + seed);
        let x = normals(&mut rng, batch * len, 0.0, 1.0);
        let mut t = vec![0.0f32; batch * classes];
        (0..batch).for_each(|n| t[n * classes + n % classes] = 1.0);
        let (mut out, mut t_out) = (x.clone(), t.clone());
        let mut replay = rng.clone();
        augmenter.augment(&mut out, &mut t_out, &mut rng).expect("a valid batch");
        // the draws, as the helpers take them
        let draws: Vec<f32> = match op {
            A::Translate { pixels } => (0..2 * batch)
                .map(|_| replay.below(2 * pixels + 1) as f32 - pixels as f32)
                .collect(),
            A::FlipHorizontal | A::FlipVertical => {
                (0..batch).map(|_| f32::from(u8::from(replay.bernoulli(0.5)))).collect()
            }
            A::Rotate { degrees } => {
                (0..batch).map(|_| replay.uniform(-degrees as f32, degrees as f32)).collect()
            }
            A::GaussianNoise { sigma } => {
                (0..batch * len).map(|_| replay.normal(0.0, sigma as f32)).collect()
            }
            A::Cutout { .. } => (0..batch)
                .flat_map(|_| {
                    let cy = replay.below(h);
                    [cy as f32, replay.below(w) as f32]
                })
                .collect(),
            _ => {
                let mut draws: Vec<f32> = augmenter.partners().iter().map(|&p| p as f32).collect();
                match augmenter.last_mix() {
                    Some(Mix::Mixup { lambda }) => draws.push(lambda),
                    Some(Mix::Cutmix { y0, y1, x0, x1, .. }) => {
                        draws.extend([y0, y1, x0, x1].map(|v| v as f32));
                    }
                    other => panic!("{name}: no mix recorded ({other:?})"),
                }
                draws
            }
        };
        data.add(format!("{name}.x"), &[batch, shape[0], h, w], x);
        data.add(format!("{name}.t"), &[batch, classes], t);
        data.add(format!("{name}.out"), &[batch, shape[0], h, w], out);
        data.add(format!("{name}.t_out"), &[batch, classes], t_out);
        data.add(format!("{name}.draws"), &[draws.len()], draws);
    }
    data.save(&dir.join("augment.safetensors"));
    let script = netspec_tests::crate_dir().join("torch/augment.py");
    run_python(
        &dir,
        &[script.to_str().expect("a UTF-8 path"), "digits_cnn", "augment.safetensors"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The exported `_Preprocess` against netspec's `Preprocessor`, every method: the statistics
/// `fit` finds on the same rows (float64 on both sides; ZCA by `torch.linalg.eigh` against
/// netspec's Jacobi method) and the preprocessed rows.
#[test]
fn exported_preprocessing_matches_netspec() {
    use netspec::{PreprocessKind as K, Preprocessor};
    let dir = scratch("torch-preprocess");
    export("digits_cnn", &dir);
    let mut data = Tensors::default();
    let mut rng = Rng::seed(5);
    let cases = [
        ("mean_subtract per_pixel", K::MeanSubtractPerPixel, vec![2, 3, 4]),
        ("mean_subtract per_channel", K::MeanSubtractPerChannel, vec![2, 3, 4]),
        ("standardize per_channel", K::StandardizePerChannel, vec![2, 3, 4]),
        ("standardize per_feature", K::StandardizePerFeature, vec![7]),
        ("whiten pca", K::WhitenPca, vec![6]),
    ];
    let mut listed = String::new();
    for (i, (name, kind, shape)) in cases.iter().enumerate() {
        let d: usize = shape.iter().product();
        // 40 rows, each value with its own mean and scale; one constant value (variance 0)
        let mut rows = normals(&mut rng, 40 * d, 0.0, 1.0);
        for (j, v) in rows.iter_mut().enumerate() {
            *v = if j % d == 1 { 3.0 } else { *v * (1.0 + (j % d) as f32 * 0.5) + (j % d) as f32 };
        }
        let pre = Preprocessor::fit(*kind, 1e-5, shape, &rows).expect("the statistics fit");
        for (tensor, tensor_shape, values) in pre.tensors() {
            data.add(format!("{i}.{tensor}"), tensor_shape, values.to_vec());
        }
        let mut applied = rows.clone();
        pre.apply_rows(&mut applied);
        data.add(format!("{i}.rows"), &[40, d], rows);
        data.add(format!("{i}.applied"), &[40, d], applied);
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        listed.push_str(&format!("{i}|{name}|{}\n", dims.join(",")));
    }
    data.save(&dir.join("preprocess.safetensors"));
    std::fs::write(dir.join("preprocess.txt"), listed).expect("the list is written");
    let script = netspec_tests::crate_dir().join("torch/preprocess.py");
    run_python(&dir, &[script.to_str().expect("a UTF-8 path"), "digits_cnn"]);
    let _ = std::fs::remove_dir_all(&dir);
}
