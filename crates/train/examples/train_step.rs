//! Heap allocations and time per training step on the flex CPU backend, for the seed's
//! network (784 -> 600 -> 10, batch 128, real MNIST), with and without this project's two
//! training speed-ups: the zero-skipping first layer (`model::sparse_op`) and the fused Adam
//! (`train::fused_adam`). "Burn's" means Burn's dense Linear and Burn's `Adam`: the step as it
//! was before them.
//!
//! A step is what the Learner does per batch: forward, cross-entropy, backward, optimizer
//! step. Allocations are counted by a counting global allocator (`stats_alloc`) around each
//! step; times (whole step, and forward + loss, backward, optimizer step) are medians over the measured steps of three rounds in rotating order (after
//! 10 warm-up steps per round).
//!
//! ```sh
//! cargo run --release -p train --example train_step            # 200 steps per variant
//! cargo run --release -p train --example train_step -- 50 --json
//! ```

use std::alloc::System;
use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::relu;
use data::{MnistBatcher, MnistSource, Split};
use model::{ExperimentConfig, HiddenMasks, MaskPolicy, MaskedMlp};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const BATCH: usize = 128;
const WARM_UP: usize = 10;
const ROUNDS: usize = 3;

/// Which first layer and which optimizer a variant uses.
#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    sparse_first_layer: bool,
    fused_adam: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "Burn's Linear + Burn's Adam (before)",
        sparse_first_layer: false,
        fused_adam: false,
    },
    Variant {
        name: "sparse first layer + Burn's Adam",
        sparse_first_layer: true,
        fused_adam: false,
    },
    Variant {
        name: "Burn's Linear + fused Adam",
        sparse_first_layer: false,
        fused_adam: true,
    },
    Variant {
        name: "sparse first layer + fused Adam (now)",
        sparse_first_layer: true,
        fused_adam: true,
    },
];

/// Logits through Burn's own dense ops: the forward pass before the sparse operation.
fn dense_forward(model: &MaskedMlp, x: Tensor<2>) -> Tensor<2> {
    let mut x = x;
    for layer in &model.hidden {
        x = relu(layer.forward(x));
    }
    model.output.forward(x)
}

