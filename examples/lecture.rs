//! The lecture's claims about training tricks, each as a seeded experiment: prints its numbers
//! and `claim NAME: holds` or `claim NAME: FAILS` with the measured figure, draws its figures
//! into `target/lecture/`, and ends with `claims: K/N hold`.
//!
//! `cargo run --release --example lecture -- all` (or `-- NAME`, or `-- list`)

use std::path::Path;

use netspec_examples::claims::{EXPERIMENTS, Figure, Scale};

/// Draws `figure` into `dir` as PNG and SVG; returns the PNG's path.
fn draw(figure: &Figure, dir: &Path) -> Result<String, netspec::plot::PlotError> {
    let file = match figure {
        Figure::Histograms { file, .. } | Figure::Curves { file, .. } => file,
    };
    for ext in ["png", "svg"] {
        let path = dir.join(format!("{file}.{ext}"));
        match figure {
            Figure::Histograms { title, panels, range, .. } => {
                let panels: Vec<(&str, &[f32])> =
                    panels.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
                netspec::plot::histograms(&path, title, &panels, 40, Some(*range))?;
            }
            Figure::Curves { title, x_label, y_label, log_y, history, .. } => {
                netspec::plot::curves(&path, title, (x_label, y_label), history, *log_y)?;
            }
        }
    }
    Ok(format!("target/lecture/{file}.png"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if arg == "list" {
        for (name, _) in EXPERIMENTS {
            println!("{name}");
        }
        return Ok(());
    }
    let chosen: Vec<_> =
        EXPERIMENTS.iter().filter(|(name, _)| arg == "all" || *name == arg).collect();
    if chosen.is_empty() {
        let names: Vec<&str> = EXPERIMENTS.iter().map(|(n, _)| *n).collect();
        eprintln!("error: no experiment `{arg}`; use `all` or one of: {}", names.join(", "));
        std::process::exit(2);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lecture");
    std::fs::create_dir_all(&dir)?;
    let start = std::time::Instant::now();
    let mut held = 0;
    for (name, run) in &chosen {
        let t = std::time::Instant::now();
        let outcome = run(Scale::Full)?;
        println!("== {name}: {}", outcome.claim);
        for line in &outcome.report {
            println!("   {line}");
        }
        for figure in &outcome.figures {
            println!("   figure: {}", draw(figure, &dir)?);
        }
        let verdict = if outcome.holds { "holds" } else { "FAILS" };
        println!(
            "claim {name}: {verdict} ({}) [{:.1} s]\n",
            outcome.measured,
            t.elapsed().as_secs_f64()
        );
        held += usize::from(outcome.holds);
    }
    println!("claims: {held}/{} hold ({:.0} s)", chosen.len(), start.elapsed().as_secs_f64());
    Ok(())
}
