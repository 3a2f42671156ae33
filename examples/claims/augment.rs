//! Data augmentation on a reduced training set, and an auxiliary task on a shared trunk.

use netspec::prelude::*;
use netspec::{Batches, History, Rng, Sgd, accuracy, argmax};

use super::depth::only;
use super::{Error, Figure, Outcome, Scale, accuracy_of, digits, train};

/// An MLP on 8x8 digit images with one `augment` block.
macro_rules! augmented {
    ($name:ident, $($aug:tt)*) => {
        netspec::network! {
            network $name {
                input image(1, 8, 8); batch 25;
                augment { $($aug)* }
                flatten; dense 64; relu; dense 10;
                loss softmax_cross_entropy;
            }
        }
    };
}

netspec::network! {
    network AugNone {
        input image(1, 8, 8); batch 25;
        flatten; dense 64; relu; dense 10;
        loss softmax_cross_entropy;
    }
}
augmented!(AugTranslate, translate 1;);
augmented!(AugFlip, flip horizontal;);
augmented!(AugRotate, rotate 15;);
augmented!(AugNoise, noise gaussian 0.3;);
augmented!(AugCutout, cutout 3;);
augmented!(AugMixup, mixup 0.2;);
augmented!(AugCutmix, cutmix 1.0;);

/// The noise added to test inputs for the robustness check.
const TEST_NOISE: f32 = 0.3;

/// Claim 12: each augmentation changes test accuracy by a measured amount on 200 training
/// digits; a net trained with input noise is more robust to noisy test inputs.
pub fn augment(scale: Scale) -> Result<Outcome, Error> {
    let (train_set, test_set) = digits(200, 12)?;
    let mut noisy = test_set.clone();
    let mut noise_rng = Rng::seed(13);
    for v in &mut noisy.features {
        *v += noise_rng.normal(0.0, TEST_NOISE);
    }
    let data = (&train_set, &test_set);
    let epochs = scale.epochs(100);
    let mut history = History::new();
    let mut rows = Vec::new();
    let seeds = scale.seeds();
    macro_rules! run {
        ($net:ident, $label:literal) => {{
            let (mut clean, mut noisy_acc) = (0.0, 0.0);
            for seed in 0..seeds {
                let mut rng = Rng::seed(14 + seed);
                let mut net = $net::new(&mut rng);
                let mut opt = Sgd::new(0.05).momentum(0.9).build()?;
                let label = format!("{}, seed {seed}", $label);
                train(&mut net, &mut opt, data, epochs, &mut rng, &mut history, &label)?;
                clean += accuracy_of(&net, &test_set)? / seeds as f64;
                noisy_acc += accuracy_of(&net, &noisy)? / seeds as f64;
            }
            rows.push(($label, clean, noisy_acc));
        }};
    }
    run!(AugNone, "none");
    run!(AugTranslate, "translate 1");
    run!(AugFlip, "flip horizontal");
    run!(AugRotate, "rotate 15");
    run!(AugNoise, "noise gaussian 0.3");
    run!(AugCutout, "cutout 3");
    run!(AugMixup, "mixup 0.2");
    run!(AugCutmix, "cutmix 1.0");
    let base = rows[0];
    let mut report = vec![format!("mean of {seeds} seeds:")];
    report.extend(rows
        .iter()
        .map(|(label, test, noisy)| {
            format!(
                "{label:<20} test accuracy {test:.3} ({:+.3} vs none), with N(0, {TEST_NOISE}) input noise {noisy:.3}",
                test - base.1
            )
        }));
    let noise = rows[4];
    let best = rows.iter().skip(1).map(|r| r.1 - base.1).fold(f64::NEG_INFINITY, f64::max);
    report.push(format!("best change of test accuracy: {best:+.3}"));
    let holds = noise.2 > base.2 + 0.02;
    Ok(Outcome {
        name: "augment",
        claim: "augmentations change test accuracy by a measured amount on 200 training digits; noise-trained nets are more robust to input noise",
        report,
        holds,
        measured: format!(
            "on noisy test digits: {:.3} (noise-trained) vs {:.3} (none); best augmentation {best:+.3} test accuracy",
            noise.2, base.2
        ),
        figures: vec![Figure::Curves {
            file: "augment_accuracy".into(),
            title: "Test accuracy, 200 training digits (seed 0)".into(),
            x_label: "epoch".into(),
            y_label: "test accuracy".into(),
            log_y: false,
            history: only(&only(&history, "test accuracy"), "seed 0"),
        }],
    })
}

