//! Every last-hidden-layer neuron's importance, in about the time of one forward pass.
//!
//! The output layer is linear, so switching neuron j off changes every logit by exactly
//! `-h_j * W_out[j, :]` (zero mode) or `(mean_j - h_j) * W_out[j, :]` (mean mode). The hidden
//! activations and intact logits come from one batched forward pass on the device; then a
//! single multi-threaded pass over the samples updates each sample's 10 logits for every
//! neuron, instead of one forward pass per neuron (what Captum's LayerFeatureAblation does).
//! (A first version did the sweep as `[n, 40, 10]` tensor chunks on flex: 8.9x a forward pass,
//! against ~1.5x for this fused loop.)

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use model::artifact::write_atomic;
use model::{ArtifactDir, MaskTable};
use serde::{Deserialize, Serialize};

use kernels::score::{score_row, score_rows};
use kernels::{SweepInput, SweepTotals};

use crate::host::host_vec;
use crate::predictor::{BATCH, Predictor};

/// How a neuron is switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum AblationMode {
    /// Its activation becomes 0 (the seed's mask).
    Zero,
    /// Its activation is held at its mean over the training set.
    Mean,
}

/// One neuron's effect on the whole input set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeuronEffect {
    pub layer: usize,
    pub neuron: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Change from the intact model (negative = accuracy lost).
    pub delta_accuracy: f64,
    pub delta_loss: f64,
    /// Change in accuracy among the inputs of each true class (digit 0..9).
    pub delta_accuracy_per_class: Vec<f64>,
    /// 1 = the neuron whose loss hurts most (largest accuracy drop, then largest loss rise).
    pub rank: usize,
}

/// The intact model's figures and every neuron's effect, in neuron order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ablation {
    pub mode: AblationMode,
    pub inputs: usize,
    pub baseline_correct: usize,
    pub baseline_accuracy: f64,
    pub baseline_loss: f64,
    pub effects: Vec<NeuronEffect>,
}

/// Correct predictions and summed cross-entropy of `logits` `[n, C]` against `targets`.
fn score(logits: Tensor<2>, targets: Tensor<1, Int>) -> (usize, f64) {
    let n = targets.dims()[0];
    let targets = targets.reshape([n, 1]);
    let nll: f32 = log_softmax(logits.clone(), 1)
        .gather(1, targets.clone())
        .neg()
        .sum()
        .into_scalar();
    let hits: i64 = logits.argmax(1).equal(targets).int().sum().into_scalar();
    (hits as usize, nll as f64)
}

fn batch_tensors(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    range: std::ops::Range<usize>,
) -> (Tensor<2>, Tensor<1, Int>) {
    let n = range.len();
    let images = predictor.images(pixels, range.clone());
    let targets = Tensor::from_data(
        TensorData::new(
            labels[range].iter().map(|&l| l as i64).collect::<Vec<_>>(),
            [n],
        ),
        &predictor.device,
    );
    (images, targets)
}

/// Sweep every neuron of the last hidden layer over labelled inputs. The model's default mask
/// (a fixed training mask, if any) stays applied throughout.
pub fn sweep(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    mode: AblationMode,
    means: Option<&[f32]>,
) -> Result<Ablation> {
    let last = predictor.hidden().len() - 1;
    sweep_layer(predictor, pixels, labels, last, mode, means)
}

