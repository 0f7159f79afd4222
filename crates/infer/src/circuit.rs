//! Learned minimal masks (`infer circuit`): the fewest neurons of the last hidden layer that
//! keep a chosen fraction of the network's test accuracy, or of its F1 on one class.
//!
//! The network's weights stay frozen. One gate per neuron, `sigmoid(logit)`, multiplies the
//! layer's Linear output before the ReLU ([`model::MaskedMlp::logits_gated`]); only the gate
//! logits are trained, with Burn's autodiff and Adam, on the training images, to keep the
//! task's loss low while an L1 penalty on the gates pushes them towards 0. The gates are then
//! thresholded at 0.5 to a 0/1 mask, and that mask is checked exactly on the test set. From
//! there the mask moves along the gates' order (re-adding the highest gates when it misses the
//! target, dropping the lowest while it still meets it) to the fewest neurons that meet the
//! target; each penalty in a small list is tried and the smallest verified mask wins. The
//! figures reported are [`Predictor::predict`]'s with the final mask: what `infer predict
//! --mask-file` measures.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, sigmoid};
use kernels::score::score_rows;
use model::MaskTable;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::ablate::{self, AblationMode};
use crate::host::host_vec;
use crate::inputs::InputSet;
use crate::predictor::{BATCH, BroadcastPath, Predictor};

/// What the kept neurons must preserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Accuracy over all classes.
    Accuracy,
    /// F1 of one class: recall on its inputs and precision over every input predicted as it
    /// (so answering the class for everything scores badly).
    ClassF1(usize),
}

impl Task {
    /// The task's figure for `logits` (rows of `classes`) against `labels`.
    pub fn figure(self, logits: &[f32], labels: &[u8], classes: usize) -> f64 {
        match self {
            Task::Accuracy => score_rows(logits, labels, classes).0 as f64 / labels.len() as f64,
            Task::ClassF1(c) => class_f1(logits, labels, classes, c),
        }
    }

    /// How the figure is named in reports.
    pub fn describe(self) -> String {
        match self {
            Task::Accuracy => "test accuracy".into(),
            Task::ClassF1(c) => format!("F1 on class {c}"),
        }
    }
}

/// The first maximum of a row of logits, as prediction does.
fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |b, c| if row[c] > row[b] { c } else { b })
}

/// F1 of `class`: `2 TP / (predicted as class + labelled class)`; 0 when nothing is right.
pub fn class_f1(logits: &[f32], labels: &[u8], classes: usize, class: usize) -> f64 {
    let (mut tp, mut predicted, mut actual) = (0usize, 0usize, 0usize);
    for (row, &label) in logits.chunks(classes).zip(labels) {
        let p = argmax(row) == class;
        let a = label as usize == class;
        tp += usize::from(p && a);
        predicted += usize::from(p);
        actual += usize::from(a);
    }
    if tp == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (predicted + actual) as f64
    }
}

/// How the gates are trained and the mask chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitSettings {
    /// The fraction (0, 1] of the intact network's figure the mask must keep.
    pub keep: f64,
    /// L1 penalties on the gates to try; the one giving the fewest neurons wins.
    pub penalties: Vec<f64>,
    /// Passes over the training images per penalty.
    pub epochs: usize,
    /// Adam's learning rate for the gate logits.
    pub learning_rate: f64,
    /// Training images per gate update.
    pub batch: usize,
    /// Seed of the training images' order.
    pub seed: u64,
    /// Also find how many neurons the greedy order of `ablate --cumulative` keeps.
    pub compare_greedy: bool,
}

impl Default for CircuitSettings {
    fn default() -> Self {
        Self {
            keep: 0.99,
            penalties: vec![0.25, 0.5, 1.0, 2.0, 4.0],
            epochs: 2,
            learning_rate: 0.05,
            batch: 256,
            seed: 0,
            compare_greedy: false,
        }
    }
}

/// Check a `--keep-accuracy` fraction.
pub fn check_keep(keep: f64) -> Result<()> {
    if !(keep > 0.0 && keep <= 1.0) {
        bail!("--keep-accuracy {keep}: expected a fraction in (0, 1], e.g. 0.99");
    }
    Ok(())
}

/// Check a `--class` against the network's classes.
pub fn check_class(class: usize, classes: usize) -> Result<()> {
    if class >= classes {
        bail!(
            "--class {class}: expected a class from 0 to {} (the network has {classes} classes)",
            classes - 1
        );
    }
    Ok(())
}

