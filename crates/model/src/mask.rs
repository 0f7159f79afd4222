//! Neuron masks: the one way a mask enters the model.
//!
//! The seed question wrote "1 = switched off" while its accepted answer multiplied by a mask in
//! which "0 = switched off". Here no constructor takes an unnamed 0/1 array: every entry point
//! says which convention it reads (`keep` = 1 means the neuron passes its activation on, `off` =
//! 1 means the neuron is silenced), and the stored tensor is always the keep-mask that the hidden
//! layer's output is multiplied by.

use burn::prelude::*;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

/// Why a mask was refused. Every variant says what was expected and what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MaskError {
    #[error("mask has {found} values, expected rows x width = {rows} x {width} = {expected}")]
    Length {
        rows: usize,
        width: usize,
        expected: usize,
        found: usize,
    },
    #[error("mask has no rows; expected 1 (broadcast) or one row per input")]
    NoRows,
    #[error("mask has width 0; expected the hidden layer's size (at least 1)")]
    ZeroWidth,
    #[error("mask width is {found}, expected {expected} (the hidden layer's size)")]
    Width { expected: usize, found: usize },
    #[error(
        "mask has {found} rows for a batch of {batch} inputs; expected 1 (one mask for all) or {batch} (one per input)"
    )]
    Rows { batch: usize, found: usize },
    #[error("mask value at row {row}, column {column} is {value}; expected exactly 0 or 1")]
    NotBinary {
        row: usize,
        column: usize,
        value: f32,
    },
    #[error("neuron index {index} is out of range; the layer has {width} neurons (0..={max})", max = width.saturating_sub(1))]
    IndexOutOfRange { index: usize, width: usize },
    #[error("lesion probability is {0}; expected a number in [0, 1]")]
    Probability(f64),
    #[error("{found} masks given for a network with {expected} hidden layer(s)")]
    LayerCount { expected: usize, found: usize },
    #[error("mask values could not be read back from the device: {0}")]
    Readback(String),
    #[error("mask row {row}: {source}")]
    Row {
        row: usize,
        #[source]
        source: Box<MaskError>,
    },
    #[error("hidden layer {layer}: {source}")]
    Layer {
        layer: usize,
        #[source]
        source: Box<MaskError>,
    },
}

impl MaskError {
    /// Attribute this error to row `row` of a mask table.
    pub fn in_row(self, row: usize) -> Self {
        MaskError::Row {
            row,
            source: Box::new(self),
        }
    }

    /// Attribute this error to hidden layer `layer`.
    pub fn in_layer(self, layer: usize) -> Self {
        MaskError::Layer {
            layer,
            source: Box::new(self),
        }
    }
}

/// A 0/1 mask over one hidden layer's neurons, stored as the keep-mask (1 = on, 0 = off).
///
/// Either *broadcast* (one row, the same neurons off for every input) or *per-sample*
/// (one row per input of the batch, row i for input i).
#[derive(Debug, Clone)]
pub struct NeuronMask {
    keep: Tensor<2>,
    rows: usize,
    width: usize,
}

impl NeuronMask {
    /// Every neuron on. Multiplying by it changes nothing (x * 1.0 == x exactly).
    pub fn all_on(width: usize, device: &Device) -> Result<Self, MaskError> {
        Self::from_keep_values(&vec![1.0; width], 1, width, device)
    }

    /// From row-major keep values: 1 = neuron on, 0 = neuron off.
    pub fn from_keep_values(
        values: &[f32],
        rows: usize,
        width: usize,
        device: &Device,
    ) -> Result<Self, MaskError> {
        check_binary(values, rows, width)?;
        let keep = Tensor::from_data(TensorData::new(values.to_vec(), [rows, width]), device);
        Ok(Self { keep, rows, width })
    }

    /// From row-major off values: 1 = neuron off, 0 = neuron on (the seed question's convention).
    pub fn from_off_values(
        values: &[f32],
        rows: usize,
        width: usize,
        device: &Device,
    ) -> Result<Self, MaskError> {
        check_binary(values, rows, width)?;
        let keep: Vec<f32> = values.iter().map(|v| 1.0 - v).collect();
        Self::from_keep_values(&keep, rows, width, device)
    }

    /// From a keep-tensor already on a device (1 = on). Its values are read back and checked.
    pub fn from_keep_tensor(keep: Tensor<2>) -> Result<Self, MaskError> {
        let [rows, width] = keep.dims();
        let values: Vec<f32> =
            keep.to_data()
                .try_into_vec_as::<f32>()
                .map_err(|_| MaskError::Length {
                    rows,
                    width,
                    expected: rows * width,
                    found: 0,
                })?;
        check_binary(&values, rows, width)?;
        Ok(Self { keep, rows, width })
    }