#[derive(Default)]
struct Measured {
    allocations: Vec<u64>,
    bytes: Vec<u64>,
    seconds: Vec<f64>,
    /// Per step: forward and loss, backward, optimizer step.
    phases: [Vec<f64>; 3],
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(
    variant: Variant,
    steps: usize,
    batches: &[(Vec<f32>, Vec<i64>)],
    measured: &mut Measured,
) -> anyhow::Result<()> {
    let config = ExperimentConfig::seed_run();
    let device = Device::flex().autodiff();
    let mut model = config.model.init(&device);
    let mut optim: ModuleOptimizer = if variant.fused_adam {
        train::fused_adam::init(&config.optimizer)
    } else {
        config.optimizer.init()
    };
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for step in 0..WARM_UP + steps {
        let (pixels, labels) = &batches[step % batches.len()];
        let x = Tensor::<2>::from_data(TensorData::new(pixels.clone(), [BATCH, 784]), &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [BATCH]), &device);
        let region = Region::new(GLOBAL);
        let start = Instant::now();
        let logits = if variant.sparse_first_layer {
            // The training path: `forward_masked` takes the operation on autodiff flex.
            model.forward_masked(x, &HiddenMasks::none())?
        } else {
            dense_forward(&model, x)
        };
        let loss = loss_fn.forward(logits, y);
        let forward = start.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let backward = start.elapsed().as_secs_f64();
        model = optim.step(config.learning_rate, model, grads);
        let seconds = start.elapsed().as_secs_f64();
        let change = region.change();
        if step >= WARM_UP {
            measured
                .allocations
                .push((change.allocations + change.reallocations) as u64);
            measured.bytes.push(change.bytes_allocated as u64);
            measured.seconds.push(seconds);
            for (phase, t) in
                measured
                    .phases
                    .iter_mut()
                    .zip([forward, backward - forward, seconds - backward])
            {
                phase.push(t);
            }
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let steps: usize = match args.iter().find(|a| !a.starts_with("--")) {
        Some(n) => n
            .parse()
            .map_err(|_| anyhow::anyhow!("steps: expected a number, got {n:?}"))?,
        None => 200,
    };
    if steps == 0 {
        anyhow::bail!("steps: expected 1 or more");
    }
    let split = MnistSource::resolve(None).load(Split::Train)?;
    let batcher = MnistBatcher::new(split, vec![600], MaskPolicy::None);
    let batches: Vec<_> = (0..50)
        .map(|b| batcher.host_batch(&(b * BATCH..(b + 1) * BATCH).collect::<Vec<_>>()))
        .collect();
    // Rounds in rotating order, so that no variant always runs first (cold caches, a
    // fresh heap) or last.
    let mut measured: Vec<Measured> = VARIANTS.iter().map(|_| Measured::default()).collect();
    for round in 0..ROUNDS {
        for k in 0..VARIANTS.len() {
            let v = (k + round) % VARIANTS.len();
            run(
                VARIANTS[v],
                steps.div_ceil(ROUNDS),
                &batches,
                &mut measured[v],
            )?;
        }
    }
    let mut rows = Vec::new();
    for (variant, m) in VARIANTS.into_iter().zip(measured) {
        let allocations = median(m.allocations.iter().map(|&a| a as f64).collect());
        let mib = median(m.bytes.iter().map(|&b| b as f64).collect()) / (1024.0 * 1024.0);
        let ms = median(m.seconds) * 1e3;
        let [forward, backward, step] = m.phases.map(|p| median(p) * 1e3);
        if !json {
            println!(
                "{:<40} {allocations:>5.0} allocations {mib:>6.2} MiB {ms:>6.2} ms/step \
                 (forward {forward:.2}, backward {backward:.2}, optimizer {step:.2})",
                variant.name
            );
        }
        rows.push(serde_json::json!({
            "variant": variant.name,
            "sparse_first_layer": variant.sparse_first_layer,
            "fused_adam": variant.fused_adam,
            "allocations_per_step": allocations,
            "mib_allocated_per_step": mib,
            "ms_per_step": ms,
            "ms_forward": forward,
            "ms_backward": backward,
            "ms_optimizer": step,
        }));
    }
    let [forward, weight_grad] = first_layer_kernels(&batches)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "steps": steps,
                "batch": BATCH,
                "variants": rows,
                "first_layer_kernels_ms": { "forward": forward, "weight_grad": weight_grad },
            })
        );
    } else {
        println!(
            "first-layer kernels alone (kernels::sparse_linear): forward {forward:.2} ms, \
             weight gradient {weight_grad:.2} ms per batch"
        );
    }
    Ok(())
}

/// Median milliseconds of the first layer's two kernels on these batches, called directly
/// (the seed's initial weights; an output gradient of ones): the floor under the operation.
fn first_layer_kernels(batches: &[(Vec<f32>, Vec<i64>)]) -> anyhow::Result<[f64; 2]> {
    let config = ExperimentConfig::seed_run();
    let model = config.model.init(&Device::flex());
    let layer = &model.hidden[0];
    let w: Vec<f32> = layer.weight.val().into_data().iter::<f32>().collect();
    let b: Vec<f32> = layer.bias.as_ref().map_or_else(
        || vec![0.0; 600],
        |b| b.val().into_data().iter::<f32>().collect(),
    );
    let keep = vec![1.0; 600];
    let dz = vec![1.0; BATCH * 600];
    let (mut forward, mut weight_grad) = (vec![], vec![]);
    for (pixels, _) in batches.iter().cycle().take(3 * batches.len()) {
        let start = Instant::now();
        let out = kernels::sparse_linear::forward(pixels, &w, &b, &keep, [784, 600])?;
        forward.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        let dw = kernels::sparse_linear::weight_grad(pixels, &dz, [784, 600])?;
        weight_grad.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box((out, dw));
    }
    Ok([median(forward), median(weight_grad)])
}