netspec::network! {
    network SingleTask {
        input 64; batch 25; dense 64; relu; dense 10; loss softmax_cross_entropy;
    }
    network WithAuxiliary {
        input 64; batch 25; dense 64; relu;
        head digit { dense 10; loss softmax_cross_entropy; }
        head parity { dense 1; loss binary_cross_entropy weight 0.5; }
    }
}

/// Claim 14: a shared trunk trained with an auxiliary task (parity) against the digit task
/// alone, on 200 training digits, mean over 3 seeds.
pub fn multitask(scale: Scale) -> Result<Outcome, Error> {
    let epochs = scale.epochs(100);
    let (mut single_sum, mut multi_sum) = (0.0, 0.0);
    let mut report = Vec::new();
    let mut history = History::new();
    for seed in 0..3u64 {
        let (train_set, test_set) = digits(200, 20 + seed)?;
        let mut rng = Rng::seed(30 + seed);
        let mut single = SingleTask::new(&mut rng);
        let mut opt = Sgd::new(0.05).momentum(0.9).build()?;
        let label = format!("digit only, seed {seed}");
        train(
            &mut single,
            &mut opt,
            (&train_set, &test_set),
            epochs,
            &mut rng,
            &mut history,
            &label,
        )?;
        let single_acc = accuracy_of(&single, &test_set)?;

        let mut rng = Rng::seed(30 + seed);
        let mut net = WithAuxiliary::new(&mut rng);
        let mut opt = Sgd::new(0.05).momentum(0.9).build()?;
        let mut batches = Batches::new(train_set.len(), WithAuxiliary::BATCH)?;
        let mut x = vec![0.0; WithAuxiliary::BATCH * WithAuxiliary::INPUT];
        let (mut digit, mut parity) =
            (vec![0; WithAuxiliary::BATCH], vec![0.0f32; WithAuxiliary::BATCH]);
        let mut outputs = vec![WithAuxiliaryOutput::default(); test_set.len()];
        let aux_label = format!("digit + parity, seed {seed}");
        for epoch in 1..=epochs {
            batches.shuffle(&mut rng);
            for batch in &batches {
                train_set.gather(batch, &mut x, &mut digit)?;
                for (p, &d) in parity.iter_mut().zip(&digit) {
                    *p = (d % 2) as f32;
                }
                net.train_step(
                    &x,
                    WithAuxiliaryTargets { digit: &digit, parity: &parity },
                    &mut opt,
                    &mut rng,
                )?;
            }
            net.predict_batch(&test_set.features, &mut outputs)?;
            let predicted: Vec<usize> =
                outputs.iter().map(|o| argmax(&o.digit).unwrap_or(0)).collect();
            history.record(
                &format!("{aux_label} test accuracy"),
                epoch as f64,
                accuracy(&predicted, &test_set.labels)?,
            );
        }
        let multi_acc = history.last(&format!("{aux_label} test accuracy")).unwrap_or(0.0);
        report.push(format!(
            "seed {seed}: digit test accuracy {single_acc:.3} alone, {multi_acc:.3} with the parity head"
        ));
        single_sum += single_acc;
        multi_sum += multi_acc;
    }
    let (single, multi) = (single_sum / 3.0, multi_sum / 3.0);
    report.push(format!(
        "mean: {single:.3} alone, {multi:.3} with the parity head ({:+.3})",
        multi - single
    ));
    Ok(Outcome {
        name: "multitask",
        claim: "multi-task heads: a shared trunk trained with an auxiliary task (parity) beats the single task on 200 training digits",
        report,
        holds: multi > single,
        measured: format!(
            "digit test accuracy {multi:.3} with the auxiliary head vs {single:.3} alone (mean of 3 seeds)"
        ),
        figures: vec![Figure::Curves {
            file: "multitask_accuracy".into(),
            title: "Digit test accuracy, 200 training digits".into(),
            x_label: "epoch".into(),
            y_label: "test accuracy".into(),
            log_y: false,
            history: only(&history, "test accuracy"),
        }],
    })
}
