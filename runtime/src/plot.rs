//! Figures of what training does, drawn with plotters into PNG or SVG files (by the path's
//! extension): per-layer histograms in the lecture's layout (one panel per layer, mean and std
//! in each title), curves over epochs (loss, accuracy, gradient norms from a [`History`]), and
//! weight histograms of a network. Feature `plots` (on by default).
//!
//! PNG text uses a bundled subset of DejaVu Sans (ASCII; license in `assets/`), so drawing
//! needs no system fonts. plotters 0.3.7 draws each PNG glyph from the top of its box, so
//! small punctuation (`.`, `,`) sits raised; SVG text is exact.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::history::History;
use crate::layout::Role;
use crate::network::Network;
use crate::probe::{Histogram, LayerStats};

/// DejaVu Sans, subset to ASCII and a few symbols (bitstream-vera license, see
/// `assets/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

/// Registers the bundled font as "sans-serif" once.
fn register_font() {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        // the bundled file is a valid font (tested); a failure only leaves text undrawn
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Why a figure was not drawn.
#[derive(Debug)]
#[non_exhaustive]
pub enum PlotError {
    /// The path ends neither in `.png` nor in `.svg`.
    Format(std::path::PathBuf),
    /// Nothing to draw: no panels or no points.
    Empty(&'static str),
    /// Drawing or writing the file failed.
    Draw(String),
}

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlotError::Format(path) => write!(
                f,
                "cannot tell the image format of `{}`: name the file .png or .svg",
                path.display()
            ),
            PlotError::Empty(what) => write!(f, "nothing to plot: {what}"),
            PlotError::Draw(e) => write!(f, "drawing failed: {e}"),
        }
    }
}

impl std::error::Error for PlotError {}

fn draw_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// What to draw, whatever the backend.
enum Plot<'a> {
    Histograms {
        title: &'a str,
        panels: &'a [(&'a str, &'a [f32])],
        bins: usize,
        range: Option<(f32, f32)>,
    },
    Curves {
        title: &'a str,
        x_label: &'a str,
        y_label: &'a str,
        history: &'a History,
        log_y: bool,
    },
}

/// Draws `plot` on a `size` canvas at `path`, PNG or SVG by its extension.
fn render(path: &Path, size: (u32, u32), plot: &Plot<'_>) -> Result<(), PlotError> {
    register_font();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw(&root, plot)?;
            root.present().map_err(draw_err)
        }
        Some("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw(&root, plot)?;
            root.present().map_err(draw_err)
        }
        _ => Err(PlotError::Format(path.to_path_buf())),
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &Plot<'_>,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(draw_err)?;
    match *plot {
        Plot::Histograms { title, panels, bins, range } => {
            draw_histograms(root, title, panels, bins, range)
        }
        Plot::Curves { title, x_label, y_label, history, log_y } => {
            draw_curves(root, title, x_label, y_label, history, log_y)
        }
    }
}

fn draw_histograms<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[(&str, &[f32])],
    bins: usize,
    range: Option<(f32, f32)>,
) -> Result<(), PlotError> {
    let root = root.titled(title, ("sans-serif", 20)).map_err(draw_err)?;
    for (area, (name, values)) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        let stats = LayerStats::of(values);
        let hist = Histogram::of(values, bins, range);
        let peak = hist.counts.iter().copied().max().unwrap_or(0).max(1) as f64;
        let caption = format!("{name}: mean {:.2}, std {:.3}", stats.mean, stats.std);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 13))
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(34)
            .build_cartesian_2d(f64::from(hist.lo)..f64::from(hist.hi), 0.0..peak * 1.05)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(4)
            .y_labels(4)
            .label_style(("sans-serif", 10))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(draw_err)?;
        let width = f64::from(hist.bin_width());
        let bars = hist.counts.iter().enumerate().map(|(i, &c)| {
            let x0 = f64::from(hist.lo) + i as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, c as f64)], BLUE.mix(0.7).filled())
        });
        chart.draw_series(bars).map_err(draw_err)?;
    }
    Ok(())
}

fn draw_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    history: &History,
    log_y: bool,
) -> Result<(), PlotError> {
    // a logarithmic axis as log10 of the values; non-positive values cannot be shown there
    let y = |v: f64| if log_y { (v > 0.0).then(|| v.log10()) } else { Some(v) };
    let points: Vec<(&str, Vec<(f64, f64)>)> = history
        .series()
        .map(|(name, pts)| {
            (name, pts.iter().filter_map(|&(x, v)| y(v).map(|v| (x, v))).collect::<Vec<_>>())
        })
        .collect();
    let all = points.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, v) in all {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(v), y1.max(v));
    }
    if !x0.is_finite() || !y0.is_finite() {
        return Err(PlotError::Empty("no finite points"));
    }
    if x1 <= x0 {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    let pad = if y1 > y0 { 0.05 * (y1 - y0) } else { 0.5 };
    let y_desc = if log_y { format!("log10 {y_label}") } else { y_label.to_string() };
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_desc)
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(draw_err)?;
    for (i, (name, pts)) in points.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(draw_err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(draw_err)
}

