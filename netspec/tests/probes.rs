//! Layer probes: `activations()` and `activation_grads()` lend each layer's buffer by name,
//! in order, with the values a hand computation gives; `LayerStats`, histograms and gradient
//! norms over them.

use netspec::prelude::*;
use netspec::{LayerStats, Rng};

netspec::network! {
    network Tiny {
        input image(1, 1, 2);
        batch 2;
        flatten;
        dense 2 init zeros bias zeros;
        tanh;
        residual { dense 2 init zeros bias zeros; relu; }
        dense 1 init zeros bias zeros;
        loss mse;
    }
}

/// Sets `name`'s values.
fn set(net: &mut Tiny, name: &str, values: &[f32]) {
    let p = Tiny::PARAMS.iter().find(|p| p.name == name).unwrap();
    net.params_mut()[p.offset..p.offset + p.len].copy_from_slice(values);
}

#[test]
fn views_name_every_layer_in_order_with_its_shape() {
    let net = Tiny::new(&mut Rng::seed(0));
    let names: Vec<(&str, &str, &[usize])> =
        net.activations().map(|v| (v.name, v.kind, v.shape)).collect();
    assert_eq!(
        names,
        [
            ("flatten1", "flatten", &[2][..]),
            ("dense1", "dense", &[2]),
            ("tanh1", "tanh", &[2]),
            // the branch is computed before its sum
            ("dense2", "dense", &[2]),
            ("relu1", "relu", &[2]),
            ("residual1", "residual", &[2]),
            ("dense3", "dense", &[1]),
        ]
    );
    for view in net.activations().chain(net.activation_grads().skip(1)) {
        assert_eq!(view.values.len(), Tiny::BATCH * view.shape.iter().product::<usize>());
    }
    assert!(net.activation("dense9").is_none());
}

#[test]
fn values_equal_a_hand_computation() {
    let mut net = Tiny::new(&mut Rng::seed(0));
    // dense1: W = [[1, -1], [0.5, 2]], b = [0, 0.1]
    set(&mut net, "dense1.weight", &[1.0, -1.0, 0.5, 2.0]);
    set(&mut net, "dense1.bias", &[0.0, 0.1]);
    // dense2: W = [[1, 0], [0, -1]], b = 0 (branch), then relu
    set(&mut net, "dense2.weight", &[1.0, 0.0, 0.0, -1.0]);
    // dense3: W = [[2, 1]], b = [0.5]
    set(&mut net, "dense3.weight", &[2.0, 1.0]);
    set(&mut net, "dense3.bias", &[0.5]);
    let x = [0.5f32, 0.25, -1.0, 1.0];
    let t = [1.0f32, 0.0];
    let loss = net.loss_and_grad(&x, &t).unwrap();

    let mut want: Vec<(&str, Vec<f32>)> = Vec::new();
    let d1: Vec<f32> =
        x.chunks(2).flat_map(|s| [s[0] - s[1], 0.5 * s[0] + 2.0 * s[1] + 0.1]).collect();
    let t1: Vec<f32> = d1.iter().map(|v| v.tanh()).collect();
    let d2: Vec<f32> = t1.chunks(2).flat_map(|s| [s[0], -s[1]]).collect();
    let r1: Vec<f32> = d2.iter().map(|v| v.max(0.0)).collect();
    let res: Vec<f32> = t1.iter().zip(&r1).map(|(a, b)| a + b).collect();
    let y: Vec<f32> = res.chunks(2).map(|s| 2.0 * s[0] + s[1] + 0.5).collect();
    want.push(("flatten1", x.to_vec()));
    want.push(("dense1", d1.clone()));
    want.push(("tanh1", t1.clone()));
    want.push(("dense2", d2.clone()));
    want.push(("relu1", r1.clone()));
    want.push(("residual1", res.clone()));
    want.push(("dense3", y.clone()));
    for (view, (name, values)) in net.activations().zip(&want) {
        assert_eq!(view.name, *name);
        for (a, b) in view.values.iter().zip(values) {
            assert!((a - b).abs() < 1e-6, "{name}: {:?} vs {values:?}", view.values);
        }
    }
    // MSELoss: mean over 2 values; dL/dy = 2 (y - t) / 2
    let want_loss = y.iter().zip(t).map(|(y, t)| (y - t).powi(2)).sum::<f32>() / 2.0;
    assert!((loss - want_loss).abs() < 1e-6);
    let gy: Vec<f32> = y.iter().zip(t).map(|(y, t)| y - t).collect();
    // dL/dres = gy * [2, 1]; the residual passes it to tanh1 and to relu1
    let gres: Vec<f32> = gy.iter().flat_map(|g| [2.0 * g, *g]).collect();
    let gr1 = gres.clone();
    let gd2: Vec<f32> = gr1.iter().zip(&d2).map(|(g, d)| if *d > 0.0 { *g } else { 0.0 }).collect();
    // tanh1 gets the skip's gradient plus the branch's, dense2^T gd2 = [gd2_0, -gd2_1]
    let gt1: Vec<f32> =
        gres.chunks(2).zip(gd2.chunks(2)).flat_map(|(s, b)| [s[0] + b[0], s[1] - b[1]]).collect();
    let gd1: Vec<f32> = gt1.iter().zip(&t1).map(|(g, t)| g * (1.0 - t * t)).collect();
    let want_grads = [
        ("dense1", gd1),
        ("tanh1", gt1),
        ("dense2", gd2),
        ("relu1", gr1),
        ("residual1", gres),
        ("dense3", gy),
    ];
    let grads: Vec<_> = net.activation_grads().collect();
    // a flatten of the input: nothing keeps dLoss/dinput
    assert_eq!(grads[0].name, "flatten1");
    assert!(grads[0].values.is_empty());
    for (view, (name, values)) in grads[1..].iter().zip(&want_grads) {
        assert_eq!(view.name, *name);
        assert_eq!(view.values.len(), values.len());
        for (a, b) in view.values.iter().zip(values) {
            assert!((a - b).abs() < 1e-5, "{name}: {:?} vs {values:?}", view.values);
        }
    }

    // Stats of a view: tanh's saturation is counted, a dense layer has none.
    let tanh = net.activation("tanh1").unwrap().stats();
    let sat = t1.iter().filter(|v| v.abs() > 0.99).count() as f64 / 4.0;
    assert_eq!(tanh.saturated, Some(sat));
    assert_eq!(net.activation("dense1").unwrap().stats().saturated, None);
    let relu = LayerStats::of(&r1);
    let zeros = r1.iter().filter(|v| **v == 0.0).count() as f64 / 4.0;
    assert!(zeros > 0.0, "the hand example has a dead unit");
    assert_eq!(relu.zeros, zeros);

    // Gradient norms: dense3.bias's gradient is sum(gy).
    let norms: Vec<(&str, f64)> = net.grad_norms().collect();
    assert_eq!(norms.len(), Tiny::PARAMS.len());
    let (name, norm) = norms[Tiny::PARAMS.iter().position(|p| p.name == "dense3.bias").unwrap()];
    assert_eq!(name, "dense3.bias");
    let want = f64::from(y.iter().zip(t).map(|(y, t)| y - t).sum::<f32>().abs());
    assert!((norm - want).abs() < 1e-6, "{norm} vs {want}");
}

