//! Batch norm and dropout scaling against reference values computed independently by PyTorch:
//! `tests/reference/batchnorm_reference.py` (its output, with the torch version it ran with, is
//! committed as `tests/reference/batchnorm_reference.json`). The inputs are rebuilt here from the
//! script's formula.
//!
//! Tolerance: PyTorch computed in f64, netspec in f32, so every value must agree within
//! 2e-5 * max(1, |reference|) (f32 rounding of O(1) values through a few operations).

use netspec::Rng;
use netspec::prelude::*;

/// A minimal JSON value, enough for the committed reference file.
#[derive(Debug, Clone)]
enum Json {
    Number(f64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(fields) => &fields.iter().find(|(k, _)| k == key).unwrap().1,
            _ => panic!("not an object"),
        }
    }
    fn num(&self) -> f64 {
        match self {
            Json::Number(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }
    fn nums(&self) -> Vec<f64> {
        match self {
            Json::Array(items) => items.iter().map(Json::num).collect(),
            _ => panic!("not an array"),
        }
    }
}

fn parse(text: &str) -> Json {
    fn value(s: &[u8], i: &mut usize) -> Json {
        while s[*i].is_ascii_whitespace() {
            *i += 1;
        }
        match s[*i] {
            b'{' | b'[' => {
                let object = s[*i] == b'{';
                *i += 1;
                let (mut fields, mut items) = (Vec::new(), Vec::new());
                loop {
                    while s[*i].is_ascii_whitespace() || s[*i] == b',' {
                        *i += 1;
                    }
                    if s[*i] == b'}' || s[*i] == b']' {
                        *i += 1;
                        break;
                    }
                    if object {
                        let Json::Text(key) = value(s, i) else { panic!("key") };
                        while s[*i] != b':' {
                            *i += 1;
                        }
                        *i += 1;
                        fields.push((key, value(s, i)));
                    } else {
                        items.push(value(s, i));
                    }
                }
                if object { Json::Object(fields) } else { Json::Array(items) }
            }
            b'"' => {
                let start = *i + 1;
                *i = start + s[start..].iter().position(|&c| c == b'"').unwrap() + 1;
                Json::Text(String::from_utf8(s[start..*i - 1].to_vec()).unwrap())
            }
            _ => {
                let start = *i;
                while !b",]}".contains(&s[*i]) && !s[*i].is_ascii_whitespace() {
                    *i += 1;
                }
                Json::Number(std::str::from_utf8(&s[start..*i]).unwrap().parse().unwrap())
            }
        }
    }
    value(text.as_bytes(), &mut 0)
}

fn reference() -> Json {
    parse(include_str!("reference/batchnorm_reference.json"))
}

/// The script's inputs: x[n][j] = 2 sin(0.7 n + 1.3 j + phase) + 0.1 j.
fn inputs(rows: usize, width: usize, phase: f64) -> Vec<f32> {
    (0..rows)
        .flat_map(|n| {
            (0..width).map(move |j| {
                (2.0 * (0.7 * n as f64 + 1.3 * j as f64 + phase).sin() + 0.1 * j as f64) as f32
            })
        })
        .collect()
}

fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= 2e-5 * w.abs().max(1.0),
            "{what}[{i}]: netspec {g}, torch {w}"
        );
    }
}

netspec::network! {
    network Bn1d { input 4; batch 6; batchnorm; loss mse; }
    network Bn1dCustom { input 3; batch 5; batchnorm eps 1e-3 momentum 0.3; loss mse; }
    network Bn2d { input image(2, 2, 2); batch 3; batchnorm; flatten; loss mse; }
}

