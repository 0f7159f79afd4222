//! `train`: the masked MLP on MNIST with Burn's Learner, on GPU or CPU by cargo feature.
//!
//! The binary is a thin shell over [`run::run`]; tests call the same function.

pub mod checkpoint;
pub mod cli;
pub mod divergence;
pub mod progress;
pub mod report;
pub mod run;

pub use cli::TrainArgs;
pub use run::{RunOutcome, run};
