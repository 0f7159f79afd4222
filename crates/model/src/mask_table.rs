//! One 0/1 mask row per input, built from flags, lists or values, shared by `train` and
//! `infer` (its `predict`, `stream` and `serve`). Mask files are read by `data::mask_files`.
//!
//! A row covers every hidden neuron: the column blocks of the hidden layers side by side
//! (600 columns for the seed's net, 512 + 256 for `[512, 256]`). One row applies to every
//! input (a broadcast mask); otherwise row i goes with input i.

use std::ops::Range;

use burn::prelude::*;
use rand::{RngExt, SeedableRng, rngs::StdRng};

use crate::mask::{HiddenMasks, MaskError, NeuronMask};
use crate::neurons::{MaskSemantics, NeuronListError};

/// Keep values (1 = on), `rows x sum(hidden)`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskTable {
    hidden: Vec<usize>,
    rows: usize,
    keep: Vec<f32>,
}

impl MaskTable {
    fn width(hidden: &[usize]) -> usize {
        hidden.iter().sum()
    }

    /// No neuron off: one all-ones row.
    pub fn all_on(hidden: &[usize]) -> Self {
        Self {
            hidden: hidden.to_vec(),
            rows: 1,
            keep: vec![1.0; Self::width(hidden)],
        }
    }

    /// One broadcast row switching off `off[l]` in hidden layer `l` (indices already checked,
    /// e.g. by `parse_neuron_list`).
    pub fn broadcast_off(hidden: &[usize], off: &[Vec<usize>]) -> Self {
        let mut table = Self::all_on(hidden);
        let mut start = 0;
        for (l, &width) in hidden.iter().enumerate() {
            for &i in off.get(l).map(Vec::as_slice).unwrap_or_default() {
                if i < width {
                    table.keep[start + i] = 0.0;
                }
            }
            start += width;
        }
        table
    }

    /// One broadcast row keeping only `keep[l]` in hidden layer `l`.
    pub fn broadcast_keep_only(hidden: &[usize], keep: &[Vec<usize>]) -> Self {
        let off: Vec<Vec<usize>> = hidden
            .iter()
            .enumerate()
            .map(|(l, &w)| {
                let kept = keep.get(l).map(Vec::as_slice).unwrap_or_default();
                (0..w).filter(|i| !kept.contains(i)).collect()
            })
            .collect();
        Self::broadcast_off(hidden, &off)
    }