    /// One broadcast row with the listed neurons off and all others on.
    pub fn switch_off(width: usize, off: &[usize], device: &Device) -> Result<Self, MaskError> {
        Self::from_keep_values(&keep_row_from_off(width, off)?, 1, width, device)
    }

    /// One broadcast row with only the listed neurons on.
    pub fn keep_only(width: usize, keep: &[usize], device: &Device) -> Result<Self, MaskError> {
        Self::from_keep_values(&keep_row_from_keep(width, keep)?, 1, width, device)
    }

    /// One row per input: row i switches off the neurons listed in `off_per_row[i]`.
    pub fn per_sample_off(
        width: usize,
        off_per_row: &[Vec<usize>],
        device: &Device,
    ) -> Result<Self, MaskError> {
        let mut values = Vec::with_capacity(off_per_row.len() * width);
        for off in off_per_row {
            values.extend(keep_row_from_off(width, off)?);
        }
        Self::from_keep_values(&values, off_per_row.len(), width, device)
    }

    /// One row per input, each neuron off independently with probability `p`.
    pub fn random_off(
        rows: usize,
        width: usize,
        p: f64,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Self, MaskError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(MaskError::Probability(p));
        }
        let values: Vec<f32> = (0..rows * width)
            .map(|_| if rng.random_bool(p) { 0.0 } else { 1.0 })
            .collect();
        Self::from_keep_values(&values, rows, width, device)
    }

    /// Number of rows: 1 for a broadcast mask, the batch size for a per-sample one.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of neurons the mask covers.
    pub fn width(&self) -> usize {
        self.width
    }

    /// True when one row applies to every input.
    pub fn is_broadcast(&self) -> bool {
        self.rows == 1
    }

    /// The keep-mask tensor, shape `[rows, width]`, 1 = on.
    pub fn keep_tensor(&self) -> &Tensor<2> {
        &self.keep
    }

    /// The keep values read back to the host, row-major.
    pub fn keep_values(&self) -> Result<Vec<f32>, MaskError> {
        self.keep
            .to_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| MaskError::Readback(format!("{e:?}")))
    }

    /// Move the mask to another device.
    pub fn to_device(self, device: &Device) -> Self {
        Self {
            keep: self.keep.to_device(device),
            ..self
        }
    }

    /// Check that this mask fits a layer of `width` neurons fed a batch of `batch` inputs.
    pub fn check_fits(&self, width: usize, batch: usize) -> Result<(), MaskError> {
        if self.width != width {
            return Err(MaskError::Width {
                expected: width,
                found: self.width,
            });
        }
        if self.rows != 1 && self.rows != batch {
            return Err(MaskError::Rows {
                batch,
                found: self.rows,
            });
        }
        Ok(())
    }
}

fn check_binary(values: &[f32], rows: usize, width: usize) -> Result<(), MaskError> {
    if rows == 0 {
        return Err(MaskError::NoRows);
    }
    if width == 0 {
        return Err(MaskError::ZeroWidth);
    }
    if values.len() != rows * width {
        return Err(MaskError::Length {
            rows,
            width,
            expected: rows * width,
            found: values.len(),
        });
    }
    match values.iter().position(|&v| v != 0.0 && v != 1.0) {
        Some(i) => Err(MaskError::NotBinary {
            row: i / width,
            column: i % width,
            value: values[i],
        }),
        None => Ok(()),
    }
}

/// Check a neuron list against a layer of `width` neurons without building its row: a
/// config's hidden sizes can be anything, and checking one must not allocate a row that large.
fn check_indices(width: usize, indices: &[usize]) -> Result<(), MaskError> {
    if width == 0 {
        return Err(MaskError::ZeroWidth);
    }
    match indices.iter().find(|&&index| index >= width) {
        Some(&index) => Err(MaskError::IndexOutOfRange { index, width }),
        None => Ok(()),
    }
}

fn keep_row_from_off(width: usize, off: &[usize]) -> Result<Vec<f32>, MaskError> {
    row_marking(width, off, 1.0, 0.0)
}

fn keep_row_from_keep(width: usize, keep: &[usize]) -> Result<Vec<f32>, MaskError> {
    row_marking(width, keep, 0.0, 1.0)
}

/// A `width` row of `rest` with `marked` at the listed (checked) indices.
fn row_marking(
    width: usize,
    listed: &[usize],
    rest: f32,
    marked: f32,
) -> Result<Vec<f32>, MaskError> {
    check_indices(width, listed)?;
    let mut row = vec![rest; width];
    for &i in listed {
        row[i] = marked;
    }
    Ok(row)
}

/// One optional mask per hidden layer: what `MaskedMlp::forward_masked` takes.
#[derive(Debug, Clone, Default)]
pub struct HiddenMasks {
    layers: Vec<Option<NeuronMask>>,
}

impl HiddenMasks {
    /// No masks at all: the plain MLP.
    pub fn none() -> Self {
        Self::default()
    }

