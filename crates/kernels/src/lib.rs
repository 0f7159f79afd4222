//! `kernels`: the CPU compute that neuromask runs itself instead of Burn's dense ops, and
//! nothing else (no files, no command line, no printing, no Burn types).
//!
//! - [`SparseMlp`]: the masked forward pass that skips zero inputs (an MNIST image is ~80%
//!   zero pixels, and switched-off neurons are zero too).
//! - [`sweep`]: every last-hidden-layer neuron's ablation effect in about one forward pass,
//!   with a vectorised exp and ln ([`fast_math`]).
//! - [`sparse_linear`]: one masked Linear for training on mostly-zero inputs: its forward and
//!   its weight gradient `X^T dZ` (the Burn operation around them is `model::sparse_op`).
//! - [`adam`]: one Adam step per parameter tensor in a single in-place pass (the training
//!   optimizer's update, `train::fused_adam` around it).
//! - [`score`]: argmax and cross-entropy of one logits row, the arithmetic the sweep and the
//!   analyses share.
//!
//! Everything takes plain row-major `f32` slices in Burn's layouts (a Linear weight is
//! `[inputs x outputs]`). Each kernel runs at the best instruction-set level the CPU has
//! (AVX-512, AVX2+FMA, SSE4.2 or scalar, picked at run time); the `_at` variants take a
//! [`SimdLevel`] so that tests can run every level this CPU supports.

pub mod adam;
pub mod fast_math;
pub mod masked_forward;
pub mod score;
pub mod simd;
pub mod sparse_linear;
pub mod sweep;
mod tile;

pub use masked_forward::{LinearParams, SparseMlp, SparseOutput};
pub use simd::SimdLevel;
pub use sweep::{SweepInput, SweepTotals, sweep, sweep_at};

/// The `cols x rows` transpose of the row-major `rows x cols` matrix `v` (Burn's `[in, out]`
/// weights to PyTorch's `[out, in]` and back, or to the kernels' per-output rows).
pub fn transpose(v: &[f32], [rows, cols]: [usize; 2]) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for (r, row) in v.chunks_exact(cols.max(1)).take(rows).enumerate() {
        for (c, &x) in row.iter().enumerate() {
            out[c * rows + r] = x;
        }
    }
    out
}

/// A kernel's inputs do not fit together (sizes, lengths, labels), or the asked instruction
/// set is missing. The message says which value and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("{0}")]
    Shape(String),
    #[error("this CPU cannot run the {0:?} instruction set (it has {best:?})", best = SimdLevel::best())]
    Unavailable(SimdLevel),
}
