//! Pictures of an ablation: the hidden layer as a grid coloured by accuracy drop, and the
//! most important neurons as bars.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ablate::{Ablation, PruningCurve, top};
use crate::grid::grid_columns;

/// White for no drop, deepening red for the largest drop.
fn heat(drop: f64, max_drop: f64) -> RGBColor {
    let t = if max_drop > 0.0 {
        (drop / max_drop).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let fade = (255.0 * (1.0 - t)) as u8;
    RGBColor(255, fade, fade)
}

/// `--plot`: left the grid (cell j = neuron j, row-major), right the top-`k` bar chart.
pub fn draw_ablation(path: &Path, ablation: &Ablation, k: usize) -> Result<()> {
    // Embedded so the plot renders the same on machines without system fonts.
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let err = |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw: {e}", path.display());
    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(760);
    drop_grid(&left, ablation).map_err(|e| err(&e))?;
    top_bars(&right, ablation, k).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Drawing errors of the bitmap backend.
type DrawResult =
    Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

/// The layer as a grid of cells, one per neuron, coloured by the accuracy lost without it.
fn drop_grid(area: &DrawingArea<BitMapBackend<'_>, Shift>, ablation: &Ablation) -> DrawResult {
    let h = ablation.effects.len();
    let cols = grid_columns(h);
    let rows = h.div_ceil(cols);
    let drops: Vec<f64> = ablation
        .effects
        .iter()
        .map(|e| (-e.delta_accuracy).max(0.0) * 100.0)
        .collect();
    let max_drop = drops.iter().cloned().fold(0.0, f64::max);
    let layer = ablation.effects.first().map_or(0, |e| e.layer);
    let mut grid = ChartBuilder::on(area)
        .caption(
            format!(
                "hidden layer {layer}: accuracy drop when each neuron is off (max {max_drop:.2} pp)"
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(40)
        .build_cartesian_2d(0..cols, 0..rows)?;
    grid.configure_mesh()
        .disable_mesh()
        .x_desc("neuron % cols")
        .y_desc("neuron / cols")
        .draw()?;
    grid.draw_series(drops.iter().enumerate().map(|(j, &d)| {
        let (x, y) = (j % cols, j / cols);
        Rectangle::new([(x, y), (x + 1, y + 1)], heat(d, max_drop).filled())
    }))?;
    Ok(())
}

/// A bar chart of the `k` neurons whose loss costs the most accuracy.
fn top_bars(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    ablation: &Ablation,
    k: usize,
) -> DrawResult {
    let best = top(ablation, k);
    let top_drop = best
        .iter()
        .map(|e| -e.delta_accuracy * 100.0)
        .fold(0.0, f64::max)
        .max(1e-3);
    let mut bars = ChartBuilder::on(area)
        .caption(
            format!("top {} neurons by accuracy drop", best.len()),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((0..best.len()).into_segmented(), 0.0..top_drop * 1.1)?;
    let labels: Vec<String> = best.iter().map(|e| e.neuron.to_string()).collect();
    bars.configure_mesh()
        .disable_x_mesh()
        .y_desc("accuracy drop (percentage points)")
        .x_desc("neuron")
        .x_labels(best.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()?;
    bars.draw_series(
        Histogram::vertical(&bars)
            .style(RED.mix(0.7).filled())
            .margin(4)
            .data(
                best.iter()
                    .enumerate()
                    .map(|(i, e)| (i, (-e.delta_accuracy * 100.0).max(0.0))),
            ),
    )?;
    Ok(())
}

/// `--cumulative`: accuracy against the number of neurons switched off, least important first.
pub fn draw_pruning_curve(path: &Path, curve: &PruningCurve) -> Result<()> {
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let err = |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw: {e}", path.display());
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let total = curve.accuracy.len() - 1;
    let k = curve.removable_within_1pp;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "pruning curve: {k} of {total} neurons can go within 1 pp of the intact accuracy"
            ),
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0..total, 0.0..100.0)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("neurons switched off (least important first)")
        .y_desc("test accuracy (%)")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            curve
                .accuracy
                .iter()
                .enumerate()
                .map(|(i, a)| (i, a * 100.0)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
    let floor = (curve.accuracy[0] - 0.01) * 100.0;
    chart
        .draw_series(LineSeries::new([(0, floor), (total, floor)], RED.mix(0.6)))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(std::iter::once(Circle::new(
            (k, curve.accuracy[k] * 100.0),
            5,
            RED.filled(),
        )))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// The per-class view: rows are the `k` most important neurons, columns the digits, each cell
/// coloured by the accuracy lost on that digit when the neuron is off.
pub fn draw_per_class(path: &Path, ablation: &Ablation, k: usize) -> Result<()> {
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let err = |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw: {e}", path.display());
    let best = top(ablation, k);
    let classes = best
        .first()
        .map_or(10, |e| e.delta_accuracy_per_class.len());
    let drop = |e: &crate::ablate::NeuronEffect, c: usize| {
        (-e.delta_accuracy_per_class[c] * 100.0).max(0.0)
    };
    let max_drop = best
        .iter()
        .flat_map(|e| (0..classes).map(move |c| drop(e, c)))
        .fold(0.0, f64::max);
    let root = BitMapBackend::new(path, (760, 120 + 26 * best.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "accuracy lost per digit, top {} neurons (darkest = {max_drop:.1} pp)",
                best.len()
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        // A segmented 0..n range has n + 1 segments: n - 1 gives one per digit and neuron.
        .build_cartesian_2d(
            (0..classes.saturating_sub(1)).into_segmented(),
            (0..best.len().saturating_sub(1)).into_segmented(),
        )
        .map_err(|e| err(&e))?;
    let names: Vec<String> = best.iter().map(|e| format!("n{}", e.neuron)).collect();
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("true digit")
        .x_labels(classes)
        .y_labels(best.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(c) => c.to_string(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(r) => names
                .get(best.len().saturating_sub(1 + *r))
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(best.iter().enumerate().flat_map(|(r, e)| {
            let row = best.len() - 1 - r;
            (0..classes).map(move |c| {
                Rectangle::new(
                    [
                        (SegmentValue::Exact(c), SegmentValue::Exact(row)),
                        (SegmentValue::Exact(c + 1), SegmentValue::Exact(row + 1)),
                    ],
                    heat(drop(e, c), max_drop).filled(),
                )
            })
        }))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// `ablation.png` -> `ablation-per-class.png`.
pub fn per_class_path(plot: &Path) -> std::path::PathBuf {
    let stem = plot
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    plot.with_file_name(format!("{stem}-per-class.png"))
}
