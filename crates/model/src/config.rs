//! A whole training run's settings (`config.json`, the files in `configs/`) with their
//! validation, and the figures a finished run reports (`summary.json`). Reading and writing
//! them is `data::artifact`'s job.

use burn::optim::AdamConfig;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::mask::MaskPolicy;
use crate::mlp::MaskedMlpConfig;

/// A whole training run: the network's shape and how it was trained. This is the format of the
/// files in `configs/` and of `config.json` in an artifact directory (Burn Config JSON).
#[derive(Config, Debug)]
pub struct ExperimentConfig {
    /// The network.
    pub model: MaskedMlpConfig,
    /// Adam's settings (the seed used Keras' defaults: betas 0.9 / 0.999, epsilon 1e-7 there, 1e-5 in Burn).
    pub optimizer: AdamConfig,
    /// Learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Passes over the training set.
    #[config(default = 10)]
    pub epochs: usize,
    /// Images per training step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Seed for weight initialisation, shuffling and random masks.
    #[config(default = 42)]
    pub seed: u64,
    /// Train on the first N training images only (None = all 60,000).
    #[config(default = "None")]
    pub limit_train: Option<usize>,
    /// Validate and test on the first N test images only (None = all 10,000).
    #[config(default = "None")]
    pub limit_test: Option<usize>,
    /// Which neurons are off during training; inference applies a fixed policy by default.
    #[config(default = "MaskPolicy::None")]
    pub train_mask: MaskPolicy,
}

/// The largest network `validate` accepts: 2^32 parameters, 16 GiB of f32 weights (Adam keeps
/// two more copies).
pub const MAX_PARAMETERS: u128 = 1 << 32;

/// Refuse `field`'s value `found`, saying what was `expected`.
fn bad(field: &str, expected: &str, found: String) -> Result<(), ConfigValueError> {
    Err(ConfigValueError {
        field: field.into(),
        expected: expected.into(),
        found,
    })
}

/// A config value outside its meaningful range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}` is {found}; expected {expected}")]
pub struct ConfigValueError {
    pub field: String,
    pub expected: String,
    pub found: String,
}

impl ExperimentConfig {
    /// The seed's run: 784 -> 600 -> 10, Adam 1e-3, batch 128, 10 epochs.
    pub fn seed_run() -> Self {
        Self::new(MaskedMlpConfig::new(), AdamConfig::new())
    }

    /// Sizes whose weights could never be allocated fail here, by name, not in the allocator.
    fn check_sizes(&self) -> Result<(), ConfigValueError> {
        let mut width = self.model.input_size;
        let layers = self
            .model
            .hidden
            .iter()
            .chain(std::iter::once(&self.model.num_classes));
        let mut params: u128 = 0;
        for (i, &size) in layers.enumerate() {
            params += (width as u128 + 1) * size as u128;
            if params > MAX_PARAMETERS {
                let field = if i < self.model.hidden.len() {
                    format!("model.hidden[{i}]")
                } else {
                    "model.num_classes".into()
                };
                return bad(
                    &field,
                    &format!(
                        "a size that keeps the network under {MAX_PARAMETERS} parameters \
                         (16 GiB of f32 weights)"
                    ),
                    size.to_string(),
                );
            }
            width = size;
        }
        Ok(())
    }

    /// Adam's betas in [0, 1) and a positive epsilon.
    fn check_adam(&self) -> Result<(), ConfigValueError> {
        // AdamConfig's fields are private to Burn; its JSON form is what the config file holds.
        let adam = serde_json::to_value(&self.optimizer).unwrap_or_default();
        for beta in ["beta_1", "beta_2"] {
            match adam[beta].as_f64() {
                Some(v) if (0.0..1.0).contains(&v) => {}
                other => {
                    return bad(
                        &format!("optimizer.{beta}"),
                        "a number in [0, 1), e.g. 0.9",
                        other.map_or_else(|| adam[beta].to_string(), |v| v.to_string()),
                    );
                }
            }
        }
        match adam["epsilon"].as_f64() {
            Some(v) if v.is_finite() && v > 0.0 => {}
            other => {
                return bad(
                    "optimizer.epsilon",
                    "a positive number, e.g. 1e-5",
                    other.map_or_else(|| adam["epsilon"].to_string(), |v| v.to_string()),
                );
            }
        }
        Ok(())
    }

    /// Check every field before a run starts, so a bad value fails fast and by name.
    pub fn validate(&self) -> Result<(), ConfigValueError> {
        if let Err(e) = self.model.validate() {
            return bad("model", "a valid network", e.to_string());
        }
        self.check_sizes()?;
        self.check_adam()?;
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(
                "learning_rate",
                "a positive number",
                self.learning_rate.to_string(),
            );
        }
        if self.epochs == 0 {
            return bad("epochs", "at least 1", "0".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "at least 1", "0".into());
        }
        if self.limit_train == Some(0) {
            return bad("limit_train", "at least 1 image", "0".into());
        }
        if self.limit_test == Some(0) {
            return bad("limit_test", "at least 1 image", "0".into());
        }
        if let Err(e) = self.train_mask.validate(&self.model.hidden) {
            return bad("train_mask", "a mask that fits the network", e.to_string());
        }
        Ok(())
    }
}

/// Figures from a finished run, written as `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub epochs: usize,
    pub epoch_seconds: Vec<f64>,
    pub device: String,
    pub train_samples: usize,
    pub train_samples_per_second: f64,
    pub total_seconds: f64,
}
