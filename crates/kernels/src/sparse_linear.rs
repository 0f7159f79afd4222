//! One masked Linear layer and its ReLU for training, on inputs that are mostly zero: the
//! forward `relu((x W + b) * keep)` and the weight gradient `X^T dZ`, both walking only the
//! non-zero inputs, and the one pass between them that turns the output's gradient into `dZ`
//! and the bias gradient.
//!
//! Why: the first layer (784 x 600) holds 98% of the seed network's weights and an MNIST image
//! is ~80% zero pixels, so a dense gemm spends most of its time multiplying zeros, in the
//! forward and again in the weight gradient. The images never need a gradient, so `dX` is
//! rarely asked for (Burn's dense matmul computes it when it is).
//!
//! Layouts are Burn's: `x` is `[n x inputs]`, `w` is `[inputs x outputs]`, row-major.

use macerator::{Simd, WithSimd};
use rayon::prelude::*;

use crate::KernelError;
use crate::simd::dispatch;

/// Images per group: each weight row read once is added into this many output rows.
const GROUP: usize = 4;

/// `relu((x W + b) * keep)` for `n` inputs; `keep` is one row of `outputs` values for all
/// inputs or one row per input.
pub fn forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    keep: &[f32],
    [inputs, outputs]: [usize; 2],
) -> Result<Vec<f32>, KernelError> {
    let n = check(x, w, inputs, outputs)?;
    if b.len() != outputs || (keep.len() != outputs && keep.len() != n * outputs) {
        return Err(KernelError::Shape(format!(
            "bias {} and mask {} values for a layer of {outputs} outputs and {n} inputs",
            b.len(),
            keep.len()
        )));
    }
    let mut out = vec![0.0; n * outputs];
    let rows_per_task = (n.div_ceil(rayon::current_num_threads().max(1) * 2)).max(GROUP);
    let rows_per_task = rows_per_task.div_ceil(GROUP) * GROUP;
    out.par_chunks_mut(rows_per_task * outputs)
        .enumerate()
        .try_for_each(|(t, out)| {
            let first = t * rows_per_task;
            let rows = out.len() / outputs;
            let keep = if keep.len() == outputs {
                keep
            } else {
                &keep[first * outputs..(first + rows) * outputs]
            };
            dispatch(
                None,
                ForwardTask {
                    x: &x[first * inputs..(first + rows) * inputs],
                    w,
                    b,
                    keep,
                    inputs,
                    out,
                },
            )
        })?;
    Ok(out)
}

/// From the gradient `dy` of the layer's output `out` (both `[n x outputs]`): `dZ = dy * keep`
/// where the ReLU let the value through (`out > 0`), else 0, and the bias gradient (`dZ`
/// summed over the inputs). One pass where Burn's autodiff would run a ReLU backward, a
/// multiply and a sum, each allocating.
pub fn output_grad(
    dy: &[f32],
    out: &[f32],
    keep: &[f32],
    outputs: usize,
) -> Result<(Vec<f32>, Vec<f32>), KernelError> {
    let n = count_inputs(out, outputs)?;
    if dy.len() != out.len() || (keep.len() != outputs && keep.len() != out.len()) {
        return Err(KernelError::Shape(format!(
            "output gradient {} values, output {}, mask {}; expected {n} x {outputs} each \
             (the mask may be one row)",
            dy.len(),
            out.len(),
            keep.len()
        )));
    }
    // `dZ` in parallel blocks of rows; the bias gradient afterwards, row by row in order, so
    // that it is the same sum on every run and machine as a single-threaded pass.
    const ROWS: usize = 32;
    let mut dz = vec![0.0; dy.len()];
    dz.par_chunks_mut(ROWS * outputs)
        .enumerate()
        .for_each(|(b, dz)| {
            for (r, dz) in dz.chunks_exact_mut(outputs).enumerate() {
                let row = (b * ROWS + r) * outputs..(b * ROWS + r + 1) * outputs;
                let keep = if keep.len() == outputs {
                    keep
                } else {
                    &keep[row.clone()]
                };
                for (((dz, &dy), &out), &k) in
                    dz.iter_mut().zip(&dy[row.clone()]).zip(&out[row]).zip(keep)
                {
                    *dz = if out > 0.0 { dy * k } else { 0.0 };
                }
            }
        });
    let mut db = vec![0.0; outputs];
    for row in dz.chunks_exact(outputs) {
        for (total, &v) in db.iter_mut().zip(row) {
            *total += v;
        }
    }
    Ok((dz, db))
}

/// `X^T dZ` (`[inputs x outputs]`), adding only the rows of `dz` whose input is non-zero.
pub fn weight_grad(
    x: &[f32],
    dz: &[f32],
    [inputs, outputs]: [usize; 2],
) -> Result<Vec<f32>, KernelError> {
    let n = count_inputs(x, inputs)?;
    if dz.len() != n * outputs {
        return Err(KernelError::Shape(format!(
            "the output gradient has {} values; expected {n} x {outputs}",
            dz.len()
        )));
    }
    let mut dw = vec![0.0; inputs * outputs];
    // Threads own disjoint blocks of weight rows (inputs), so no two write the same row.
    let rows_per_task = inputs
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(1);
    dw.par_chunks_mut(rows_per_task * outputs)
        .enumerate()
        .try_for_each(|(t, dw)| {
            dispatch(
                None,
                WeightGradTask {
                    x,
                    dz,
                    inputs,
                    outputs,
                    first_input: t * rows_per_task,
                    dw,
                },
            )
        })?;
    Ok(dw)
}

