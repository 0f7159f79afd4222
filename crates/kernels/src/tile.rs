//! The register tile of the zero-skipping inference forward ([`crate::masked_forward`]).
//!
//! A tile is `ROWS` inputs x `VECS` vectors of outputs, accumulated in registers over the
//! inputs that are non-zero in at least one of the rows; each piece of a weight row is
//! loaded once for all the rows. Written with explicit vectors (`crate::simd::load`): with
//! plain float arrays LLVM kept some tile shapes scalar or spilled them to the stack (the
//! earlier 4 x 64-float tile spilled on AVX2; 2 x 40 floats ran scalar, 5x slower).
//! Measured on AVX2 (real MNIST test set, one thread, alternating runs): 3 x 4 vectors
//! (12 accumulators, 32 outputs per block with AVX2) ran 1.3-1.4x the old 4 x 64-float
//! tile with and without per-image masks, and kept the 90%-off compacted net as fast;
//! 2 x 4 and 1 x 8 were as fast unmasked and slower compacted. Training's first layer
//! ([`crate::sparse_linear`]) measured slower with this tile than with its per-group axpy
//! (the union of a group's non-zero inputs costs multiplies by zero), so it keeps that.

use macerator::{Scalar, Simd, Vector};

use crate::simd::{load, store};

/// Inputs (images) per tile.
pub(crate) const ROWS: usize = 3;
/// Vectors of outputs per tile row.
pub(crate) const VECS: usize = 4;
/// The widest tile row in floats (`VECS` AVX-512 vectors).
pub(crate) const MAX_COLS: usize = VECS * 16;

/// One group's non-zero inputs: the input's index and its value in each row of the group
/// (0 in the rows where it is zero, and in rows past the end of the data).
pub(crate) type Active = Vec<(usize, [f32; ROWS])>;

/// Outputs per tile row at level `S`.
#[inline(always)]
pub(crate) fn cols<S: Simd>() -> usize {
    VECS * S::lanes32()
}

/// Per group of `ROWS` rows of `x` (`t` rows of `inputs` values), the inputs that are
/// non-zero in at least one of them (the blank border of a digit and switched-off neurons
/// drop out), with their values side by side.
#[inline(always)]
pub(crate) fn active_inputs(x: &[f32], inputs: usize, t: usize) -> Vec<Active> {
    let groups = t.div_ceil(ROWS);
    let mut active: Vec<Active> = vec![Vec::with_capacity(inputs); groups];
    for (g, list) in active.iter_mut().enumerate() {
        let first = g * ROWS;
        let rows = ROWS.min(t - first);
        // 16 inputs at a time: one vector compare per row finds the non-zero ones, and a run
        // of blank inputs (a digit's border) is skipped in one step.
        for k0 in (0..inputs).step_by(16) {
            let end = (k0 + 16).min(inputs);
            let mut any = 0u32;
            for r in 0..rows {
                let at = (first + r) * inputs;
                any |= nonzero_bits(&x[at + k0..at + end]);
            }
            while any != 0 {
                let k = k0 + any.trailing_zeros() as usize;
                any &= any - 1;
                let mut xs = [0f32; ROWS];
                for (r, v) in xs.iter_mut().enumerate().take(rows) {
                    *v = x[(first + r) * inputs + k];
                }
                list.push((k, xs));
            }
        }
    }
    active
}

/// Bit j set where `v[j]` (up to 16 values) is not zero.
#[inline(always)]
fn nonzero_bits(v: &[f32]) -> u32 {
    match v.first_chunk::<16>() {
        Some(full) => full
            .iter()
            .enumerate()
            .fold(0, |bits, (j, &x)| bits | (u32::from(x != 0.0) << j)),
        None => v
            .iter()
            .enumerate()
            .fold(0, |bits, (j, &x)| bits | (u32::from(x != 0.0) << j)),
    }
}

/// `start + sum over active (k, xs) of xs[r] * w[k][cb..]` for each row r of the group, over
/// `cols::<S>()` outputs from column `cb`. `w` is `[inputs x stride]` row-major and must have
/// `cols::<S>()` values from `cb` in every row; `start` (the bias from `cb`) at least as many.
#[inline(always)]
pub(crate) fn accumulate<S: Simd>(
    active: &[(usize, [f32; ROWS])],
    w: &[f32],
    stride: usize,
    cb: usize,
    start: &[f32],
) -> [[Vector<S, f32>; VECS]; ROWS] {
    let lanes = S::lanes32();
    let start = &start[..VECS * lanes];
    let mut acc = [std::array::from_fn(|j| load::<S>(&start[j * lanes..])); ROWS];
    for (k, xs) in active {
        let at = k * stride + cb;
        let w = &w[at..at + VECS * lanes];
        let w: [Vector<S, f32>; VECS] = std::array::from_fn(|j| load::<S>(&w[j * lanes..]));
        for (acc, &v) in acc.iter_mut().zip(xs) {
            let v = v.splat::<S>();
            for (a, &w) in acc.iter_mut().zip(&w) {
                *a = w.mul_add(v, *a);
            }
        }
    }
    acc
}

/// The tile's rows as plain floats (the first `cols::<S>()` of each).
#[inline(always)]
pub(crate) fn to_rows<S: Simd>(acc: &[[Vector<S, f32>; VECS]; ROWS]) -> [[f32; MAX_COLS]; ROWS] {
    let mut rows = [[0f32; MAX_COLS]; ROWS];
    for (row, acc) in rows.iter_mut().zip(acc) {
        for (j, &v) in acc.iter().enumerate() {
            store::<S>(v, &mut row[j * S::lanes32()..]);
        }
    }
    rows
}