/// One penalty's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PenaltyTry {
    pub penalty: f64,
    /// Neurons whose gate ended at 0.5 or more, and the figure with just those on.
    pub thresholded: usize,
    pub thresholded_figure: f64,
    /// Neurons kept after moving along the gates' order to the fewest that meet the target.
    pub kept: usize,
}

/// Neurons kept by another order at the same target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The order: `ablate --cumulative`'s (least important for accuracy first).
    pub order: String,
    pub kept: usize,
    pub figure: f64,
}

/// A learned mask and what it keeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Circuit {
    pub task: Task,
    /// `test accuracy` or `F1 on class D`.
    pub figure_name: String,
    pub layer: usize,
    pub width: usize,
    pub keep_fraction: f64,
    /// The intact network's figure on the test set, and the least the mask may give.
    pub intact: f64,
    pub required: f64,
    /// The neurons the mask keeps (the others are off), ascending.
    pub kept: Vec<usize>,
    /// The figure with the mask, from `Predictor::predict` (what `infer predict` measures).
    pub figure: f64,
    pub accuracy: f64,
    pub accuracy_per_class: Vec<Option<f64>>,
    /// The penalty whose mask was smallest, and every penalty's outcome.
    pub penalty: f64,
    pub tried: Vec<PenaltyTry>,
    /// The greedy order of `ablate --cumulative` at the same target (`--compare-greedy`).
    pub greedy: Option<Comparison>,
    /// For a class: a greedy order by the class's own F1 (each neuron's F1 drop alone).
    pub greedy_own: Option<Comparison>,
    pub seconds: f64,
}

impl Circuit {
    /// The class whose F1 the mask keeps (`None`: the whole task).
    pub fn class(&self) -> Option<usize> {
        match self.task {
            Task::Accuracy => None,
            Task::ClassF1(c) => Some(c),
        }
    }

    /// The mask as one keep row over every hidden layer (layers before the last all on).
    pub fn keep_row(&self, hidden: &[usize]) -> Vec<f32> {
        let before: usize = hidden[..self.layer].iter().sum();
        let mut row = vec![1.0; before];
        let mut last = vec![0.0; self.width];
        for &j in &self.kept {
            last[j] = 1.0;
        }
        row.extend(last);
        row
    }
}

/// The training images' pre-activations of the last hidden layer, computed once: the
/// network is frozen, so every gate update starts from them.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// Row-major `[n, width]`.
    pre: Vec<f32>,
    labels: Vec<u8>,
    width: usize,
}

impl TrainingSet {
    /// Run the frozen layers once over `train` (labelled images).
    pub fn new(predictor: &Predictor, train: &InputSet) -> Result<Self> {
        let labels = train
            .labels
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the training images have no labels"))?;
        crate::inputs::check_labels(&labels, predictor.config.model.num_classes)?;
        let layer = predictor.hidden().len() - 1;
        let width = predictor.hidden()[layer];
        let mut pre = Vec::with_capacity(labels.len() * width);
        for start in (0..labels.len()).step_by(BATCH) {
            let end = (start + BATCH).min(labels.len());
            let images = predictor.images(&train.pixels, start..end);
            pre.extend(host_vec(
                predictor.model.pre_activations(images, layer),
                "pre-activations",
            )?);
        }
        Ok(Self { pre, labels, width })
    }
}

/// The gate logits the optimizer trains.
#[derive(Module, Debug)]
struct Gates {
    logits: Param<Tensor<1>>,
}