/// `[n x inputs]` inputs against `[inputs x outputs]` weights: the number of inputs.
fn check(x: &[f32], w: &[f32], inputs: usize, outputs: usize) -> Result<usize, KernelError> {
    let n = count_inputs(x, inputs)?;
    if w.len() != inputs * outputs {
        return Err(KernelError::Shape(format!(
            "the weight has {} values; expected {inputs} x {outputs}",
            w.len()
        )));
    }
    Ok(n)
}

/// How many `inputs`-wide rows `x` holds.
fn count_inputs(x: &[f32], inputs: usize) -> Result<usize, KernelError> {
    if inputs == 0 || !x.len().is_multiple_of(inputs) {
        return Err(KernelError::Shape(format!(
            "{} input values is not a whole number of {inputs}-value inputs",
            x.len()
        )));
    }
    Ok(x.len() / inputs)
}

struct ForwardTask<'a> {
    x: &'a [f32],
    w: &'a [f32],
    b: &'a [f32],
    keep: &'a [f32],
    inputs: usize,
    out: &'a mut [f32],
}

impl WithSimd for ForwardTask<'_> {
    type Output = ();

    // `S` only selects the target features the body is compiled with.
    #[inline(always)]
    fn with_simd<S: Simd>(self) {
        self.run();
    }
}

impl ForwardTask<'_> {
    /// Per group of `GROUP` images, every input that is non-zero in one of them adds its
    /// weight row into those images' output rows (kept in L1), a vectorised axpy each.
    /// (Measured on real MNIST batches of 128 on AVX2: this takes ~1.2 ms; a register-tiled
    /// version like `masked_forward`'s of the time (tiles of 32 images, column blocks of 64
    /// outside, 4 x 64 accumulators) took 2.3 ms, with 32-wide blocks 7.8 ms: on AVX2 the
    /// tile does not fit the 16 registers, and each entry of the non-zero list is revisited
    /// once per block. The
    /// explicit-vector tile of `crate::tile` (2 images x 32 outputs) was 1.1-1.3x slower
    /// still: the union of two images' non-zero pixels is 1.5x their own.)
    #[inline(always)]
    fn run(self) {
        let outputs = self.b.len();
        let rows = self.out.len() / outputs;
        for g in (0..rows).step_by(GROUP) {
            let count = GROUP.min(rows - g);
            let block = &mut self.out[g * outputs..(g + count) * outputs];
            for row in block.chunks_exact_mut(outputs) {
                row.copy_from_slice(self.b);
            }
            for k in 0..self.inputs {
                let mut xs = [0f32; GROUP];
                let mut any = false;
                for (r, v) in xs.iter_mut().enumerate().take(count) {
                    *v = self.x[(g + r) * self.inputs + k];
                    any |= *v != 0.0;
                }
                if !any {
                    continue;
                }
                let wk = &self.w[k * outputs..(k + 1) * outputs];
                for (row, &v) in block.chunks_exact_mut(outputs).zip(&xs) {
                    if v != 0.0 {
                        for (o, &w) in row.iter_mut().zip(wk) {
                            *o = w.mul_add(v, *o);
                        }
                    }
                }
            }
            for (r, row) in block.chunks_exact_mut(outputs).enumerate() {
                let keep = if self.keep.len() == outputs {
                    self.keep
                } else {
                    &self.keep[(g + r) * outputs..(g + r + 1) * outputs]
                };
                for (o, &k) in row.iter_mut().zip(keep) {
                    *o = (*o * k).max(0.0);
                }
            }
        }
    }
}

struct WeightGradTask<'a> {
    x: &'a [f32],
    dz: &'a [f32],
    inputs: usize,
    outputs: usize,
    first_input: usize,
    dw: &'a mut [f32],
}

impl WithSimd for WeightGradTask<'_> {
    type Output = ();

    // `S` only selects the target features the body is compiled with.
    #[inline(always)]
    fn with_simd<S: Simd>(self) {
        self.run();
    }
}

impl WeightGradTask<'_> {
    /// Every (image, non-zero input k) pair adds the image's output gradient into weight row
    /// k: a vectorised axpy into this task's rows (which stay in L2).
    #[inline(always)]
    fn run(self) {
        let (inputs, outputs) = (self.inputs, self.outputs);
        let count = self.dw.len() / outputs;
        for (xi, dzi) in self
            .x
            .chunks_exact(inputs)
            .zip(self.dz.chunks_exact(outputs))
        {
            let xs = &xi[self.first_input..self.first_input + count];
            for (&v, row) in xs.iter().zip(self.dw.chunks_exact_mut(outputs)) {
                if v != 0.0 {
                    for (d, &g) in row.iter_mut().zip(dzi) {
                        *d = g.mul_add(v, *d);
                    }
                }
            }
        }
    }
}
