//! Shared fixtures: a small deterministic model in an artifact dir, and the MNIST test set
//! (the copy built into the `data` crate).

#![allow(dead_code)]

pub mod http;

use std::path::Path;
use std::sync::OnceLock;

use burn::prelude::*;
use infer::{InputSet, Predictor};

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
    test_support::save_model_dir(
        dir.path(),
        hidden,
        classes,
        test_support::Weights::PseudoRandom(12345),
    );
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
