//! Tensors read back to host memory (the sparse engine, the ablation sweep, safetensors
//! interop), and the transpose they share (from `kernels`).

use anyhow::{Result, anyhow};
use burn::prelude::*;

/// The values of `t` as f32, row-major; `what` names them if the read fails.
pub fn host_vec<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow!("reading {what} back: {e:?}"))
}

pub use kernels::transpose;
