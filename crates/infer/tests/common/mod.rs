//! Shared fixtures: a small deterministic model in an artifact dir, and the MNIST test set
//! (the copy built into the `data` crate).

#![allow(dead_code)]

pub mod http;

use std::path::Path;
use std::sync::OnceLock;

use burn::module::Param;
use burn::prelude::*;
use infer::{InputSet, Predictor};
use model::artifact::{save_config, save_model};
use model::{ArtifactDir, ExperimentConfig, MaskedMlpConfig};

/// An artifact dir with a network of hidden [32] and deterministic pseudo-random weights
/// (what matters here is that masks act as they should, not that it is trained).
pub fn artifact_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| random_artifact_dir(&[32])).path()
}

/// The same kind of untrained network at the seed's size, 784 -> 600 -> 10.
pub fn seed_sized_artifact_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| random_artifact_dir(&[600])).path()
}

fn random_artifact_dir(hidden: &[usize]) -> tempfile::TempDir {
    random_artifact_dir_with_classes(hidden, 10)
}

/// An untrained network like [`artifact_dir`]'s with `classes` outputs.
pub fn random_artifact_dir_with_classes(hidden: &[usize], classes: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = Device::flex();
    let config = ExperimentConfig::new(
        MaskedMlpConfig::new()
            .with_hidden(hidden.to_vec())
            .with_num_classes(classes),
        burn::optim::AdamConfig::new(),
    );
    let mut model = config.model.init(&device);
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    for linear in model
        .hidden
        .iter_mut()
        .chain(std::iter::once(&mut model.output))
    {
        let [d_in, d_out] = linear.weight.dims();
        let w: Vec<f32> = (0..d_in * d_out).map(|_| next() * 0.2).collect();
        let b: Vec<f32> = (0..d_out).map(|_| next() * 0.2 + 0.05).collect();
        linear.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(w, [d_in, d_out]),
            &device,
        ));
        linear.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b, [d_out]),
            &device,
        )));
    }
    let art = ArtifactDir::new(dir.path());
    save_config(&config, &art.config()).expect("config");
    save_model(&model, &art.model()).expect("model");
    dir
}

pub fn predictor() -> Predictor {
    Predictor::load(artifact_dir(), None, &Device::flex()).expect("loads")
}

pub fn test_inputs(n: usize) -> InputSet {
    let split = data::MnistSplit::embedded(data::Split::Test).expect("built-in MNIST test set");
    let all = InputSet::from_split(&split, "MNIST test set".into());
    InputSet {
        pixels: all.pixels[..n * 784].to_vec(),
        labels: all.labels.map(|l| l[..n].to_vec()),
        origin: all.origin,
    }
}
