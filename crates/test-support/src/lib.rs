//! Fixtures the test suites share (dev-dependency only): artifact directories holding a saved
//! network, and a small deterministic random source for weights and synthetic images.

use std::path::Path;

use burn::module::Param;
use burn::prelude::*;
use data::ArtifactDir;
use data::artifact::{save_config, save_model};
use model::{ExperimentConfig, MaskedMlpConfig};

/// A 64-bit linear congruential generator (Knuth's MMIX constants): the same numbers on every
/// machine, which is all a fixture needs.
#[derive(Debug, Clone)]
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 31 high bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// Uniform in [-0.5, 0.5).
    pub fn next_centered(&mut self) -> f32 {
        self.next_u32() as f32 / (1u64 << 31) as f32 - 0.5
    }
}

/// How the saved network's parameters are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Burn's default initialisation, as `train` starts from.
    Default,
    /// Weights in [-0.1, 0.1) and biases in [-0.05, 0.15) from [`Lcg`] with this seed.
    PseudoRandom(u64),
}

/// Replace a Linear's parameters: `weight` row-major `[in, out]` (Burn's layout), `bias`
/// `[out]`, on the device the layer is on.
pub fn set_linear(linear: &mut burn::nn::Linear, weight: Vec<f32>, bias: Vec<f32>) {
    let [d_in, d_out] = linear.weight.dims();
    let device = linear.weight.device();
    linear.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(weight, [d_in, d_out]),
        &device,
    ));
    linear.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [d_out]),
        &device,
    )));
}

/// Save an untrained `784 -> hidden -> classes` network into `dir` as `train` would
/// (`config.json` + `model.bpk`) and return its config.
pub fn save_model_dir(
    dir: &Path,
    hidden: &[usize],
    classes: usize,
    weights: Weights,
) -> ExperimentConfig {
    let device = Device::flex();
    let config = ExperimentConfig::new(
        MaskedMlpConfig::new()
            .with_hidden(hidden.to_vec())
            .with_num_classes(classes),
        burn::optim::AdamConfig::new(),
    );
    let mut model = config.model.init(&device);
    if let Weights::PseudoRandom(seed) = weights {
        let mut rng = Lcg::new(seed);
        for linear in model
            .hidden
            .iter_mut()
            .chain(std::iter::once(&mut model.output))
        {
            let [d_in, d_out] = linear.weight.dims();
            let w: Vec<f32> = (0..d_in * d_out)
                .map(|_| rng.next_centered() * 0.2)
                .collect();
            let b: Vec<f32> = (0..d_out)
                .map(|_| rng.next_centered() * 0.2 + 0.05)
                .collect();
            set_linear(linear, w, b);
        }
    }
    let art = ArtifactDir::new(dir);
    std::fs::create_dir_all(dir).expect("model dir");
    save_config(&config, &art.config()).expect("config.json");
    save_model(&model, &art.model()).expect("model.bpk");
    config
}

/// Every parameter of `model` as one list: each layer's weight then its bias, input side first
/// (for comparing two trained networks value by value).
pub fn parameter_values(model: &model::MaskedMlp) -> Vec<f32> {
    let mut out = Vec::new();
    for l in model.hidden.iter().chain(std::iter::once(&model.output)) {
        out.extend(l.weight.val().into_data().iter::<f32>());
        if let Some(b) = &l.bias {
            out.extend(b.val().into_data().iter::<f32>());
        }
    }
    out
}
