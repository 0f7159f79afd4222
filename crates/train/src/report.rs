//! What a finished run leaves behind besides the weights: `metrics.csv`, `curves.png`,
//! `summary.json`.

use std::path::Path;

use anyhow::{Context, Result};
use burn::train::metric::NumericEntry;
use data::ArtifactDir;
use data::artifact::write_atomic;
use plotters::prelude::*;

use crate::progress::SplitTimes;

/// One row of `metrics.csv` (the field names are its columns).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub split: String,
    #[serde(serialize_with = "data::csv_cells::six_decimals")]
    pub loss: f64,
    /// Fraction of correct predictions, 0..=1.
    #[serde(serialize_with = "data::csv_cells::six_decimals")]
    pub accuracy: f64,
    /// Empty for epochs trained by an earlier process before a resume.
    #[serde(serialize_with = "data::csv_cells::seconds_or_empty")]
    pub seconds: Option<f64>,
}

/// Mean of one metric over one epoch, from the per-batch log that Burn's Learner writes
/// (`<dir>/<split>/epoch-<n>/<Metric>.log`, one `value,count` entry per batch).
fn epoch_mean(dir: &Path, split: &str, epoch: usize, metric: &str) -> Option<f64> {
    let path = dir
        .join(split)
        .join(format!("epoch-{epoch}"))
        .join(format!("{metric}.log"));
    let text = std::fs::read_to_string(path).ok()?;
    let (mut sum, mut weight) = (0.0, 0.0);
    for line in text.lines().filter(|l| !l.is_empty()) {
        match NumericEntry::deserialize(line).ok()? {
            NumericEntry::Final(v) => return Some(v),
            NumericEntry::Value(v) => {
                sum += v;
                weight += 1.0;
            }
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => {
                sum += aggregated_value * count as f64;
                weight += count as f64;
            }
        }
    }
    (weight > 0.0).then(|| sum / weight)
}

/// Per-epoch loss and accuracy for train and valid, from Burn's metric logs (which also hold
/// the epochs of an earlier, resumed run) and this run's split timings.
pub fn collect_metrics(dir: &ArtifactDir, epochs: usize, times: &SplitTimes) -> Vec<EpochMetrics> {
    let mut rows = Vec::new();
    for epoch in 1..=epochs {
        for split in ["train", "valid"] {
            let loss = epoch_mean(dir.root(), split, epoch, "Loss");
            let accuracy = epoch_mean(dir.root(), split, epoch, "Accuracy");
            if let (Some(loss), Some(accuracy)) = (loss, accuracy) {
                rows.push(EpochMetrics {
                    epoch,
                    split: split.into(),
                    loss,
                    accuracy: accuracy / 100.0,
                    seconds: times.seconds(epoch, split),
                });
            }
        }
    }
    rows
}

/// `metrics.csv`: epoch,split,loss,accuracy,seconds (seconds empty for epochs trained by an
/// earlier process before a resume).
pub fn write_metrics_csv(path: &Path, rows: &[EpochMetrics]) -> Result<()> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    if rows.is_empty() {
        csv.write_record(["epoch", "split", "loss", "accuracy", "seconds"])?;
    }
    for row in rows {
        csv.serialize(row)?;
    }
    let bytes = csv.into_inner().context("writing metrics.csv")?;
    write_atomic(path, &bytes)?;
    Ok(())
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Embedded, so the plot renders the same on a machine without system fonts.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// `curves.png`: loss (left) and accuracy (right) per epoch, train and valid.
pub fn draw_curves(path: &Path, rows: &[EpochMetrics]) -> Result<()> {
    register_font();
    let tmp = path.with_extension("png.partial.png");
    {
        let root = BitMapBackend::new(&tmp, (1200, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(600);
        let max_epoch = rows.iter().map(|r| r.epoch).max().unwrap_or(1).max(2) as f64;
        type Pick = fn(&EpochMetrics) -> f64;
        for (area, title, pick) in [
            (&left, "loss (cross-entropy)", (|r| r.loss) as Pick),
            (&right, "accuracy", (|r| r.accuracy) as Pick),
        ] {
            let values: Vec<f64> = rows.iter().map(pick).collect();
            let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let pad = ((hi - lo) * 0.1).max(1e-3);
            let (lo, hi) = if lo.is_finite() {
                (lo - pad, hi + pad)
            } else {
                (0.0, 1.0)
            };
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(0.8..max_epoch + 0.2, lo..hi)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .x_labels(max_epoch as usize + 1)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .draw()?;
            for (split, color) in [("train", BLUE), ("valid", RED)] {
                let points: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| r.split == split)
                    .map(|r| (r.epoch as f64, pick(r)))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                    .label(split)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()?;
        }
        root.present()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