/// Sweep every neuron of hidden layer `layer`. The last layer takes the fused pass; earlier
/// layers of deeper nets (zero mode) run the rest of the network once per neuron, many
/// neurons stacked into each batched forward pass, with a progress bar.
pub fn sweep_layer(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    layer: usize,
    mode: AblationMode,
    means: Option<&[f32]>,
) -> Result<Ablation> {
    let last = predictor.hidden().len() - 1;
    if layer > last {
        bail!(
            "hidden layer {layer} does not exist; the network has {} (0..={last})",
            last + 1
        );
    }
    if layer < last && mode == AblationMode::Mean {
        bail!(
            "--mode mean sweeps the last hidden layer ({last}) only; use --mode zero for layer {layer}"
        );
    }
    let hidden = predictor.hidden()[layer];
    crate::inputs::check_labels(labels, predictor.config.model.num_classes)?;
    let n = labels.len();
    if n == 0 || pixels.len() != n * predictor.config.model.input_size {
        bail!(
            "ablation needs labelled inputs: {n} labels for {} pixel values",
            pixels.len()
        );
    }
    let means: Option<&[f32]> = match (mode, means) {
        (AblationMode::Zero, _) => None,
        (AblationMode::Mean, Some(m)) if m.len() == hidden => Some(m),
        (AblationMode::Mean, _) => bail!("mean mode needs {hidden} neuron means"),
    };
    let classes = predictor.config.model.num_classes;
    let totals = if layer == last {
        let s = host_state(predictor, pixels, n)?;
        let input = SweepInput {
            hidden: s.hidden,
            classes: s.classes,
            activations: &s.h,
            output_weight: &s.w,
            logits: &s.base,
        };
        kernels::sweep(&input, labels, means)?
    } else {
        stacked_sweep(predictor, pixels, labels, layer)?
    };
    let (base_correct, base_loss) = (totals.base_correct, totals.base_loss);
    let (correct, loss_sum) = (&totals.correct, &totals.loss);
    let mut class_sizes = vec![0usize; classes];
    for &l in labels {
        class_sizes[l as usize] += 1;
    }
    let total = n as f64;
    let baseline_accuracy = base_correct as f64 / total;
    let baseline_loss = base_loss / total;
    let mut effects: Vec<NeuronEffect> = (0..hidden)
        .map(|j| NeuronEffect {
            layer,
            neuron: j,
            correct: correct[j],
            accuracy: correct[j] as f64 / total,
            loss: loss_sum[j] / total,
            delta_accuracy: correct[j] as f64 / total - baseline_accuracy,
            delta_loss: loss_sum[j] / total - baseline_loss,
            delta_accuracy_per_class: (0..classes)
                .map(|c| totals.class_change[j * classes + c] as f64 / class_sizes[c].max(1) as f64)
                .collect(),
            rank: 0,
        })
        .collect();
    let mut order: Vec<usize> = (0..hidden).collect();
    order.sort_by(|&a, &b| {
        let (ea, eb) = (&effects[a], &effects[b]);
        ea.correct
            .cmp(&eb.correct)
            .then(eb.delta_loss.total_cmp(&ea.delta_loss))
    });
    for (rank, j) in order.into_iter().enumerate() {
        effects[j].rank = rank + 1;
    }
    Ok(Ablation {
        mode,
        inputs: n,
        baseline_correct: base_correct,
        baseline_accuracy,
        baseline_loss,
        effects,
    })
}

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

/// The header line of `ablation.csv`.
pub const CSV_HEADER: &str = "layer,neuron,accuracy,loss,delta_accuracy,delta_loss,rank";

/// `ablation.csv`: layer,neuron,accuracy,loss,delta_accuracy,delta_loss,rank.
pub fn write_csv(path: &Path, ablation: &Ablation) -> Result<()> {
    let mut csv = format!("{CSV_HEADER}\n");
    for e in &ablation.effects {
        csv.push_str(&format!(
            "{},{},{:.6},{:.6},{:.6},{:.6},{}\n",
            e.layer, e.neuron, e.accuracy, e.loss, e.delta_accuracy, e.delta_loss, e.rank
        ));
    }
    write_atomic(path, csv.as_bytes())?;
    Ok(())
}

/// One line of `ablation.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRow {
    pub layer: usize,
    pub neuron: usize,
    pub accuracy: f64,
    pub loss: f64,
    pub delta_accuracy: f64,
    pub delta_loss: f64,
    pub rank: usize,
}

/// Read what [`write_csv`] wrote; errors name the file and line.
pub fn read_csv(path: &Path) -> Result<Vec<CsvRow>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h.trim());
    if header != Some(CSV_HEADER) {
        bail!(
            "{}: line 1 is {:?}; expected the header {CSV_HEADER}",
            path.display(),
            header.unwrap_or("")
        );
    }
    lines
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let bad = || {
                anyhow::anyhow!(
                    "{}: line {} is {line:?}; expected 7 numbers ({CSV_HEADER})",
                    path.display(),
                    i + 1
                )
            };
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() != 7 {
                return Err(bad());
            }
            let int = |s: &str| s.parse::<usize>().map_err(|_| bad());
            let float = |s: &str| s.parse::<f64>().map_err(|_| bad());
            Ok(CsvRow {
                layer: int(f[0])?,
                neuron: int(f[1])?,
                accuracy: float(f[2])?,
                loss: float(f[3])?,
                delta_accuracy: float(f[4])?,
                delta_loss: float(f[5])?,
                rank: int(f[6])?,
            })
        })
        .collect()
}

/// The `k` most important neurons, most important first.
pub fn top(ablation: &Ablation, k: usize) -> Vec<&NeuronEffect> {
    let mut ranked: Vec<&NeuronEffect> = ablation.effects.iter().collect();
    ranked.sort_by_key(|e| e.rank);
    ranked.truncate(k);
    ranked
}

