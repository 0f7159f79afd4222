//! `train`: the masked MLP on MNIST with Burn's Learner, on GPU or CPU by cargo feature.
//!
//! The library takes plain values: [`resolve_config`] builds the run's [`ExperimentConfig`]
//! from a [`ConfigBase`] and [`ConfigOverrides`], and [`run`] trains it on a
//! [`data::MnistSource`] as [`RunOptions`] say. The `train` binary is flags -> these two calls
//! -> printing; tests call the same functions.
//!
//! [`ExperimentConfig`]: model::ExperimentConfig

pub mod checkpoint;
pub mod divergence;
#[cfg(feature = "flex")]
pub mod fused_adam;
pub mod progress;
pub mod report;
pub mod run;

pub use run::{
    ConfigBase, ConfigOverrides, Devices, RunOptions, RunOutcome, TrainMaskChoice,
    default_artifact_dir, resolve_config, run,
};
