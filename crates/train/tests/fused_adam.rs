//! The fused Adam (`train::fused_adam`) against Burn's `Adam` with the run's settings
//! (`configs/mnist-mlp.json`): after 100 steps on the same gradients the weights agree within
//! 1e-6 relative, and its state saves and loads like Burn's (each resumes the other's record).
#![cfg(feature = "flex")]

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use model::{ExperimentConfig, MaskedMlp};
use test_support::{Lcg, parameter_values as values};
use train::fused_adam::{self, FusedAdam};

const STEPS: usize = 100;
const BATCH: usize = 64;

fn run_config() -> ExperimentConfig {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/mnist-mlp.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("configs/mnist-mlp.json"))
        .expect("the run's config parses")
}

/// Step `t`'s batch: ~80% zero "pixels" in [0, 1] and random labels, from a fixed seed.
fn batch(t: usize, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let mut rng = Lcg::new(1000 + t as u64);
    let pixels: Vec<f32> = (0..BATCH * 784)
        .map(|_| {
            let v = rng.next_centered() + 0.5;
            if v < 0.8 { 0.0 } else { v }
        })
        .collect();
    let labels: Vec<i64> = (0..BATCH).map(|_| i64::from(rng.next_u32() % 10)).collect();
    (
        Tensor::from_data(TensorData::new(pixels, [BATCH, 784]), device),
        Tensor::from_data(TensorData::new(labels, [BATCH]), device),
    )
}

/// The gradients of `model`'s loss on step `t`'s batch.
fn gradients(model: &MaskedMlp, t: usize) -> GradientsParams {
    let device = model.devices()[0].clone();
    let (x, y) = batch(t, &device);
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(model.forward(x), y);
    GradientsParams::from_grads(loss.backward(), model)
}

/// The largest `|a - b| / |b|` over the values (with a floor of 1e-6 on `|b|`).
fn worst_relative(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f64, |m, (&x, &y)| {
        m.max(f64::from((x - y).abs()) / f64::from(y.abs()).max(1e-6))
    })
}

#[test]
fn hundred_steps_equal_burns_adam_on_the_same_gradients() {
    let config = run_config();
    let lr = config.learning_rate;
    let device = Device::flex().autodiff();
    let start = config.model.init(&device);
    let (mut burn_model, mut fused_model) = (start.clone(), start.clone());
    let mut burn_optim: ModuleOptimizer = config.optimizer.init();
    let mut fused_optim = fused_adam::init(&config.optimizer);
    // The fused pass is what runs here (parameters reach the optimizer on plain flex).
    let fused = FusedAdam::new(&config.optimizer);
    assert!(fused.runs_fused_on(&Device::flex(), burn::tensor::DType::F32));
    for t in 0..STEPS {
        // Both take the gradients of the same model at each step: equal inputs to both.
        let (for_burn, for_fused) = (gradients(&fused_model, t), gradients(&fused_model, t));
        burn_model = burn_optim.step(lr, burn_model, for_burn);
        // Every other step, hold a copy of the model as Burn's Learner does: the parameters'
        // buffers are then shared and the update goes to new ones (kernels::adam::step_into).
        let held = (t % 2 == 0).then(|| fused_model.clone());
        fused_model = fused_optim.step(lr, fused_model, for_fused);
        drop(held);
    }
    let (a, b) = (values(&fused_model), values(&burn_model));
    let moved = worst_relative(&b, &values(&start));
    assert!(moved > 1e-2, "the weights barely moved ({moved}): no test");
    let e = worst_relative(&a, &b);
    println!("fused vs Burn's Adam after {STEPS} steps: worst relative difference {e:e}");
    assert!(e <= 1e-6, "fused Adam differs from Burn's by {e} relative");
}

/// `steps` steps from `model` with `optim`, on the gradients of steps `from..from + steps`.
fn train(
    mut model: MaskedMlp,
    mut optim: ModuleOptimizer,
    from: usize,
    steps: usize,
    lr: f64,
) -> (MaskedMlp, ModuleOptimizer) {
    for t in from..from + steps {
        let grads = gradients(&model, t);
        model = optim.step(lr, model, grads);
    }
    (model, optim)
}

#[test]
fn its_state_saves_and_resumes_like_burns() {
    let config = run_config();
    let lr = config.learning_rate;
    let device = Device::flex().autodiff();
    let start = config.model.init(&device);
    let (straight, _) = train(
        start.clone(),
        fused_adam::init(&config.optimizer),
        0,
        20,
        lr,
    );

    // Stop after 10 steps, keep only the optimizer's record, and go on with a fresh optimizer.
    let (half, optim) = train(
        start.clone(),
        fused_adam::init(&config.optimizer),
        0,
        10,
        lr,
    );
    let record = optim.to_record();
    let resumed = fused_adam::init(&config.optimizer).load_record(record);
    let (resumed, _) = train(half, resumed, 10, 10, lr);
    assert_eq!(
        values(&resumed),
        values(&straight),
        "resume changed the weights"
    );

    // A record of Burn's Adam (an older checkpoint) resumes in the fused one: same state type.
    let (burn_half, burn_optim) = train(start, config.optimizer.init(), 0, 10, lr);
    let resumed = fused_adam::init(&config.optimizer).load_record(burn_optim.to_record());
    let (from_burn, _) = train(burn_half, resumed, 10, 10, lr);
    let e = worst_relative(&values(&from_burn), &values(&straight));
    assert!(
        e <= 1e-6,
        "Burn's record resumed in the fused Adam differs by {e}"
    );
}
