//! What `predict` prints and writes.

use std::path::Path;

use anyhow::{Context, Result, bail};
use data::artifact::write_atomic;
use serde::Serialize;

use crate::inputs::InputSet;
use crate::predictor::Predictions;

/// The run's summary (`--json` prints it as one object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictSummary {
    pub inputs: usize,
    pub origin: String,
    /// Fraction correct, when labels are known.
    pub accuracy: Option<f64>,
    /// Per digit 0..9: fraction correct among inputs of that label (None if none).
    pub accuracy_per_class: Option<Vec<Option<f64>>>,
    pub mean_neurons_off: f64,
    pub mask: String,
    pub predicted_histogram: Vec<usize>,
}

pub fn summarize(
    inputs: &InputSet,
    predictions: &Predictions,
    mean_off: f64,
    mask: String,
) -> Result<PredictSummary> {
    let n = predictions.len();
    let mut histogram = vec![0; predictions.classes];
    for i in 0..n {
        histogram[predictions.predicted(i)] += 1;
    }
    let (accuracy, per_class) = match &inputs.labels {
        Some(labels) => {
            crate::inputs::check_labels(labels, predictions.classes)?;
            let mut hits = vec![0usize; predictions.classes];
            let mut totals = vec![0usize; predictions.classes];
            for (i, &label) in labels.iter().enumerate().take(n) {
                totals[label as usize] += 1;
                if predictions.predicted(i) == label as usize {
                    hits[label as usize] += 1;
                }
            }
            let correct: usize = hits.iter().sum();
            let per_class = hits
                .iter()
                .zip(&totals)
                .map(|(&h, &t)| (t > 0).then(|| h as f64 / t as f64))
                .collect();
            (Some(correct as f64 / n.max(1) as f64), Some(per_class))
        }
        None => (None, None),
    };
    Ok(PredictSummary {
        inputs: n,
        origin: inputs.origin.clone(),
        accuracy,
        accuracy_per_class: per_class,
        mean_neurons_off: mean_off,
        mask,
        predicted_histogram: histogram,
    })
}

pub fn print_summary(s: &PredictSummary) {
    println!("inputs: {} ({})", s.inputs, s.origin);
    println!(
        "mask: {}; {:.1} neuron(s) off per input on average",
        s.mask, s.mean_neurons_off
    );
    if let Some(acc) = s.accuracy {
        println!("accuracy: {:.2}%", acc * 100.0);
    }
    if let Some(per_class) = &s.accuracy_per_class {
        let cells: Vec<String> = per_class
            .iter()
            .enumerate()
            .map(|(c, a)| match a {
                Some(a) => format!("{c}: {:.1}%", a * 100.0),
                None => format!("{c}: -"),
            })
            .collect();
        println!("per class: {}", cells.join("  "));
    }
    println!("predicted classes: {:?}", s.predicted_histogram);
}

/// One row per input, as CSV (`.csv`) or JSON lines (`.jsonl`), written atomically.
pub fn write_rows(
    path: &Path,
    inputs: &InputSet,
    predictions: &Predictions,
    with_logits: bool,
) -> Result<()> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let classes = predictions.classes;
    let mut out = String::new();
    match ext.as_str() {
        "csv" => {
            let mut csv = csv::Writer::from_writer(Vec::new());
            let mut header = vec!["index".to_string(), "label".into(), "predicted".into()];
            header.extend((0..classes).map(|c| format!("p{c}")));
            if with_logits {
                header.extend((0..classes).map(|c| format!("logit{c}")));
            }
            csv.write_record(&header)?;
            for i in 0..predictions.len() {
                let label = inputs
                    .labels
                    .as_ref()
                    .map(|l| l[i].to_string())
                    .unwrap_or_default();
                let mut cells = vec![i.to_string(), label, predictions.predicted(i).to_string()];
                cells.extend(predictions.probabilities(i).iter().map(|p| p.to_string()));
                if with_logits {
                    cells.extend(predictions.logits(i).iter().map(|l| l.to_string()));
                }
                csv.write_record(&cells)?;
            }
            out = String::from_utf8(csv.into_inner().context("writing predictions")?)?;
        }
        "jsonl" | "json" => {
            for i in 0..predictions.len() {
                let mut row = serde_json::json!({
                    "index": i,
                    "predicted": predictions.predicted(i),
                    "probabilities": predictions.probabilities(i),
                });
                if let Some(labels) = &inputs.labels {
                    row["label"] = labels[i].into();
                }
                if with_logits {
                    row["logits"] = predictions.logits(i).into();
                }
                out.push_str(&row.to_string());
                out.push('\n');
            }
        }
        other => bail!(
            "{}: unknown output type `.{other}`; expected .csv or .jsonl",
            path.display()
        ),
    }
    write_atomic(path, out.as_bytes())?;
    Ok(())
}
