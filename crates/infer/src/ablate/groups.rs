//! Neurons switched off together: the `--groups` file's sets, and the pruning curve of
//! `--cumulative` (neurons off one after another, least important first). Both update the
//! intact logits on the host, neuron by neuron, as the sweep does.

use std::path::Path;

use anyhow::{Context, Result, bail};
use kernels::score::score_rows;
use serde::Serialize;

use super::{Ablation, HostState, host_state};
use crate::predictor::Predictor;

/// Move neuron `j`'s contribution in `logits` from its activation to `target` (0 or its mean).
fn shift_neuron(s: &HostState, logits: &mut [f32], j: usize, target: f32) {
    let wj = &s.w[j * s.classes..(j + 1) * s.classes];
    for (n, row) in logits.chunks_mut(s.classes).enumerate() {
        let d = target - s.h[n * s.hidden + j];
        if d != 0.0 {
            for (l, &w) in row.iter_mut().zip(wj) {
                *l += d * w;
            }
        }
    }
}

/// One group of neurons switched off together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupEffect {
    pub line: usize,
    pub neurons: Vec<usize>,
    pub correct: usize,
    pub accuracy: f64,
    pub loss: f64,
    pub delta_accuracy: f64,
    pub delta_loss: f64,
}

/// Read `--groups`: one set per line, neurons as in `--off` (`3,17 42` or `layer:index`);
/// only the last hidden layer can be swept this way.
pub fn read_groups(path: &Path, hidden: &[usize]) -> Result<Vec<(usize, Vec<usize>)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let last = hidden.len() - 1;
    let mut groups = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let origin = format!("{}: line {}", path.display(), i + 1);
        let per_layer = model::parse_neuron_list(line, hidden, &origin)?;
        if let Some(l) = (0..last).find(|&l| !per_layer[l].is_empty()) {
            bail!(
                "{origin}: names neurons of hidden layer {l}; groups are swept in the last hidden layer ({last})"
            );
        }
        groups.push((i + 1, per_layer[last].clone()));
    }
    if groups.is_empty() {
        bail!(
            "{}: no groups; expected one set of neurons per line",
            path.display()
        );
    }
    Ok(groups)
}

/// Accuracy and loss with each group switched off (zero mode, or held at the means).
pub fn groups(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    groups: &[(usize, Vec<usize>)],
    means: Option<&[f32]>,
) -> Result<Vec<GroupEffect>> {
    crate::inputs::check_labels(labels, predictor.config.model.num_classes)?;
    let s = host_state(predictor, pixels, labels.len())?;
    let total = labels.len() as f64;
    let (base_correct, base_loss) = score_rows(&s.base, labels, s.classes);
    Ok(groups
        .iter()
        .map(|(line, neurons)| {
            let mut logits = s.base.clone();
            for &j in neurons {
                shift_neuron(&s, &mut logits, j, means.map_or(0.0, |m| m[j]));
            }
            let (correct, loss) = score_rows(&logits, labels, s.classes);
            GroupEffect {
                line: *line,
                neurons: neurons.clone(),
                correct,
                accuracy: correct as f64 / total,
                loss: loss / total,
                delta_accuracy: (correct as f64 - base_correct as f64) / total,
                delta_loss: (loss - base_loss) / total,
            }
        })
        .collect())
}

/// Accuracy as neurons are switched off one after another, least important first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruningCurve {
    /// Neurons in the order they were switched off.
    pub order: Vec<usize>,
    /// `accuracy[k]`: with the first `k` of `order` off (`accuracy[0]` is the intact model).
    pub accuracy: Vec<f64>,
    /// The most neurons that can go while accuracy stays within 1 percentage point of the
    /// intact model's (at every step up to there).
    pub removable_within_1pp: usize,
}

/// The pruning curve, ordered by the sweep's ranks (highest rank number = least important).
pub fn cumulative(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    ablation: &Ablation,
    means: Option<&[f32]>,
) -> Result<PruningCurve> {
    let order = greedy_order(ablation);
    let total = labels.len() as f64;
    let classes = predictor.config.model.num_classes;
    let accuracy = removal_curve(predictor, pixels, labels, &order, means, |logits| {
        score_rows(logits, labels, classes).0 as f64 / total
    })?;
    let floor = accuracy[0] - 0.01;
    let removable_within_1pp = accuracy.iter().skip(1).take_while(|&&a| a >= floor).count();
    Ok(PruningCurve {
        order,
        accuracy,
        removable_within_1pp,
    })
}

/// The order `--cumulative` switches neurons off in: least important first (highest rank
/// number first).
pub fn greedy_order(ablation: &Ablation) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ablation.effects.len()).collect();
    order.sort_by_key(|&j| std::cmp::Reverse(ablation.effects[j].rank));
    order
}

/// `figure` of the last hidden layer's logits as the neurons of `order` are switched off one
/// after another (to 0, or to `means`): `[0]` for the model with its default mask, `[k]` with
/// the first `k` of `order` off as well. The logits are updated on the host, as the sweep does.
pub fn removal_curve(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    order: &[usize],
    means: Option<&[f32]>,
    figure: impl Fn(&[f32]) -> f64,
) -> Result<Vec<f64>> {
    crate::inputs::check_labels(labels, predictor.config.model.num_classes)?;
    let s = host_state(predictor, pixels, labels.len())?;
    if let Some(&j) = order.iter().find(|&&j| j >= s.hidden) {
        bail!(
            "neuron {j} is beyond the last hidden layer's {} neurons",
            s.hidden
        );
    }
    let mut logits = s.base.clone();
    let mut curve = Vec::with_capacity(order.len() + 1);
    curve.push(figure(&logits));
    for &j in order {
        shift_neuron(&s, &mut logits, j, means.map_or(0.0, |m| m[j]));
        curve.push(figure(&logits));
    }
    Ok(curve)
}

/// `figure` of the logits with each neuron of the last hidden layer switched off alone (to 0),
/// in neuron order: a ranking like the sweep's, for any figure (a class's F1, say).
pub fn single_removals(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    figure: impl Fn(&[f32]) -> f64,
) -> Result<Vec<f64>> {
    crate::inputs::check_labels(labels, predictor.config.model.num_classes)?;
    let s = host_state(predictor, pixels, labels.len())?;
    let mut logits = s.base.clone();
    let mut out = Vec::with_capacity(s.hidden);
    for j in 0..s.hidden {
        shift_neuron(&s, &mut logits, j, 0.0);
        out.push(figure(&logits));
        logits.copy_from_slice(&s.base);
    }
    Ok(out)
}
