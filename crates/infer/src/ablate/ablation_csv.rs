//! `ablation.csv`, written by `infer ablate --output` and read back by `infer serve` (the
//! importance overlay): one row per neuron, floats with six decimals.

use std::path::Path;

use anyhow::{Context, Result, bail};
use data::artifact::write_atomic;
use serde::{Deserialize, Serialize};

use super::Ablation;

/// The header line of `ablation.csv`.
pub const CSV_HEADER: &str = "layer,neuron,accuracy,loss,delta_accuracy,delta_loss,rank";

/// One line of `ablation.csv` (the field names are the header's columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvRow {
    pub layer: usize,
    pub neuron: usize,
    #[serde(serialize_with = "data::csv_cells::six_decimals")]
    pub accuracy: f64,
    #[serde(serialize_with = "data::csv_cells::six_decimals")]
    pub loss: f64,
    #[serde(serialize_with = "data::csv_cells::six_decimals")]
    pub delta_accuracy: f64,
    #[serde(serialize_with = "data::csv_cells::six_decimals")]
    pub delta_loss: f64,
    pub rank: usize,
}

/// `ablation.csv`: layer,neuron,accuracy,loss,delta_accuracy,delta_loss,rank.
pub fn write_csv(path: &Path, ablation: &Ablation) -> Result<()> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    for e in &ablation.effects {
        csv.serialize(CsvRow {
            layer: e.layer,
            neuron: e.neuron,
            accuracy: e.accuracy,
            loss: e.loss,
            delta_accuracy: e.delta_accuracy,
            delta_loss: e.delta_loss,
            rank: e.rank,
        })?;
    }
    let bytes = csv.into_inner().context("writing ablation.csv")?;
    // No neurons (never from a sweep) would leave the file without its header.
    let bytes = if bytes.is_empty() {
        format!("{CSV_HEADER}\n").into_bytes()
    } else {
        bytes
    };
    write_atomic(path, &bytes)?;
    Ok(())
}

/// Read what [`write_csv`] wrote; errors name the file and line.
pub fn read_csv(path: &Path) -> Result<Vec<CsvRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut records = reader.records();
    let header = records
        .next()
        .transpose()
        .with_context(|| format!("reading {}", path.display()))?;
    let header = header.map(|h| h.iter().collect::<Vec<_>>().join(","));
    if header.as_deref() != Some(CSV_HEADER) {
        bail!(
            "{}: line 1 is {:?}; expected the header {CSV_HEADER}",
            path.display(),
            header.unwrap_or_default()
        );
    }
    records
        .map(|record| {
            let record = record.with_context(|| format!("reading {}", path.display()))?;
            let line = record.position().map_or(0, csv::Position::line);
            let text = record.iter().collect::<Vec<_>>().join(",");
            let bad = || {
                anyhow::anyhow!(
                    "{}: line {line} is {text:?}; expected 7 numbers ({CSV_HEADER})",
                    path.display(),
                )
            };
            if record.len() != 7 {
                return Err(bad());
            }
            record.deserialize(None).map_err(|_| bad())
        })
        .collect()
}
