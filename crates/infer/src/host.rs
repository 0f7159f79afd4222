//! Tensors read back to host memory, and the row-major array helper the CPU paths share
//! (the sparse engine, the ablation sweep, safetensors interop).

use anyhow::{Result, anyhow};
use burn::prelude::*;

/// The values of `t` as f32, row-major; `what` names them if the read fails.
pub fn host_vec<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow!("reading {what} back: {e:?}"))
}

/// The `cols x rows` transpose of the row-major `rows x cols` matrix `v`.
pub fn transpose(v: &[f32], [rows, cols]: [usize; 2]) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}
