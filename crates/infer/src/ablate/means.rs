//! The neuron means of `--mode mean`: each last-hidden neuron's mean activation over the
//! training set, cached in the artifact directory (`neuron_means.json`).

use std::path::Path;

use anyhow::{Context, Result, bail};
use data::ArtifactDir;
use data::artifact::write_atomic;
use serde::{Deserialize, Serialize};

use crate::host::host_vec;
use crate::predictor::{BATCH, Predictor};

/// Mean activation of each last-hidden neuron over `pixels` (the training set), with the
/// model's default mask applied.
pub fn neuron_means(predictor: &Predictor, pixels: &[f32]) -> Result<Vec<f32>> {
    let width = predictor.config.model.input_size;
    let n = pixels.len() / width;
    let defaults = predictor.default_masks();
    let hidden = *predictor.hidden().last().context("no hidden layer")?;
    let mut sum = vec![0f64; hidden];
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let images = predictor.images(pixels, start..end);
        let masks = defaults.masks_for(start..end, &predictor.device)?;
        let col = host_vec(
            predictor.model.last_hidden(images, &masks)?.sum_dim(0),
            "activation sums",
        )?;
        for (s, v) in sum.iter_mut().zip(col) {
            *s += v as f64;
        }
    }
    Ok(sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect())
}

#[derive(Debug, Serialize, Deserialize)]
struct MeansFile {
    layer: usize,
    training_images: usize,
    means: Vec<f32>,
}

/// The cached means in the artifact directory, computed over the training set on first use.
pub fn cached_means(
    predictor: &Predictor,
    dir: &Path,
    training_pixels: impl FnOnce() -> Result<Vec<f32>>,
) -> Result<Vec<f32>> {
    let path = ArtifactDir::new(dir).neuron_means();
    let layer = predictor.hidden().len() - 1;
    let hidden = predictor.hidden()[layer];
    if let Ok(text) = std::fs::read_to_string(&path) {
        let file: MeansFile = serde_json::from_str(&text)
            .with_context(|| format!("{}: invalid; delete it to recompute", path.display()))?;
        if file.layer == layer && file.means.len() == hidden {
            return Ok(file.means);
        }
        bail!(
            "{}: holds {} means for layer {}; expected {hidden} for layer {layer} (delete it to recompute)",
            path.display(),
            file.means.len(),
            file.layer
        );
    }
    let pixels = training_pixels()?;
    let means = neuron_means(predictor, &pixels)?;
    let file = MeansFile {
        layer,
        training_images: pixels.len() / predictor.config.model.input_size,
        means: means.clone(),
    };
    write_atomic(&path, serde_json::to_string(&file)?.as_bytes())?;
    Ok(means)
}
