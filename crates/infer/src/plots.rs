//! Pictures of an ablation (the hidden layer as a grid coloured by accuracy drop, the most
//! important neurons as bars, the pruning curve), of the neuron atlas (every receptive field)
//! and of the learned circuits' overlap.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ablate::{Ablation, PruningCurve, top};
use crate::atlas::Atlas;
use crate::circuit::CircuitSet;
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

/// A drawing area of the bitmap backend.
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

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

/// Blue for negative, white for 0, red for positive; `t` in -1..1.
fn diverging(t: f32) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let fade = (255.0 * (1.0 - t.abs())) as u8;
    if t >= 0.0 {
        RGBColor(255, fade, fade)
    } else {
        RGBColor(fade, fade, 255)
    }
}

/// `infer neurons --plot`: every neuron's receptive field (incoming weights as a picture),
/// neuron j at row j / cols, column j % cols as in the explorer's grid, all on one diverging
/// colour scale; dead neurons (zero on every input) get a grey frame.
pub fn draw_atlas(path: &Path, atlas: &Atlas) -> Result<()> {
    let Some(side) = atlas.field_side else {
        bail!(
            "--plot: hidden layer {} has no pictures to draw (only the first layer's inputs are pixels)",
            atlas.layer
        );
    };
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let err = |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw: {e}", path.display());
    let n = atlas.neurons.len();
    let cols = grid_columns(n);
    let rows = n.div_ceil(cols);
    let (scale, gap, left, top, bottom) = (2usize, 4usize, 56usize, 56usize, 76usize);
    let cell = side * scale + gap;
    let width = left + cols * cell + 16;
    let height = top + rows * cell + bottom;
    let root = BitMapBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let s = atlas.colour_scale();
    let title = format!(
        "receptive fields of hidden layer {}: {n} neurons, each its {side}x{side} incoming weights \
         (red +, blue -); {} dead neurons framed grey",
        atlas.layer,
        atlas.dead()
    );
    root.draw(&Text::new(title, (left as i32, 16), ("sans-serif", 22)))
        .map_err(|e| err(&e))?;
    let font = ("sans-serif", 16).into_font();
    for (j, profile) in atlas.neurons.iter().enumerate() {
        let (x0, y0) = (left + (j % cols) * cell, top + (j / cols) * cell);
        if j % cols == 0 {
            let label = Text::new(
                j.to_string(),
                (8, (y0 + side * scale / 2 - 8) as i32),
                font.clone(),
            );
            root.draw(&label).map_err(|e| err(&e))?;
        }
        let dead = profile.zero_fraction >= 1.0;
        let field = profile.receptive_field.as_deref().unwrap_or_default();
        atlas_field(&root, field, dead, (x0, y0), (side, scale), s).map_err(|e| err(&e))?;
    }
    let bar_at = (left, top + rows * cell + 16);
    atlas_colour_bar(&root, bar_at, s, atlas.max_abs_weight(), &font).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// One receptive field at `(x0, y0)`: `side` x `side` weights, each a `scale`-pixel square on
/// the diverging scale `s`; a grey frame first when the neuron is dead.
fn atlas_field(
    root: &Area,
    field: &[f32],
    dead: bool,
    (x0, y0): (usize, usize),
    (side, scale): (usize, usize),
    s: f32,
) -> DrawResult {
    if dead {
        let far = (
            (x0 + side * scale) as i32 + 1,
            (y0 + side * scale) as i32 + 1,
        );
        let frame = Rectangle::new(
            [(x0 as i32 - 2, y0 as i32 - 2), far],
            RGBColor(140, 140, 140).filled(),
        );
        root.draw(&frame)?;
    }
    for (p, &w) in field.iter().enumerate() {
        let colour = diverging(w / s);
        let (px, py) = (x0 + (p % side) * scale, y0 + (p / side) * scale);
        for dy in 0..scale {
            for dx in 0..scale {
                root.draw_pixel(((px + dx) as i32, (py + dy) as i32), &colour)?;
            }
        }
    }
    Ok(())
}

/// The atlas's colour bar from -s to +s at `(bar_x, bar_y)`, its ticks and what the scale is.
fn atlas_colour_bar(
    root: &Area,
    (bar_x, bar_y): (usize, usize),
    s: f32,
    largest: f32,
    font: &FontDesc,
) -> DrawResult {
    let bar_w = 400usize;
    for x in 0..bar_w {
        let colour = diverging(x as f32 / (bar_w - 1) as f32 * 2.0 - 1.0);
        let line = Rectangle::new(
            [
                ((bar_x + x) as i32, bar_y as i32),
                ((bar_x + x + 1) as i32, bar_y as i32 + 16),
            ],
            colour.filled(),
        );
        root.draw(&line)?;
    }
    let ticks = [
        (format!("{:.3}", -s), bar_x),
        ("0".to_string(), bar_x + bar_w / 2),
        (format!("+{s:.3}"), bar_x + bar_w - 40),
    ];
    for (text, x) in ticks {
        root.draw(&Text::new(
            text,
            (x as i32, bar_y as i32 + 22),
            font.clone(),
        ))?;
    }
    let note = format!(
        "weight (one scale for all: the 99.5th percentile of |w|, {s:.3}; the largest is {:.3})",
        largest
    );
    root.draw(&Text::new(
        note,
        ((bar_x + bar_w + 24) as i32, bar_y as i32),
        font.clone(),
    ))?;
    Ok(())
}

/// `infer circuit --all-classes --plot`: a classes x classes table, cell (a, b) the number of
/// neurons class a's and class b's learned masks both keep (the diagonal: each mask's size).
pub fn draw_overlap(path: &Path, set: &CircuitSet) -> Result<()> {
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let err = |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw: {e}", path.display());
    let classes = set.overlap.len();
    let (cell, left, top) = (56i32, 70i32, 84i32);
    let size = cell * classes as i32;
    let root = BitMapBackend::new(path, ((left + size + 30) as u32, (top + size + 60) as u32))
        .into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let width = set.circuits.first().map_or(0, |c| c.width);
    let keep = set.circuits.first().map_or(0.0, |c| c.keep_fraction);
    let lines = [
        format!(
            "neurons two digits' learned masks share (F1 kept at {:.0}%)",
            keep * 100.0
        ),
        format!(
            "diagonal: each digit's mask size; {} of {width} neurons no digit needs",
            set.needed_by_none
        ),
    ];
    for (i, line) in lines.into_iter().enumerate() {
        root.draw(&Text::new(
            line,
            (12, 10 + 24 * i as i32),
            ("sans-serif", 19),
        ))
        .map_err(|e| err(&e))?;
    }
    let max = set
        .overlap
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let font = ("sans-serif", 17).into_font();
    for (a, row) in set.overlap.iter().enumerate() {
        for (b, &count) in row.iter().enumerate() {
            let at = (left + b as i32 * cell, top + a as i32 * cell);
            overlap_cell(&root, at, cell, count as f64 / max as f64, count, &font)
                .map_err(|e| err(&e))?;
        }
        let label = set.circuits[a].class().unwrap_or_default().to_string();
        root.draw(&Text::new(
            label.clone(),
            (left + a as i32 * cell + cell / 2 - 5, top - 22),
            font.clone(),
        ))
        .map_err(|e| err(&e))?;
        root.draw(&Text::new(
            label,
            (left - 22, top + a as i32 * cell + cell / 2 - 10),
            font.clone(),
        ))
        .map_err(|e| err(&e))?;
    }
    root.draw(&Text::new("digit", (12, top + size / 2 - 10), font.clone()))
        .map_err(|e| err(&e))?;
    root.draw(&Text::new(
        "digit",
        (left + size / 2 - 20, top + size + 16),
        font,
    ))
    .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// One cell of the overlap table at `(x, y)`: shaded by `t` (its count over the largest), the
/// count written on it.
fn overlap_cell(
    root: &Area,
    (x, y): (i32, i32),
    cell: i32,
    t: f64,
    count: usize,
    font: &FontDesc,
) -> DrawResult {
    let fade = (255.0 * (1.0 - 0.85 * t)) as u8;
    let fill = RGBColor(fade, fade, 255);
    root.draw(&Rectangle::new(
        [(x, y), (x + cell - 2, y + cell - 2)],
        fill.filled(),
    ))?;
    let ink = if t > 0.6 { WHITE } else { BLACK };
    let text = count.to_string();
    let dx = 4 * text.len() as i32;
    root.draw(&Text::new(
        text,
        (x + cell / 2 - dx - 1, y + cell / 2 - 10),
        font.clone().color(&ink),
    ))
}
