//! Every last-hidden-layer neuron's ablation effect, in about the time of one forward pass.
//!
//! The output layer is linear, so switching neuron j off changes every logit by exactly
//! `(target_j - h_j) * W_out[j, :]`, with target 0 (zero mode) or the neuron's mean (mean
//! mode). Given the hidden activations and the intact logits, one pass over the samples
//! updates each sample's logits for every neuron at once (SIMD lanes are neurons) and scores
//! them, instead of one forward pass per neuron (what Captum's LayerFeatureAblation does).

use macerator::{Simd, WithSimd};
use rayon::prelude::*;

use crate::KernelError;
use crate::fast_math::{exp, ln};
use crate::simd::{SimdLevel, dispatch};

/// The intact network's last hidden layer and output, on `n` samples.
#[derive(Debug, Clone, Copy)]
pub struct SweepInput<'a> {
    pub hidden: usize,
    pub classes: usize,
    /// `[n x hidden]`: the last hidden layer's activations (after mask and ReLU).
    pub activations: &'a [f32],
    /// `[hidden x classes]`: the output layer's weights (Burn's layout).
    pub output_weight: &'a [f32],
    /// `[n x classes]`: the intact logits.
    pub logits: &'a [f32],
}

/// What a sweep adds up over the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepTotals {
    /// Correct predictions and summed cross-entropy of the intact network.
    pub base_correct: usize,
    pub base_loss: f64,
    /// Per neuron, with that neuron switched off.
    pub correct: Vec<usize>,
    pub loss: Vec<f64>,
    /// `[hidden x classes]`: change in correct predictions among inputs of each true class.
    pub class_change: Vec<i64>,
}

impl SweepTotals {
    pub fn zeros(hidden: usize, classes: usize) -> Self {
        Self {
            base_correct: 0,
            base_loss: 0.0,
            correct: vec![0; hidden],
            loss: vec![0.0; hidden],
            class_change: vec![0; hidden * classes],
        }
    }

    /// Add the totals of other samples.
    pub fn add(&mut self, other: &SweepTotals) {
        self.base_correct += other.base_correct;
        self.base_loss += other.base_loss;
        for (a, b) in self.correct.iter_mut().zip(&other.correct) {
            *a += b;
        }
        for (a, b) in self.loss.iter_mut().zip(&other.loss) {
            *a += b;
        }
        for (a, b) in self.class_change.iter_mut().zip(&other.class_change) {
            *a += b;
        }
    }
}

/// Sweep every neuron over the samples with these `labels`; `targets` are the values a
/// switched-off neuron is held at (`None`: zero). Samples are split across threads.
pub fn sweep(
    input: &SweepInput,
    labels: &[u8],
    targets: Option<&[f32]>,
) -> Result<SweepTotals, KernelError> {
    sweep_at(None, input, labels, targets)
}

/// [`sweep`] at instruction-set `level` (`None`: the best this CPU has).
pub fn sweep_at(
    level: Option<SimdLevel>,
    input: &SweepInput,
    labels: &[u8],
    targets: Option<&[f32]>,
) -> Result<SweepTotals, KernelError> {
    check(input, labels, targets)?;
    let (hidden, classes) = (input.hidden, input.classes);
    // W transposed to [classes x hidden]: class c's weights over all neurons are contiguous.
    let wt = crate::transpose(input.output_weight, [hidden, classes]);
    let targets = targets.map_or_else(|| vec![0.0; hidden], <[f32]>::to_vec);
    let chunk = labels
        .len()
        .div_ceil(4 * rayon::current_num_threads().max(1))
        .max(1);
    labels
        .par_chunks(chunk)
        .enumerate()
        .map(|(c, labels)| {
            let samples = Samples {
                input,
                wt: &wt,
                targets: &targets,
                labels,
                first: c * chunk,
            };
            dispatch(level, samples)
        })
        .try_reduce(
            || SweepTotals::zeros(hidden, classes),
            |mut a, b| {
                a.add(&b);
                Ok(a)
            },
        )
}

fn check(input: &SweepInput, labels: &[u8], targets: Option<&[f32]>) -> Result<(), KernelError> {
    let (n, hidden, classes) = (labels.len(), input.hidden, input.classes);
    let bad = |what: &str, got: usize, want: usize| {
        Err(KernelError::Shape(format!(
            "the sweep's {what} has {got} values; expected {want}"
        )))
    };
    if hidden == 0 || classes == 0 {
        return Err(KernelError::Shape(format!(
            "the sweep needs at least one neuron and one class (got {hidden} and {classes})"
        )));
    }
    if input.activations.len() != n * hidden {
        return bad("activations", input.activations.len(), n * hidden);
    }
    if input.output_weight.len() != hidden * classes {
        return bad("output weight", input.output_weight.len(), hidden * classes);
    }
    if input.logits.len() != n * classes {
        return bad("logits", input.logits.len(), n * classes);
    }
    if let Some(t) = targets
        && t.len() != hidden
    {
        return bad("targets", t.len(), hidden);
    }
    if let Some(&label) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(KernelError::Shape(format!(
            "label {label} is not one of the network's {classes} classes"
        )));
    }
    Ok(())
}

/// The samples `first..first + labels.len()`, run at one instruction-set level.
struct Samples<'a> {
    input: &'a SweepInput<'a>,
    /// The output weights, `[classes x hidden]`.
    wt: &'a [f32],
    targets: &'a [f32],
    labels: &'a [u8],
    first: usize,
}

