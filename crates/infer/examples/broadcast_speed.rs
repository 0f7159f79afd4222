//! How much a broadcast mask speeds inference up when the switched-off neurons are dropped
//! from the weights. Prints images/s for the full net, and for 90% of neurons off through the
//! compacted and the multiply paths, over the MNIST test set (batch 1024), median of 7 passes.
//!
//! cargo run --release -p infer --example broadcast_speed -- ARTIFACT_DIR [MNIST_DIR]

use std::time::Instant;

use anyhow::{Context, Result};
use burn::prelude::*;
use infer::{BroadcastPath, InputSet, Predictor};
use model::MaskTable;

fn median_rate(
    p: &Predictor,
    inputs: &InputSet,
    table: &MaskTable,
    path: BroadcastPath,
) -> Result<f64> {
    let mut rates = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let out = p.predict(&inputs.pixels, table, path)?;
        std::hint::black_box(out);
        rates.push(inputs.len() as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[3])
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .context("usage: broadcast_speed ARTIFACT_DIR [MNIST_DIR]")?;
    let data = args.next();
    let device = Device::flex();
    let p = Predictor::load(dir.as_ref(), None, &device)?;
    let inputs = InputSet::mnist_test(data.as_deref().map(std::path::Path::new))?;
    let hidden = p.hidden().to_vec();
    let off: Vec<Vec<usize>> = hidden
        .iter()
        .map(|&h| (0..h).filter(|i| i % 10 != 0).collect())
        .collect();
    let ninety = MaskTable::broadcast_off(&hidden, &off);
    let full = median_rate(
        &p,
        &inputs,
        &MaskTable::all_on(&hidden),
        BroadcastPath::Compact,
    )?;
    let compact = median_rate(&p, &inputs, &ninety, BroadcastPath::Compact)?;
    let multiply = median_rate(&p, &inputs, &ninety, BroadcastPath::Multiply)?;
    let a = p.predict(&inputs.pixels, &ninety, BroadcastPath::Compact)?;
    let b = p.predict(&inputs.pixels, &ninety, BroadcastPath::Multiply)?;
    let max_diff = a
        .logits
        .iter()
        .zip(&b.logits)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    let same = (0..a.len()).all(|i| a.predicted(i) == b.predicted(i));
    println!("no mask:            {full:>10.0} images/s");
    println!(
        "90% off, compacted: {compact:>10.0} images/s ({:.2}x the full net)",
        compact / full
    );
    println!(
        "90% off, multiply:  {multiply:>10.0} images/s ({:.2}x the full net)",
        multiply / full
    );
    println!(
        "compacted vs multiply: same predictions: {same}, max |logit difference| {max_diff:.2e}"
    );
    Ok(())
}