    /// One mask per hidden layer, `None` for a layer left intact.
    pub fn per_layer(layers: Vec<Option<NeuronMask>>) -> Self {
        Self { layers }
    }

    /// A mask for the first hidden layer only (the seed's single-hidden-layer network).
    pub fn first_layer(mask: NeuronMask) -> Self {
        Self {
            layers: vec![Some(mask)],
        }
    }

    /// The mask for hidden layer `layer`, if any.
    pub fn layer(&self, layer: usize) -> Option<&NeuronMask> {
        self.layers.get(layer).and_then(Option::as_ref)
    }

    /// True when no layer has a mask.
    pub fn is_empty(&self) -> bool {
        self.layers.iter().all(Option::is_none)
    }

    /// Check every mask against the hidden layer sizes and the batch size.
    pub fn check_fits(&self, hidden: &[usize], batch: usize) -> Result<(), MaskError> {
        if self.layers.len() > hidden.len() {
            return Err(MaskError::LayerCount {
                expected: hidden.len(),
                found: self.layers.len(),
            });
        }
        for (layer, mask) in self.layers.iter().enumerate() {
            if let Some(mask) = mask {
                mask.check_fits(hidden[layer], batch)
                    .map_err(|e| e.in_layer(layer))?;
            }
        }
        Ok(())
    }

    /// Move every mask to another device.
    pub fn to_device(self, device: &Device) -> Self {
        Self {
            layers: self
                .layers
                .into_iter()
                .map(|m| m.map(|m| m.to_device(device)))
                .collect(),
        }
    }
}

/// How the training masks of each batch are made; recorded in `config.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MaskPolicy {
    /// No mask: the plain MLP.
    #[default]
    None,
    /// A fixed sub-network: the listed neurons of each hidden layer are off for every sample.
    /// `off[l]` lists the neurons switched off in hidden layer `l`.
    Fixed { off: Vec<Vec<usize>> },
    /// Each sample gets a fresh random mask, each neuron off with probability `p`.
    /// Unlike dropout, the survivors are not rescaled by 1/(1-p).
    RandomOff { p: f64, seed: u64 },
}

impl MaskPolicy {
    /// Check the policy against the hidden layer sizes before any training starts.
    pub fn validate(&self, hidden: &[usize]) -> Result<(), MaskError> {
        match self {
            MaskPolicy::None => Ok(()),
            MaskPolicy::Fixed { off } => {
                if off.len() > hidden.len() {
                    return Err(MaskError::LayerCount {
                        expected: hidden.len(),
                        found: off.len(),
                    });
                }
                for (layer, (list, &width)) in off.iter().zip(hidden).enumerate() {
                    check_indices(width, list).map_err(|e| e.in_layer(layer))?;
                }
                Ok(())
            }
            MaskPolicy::RandomOff { p, .. } if !(0.0..=1.0).contains(p) => {
                Err(MaskError::Probability(*p))
            }
            MaskPolicy::RandomOff { .. } => Ok(()),
        }
    }

    /// The masks for one batch. `sample_ids` identify the batch's samples (their dataset
    /// indices), so random masks depend only on the seed and the batch's content: they are
    /// reproducible whatever thread builds the batch, and fresh each epoch as batches reshuffle.
    pub fn masks_for_batch(
        &self,
        hidden: &[usize],
        sample_ids: &[usize],
        device: &Device,
    ) -> Result<HiddenMasks, MaskError> {
        match self {
            MaskPolicy::None => Ok(HiddenMasks::none()),
            MaskPolicy::Fixed { off } => {
                let layers = off
                    .iter()
                    .zip(hidden)
                    .enumerate()
                    .map(|(layer, (list, &width))| {
                        if list.is_empty() {
                            Ok(None)
                        } else {
                            NeuronMask::switch_off(width, list, device)
                                .map(Some)
                                .map_err(|e| e.in_layer(layer))
                        }
                    })
                    .collect::<Result<_, _>>()?;
                Ok(HiddenMasks::per_layer(layers))
            }
            MaskPolicy::RandomOff { p, seed } => {
                let mut rng = StdRng::seed_from_u64(batch_seed(*seed, sample_ids));
                let layers = hidden
                    .iter()
                    .enumerate()
                    .map(|(layer, &width)| {
                        NeuronMask::random_off(sample_ids.len(), width, *p, &mut rng, device)
                            .map(Some)
                            .map_err(|e| e.in_layer(layer))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(HiddenMasks::per_layer(layers))
            }
        }
    }
}

/// SplitMix64-style mixing of the seed and the sample ids.
fn batch_seed(seed: u64, sample_ids: &[usize]) -> u64 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    sample_ids
        .iter()
        .fold(mix(seed), |h, &id| mix(h ^ id as u64))
}
