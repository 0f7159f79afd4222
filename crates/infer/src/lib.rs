//! `infer`: load a trained masked MLP and answer each input with its own hidden neurons off.
//!
//! The library is what the binary runs: [`Predictor`] loads an artifact directory and
//! predicts batches with a [`model::MaskTable`] (one mask row per input, or one for all).

pub mod ablate;
pub mod atlas;
pub mod bench;
pub mod circuit;
pub mod grid;
pub mod host;
pub mod inputs;
pub mod interop;
pub mod masks;
#[cfg(feature = "plots")]
pub mod plots;
pub mod predictor;
pub mod report;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sparse;
pub mod stream;

use std::path::Path;

use anyhow::Result;
use backend::DeviceChoice;

pub use inputs::{InputSet, InputSource};
pub use masks::{MaskChoice, masks};
pub use predictor::{BroadcastPath, Engine, Predictions, Predictor};

/// Start the backend `device` names and load the model in `artifact_dir` (with the weights of
/// `checkpoint` instead of `model.bpk` when given). A fallback notice goes to stderr.
pub fn load(
    artifact_dir: &Path,
    checkpoint: Option<&Path>,
    device: DeviceChoice,
) -> Result<Predictor> {
    let selected = backend::select(device)?;
    if let Some(notice) = &selected.notice {
        eprintln!("{notice}");
    }
    Predictor::load(artifact_dir, checkpoint, &selected.device)
}