    /// A fresh random row per input, each neuron off with probability `p`.
    pub fn random_off(hidden: &[usize], rows: usize, p: f64, seed: u64) -> Result<Self, MaskError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(MaskError::Probability(p));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let keep = (0..rows * Self::width(hidden))
            .map(|_| if rng.random_bool(p) { 0.0 } else { 1.0 })
            .collect();
        Ok(Self {
            hidden: hidden.to_vec(),
            rows,
            keep,
        })
    }

    /// From row-major 0/1 values read as `semantics`; every value must be exactly 0 or 1.
    pub fn from_values(
        hidden: &[usize],
        values: Vec<f32>,
        semantics: MaskSemantics,
        origin: &str,
    ) -> Result<Self, NeuronListError> {
        let width = Self::width(hidden);
        if values.is_empty() || !values.len().is_multiple_of(width) {
            return Err(NeuronListError::file(
                origin,
                format!(
                    "{} values; expected a whole number of rows of {width} (one value per hidden neuron)",
                    values.len()
                ),
            ));
        }
        let mut keep = values;
        for (i, v) in keep.iter_mut().enumerate() {
            if *v != 0.0 && *v != 1.0 {
                return Err(NeuronListError::file(
                    origin,
                    format!(
                        "row {}, column {} is {v}; expected exactly 0 or 1",
                        i / width + 1,
                        i % width + 1
                    ),
                ));
            }
            if semantics == MaskSemantics::Off {
                *v = 1.0 - *v;
            }
        }
        Ok(Self {
            hidden: hidden.to_vec(),
            rows: keep.len() / width,
            keep,
        })
    }

    pub fn hidden(&self) -> &[usize] {
        &self.hidden
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn is_broadcast(&self) -> bool {
        self.rows == 1
    }

    /// Every keep value, row-major `rows x sum(hidden)`.
    pub fn values(&self) -> &[f32] {
        &self.keep
    }

    /// The keep values of row `row` (all columns).
    pub fn row(&self, row: usize) -> &[f32] {
        let width = Self::width(&self.hidden);
        &self.keep[row * width..(row + 1) * width]
    }

    /// Check the row count against the number of inputs: 1 or exactly `inputs`.
    pub fn check_inputs(&self, inputs: usize, origin: &str) -> Result<(), NeuronListError> {
        if self.rows == 1 || self.rows == inputs {
            Ok(())
        } else {
            Err(NeuronListError::file(
                origin,
                format!(
                    "{} mask rows for {inputs} inputs; expected 1 (the same mask for all) or {inputs} (one per input)",
                    self.rows
                ),
            ))
        }
    }

    /// Mean number of neurons switched off per input.
    pub fn mean_off(&self) -> f64 {
        let off = self.keep.iter().filter(|&&k| k == 0.0).count();
        off as f64 / self.rows as f64
    }

    /// Row 0 cut into its hidden layers' blocks.
    fn layer_blocks(&self) -> impl Iterator<Item = &[f32]> {
        self.hidden.iter().scan(0, |start, &width| {
            let block = &self.keep[*start..*start + width];
            *start += width;
            Some(block)
        })
    }

    /// The neurons row 0 switches off, per hidden layer (for a broadcast table: the mask).
    pub fn off_per_layer(&self) -> Vec<Vec<usize>> {
        self.layer_blocks()
            .map(|row| (0..row.len()).filter(|&i| row[i] == 0.0).collect())
            .collect()
    }

    /// For a broadcast table: the kept neurons of each layer (`None` where all are kept).
    pub fn kept_per_layer(&self) -> Vec<Option<Vec<usize>>> {
        self.layer_blocks()
            .map(|row| {
                if row.iter().all(|&k| k == 1.0) {
                    None
                } else {
                    Some((0..row.len()).filter(|&i| row[i] == 1.0).collect())
                }
            })
            .collect()
    }

    /// The masks for inputs `range` (row i goes with input i; a broadcast row with all).
    /// Layers with every neuron on get no mask at all.
    pub fn masks_for(
        &self,
        range: Range<usize>,
        device: &Device,
    ) -> Result<HiddenMasks, MaskError> {
        let width = Self::width(&self.hidden);
        let rows = if self.is_broadcast() { 0..1 } else { range };
        let n = rows.len();
        let mut layers = Vec::with_capacity(self.hidden.len());
        let mut start = 0;
        for (l, &w) in self.hidden.iter().enumerate() {
            let mut values = Vec::with_capacity(n * w);
            for r in rows.clone() {
                let offset = r * width + start;
                values.extend_from_slice(&self.keep[offset..offset + w]);
            }
            start += w;
            if values.iter().all(|&k| k == 1.0) {
                layers.push(None);
            } else {
                let mask = NeuronMask::from_keep_values(&values, n, w, device)
                    .map_err(|e| e.in_layer(l))?;
                layers.push(Some(mask));
            }
        }
        Ok(HiddenMasks::per_layer(layers))
    }

    /// Stack rows (each `sum(hidden)` long, keep values 0 or 1) into a table.
    pub fn from_rows(hidden: &[usize], rows: Vec<Vec<f32>>) -> Result<Self, MaskError> {
        let width: usize = hidden.iter().sum();
        if rows.is_empty() {
            return Err(MaskError::NoRows);
        }
        for (row, values) in rows.iter().enumerate() {
            if values.len() != width {
                return Err(MaskError::Length {
                    rows: 1,
                    width,
                    expected: width,
                    found: values.len(),
                }
                .in_row(row));
            }
            if let Some(column) = values.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(MaskError::NotBinary {
                    row,
                    column,
                    value: values[column],
                });
            }
        }
        Ok(Self {
            hidden: hidden.to_vec(),
            rows: rows.len(),
            keep: rows.concat(),
        })
    }
}