/// The task's loss on a batch of logits: cross-entropy for accuracy; for one class's F1, the
/// binary cross-entropy of "is it the class" with both sides weighted equally (F1 weighs
/// misses and false alarms alike, and a class is a tenth of the images).
fn task_loss(task: Task, logits: Tensor<2>, labels: &[u8], device: &Device) -> Tensor<1> {
    let n = labels.len();
    let log_p = log_softmax(logits, 1);
    match task {
        Task::Accuracy => {
            let targets = Tensor::<1, Int>::from_data(
                TensorData::new(labels.iter().map(|&l| l as i64).collect(), [n]),
                device,
            )
            .reshape([n, 1]);
            log_p.gather(1, targets).neg().mean()
        }
        Task::ClassF1(c) => {
            let positives = labels.iter().filter(|&&l| l as usize == c).count().max(1);
            let negatives = (n - positives.min(n)).max(1);
            let (w_pos, w_neg) = (0.5 / positives as f32, 0.5 / negatives as f32);
            let weights: Vec<f32> = labels
                .iter()
                .map(|&l| if l as usize == c { w_pos } else { w_neg })
                .collect();
            let is_class: Vec<f32> = labels
                .iter()
                .map(|&l| f32::from(u8::from(l as usize == c)))
                .collect();
            let y = Tensor::<2>::from_data(TensorData::new(is_class, [n, 1]), device);
            let w = Tensor::<2>::from_data(TensorData::new(weights, [n, 1]), device);
            let log_pc = log_p.slice([0..n, c..c + 1]);
            let log_not = log_pc
                .clone()
                .exp()
                .neg()
                .add_scalar(1.0)
                .clamp_min(1e-6)
                .log();
            let per_image = y.clone() * log_pc + y.neg().add_scalar(1.0) * log_not;
            (per_image * w).sum().neg().reshape([1])
        }
    }
}

/// Train the gate logits with `penalty`; returns them (one per neuron of the last layer).
fn train_gates(
    predictor: &Predictor,
    train: &TrainingSet,
    task: Task,
    penalty: f64,
    settings: &CircuitSettings,
    progress: &indicatif::ProgressBar,
) -> Result<Vec<f32>> {
    let device = predictor.device.clone().autodiff();
    let layer = predictor.hidden().len() - 1;
    let width = train.width;
    let frozen = predictor.model.clone().fork(&device).no_grad();
    let mut gates = Gates {
        logits: Param::from_tensor(Tensor::full([width], 3.0, &device)),
    };
    let mut optimizer = AdamConfig::new().init();
    let mut order: Vec<usize> = (0..train.labels.len()).collect();
    let mut rng = StdRng::seed_from_u64(settings.seed);
    for _ in 0..settings.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(settings.batch) {
            let mut rows = Vec::with_capacity(chunk.len() * width);
            for &i in chunk {
                rows.extend_from_slice(&train.pre[i * width..(i + 1) * width]);
            }
            let labels: Vec<u8> = chunk.iter().map(|&i| train.labels[i]).collect();
            let pre = Tensor::<2>::from_data(TensorData::new(rows, [chunk.len(), width]), &device);
            let gate = sigmoid(gates.logits.val()).reshape([1, width]);
            let logits = frozen.logits_gated(pre, gate.clone(), layer);
            let loss = task_loss(task, logits, &labels, &device) + gate.mean().mul_scalar(penalty);
            let grads = GradientsParams::from_grads(loss.backward(), &gates);
            gates = optimizer.step(settings.learning_rate, gates, grads);
            progress.inc(1);
        }
    }
    host_vec(gates.logits.val(), "gate logits")
}

/// The test set's labelled inputs.
#[derive(Debug, Clone, Copy)]
pub struct TestSet<'a> {
    pub pixels: &'a [f32],
    pub labels: &'a [u8],
}

/// The figure of `task` with only `kept` on in the last layer, from `Predictor::predict`.
fn measure(predictor: &Predictor, test: TestSet<'_>, task: Task, kept: &[usize]) -> Result<f64> {
    let table = last_layer_keep_only(predictor.hidden(), kept);
    let predictions = predictor.predict(test.pixels, &table, BroadcastPath::Compact)?;
    Ok(task.figure(
        &predictions.logits,
        test.labels,
        predictor.config.model.num_classes,
    ))
}

fn last_layer_keep_only(hidden: &[usize], kept: &[usize]) -> MaskTable {
    let mut keep: Vec<Vec<usize>> = hidden.iter().map(|&h| (0..h).collect()).collect();
    if let Some(last) = keep.last_mut() {
        *last = kept.to_vec();
    }
    MaskTable::broadcast_keep_only(hidden, &keep)
}