/// One histogram panel per entry of `panels` (a name and its values), side by side, each
/// titled with its name, mean and std, as the lecture's figure of activations per layer; over
/// `range`, or each panel's own min..max.
///
/// # Errors
///
/// No panels, a path that is neither `.png` nor `.svg`, or a failed write.
pub fn histograms(
    path: impl AsRef<Path>,
    title: &str,
    panels: &[(&str, &[f32])],
    bins: usize,
    range: Option<(f32, f32)>,
) -> Result<(), PlotError> {
    if panels.is_empty() {
        return Err(PlotError::Empty("no panels"));
    }
    let width = (230 * panels.len()).clamp(400, 2400) as u32;
    render(path.as_ref(), (width, 300), &Plot::Histograms { title, panels, bins, range })
}

/// Every series of `history` as a line (x: epoch or step), with a legend; `log_y` plots
/// log10 of the values (for losses and gradient norms), leaving out those <= 0.
///
/// # Errors
///
/// No finite points, a path that is neither `.png` nor `.svg`, or a failed write.
pub fn curves(
    path: impl AsRef<Path>,
    title: &str,
    (x_label, y_label): (&str, &str),
    history: &History,
    log_y: bool,
) -> Result<(), PlotError> {
    render(path.as_ref(), (800, 500), &Plot::Curves { title, x_label, y_label, history, log_y })
}

/// The activations of `net`'s last mini-batch forward pass, one panel per layer whose kind
/// is in `kinds` (all layers when empty), in [`histograms`]' layout.
///
/// # Errors
///
/// As [`histograms`].
pub fn activation_histograms<N: Network>(
    path: impl AsRef<Path>,
    net: &N,
    kinds: &[&str],
    range: Option<(f32, f32)>,
) -> Result<(), PlotError> {
    let views: Vec<_> =
        net.activations().filter(|v| kinds.is_empty() || kinds.contains(&v.kind)).collect();
    let panels: Vec<(&str, &[f32])> = views.iter().map(|v| (v.name, v.values)).collect();
    histograms(path, &format!("{} activations", N::NAME), &panels, 40, range)
}

/// One histogram per weight tensor of `net` (dense and conv weights, not biases or norm
/// parameters).
///
/// # Errors
///
/// As [`histograms`].
pub fn weight_histograms<N: Network>(path: impl AsRef<Path>, net: &N) -> Result<(), PlotError> {
    let panels: Vec<(&str, &[f32])> = N::PARAMS
        .iter()
        .filter(|p| p.role == Role::Weight)
        .map(|p| (p.name, &net.params()[p.offset..p.offset + p.len]))
        .collect();
    histograms(path, &format!("{} weights", N::NAME), &panels, 40, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("netspec-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn the_bundled_font_parses() {
        assert!(plotters::style::register_font("test-font", FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn png_and_svg_files_are_written() {
        let values: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.37).sin()).collect();
        let panels = [("tanh1", &values[..]), ("tanh2", &values[..500])];
        let png = temp("h.png");
        histograms(&png, "activations", &panels, 20, Some((-1.0, 1.0))).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let svg = temp("h.svg");
        histograms(&svg, "activations", &panels, 20, None).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<svg") && text.contains("tanh2: mean"), "{text}");

        let mut h = History::new();
        for e in 1..=10 {
            h.record("train loss", f64::from(e), 1.0 / f64::from(e));
        }
        let svg = temp("c.svg");
        curves(&svg, "loss", ("epoch", "loss"), &h, true).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("train loss"));
        curves(temp("c.png"), "loss", ("epoch", "loss"), &h, false).unwrap();
    }

    #[test]
    fn bad_requests_are_errors() {
        let v = [1.0f32];
        let e = histograms(temp("x.jpg"), "t", &[("a", &v[..])], 4, None).unwrap_err();
        assert!(e.to_string().contains("name the file .png or .svg"), "{e}");
        assert!(matches!(histograms(temp("x.png"), "t", &[], 4, None), Err(PlotError::Empty(_))));
        let empty = History::new();
        let e = curves(temp("y.png"), "t", ("x", "y"), &empty, false).unwrap_err();
        assert!(matches!(e, PlotError::Empty(_)));
    }
}
