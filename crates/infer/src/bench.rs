//! `infer bench`: how fast this machine answers, masked and unmasked, and how long an ablation
//! sweep takes next to one forward pass. `bench/compare` puts these figures beside PyTorch's.

use std::time::Instant;

use anyhow::{Context, Result};
use model::MaskTable;
use serde::Serialize;

use crate::InputSet;
use crate::ablate::{self, AblationMode};
use crate::predictor::{BATCH, BroadcastPath, Engine, Predictor};

/// Seed of the random per-sample masks, so every run times the same masks.
const MASK_SEED: u64 = 7;

/// Figures of one `infer bench` run; rates are images per second, medians over the repeats.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub engine: String,
    pub device: String,
    pub images: usize,
    pub batch: usize,
    pub repeats: usize,
    /// No mask.
    pub unmasked_images_per_s: f64,
    /// A different random mask on every image (each neuron off with p = 0.5), `[B, H]`.
    pub masked_images_per_s: f64,
    /// How much longer the per-sample masked pass takes than the unmasked one, in percent
    /// (negative: faster, because switched-off neurons are skipped downstream): the median of
    /// `overhead_pairs` back-to-back pairs (unmasked, masked), each pair's own ratio.
    pub mask_overhead_pct: f64,
    /// Per-sample masks that keep every neuron: the cost of carrying and applying a `[B, H]`
    /// mask with no work saved, in percent (paired the same way).
    pub all_keep_overhead_pct: f64,
    /// How many interleaved pairs each overhead is the median of.
    pub overhead_pairs: usize,
    /// One broadcast mask with 90% of the neurons off (compacted weights).
    pub broadcast90_images_per_s: f64,
    pub broadcast90_speedup: f64,
    /// One unmasked forward pass over the inputs.
    pub forward_seconds: f64,
    /// An ablation sweep of every neuron of the last hidden layer (zero mode).
    pub sweep_seconds: f64,
    pub sweep_vs_forward: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median wall time of `repeats` calls of `f`, after one warm-up call.
fn time<T>(repeats: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
    std::hint::black_box(f()?);
    let mut seconds = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        std::hint::black_box(f()?);
        seconds.push(t.elapsed().as_secs_f64());
    }
    Ok(median(seconds))
}

/// The extra time of `other` over `base` in percent, as the median over `pairs` back-to-back
/// pairs of each pair's own ratio. Why pairs: the overhead is a difference of two timings a
/// few percent apart, and on a shared machine the speed drifts by more than that between
/// rounds (one earlier run read +6.5%, +5.9% and -6.8%); a pair is timed within a fraction
/// of a second, so drift mostly cancels, and the order inside a pair alternates.
fn paired_overhead<T>(
    pairs: usize,
    mut base: impl FnMut() -> Result<T>,
    mut other: impl FnMut() -> Result<T>,
) -> Result<f64> {
    let timed = |f: &mut dyn FnMut() -> Result<T>| -> Result<f64> {
        let t = Instant::now();
        std::hint::black_box(f()?);
        Ok(t.elapsed().as_secs_f64())
    };
    std::hint::black_box(base()?);
    std::hint::black_box(other()?);
    let mut ratios = Vec::with_capacity(pairs);
    for i in 0..pairs.max(1) {
        let (b, o) = if i % 2 == 0 {
            let b = timed(&mut base)?;
            (b, timed(&mut other)?)
        } else {
            let o = timed(&mut other)?;
            (timed(&mut base)?, o)
        };
        ratios.push((o / b - 1.0) * 100.0);
    }
    Ok(median(ratios))
}

/// Interleaved pairs per overhead figure: four per repeat, at least eight.
fn overhead_pairs(repeats: usize) -> usize {
    (4 * repeats).max(8)
}

/// Time every figure over `inputs` (labelled, e.g. the MNIST test set).
pub fn run(
    predictor: &Predictor,
    inputs: &InputSet,
    repeats: usize,
    device: &str,
) -> Result<BenchReport> {
    let labels = inputs
        .labels
        .as_deref()
        .context("the benchmark needs labelled inputs (the sweep scores them)")?;
    let n = inputs.len();
    let hidden = predictor.hidden().to_vec();
    let pixels = &inputs.pixels;
    let predict = |table: &MaskTable, path| {
        let p = predictor.predict(pixels, table, path)?;
        // Read the answer like a user would: the predicted class of every input.
        Ok((0..p.len()).map(|i| p.predicted(i)).sum::<usize>())
    };
    let all_on = MaskTable::all_on(&hidden);
    let half_off = MaskTable::random_off(&hidden, n, 0.5, MASK_SEED)?;
    let all_keep = MaskTable::from_rows(&hidden, vec![vec![1.0; hidden.iter().sum()]; n])?;
    let off: Vec<Vec<usize>> = hidden
        .iter()
        .map(|&h| (0..h).filter(|i| i % 10 != 0).collect())
        .collect();
    let ninety = MaskTable::broadcast_off(&hidden, &off);

    let unmasked = time(repeats, || predict(&all_on, BroadcastPath::Compact))?;
    let masked = time(repeats, || predict(&half_off, BroadcastPath::Multiply))?;
    let broadcast = time(repeats, || predict(&ninety, BroadcastPath::Compact))?;
    let pairs = overhead_pairs(repeats);
    let mask_overhead = paired_overhead(
        pairs,
        || predict(&all_on, BroadcastPath::Compact),
        || predict(&half_off, BroadcastPath::Multiply),
    )?;
    let keep_overhead = paired_overhead(
        pairs,
        || predict(&all_on, BroadcastPath::Compact),
        || predict(&all_keep, BroadcastPath::Multiply),
    )?;
    let sweep = time(repeats, || {
        ablate::sweep(predictor, pixels, labels, AblationMode::Zero, None)
    })?;
    let rate = |s: f64| n as f64 / s;
    Ok(BenchReport {
        engine: match predictor.engine() {
            Engine::Burn => "burn".into(),
            Engine::Sparse => "sparse".into(),
        },
        device: device.into(),
        images: n,
        batch: BATCH,
        repeats,
        unmasked_images_per_s: rate(unmasked),
        masked_images_per_s: rate(masked),
        mask_overhead_pct: mask_overhead,
        all_keep_overhead_pct: keep_overhead,
        overhead_pairs: pairs,
        broadcast90_images_per_s: rate(broadcast),
        broadcast90_speedup: unmasked / broadcast,
        forward_seconds: unmasked,
        sweep_seconds: sweep,
        sweep_vs_forward: sweep / unmasked,
    })
}

pub fn print(r: &BenchReport) {
    println!(
        "{} images, batch {}, engine {} on {}, median of {} pass(es)",
        r.images, r.batch, r.engine, r.device, r.repeats
    );
    println!(
        "  no mask                      {:>10.0} images/s",
        r.unmasked_images_per_s
    );
    println!(
        "  per-sample masks (half off)  {:>10.0} images/s  ({:+.1}% time, median of {} pairs)",
        r.masked_images_per_s, r.mask_overhead_pct, r.overhead_pairs
    );
    println!(
        "  per-sample masks (all kept)                       ({:+.1}% time, median of {} pairs)",
        r.all_keep_overhead_pct, r.overhead_pairs
    );
    println!(
        "  broadcast, 90% off           {:>10.0} images/s  ({:.1}x no mask)",
        r.broadcast90_images_per_s, r.broadcast90_speedup
    );
    println!(
        "  ablation sweep, every neuron {:>10.3} s         ({:.1}x one forward of {:.3} s)",
        r.sweep_seconds, r.sweep_vs_forward, r.forward_seconds
    );
}
