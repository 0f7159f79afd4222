//! The register tile of the zero-skipping inference forward ([`crate::masked_forward`]).
//!
//! A tile is `ROWS` inputs x `VECS` vectors of outputs, accumulated in registers over the
//! inputs that are non-zero in at least one of the rows; each piece of a weight row is
//! loaded once for all the rows. Written with explicit vectors (`crate::simd::load`): with
//! plain float arrays LLVM kept some tile shapes scalar or spilled them to the stack (the
//! earlier 4 x 64-float tile spilled on AVX2; 2 x 40 floats ran scalar, 5x slower).
//! Measured on AVX2 (real MNIST test set, one thread, alternating runs): 3 x 4 vectors
//! (12 accumulators, 32 outputs per block with AVX2) ran about 1.3x as fast as the old
//! 4 x 64-float tile (1.1-1.45x over three alternating rounds), with and without per-image
//! masks, and kept the 90%-off compacted net as fast;
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

/// One non-zero input of a group: its index and its value in each row of the group (0 in
/// the rows where it is zero, and in rows past the end of the data).
pub(crate) type Entry = (u32, [f32; ROWS]);

/// Outputs per tile row at level `S`.
#[inline(always)]
pub(crate) fn cols<S: Simd>() -> usize {
    VECS * S::lanes32()
}

/// Per group of `ROWS` rows, the inputs that are non-zero in at least one of them (the
/// blank border of a digit and switched-off neurons drop out), with their values side by
/// side; the buffers are kept from one tile to the next.
#[derive(Debug, Default)]
pub(crate) struct ActiveInputs {
    /// `inputs` slots per group; group g's list is the first `lens[g]` of its slots.
    entries: Vec<Entry>,
    lens: Vec<usize>,
    inputs: usize,
    zeros: Vec<f32>,
}

impl ActiveInputs {
    /// The lists of `t` rows of `x` (`inputs` values each).
    ///
    /// Branch-free on purpose: every input is written to the next free slot and the count
    /// moves on only when one of the rows is non-zero, because whether a pixel is zero is
    /// a coin flip near a digit's strokes. Blocks of 16 inputs that are zero in every row
    /// are skipped by a vectorised OR first. (The list was ~40% of a 90%-off compacted
    /// forward in `perf`, its per-pixel compare scalar and branching; this version made
    /// that forward 1.11x as fast, median of 8 alternating one-thread runs on AVX2.)
    #[inline(always)]
    pub(crate) fn fill(&mut self, x: &[f32], inputs: usize, t: usize) {
        let groups = t.div_ceil(ROWS);
        self.inputs = inputs;
        if self.entries.len() < groups * inputs {
            self.entries.resize(groups * inputs, (0, [0.0; ROWS]));
        }
        // The rows past the end of the data read as zeros.
        self.zeros.resize(inputs, 0.0);
        self.lens.clear();
        for (g, slots) in self
            .entries
            .chunks_exact_mut(inputs)
            .take(groups)
            .enumerate()
        {
            let rows: [&[f32]; ROWS] = std::array::from_fn(|r| {
                let i = g * ROWS + r;
                if i < t {
                    &x[i * inputs..(i + 1) * inputs]
                } else {
                    &self.zeros[..]
                }
            });
            let mut len = 0;
            for k0 in (0..inputs).step_by(16) {
                let end = (k0 + 16).min(inputs);
                if rows.iter().all(|row| is_blank(&row[k0..end])) {
                    continue;
                }
                // `k` indexes the same column of every row at once; no one iterator does that.
                #[allow(clippy::needless_range_loop)]
                for k in k0..end {
                    let xs: [f32; ROWS] = std::array::from_fn(|r| rows[r][k]);
                    // `k < inputs <= u32::MAX`: checked when the layer is built.
                    slots[len] = (k as u32, xs);
                    len += usize::from(xs.iter().any(|&v| v != 0.0));
                }
            }
            self.lens.push(len);
        }
    }

    /// Each group's list, in order.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &[Entry]> {
        self.lens
            .iter()
            .enumerate()
            .map(|(g, &len)| &self.entries[g * self.inputs..g * self.inputs + len])
    }
}

/// Whether every value of `v` is zero (+0 or -0): the OR of their bits without the sign,
/// which vectorises (a compare per value does not, here).
#[inline(always)]
fn is_blank(v: &[f32]) -> bool {
    let bits = |v: &[f32]| v.iter().fold(0u32, |bits, &x| bits | (x.to_bits() << 1));
    // A whole block has a fixed length, so it becomes two vector ORs with AVX2.
    match v.first_chunk::<16>() {
        Some(block) => bits(block) == 0,
        None => bits(v) == 0,
    }
}

/// `start + sum over active (k, xs) of xs[r] * w[k][cb..]` for each row r of the group, over
/// `cols::<S>()` outputs from column `cb`. `w` is `[inputs x stride]` row-major and must have
/// `cols::<S>()` values from `cb` in every row; `start` (the bias from `cb`) at least as many.
#[inline(always)]
pub(crate) fn accumulate<S: Simd>(
    active: &[Entry],
    w: &[f32],
    stride: usize,
    cb: usize,
    start: &[f32],
) -> [[Vector<S, f32>; VECS]; ROWS] {
    let lanes = S::lanes32();
    let start = &start[..VECS * lanes];
    let mut acc = [std::array::from_fn(|j| load::<S>(&start[j * lanes..])); ROWS];
    for &(k, ref xs) in active {
        let at = k as usize * stride + cb;
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
