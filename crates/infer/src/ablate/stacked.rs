//! The zero-mode sweep of an earlier hidden layer of a deeper net: the rest of the network
//! run once per neuron, many neurons stacked into each batched forward pass.

use anyhow::Result;
use burn::prelude::*;
use kernels::SweepTotals;
use kernels::score::score_row;

use super::batch_tensors;
use crate::host::host_vec;
use crate::predictor::{BATCH, Predictor};

/// Rows of one stacked forward pass in `stacked_sweep`.
const STACK_ROWS: usize = 16_384;

/// Zero-mode sweep of an earlier hidden layer: its activations are computed once per batch;
/// then, for chunks of neurons, the activations are repeated once per neuron with that
/// neuron's column zeroed and sent through the rest of the network in one forward pass.
pub(super) fn sweep(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    layer: usize,
) -> Result<SweepTotals> {
    let hidden = predictor.hidden()[layer];
    let classes = predictor.config.model.num_classes;
    let n = labels.len();
    let defaults = predictor.default_masks();
    let later = defaults.masks_for(0..1, &predictor.device)?;
    let mut out = SweepTotals::zeros(hidden, classes);
    let batch = BATCH.min(STACK_ROWS);
    let per_pass = (STACK_ROWS / batch).max(1);
    let progress = indicatif::ProgressBar::new((hidden * n.div_ceil(batch)) as u64)
        .with_message(format!("sweeping hidden layer {layer}"))
        .with_style(progress_style());
    for start in (0..n).step_by(batch) {
        let range = start..(start + batch).min(n);
        let m = range.len();
        let (images, _) = batch_tensors(predictor, pixels, labels, range.clone());
        let masks = defaults.masks_for(range.clone(), &predictor.device)?;
        let x = predictor.model.activations_after(images, &masks, layer)?;
        let base = host_vec(
            predictor.model.logits_from(x.clone(), &later, layer)?,
            "logits",
        )?;
        let batch_labels = &labels[range];
        let base_scores: Vec<(bool, f64)> = base
            .chunks(classes)
            .zip(batch_labels)
            .map(|(row, &l)| score_row(row, l as usize))
            .collect();
        for &(hit, loss) in &base_scores {
            out.base_correct += usize::from(hit);
            out.base_loss += loss;
        }
        for j0 in (0..hidden).step_by(per_pass) {
            let js: Vec<usize> = (j0..(j0 + per_pass).min(hidden)).collect();
            let mut keep = vec![1f32; js.len() * hidden];
            for (b, &j) in js.iter().enumerate() {
                keep[b * hidden + j] = 0.0;
            }
            // [js, 1, H] keep rows against [1, m, H] activations, flattened to [js * m, H].
            let keep = Tensor::<2>::from_data(
                TensorData::new(keep, [js.len(), hidden]),
                &predictor.device,
            )
            .unsqueeze_dim::<3>(1);
            let stacked = (x.clone().unsqueeze_dim::<3>(0) * keep).reshape([js.len() * m, hidden]);
            let logits = host_vec(
                predictor.model.logits_from(stacked, &later, layer)?,
                "logits",
            )?;
            for (b, &j) in js.iter().enumerate() {
                for (k, &label) in batch_labels.iter().enumerate() {
                    let row = &logits[(b * m + k) * classes..(b * m + k + 1) * classes];
                    let (hit, loss) = score_row(row, label as usize);
                    out.correct[j] += usize::from(hit);
                    out.loss[j] += loss;
                    let change = i64::from(hit) - i64::from(base_scores[k].0);
                    out.class_change[j * classes + label as usize] += change;
                }
            }
            progress.inc(js.len() as u64);
        }
    }
    progress.finish_and_clear();
    Ok(out)
}

/// The look of the sweep's progress bar (drawn on stderr, only on a terminal).
fn progress_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(
        "{msg}: [{bar:30}] {pos}/{len} neuron-batches, {eta} left",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ")
}
