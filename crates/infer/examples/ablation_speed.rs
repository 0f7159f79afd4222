//! The ablation sweep against one forward pass and against the one-forward-per-neuron loop, on a
//! trained model; also checks 20 sampled neurons against brute force.
//!
//! cargo run --release -p infer --example ablation_speed -- ARTIFACT_DIR [MNIST_DIR]

use std::time::Instant;

use anyhow::{Context, Result};
use burn::prelude::*;
use infer::ablate::{self, AblationMode};
use infer::{BroadcastPath, InputSet, Predictor};
use model::MaskTable;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    backend::cpu::flush_denormals();
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .context("usage: ablation_speed ARTIFACT_DIR [MNIST_DIR]")?;
    let data = args.next();
    let p = Predictor::load(dir.as_ref(), None, &Device::flex())?;
    let inputs = InputSet::mnist_test(data.as_deref().map(std::path::Path::new))?;
    let labels = inputs.labels.clone().context("labels")?;
    let hidden = p.hidden().to_vec();
    let all_on = MaskTable::all_on(&hidden);

    let forward = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(
                    p.predict(&inputs.pixels, &all_on, BroadcastPath::Multiply)
                        .ok(),
                );
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let mut result = None;
    let sweep = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                result = ablate::sweep(&p, &inputs.pixels, &labels, AblationMode::Zero, None).ok();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let result = result.context("sweep failed")?;

    let width = *hidden.last().context("hidden")?;
    let sample: Vec<usize> = (0..20).map(|i| i * width / 20 + (i % 7)).collect();
    let t = Instant::now();
    let (mut same_counts, mut max_loss_diff) = (true, 0f64);
    for &j in &sample {
        let (correct, loss) =
            ablate::brute_force_zero(&p, &inputs.pixels, &labels, hidden.len() - 1, j)?;
        same_counts &= correct == result.effects[j].correct;
        max_loss_diff = max_loss_diff.max((loss - result.effects[j].loss).abs());
    }
    let brute_per_neuron = t.elapsed().as_secs_f64() / sample.len() as f64;
    let brute_all = brute_per_neuron * width as f64;

    println!("inputs: {}, neurons swept: {width}", inputs.len());
    println!("one forward pass:            {forward:.4} s (median of 5)");
    println!("fast sweep of all neurons:   {sweep:.4} s (median of 5)");
    println!(
        "one forward per neuron:      {brute_all:.2} s (20 sampled neurons, scaled to {width})"
    );
    println!(
        "sweep / forward:             {:.2}x (goal <= 2)",
        sweep / forward
    );
    println!(
        "speed-up over the loop:      {:.0}x (goal >= 100)",
        brute_all / sweep
    );
    println!(
        "20 sampled neurons vs brute force: identical accuracy counts: {same_counts}, max |loss difference| {max_loss_diff:.2e}"
    );
    Ok(())
}