/// The fewest neurons that meet `required` when neurons go in `order` (first = first off):
/// the largest prefix of `order` whose removal keeps the figure at `required` or more, checked
/// with `Predictor::predict` (stepping back should float rounding disagree with the curve).
/// Returns the kept neurons (ascending) and their figure.
fn fewest_along(
    predictor: &Predictor,
    test: TestSet<'_>,
    task: Task,
    order: &[usize],
    required: f64,
) -> Result<(Vec<usize>, f64)> {
    let classes = predictor.config.model.num_classes;
    let curve = ablate::removal_curve(predictor, test.pixels, test.labels, order, None, |l| {
        task.figure(l, test.labels, classes)
    })?;
    // Never every neuron: a layer keeps at least one.
    let mut candidates: Vec<usize> = (0..order.len()).filter(|&m| curve[m] >= required).collect();
    while let Some(m) = candidates.pop() {
        let mut kept = order[m..].to_vec();
        kept.sort_unstable();
        let figure = measure(predictor, test, task, &kept)?;
        if figure >= required {
            return Ok((kept, figure));
        }
    }
    let mut all = order.to_vec();
    all.sort_unstable();
    let figure = measure(predictor, test, task, &all)?;
    Ok((all, figure))
}

/// The checks `learn` makes before any work: a target fraction in (0, 1], a class the network
/// has and the test set holds, and settings that train at all.
fn check_request(
    predictor: &Predictor,
    test: TestSet<'_>,
    task: Task,
    settings: &CircuitSettings,
) -> Result<()> {
    check_keep(settings.keep)?;
    if let Task::ClassF1(c) = task {
        check_class(c, predictor.config.model.num_classes)?;
        if !test.labels.iter().any(|&l| l as usize == c) {
            bail!("the test set has no inputs of class {c}; its F1 is undefined");
        }
    }
    if settings.penalties.is_empty() || settings.epochs == 0 || settings.batch == 0 {
        bail!("circuit settings need a penalty, an epoch and a batch size");
    }
    Ok(())
}