/// The generated network against one reference case: `steps - 1` training forwards, then a
/// training-mode `loss_and_grad`, then eval.
macro_rules! check_case {
    ($net:ident, $case:expr) => {{
        let case = $case;
        let (rows, channels) =
            (case.get("rows").num() as usize, case.get("channels").num() as usize);
        let width = $net::INPUT;
        let phase = case.get("phase").num();
        let steps = case.get("steps").num() as usize;
        let mut net = $net::new(&mut Rng::seed(0));
        // Parameters: gamma then beta, as PyTorch lays them out.
        let gamma: Vec<f32> = case.get("gamma").nums().iter().map(|&v| v as f32).collect();
        let beta: Vec<f32> = case.get("beta").nums().iter().map(|&v| v as f32).collect();
        net.params_mut()[..channels].copy_from_slice(&gamma);
        net.params_mut()[channels..].copy_from_slice(&beta);
        let mut rng = Rng::seed(1);
        let mut out = vec![0.0; rows * width];
        for step in 0..steps - 1 {
            net.forward(&inputs(rows, width, phase + step as f64), &mut out, &mut rng).unwrap();
        }
        let x = inputs(rows, width, phase + (steps - 1) as f64);
        let target = inputs(rows, width, phase + 10.0);
        let loss = net.loss_and_grad(&x, &target).unwrap();
        assert_close("loss", &[loss], &[case.get("loss").num()]);
        assert_close("grad_gamma", &net.grads()[..channels], &case.get("grad_gamma").nums());
        assert_close("grad_beta", &net.grads()[channels..], &case.get("grad_beta").nums());
        let mut want_buffers = case.get("running_mean").nums();
        want_buffers.extend(case.get("running_var").nums());
        assert_close("running_mean, running_var", net.buffers(), &want_buffers);
        assert_eq!(net.counters(), [case.get("num_batches_tracked").num() as i64]);
        let names: Vec<&str> = $net::BUFFERS.iter().map(|b| b.name).collect();
        assert_eq!(
            names,
            ["batchnorm1.running_mean", "batchnorm1.running_var", "batchnorm1.num_batches_tracked"]
        );
        // The training forward itself, and the backward through the batch statistics, from the
        // runtime halves the generated code calls.
        let shape = netspec_runtime::ops::batchnorm::NormShape {
            channels,
            spatial: case.get("spatial").num() as usize,
            eps: case.get("eps").num() as f32,
            momentum: case.get("momentum").num() as f32,
        };
        let (mut y, mut x_hat, mut inv_std) =
            (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; channels]);
        let (mut rm, mut rv, mut count) = (vec![0.0; channels], vec![1.0; channels], 0);
        netspec_runtime::ops::batchnorm::forward_train(
            shape,
            &x,
            &mut y,
            &mut x_hat,
            &mut inv_std,
            &gamma,
            &beta,
            &mut rm,
            &mut rv,
            &mut count,
        );
        assert_close("y_train", &y, &case.get("y_train").nums());
        // dL/dy of nn.MSELoss: 2 (y - t) / count
        let dy: Vec<f32> =
            y.iter().zip(&target).map(|(v, t)| 2.0 * (v - t) / x.len() as f32).collect();
        let (mut dgamma, mut dbeta, mut dx) =
            (vec![0.0; channels], vec![0.0; channels], vec![0.0; x.len()]);
        netspec_runtime::ops::batchnorm::backward_train(
            shape,
            &dy,
            &x_hat,
            &inv_std,
            &gamma,
            &mut dgamma,
            &mut dbeta,
            Some(&mut dx),
        );
        assert_close("grad_x", &dx, &case.get("grad_x").nums());
        // Eval mode: the running statistics.
        net.set_training(false);
        let x_eval = inputs(rows, width, phase + 20.0);
        let mut y_eval = vec![0.0; x_eval.len()];
        net.forward(&x_eval, &mut y_eval, &mut rng).unwrap();
        assert_close("y_eval", &y_eval, &case.get("y_eval").nums());
        assert_eq!(net.counters(), [steps as i64], "eval does not count");
    }};
}

#[test]
fn batch_norm_matches_pytorch() {
    let reference = reference();
    let Json::Text(version) = reference.get("torch_version") else { panic!() };
    assert!(version.starts_with('2'), "{version}");
    check_case!(Bn1d, reference.get("batchnorm1d"));
    check_case!(Bn1dCustom, reference.get("batchnorm1d_custom"));
    check_case!(Bn2d, reference.get("batchnorm2d"));
}

netspec::network! {
    network DropHalf { input 1000; batch 100; dropout 0.5; identity; loss mse; }
    network DropFifth { input 1000; batch 100; dropout 0.2; identity; loss mse; }
    network DropFifthTest { input 1000; batch 100; dropout 0.2 rescale test; identity; loss mse; }
}

/// Inverted dropout keeps units at exactly PyTorch's 1/(1-p) and drops a fraction p (within
/// 0.005 of p, over 100,000 draws, as torch's own dropped fraction is); eval is the identity;
/// `rescale test` keeps units at 1 and scales by 1-p in eval.
#[test]
fn dropout_scaling_matches_pytorch() {
    let reference = reference();
    let Json::Array(cases) = reference.get("dropout") else { panic!() };
    let ones = vec![1.0f32; 100_000];
    let mut out = vec![0.0f32; 100_000];
    let mut rng = Rng::seed(3);
    for case in cases {
        let p = case.get("p").num();
        let kept = case.get("kept_value").nums();
        assert_eq!(case.get("eval_values").nums(), [1.0]);
        assert!((case.get("dropped_fraction").num() - p).abs() < 0.005);
        let mut values = |training: bool, out: &mut [f32]| {
            if p == 0.5 {
                let mut net = DropHalf::new(&mut Rng::seed(0));
                net.set_training(training);
                net.forward(&ones, out, &mut rng).unwrap();
            } else {
                let mut net = DropFifth::new(&mut Rng::seed(0));
                net.set_training(training);
                net.forward(&ones, out, &mut rng).unwrap();
            }
        };
        values(true, &mut out);
        let dropped = out.iter().filter(|&&v| v == 0.0).count() as f64 / out.len() as f64;
        assert!((dropped - p).abs() < 0.005, "p {p}: dropped {dropped}");
        assert!(out.iter().all(|&v| v == 0.0 || v as f64 == kept[0]), "kept values {kept:?}");
        values(false, &mut out);
        assert!(out.iter().all(|&v| v == 1.0));
    }
    // The original paper's rule: kept units unscaled while training, times (1 - p) in eval.
    let mut net = DropFifthTest::new(&mut Rng::seed(0));
    net.forward(&ones, &mut out, &mut rng).unwrap();
    assert!(out.iter().all(|&v| v == 0.0 || v == 1.0));
    net.set_training(false);
    net.forward(&ones, &mut out, &mut rng).unwrap();
    assert!(out.iter().all(|&v| v == 0.8));
}