#[test]
fn probes_see_the_last_batch_only() {
    let mut net = Tiny::new(&mut Rng::seed(3));
    for (i, w) in net.params_mut().iter_mut().enumerate() {
        *w = (i as f32).sin();
    }
    let x = [0.5f32, 0.25, -1.0, 1.0];
    net.loss_and_grad(&x, &[0.0, 0.0]).unwrap();
    let before: Vec<f32> = net.activation("dense3").unwrap().values.to_vec();
    // predict computes on the stack and leaves the workspace alone
    let _ = net.predict(&[9.0, 9.0]);
    assert_eq!(net.activation("dense3").unwrap().values, before);
    net.loss_and_grad(&[1.0, 2.0, 3.0, 4.0], &[0.0, 0.0]).unwrap();
    assert_ne!(net.activation("dense3").unwrap().values, before);
}

#[test]
fn activation_and_weight_histograms_are_drawn() {
    let mut net = Tiny::new(&mut Rng::seed(5));
    net.loss_and_grad(&[0.5, 0.25, -1.0, 1.0], &[1.0, 0.0]).unwrap();
    let dir = std::env::temp_dir().join(format!("netspec-probes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let acts = dir.join("acts.svg");
    netspec::plot::activation_histograms(&acts, &net, &["tanh", "relu"], Some((-1.0, 1.0)))
        .unwrap();
    let svg = std::fs::read_to_string(&acts).unwrap();
    assert!(svg.contains("tanh1: mean") && svg.contains("relu1: mean"), "{svg}");
    assert!(!svg.contains("dense1: mean"), "only the kinds asked for");
    let weights = dir.join("weights.svg");
    netspec::plot::weight_histograms(&weights, &net).unwrap();
    let svg = std::fs::read_to_string(&weights).unwrap();
    for name in ["dense1.weight", "dense2.weight", "dense3.weight"] {
        assert!(svg.contains(name), "{name} in {svg}");
    }
    assert!(!svg.contains("dense1.bias"));
}