/// For tests and checks: the brute-force figures of neuron `j` in zero mode, by one masked
/// forward pass of the whole network with that neuron switched off.
pub fn brute_force_zero(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    layer: usize,
    j: usize,
) -> Result<(usize, f64)> {
    let hidden = predictor.hidden().to_vec();
    let mut off = predictor.default_masks().off_per_layer();
    off[layer].push(j);
    let table = MaskTable::broadcast_off(&hidden, &off);
    let n = labels.len();
    let (mut correct, mut loss) = (0usize, 0f64);
    for start in (0..n).step_by(BATCH) {
        let range = start..(start + BATCH).min(n);
        let (images, targets) = batch_tensors(predictor, pixels, labels, range.clone());
        let masks = table.masks_for(range, &predictor.device)?;
        let (hits, nll) = score(predictor.model.forward_masked(images, &masks)?, targets);
        correct += hits;
        loss += nll;
    }
    Ok((correct, loss / n as f64))
}

/// The last hidden layer's activations, the output weights and the intact logits, on the
/// host: what the group and cumulative sweeps update incrementally.
struct HostState {
    hidden: usize,
    classes: usize,
    h: Vec<f32>,
    w: Vec<f32>,
    base: Vec<f32>,
}

fn host_state(predictor: &Predictor, pixels: &[f32], n: usize) -> Result<HostState> {
    let layer = predictor.hidden().len() - 1;
    let hidden = predictor.hidden()[layer];
    let classes = predictor.config.model.num_classes;
    let out = predictor.hidden_and_logits(
        &pixels[..n * predictor.config.model.input_size],
        &predictor.default_masks(),
    )?;
    Ok(HostState {
        hidden,
        classes,
        h: out.hidden,
        w: host_vec(predictor.model.output.weight.val(), "output weights")?,
        base: out.predictions.logits,
    })
}

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
    crate::inputs::check_labels(labels, predictor.config.model.num_classes)?;
    let s = host_state(predictor, pixels, labels.len())?;
    let total = labels.len() as f64;
    let mut order: Vec<usize> = (0..s.hidden).collect();
    order.sort_by_key(|&j| std::cmp::Reverse(ablation.effects[j].rank));
    let mut logits = s.base.clone();
    let mut accuracy = vec![score_rows(&logits, labels, s.classes).0 as f64 / total];
    for &j in &order {
        shift_neuron(&s, &mut logits, j, means.map_or(0.0, |m| m[j]));
        accuracy.push(score_rows(&logits, labels, s.classes).0 as f64 / total);
    }
    let floor = accuracy[0] - 0.01;
    let removable_within_1pp = accuracy.iter().skip(1).take_while(|&&a| a >= floor).count();
    Ok(PruningCurve {
        order,
        accuracy,
        removable_within_1pp,
    })
}

/// Rows of one stacked forward pass in `stacked_sweep`.
const STACK_ROWS: usize = 16_384;

/// Zero-mode sweep of an earlier hidden layer: its activations are computed once per batch;
/// then, for chunks of neurons, the activations are repeated once per neuron with that
/// neuron's column zeroed and sent through the rest of the network in one forward pass.
fn stacked_sweep(
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

/// What an ablation study asks for, beside the model and the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRequest {
    /// The hidden layer to sweep (`None`: the last).
    pub layer: Option<usize>,
    pub mode: AblationMode,
    /// A groups file: one set of neurons a line, switched off together.
    pub groups: Option<std::path::PathBuf>,
    /// Also switch neurons off one after another, least important first.
    pub cumulative: bool,
}

/// What an ablation study found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Study {
    pub ablation: Ablation,
    pub layer: usize,
    /// Wall time of the sweep alone.
    #[serde(skip)]
    pub sweep_seconds: f64,
    pub groups: Option<Vec<GroupEffect>>,
    pub cumulative: Option<PruningCurve>,
}

/// `infer ablate`: sweep a layer of `predictor` over labelled inputs, then the groups and the
/// pruning curve when asked. `means` are the neuron means for [`AblationMode::Mean`] (see
/// [`cached_means`]).
pub fn study(
    predictor: &Predictor,
    pixels: &[f32],
    labels: &[u8],
    request: &StudyRequest,
    means: Option<&[f32]>,
) -> Result<Study> {
    let last = predictor.hidden().len() - 1;
    let layer = request.layer.unwrap_or(last);
    if request.cumulative && layer != last {
        bail!("--cumulative follows the last hidden layer; drop --layer {layer}");
    }
    let started = std::time::Instant::now();
    let ablation = sweep_layer(predictor, pixels, labels, layer, request.mode, means)?;
    let sweep_seconds = started.elapsed().as_secs_f64();
    let groups = match &request.groups {
        Some(path) => {
            let sets = read_groups(path, predictor.hidden())?;
            Some(groups(predictor, pixels, labels, &sets, means)?)
        }
        None => None,
    };
    let cumulative = if request.cumulative {
        Some(cumulative(predictor, pixels, labels, &ablation, means)?)
    } else {
        None
    };
    Ok(Study {
        ablation,
        layer,
        sweep_seconds,
        groups,
        cumulative,
    })
}