/// The progress bar of the gates' training: `steps` optimizer steps over all penalties.
fn gate_progress(steps: usize, task: Task) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(steps as u64)
        .with_message(format!("training gates for {}", task.describe()))
        .with_style(
            indicatif::ProgressStyle::with_template(
                "{msg}: [{bar:30}] {pos}/{len} steps, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        )
}

/// Learn the mask for `task`. `train` comes from [`TrainingSet::new`]; `test` is what the
/// target is measured on.
pub fn learn(
    predictor: &Predictor,
    train: &TrainingSet,
    test: TestSet<'_>,
    task: Task,
    settings: &CircuitSettings,
) -> Result<Circuit> {
    let started = Instant::now();
    check_request(predictor, test, task, settings)?;
    let layer = predictor.hidden().len() - 1;
    let width = predictor.hidden()[layer];
    let all: Vec<usize> = (0..width).collect();
    let intact = measure(predictor, test, task, &all)?;
    let required = intact * settings.keep;
    let mut best: Option<(Vec<usize>, f64, f64)> = None;
    let mut tried = Vec::new();
    let steps =
        settings.penalties.len() * settings.epochs * train.labels.len().div_ceil(settings.batch);
    let progress = gate_progress(steps, task);
    for &penalty in &settings.penalties {
        let logits = train_gates(predictor, train, task, penalty, settings, &progress)?;
        let on: Vec<usize> = (0..width).filter(|&j| logits[j] >= 0.0).collect();
        let thresholded_figure = if on.is_empty() {
            0.0
        } else {
            measure(predictor, test, task, &on)?
        };
        // Lowest gate first off; ties by index.
        let mut order = all.clone();
        order.sort_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(a.cmp(&b)));
        let (kept, figure) = fewest_along(predictor, test, task, &order, required)?;
        tried.push(PenaltyTry {
            penalty,
            thresholded: on.len(),
            thresholded_figure,
            kept: kept.len(),
        });
        let better = best
            .as_ref()
            .is_none_or(|(k, f, _)| kept.len() < k.len() || (kept.len() == k.len() && figure > *f));
        if better {
            best = Some((kept, figure, penalty));
        }
    }
    progress.finish_and_clear();
    let Some((kept, figure, penalty)) = best else {
        bail!("no penalty was tried");
    };
    let (greedy, greedy_own) = if settings.compare_greedy {
        greedy_counts(predictor, test, task, required)?
    } else {
        (None, None)
    };
    let (accuracy, accuracy_per_class) = accuracies(predictor, test, &kept)?;
    Ok(Circuit {
        task,
        figure_name: task.describe(),
        layer,
        width,
        keep_fraction: settings.keep,
        intact,
        required,
        kept,
        figure,
        accuracy,
        accuracy_per_class,
        penalty,
        tried,
        greedy,
        greedy_own,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Neurons kept at `required` by the greedy order of `ablate --cumulative` and, for a class's
/// F1, by the greedy order of that F1 (least F1 lost alone first).
fn greedy_counts(
    predictor: &Predictor,
    test: TestSet<'_>,
    task: Task,
    required: f64,
) -> Result<(Option<Comparison>, Option<Comparison>)> {
    let sweep = ablate::sweep(
        predictor,
        test.pixels,
        test.labels,
        AblationMode::Zero,
        None,
    )?;
    let order = ablate::greedy_order(&sweep);
    let (kept, figure) = fewest_along(predictor, test, task, &order, required)?;
    let by_accuracy = Comparison {
        order: "ablate --cumulative (least important for accuracy first)".into(),
        kept: kept.len(),
        figure,
    };
    let Task::ClassF1(_) = task else {
        return Ok((Some(by_accuracy), None));
    };
    let classes = predictor.config.model.num_classes;
    let alone = ablate::single_removals(predictor, test.pixels, test.labels, |l| {
        task.figure(l, test.labels, classes)
    })?;
    let mut order: Vec<usize> = (0..alone.len()).collect();
    order.sort_by(|&a, &b| alone[b].total_cmp(&alone[a]).then(a.cmp(&b)));
    let (kept, figure) = fewest_along(predictor, test, task, &order, required)?;
    let by_own = Comparison {
        order: format!("{} lost alone, least first", task.describe()),
        kept: kept.len(),
        figure,
    };
    Ok((Some(by_accuracy), Some(by_own)))
}

/// Accuracy and every class's accuracy with only `kept` on, as `infer predict` reports them.
fn accuracies(
    predictor: &Predictor,
    test: TestSet<'_>,
    kept: &[usize],
) -> Result<(f64, Vec<Option<f64>>)> {
    let table = last_layer_keep_only(predictor.hidden(), kept);
    let predictions = predictor.predict(test.pixels, &table, BroadcastPath::Compact)?;
    let inputs = InputSet {
        pixels: Vec::new(),
        labels: Some(test.labels.to_vec()),
        origin: String::new(),
    };
    let summary = crate::report::summarize(&inputs, &predictions, 0.0, String::new())?;
    Ok((
        summary.accuracy.unwrap_or(0.0),
        summary.accuracy_per_class.unwrap_or_default(),
    ))
}

/// Ten classes' circuits side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CircuitSet {
    /// One per class that has test inputs, in class order.
    pub circuits: Vec<Circuit>,
    /// Classes without test inputs (no F1 to keep).
    pub skipped: Vec<usize>,
    /// `overlap[a][b]`: neurons both the a-th and the b-th circuit keep (`[a][a]`: its size).
    pub overlap: Vec<Vec<usize>>,
    /// Neurons no class's mask keeps.
    pub needed_by_none: usize,
    pub seconds: f64,
}

/// One circuit per class (F1), and how they overlap.
pub fn learn_all_classes(
    predictor: &Predictor,
    train: &TrainingSet,
    test: TestSet<'_>,
    settings: &CircuitSettings,
    mut progress: impl FnMut(&Circuit),
) -> Result<CircuitSet> {
    let started = Instant::now();
    let classes = predictor.config.model.num_classes;
    let mut circuits = Vec::with_capacity(classes);
    let mut skipped = Vec::new();
    for c in 0..classes {
        if !test.labels.iter().any(|&l| l as usize == c) {
            skipped.push(c);
            continue;
        }
        let circuit = learn(predictor, train, test, Task::ClassF1(c), settings)?;
        progress(&circuit);
        circuits.push(circuit);
    }
    let width = circuits.first().map_or(0, |c| c.width);
    let sets: Vec<Vec<bool>> = circuits
        .iter()
        .map(|c| {
            let mut on = vec![false; width];
            c.kept.iter().for_each(|&j| on[j] = true);
            on
        })
        .collect();
    let overlap = sets
        .iter()
        .map(|a| {
            sets.iter()
                .map(|b| a.iter().zip(b).filter(|&(&x, &y)| x && y).count())
                .collect()
        })
        .collect();
    let needed_by_none = (0..width).filter(|&j| sets.iter().all(|s| !s[j])).count();
    Ok(CircuitSet {
        circuits,
        skipped,
        overlap,
        needed_by_none,
        seconds: started.elapsed().as_secs_f64(),
    })
}