impl WithSimd for Samples<'_> {
    type Output = SweepTotals;

    // `S` only selects the target features the body is compiled with.
    #[inline(always)]
    fn with_simd<S: Simd>(self) -> SweepTotals {
        self.run()
    }
}

/// Per-neuron scratch rows of one sample, reused across samples.
struct Scratch {
    /// `target - h`: how far each neuron's activation moves.
    shift: Vec<f32>,
    /// `[classes x hidden]`: the logits with each neuron off.
    logits: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
    /// 1 where the label stays (or becomes) the prediction.
    hit: Vec<i32>,
    loss: Vec<f32>,
}

impl Samples<'_> {
    /// For sample n and neuron j only the logits row changes, by `shift_j * W[j, :]`, so each
    /// (n, j) costs one `classes`-wide update and a softmax; where the shift is zero (a
    /// neuron already silent on that sample, in zero mode) the sample keeps its intact score.
    #[inline(always)]
    fn run(self) -> SweepTotals {
        let (hidden, classes) = (self.input.hidden, self.input.classes);
        let mut out = SweepTotals::zeros(hidden, classes);
        let mut d_correct = vec![0i32; hidden];
        let mut d_class = vec![0i32; classes * hidden];
        let mut d_loss = vec![0f64; hidden];
        let mut s = Scratch {
            shift: vec![0.0; hidden],
            logits: vec![0.0; classes * hidden],
            max: vec![0.0; hidden],
            sum: vec![0.0; hidden],
            hit: vec![0; hidden],
            loss: vec![0.0; hidden],
        };
        for (k, &label) in self.labels.iter().enumerate() {
            let n = self.first + k;
            let label = label as usize;
            let base = &self.input.logits[n * classes..(n + 1) * classes];
            let (hit, base_loss) = sweep_score(base, label);
            out.base_correct += usize::from(hit);
            out.base_loss += base_loss as f64;
            self.score_all_neurons(&mut s, n, label);
            let hit = i32::from(hit);
            for j in 0..hidden {
                // A zero shift leaves the sample as it was, exactly. (Selects, not a branch,
                // so that the loop vectorises.)
                let moved = s.shift[j] != 0.0;
                let delta = if moved { s.hit[j] - hit } else { 0 };
                d_correct[j] += delta;
                d_class[label * hidden + j] += delta;
                d_loss[j] += if moved {
                    s.loss[j] as f64 - base_loss as f64
                } else {
                    0.0
                };
            }
        }
        for j in 0..hidden {
            out.correct[j] = (out.base_correct as i64 + d_correct[j] as i64) as usize;
            out.loss[j] = out.base_loss + d_loss[j];
            for c in 0..classes {
                out.class_change[j * classes + c] = d_class[c * hidden + j] as i64;
            }
        }
        out
    }

    /// Sample n's hit and loss with each neuron off, into `s.hit` and `s.loss`.
    #[inline(always)]
    fn score_all_neurons(&self, s: &mut Scratch, n: usize, label: usize) {
        let (hidden, classes) = (self.input.hidden, self.input.classes);
        let base = &self.input.logits[n * classes..(n + 1) * classes];
        let h = &self.input.activations[n * hidden..(n + 1) * hidden];
        for ((d, &t), &h) in s.shift.iter_mut().zip(self.targets).zip(h) {
            *d = t - h;
        }
        let row = |c: usize| c * hidden..(c + 1) * hidden;
        for (c, &b) in base.iter().enumerate() {
            for ((r, &d), &w) in s.logits[row(c)]
                .iter_mut()
                .zip(&s.shift)
                .zip(&self.wt[row(c)])
            {
                *r = d.mul_add(w, b);
            }
        }
        s.max.copy_from_slice(&s.logits[row(0)]);
        for c in 1..classes {
            for (m, &v) in s.max.iter_mut().zip(&s.logits[row(c)]) {
                *m = m.max(v);
            }
        }
        // The first maximum is the prediction: the label's logit must reach the maximum and
        // beat every class before it.
        let target = &s.logits[row(label)];
        for ((ch, &t), &m) in s.hit.iter_mut().zip(target).zip(&s.max) {
            *ch = i32::from(t >= m);
        }
        for c in 0..label {
            for ((ch, &t), &v) in s.hit.iter_mut().zip(target).zip(&s.logits[row(c)]) {
                *ch &= i32::from(v < t);
            }
        }
        s.sum.fill(0.0);
        for c in 0..classes {
            for ((sum, &v), &m) in s.sum.iter_mut().zip(&s.logits[row(c)]).zip(&s.max) {
                *sum += exp(v - m);
            }
        }
        for (((l, &m), &sum), &t) in s.loss.iter_mut().zip(&s.max).zip(&s.sum).zip(target) {
            *l = m + ln(sum) - t;
        }
    }
}

/// Cross-entropy and whether the first maximum is `label`, for one logits row, with the same
/// arithmetic as the vectorised sweep (so an unchanged row scores exactly the same).
#[inline(always)]
fn sweep_score(row: &[f32], label: usize) -> (bool, f32) {
    let max = row.iter().copied().fold(row[0], f32::max);
    let first = row.iter().position(|&v| v >= max).unwrap_or(0);
    let sum: f32 = row.iter().map(|&v| exp(v - max)).sum();
    (first == label, max + ln(sum) - row[label])
}
