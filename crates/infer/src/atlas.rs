//! The neuron atlas (`infer neurons`): what each hidden neuron responds to. For every neuron of
//! one hidden layer: its incoming weights (a 28 x 28 picture for the first layer), the images
//! that activate it most, its mean activation per class and how often it is zero, from one
//! batched forward pass over the inputs.

use anyhow::{Result, bail};
use serde::Serialize;

use crate::host::host_vec;
use crate::predictor::{BATCH, Predictor};

/// One neuron's profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeuronProfile {
    pub neuron: usize,
    /// Incoming weights, one per input pixel (row-major 28 x 28 for MNIST): column `neuron`
    /// of the first hidden layer's weight matrix. `None` for deeper layers, whose inputs are
    /// other neurons.
    pub receptive_field: Option<Vec<f32>>,
    /// Indices of the inputs with the largest activations, largest first (ties: lower index).
    pub top_images: Vec<usize>,
    /// Their activations, in the same order.
    pub top_activations: Vec<f32>,
    /// Mean activation over the inputs of each class (`None`: no input of that class, or no
    /// labels).
    pub mean_per_class: Vec<Option<f64>>,
    /// Mean activation over all inputs.
    pub mean: f64,
    /// Fraction of the inputs on which the neuron's activation is exactly 0.
    pub zero_fraction: f64,
}

/// Every neuron of one layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Atlas {
    pub layer: usize,
    pub inputs: usize,
    pub origin: String,
    /// Width and height of a receptive field picture (28 for MNIST), when the layer has them.
    pub field_side: Option<usize>,
    pub neurons: Vec<NeuronProfile>,
}

impl Atlas {
    /// Neurons that are zero on every input (dead).
    pub fn dead(&self) -> usize {
        self.neurons
            .iter()
            .filter(|p| p.zero_fraction >= 1.0)
            .count()
    }

    /// One colour scale for every receptive field: the 99.5th percentile of the absolute
    /// weights, so a few extreme weights do not wash every picture out (1 without fields).
    pub fn colour_scale(&self) -> f32 {
        let mut all: Vec<f32> = self
            .neurons
            .iter()
            .flat_map(|p| p.receptive_field.iter().flatten().map(|w| w.abs()))
            .collect();
        if all.is_empty() {
            return 1.0;
        }
        let at = ((all.len() - 1) as f64 * 0.995) as usize;
        let (_, v, _) = all.select_nth_unstable_by(at, f32::total_cmp);
        v.max(f32::MIN_POSITIVE)
    }

    /// The largest absolute weight among the receptive fields (0 without fields).
    pub fn max_abs_weight(&self) -> f32 {
        self.neurons
            .iter()
            .flat_map(|p| p.receptive_field.iter().flatten())
            .fold(0.0, |m, w| m.max(w.abs()))
    }
}

/// Check that `layer` is one of the network's hidden layers.
pub fn check_layer(predictor: &Predictor, layer: usize) -> Result<()> {
    let layers = predictor.hidden().len();
    if layer >= layers {
        bail!(
            "--layer {layer}: the network has {layers} hidden layer(s); expected 0 to {}",
            layers - 1
        );
    }
    Ok(())
}

/// Activations `[n, H_layer]` (row-major) of hidden layer `layer` for `n` images, with the
/// model's default mask (its training mask, if any), on the predictor's device.
pub fn layer_activations(predictor: &Predictor, pixels: &[f32], layer: usize) -> Result<Vec<f32>> {
    check_layer(predictor, layer)?;
    let n = pixels.len() / predictor.config.model.input_size;
    let masks = predictor.default_masks();
    let mut out = Vec::with_capacity(n * predictor.hidden()[layer]);
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let m = masks.masks_for(start..end, &predictor.device)?;
        let act =
            predictor
                .model
                .activations_after(predictor.images(pixels, start..end), &m, layer)?;
        out.extend(host_vec(act, "activations")?);
    }
    Ok(out)
}

/// The `k` largest of `values` as (index, value), largest first, ties to the lower index.
pub fn top_k(values: impl Iterator<Item = f32>, k: usize) -> Vec<(usize, f32)> {
    let mut all: Vec<(usize, f32)> = values.enumerate().collect();
    let order = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k < all.len() {
        all.select_nth_unstable_by(k, order);
        all.truncate(k);
    }
    all.sort_by(order);
    all
}

/// The atlas of hidden layer `layer` over `pixels` (row-major, 0..1), with per-class means
/// when `labels` are given, keeping the `top` most activating inputs per neuron.
pub fn atlas(
    predictor: &Predictor,
    pixels: &[f32],
    labels: Option<&[u8]>,
    layer: usize,
    top: usize,
    origin: &str,
) -> Result<Atlas> {
    let act = layer_activations(predictor, pixels, layer)?;
    let width = predictor.hidden()[layer];
    let n = act.len() / width;
    if n == 0 {
        bail!("no inputs to profile the neurons on");
    }
    let classes = predictor.config.model.num_classes;
    if let Some(labels) = labels {
        crate::inputs::check_labels(labels, classes)?;
    }
    let input_size = predictor.config.model.input_size;
    let weights = if layer == 0 {
        Some(host_vec(
            predictor.model.hidden[0].weight.val(),
            "first-layer weights",
        )?)
    } else {
        None
    };
    let side = (input_size as f64).sqrt() as usize;
    let field_side = (layer == 0 && side * side == input_size).then_some(side);
    let mut counts = vec![0usize; classes];
    for &l in labels.unwrap_or_default() {
        counts[l as usize] += 1;
    }
    let neurons = (0..width)
        .map(|j| {
            let column = || act.iter().skip(j).step_by(width).copied();
            let (mut sums, mut zeros, mut total) = (vec![0f64; classes], 0usize, 0f64);
            for (i, a) in column().enumerate() {
                total += a as f64;
                zeros += usize::from(a == 0.0);
                if let Some(labels) = labels {
                    sums[labels[i] as usize] += a as f64;
                }
            }
            let best = top_k(column(), top);
            NeuronProfile {
                neuron: j,
                receptive_field: weights
                    .as_ref()
                    .map(|w| w.iter().skip(j).step_by(width).copied().collect::<Vec<_>>()),
                top_images: best.iter().map(|&(i, _)| i).collect(),
                top_activations: best.iter().map(|&(_, a)| a).collect(),
                mean_per_class: sums
                    .iter()
                    .zip(&counts)
                    .map(|(&s, &c)| (c > 0).then(|| s / c as f64))
                    .collect(),
                mean: total / n as f64,
                zero_fraction: zeros as f64 / n as f64,
            }
        })
        .collect();
    Ok(Atlas {
        layer,
        inputs: n,
        origin: origin.to_string(),
        field_side,
        neurons,
    })
}

/// The class with the highest mean activation (`None` without labels or for a dead neuron).
pub fn preferred_class(profile: &NeuronProfile) -> Option<usize> {
    let means: Vec<f64> = profile
        .mean_per_class
        .iter()
        .map(|m| m.unwrap_or(f64::NEG_INFINITY))
        .collect();
    let best = (0..means.len()).fold(0, |b, c| if means[c] > means[b] { c } else { b });
    (means.get(best).is_some_and(|&m| m > 0.0)).then_some(best)
}
