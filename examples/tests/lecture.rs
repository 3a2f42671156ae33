//! Each of the lecture's claims at the reduced scale (a quarter of the epochs, one seed, so
//! that the test takes about 40 s in `cargo test`'s build): the claims that
//! `docs/lecture.md` reports as holding must hold here too, each with the margin its
//! experiment states, except two that need the full scale (below); every experiment must run
//! and measure.

use netspec_examples::claims::{EXPERIMENTS, Figure, Scale};

/// The claims docs/lecture.md reports as not holding.
const FAILING: &[&str] = &["small_init_gradients", "stochastic_regularizers", "multitask"];

/// Claims that hold at the full scale only (docs/lecture.md gives both measurements):
/// after 37 epochs the activity penalty's relu1 is sparser (56% zeros vs 37%) but its mean
/// activation not yet halved; with one seed the noise-trained net is not more robust.
const FULL_SCALE_ONLY: &[&str] = &["activity_penalty", "augment"];

#[test]
fn every_claim_reported_as_holding_holds() {
    assert!(EXPERIMENTS.len() >= 15, "{} experiments", EXPERIMENTS.len());
    let mut failed = Vec::new();
    for (name, run) in EXPERIMENTS {
        let start = std::time::Instant::now();
        let outcome = run(Scale::Quick).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(outcome.name, *name);
        assert!(!outcome.report.is_empty() && !outcome.measured.is_empty(), "{name}");
        for figure in &outcome.figures {
            let empty = match figure {
                Figure::Histograms { panels, .. } => panels.iter().any(|(_, v)| v.is_empty()),
                Figure::Curves { history, .. } => history.series().next().is_none(),
            };
            assert!(!empty, "{name}: a figure without data");
        }
        println!(
            "{name}: {} ({}) [{:.1} s]",
            if outcome.holds { "holds" } else { "FAILS" },
            outcome.measured,
            start.elapsed().as_secs_f64()
        );
        if !outcome.holds && !FAILING.contains(name) && !FULL_SCALE_ONLY.contains(name) {
            failed.push(format!("{name}: {}", outcome.measured));
        }
    }
    assert!(failed.is_empty(), "claims that should hold do not: {failed:#?}");
}
