//! The masked forward pass on the CPU, skipping zero inputs.
//!
//! Why a kernel of our own: an MNIST image is about 80% zero pixels, and after the mask and the
//! ReLU about half of the hidden activations are zero too (every switched-off neuron among
//! them). A dense matmul multiplies all those zeros. Adding up only the weight rows that a
//! non-zero input selects does about a fifth of the first layer's work, and a switched-off
//! neuron costs nothing in the next layer. Burn's CPU backends run a dense gemm, so on a host
//! device the [`crate::Predictor`] uses this kernel; GPU devices keep Burn's forward. The
//! results equal Burn's up to float summation order (the tests compare the two).

use anyhow::{Result, anyhow, bail};
use macerator::{Simd, with_simd};
use model::{MaskTable, MaskedMlp};
use rayon::prelude::*;

use crate::host::{host_vec, transpose};

/// Images per rayon task; a task walks them in tiles.
const CHUNK: usize = 256;
/// Images whose activations are computed together: the weights of one column block are
/// read from memory once for all of them.
const TILE: usize = 32;
/// Register tile of the wide-layer kernel: `ROWS` images x `COLS` outputs of accumulators
/// (4 x 64 floats: 16 AVX-512 registers; AVX2 would need 32 of its 16 registers, so there
/// part of the tile lives in L1), filled by one pass over the inputs.
const ROWS: usize = 4;
const COLS: usize = 64;
/// Layers narrower than this (the 10-class output) are computed as dot products instead.
const NARROW: usize = COLS / 2;

/// One Linear layer on the host.
#[derive(Debug, Clone)]
struct HostLinear {
    inputs: usize,
    outputs: usize,
    /// Wide layers: `[inputs x padded]`, Burn's `[in, out]` layout with each row padded with
    /// zeros to whole `COLS` blocks. Narrow layers: `[outputs x inputs]` (transposed), one
    /// contiguous row per output for the dot products.
    weight: Vec<f32>,
    /// `padded` long (zeros after `outputs`).
    bias: Vec<f32>,
    padded: usize,
}

impl HostLinear {
    fn from_linear(layer: &burn::nn::Linear) -> Result<Self> {
        let [inputs, outputs] = layer.weight.dims();
        let w = host_vec(layer.weight.val(), "weights")?;
        let mut bias = match &layer.bias {
            Some(b) => host_vec(b.val(), "bias")?,
            None => vec![0.0; outputs],
        };
        let (weight, padded) = if outputs < NARROW {
            (transpose(&w, [inputs, outputs]), outputs)
        } else {
            let padded = outputs.div_ceil(COLS) * COLS;
            let mut p = vec![0.0; inputs * padded];
            for (dst, src) in p.chunks_exact_mut(padded).zip(w.chunks_exact(outputs)) {
                dst[..outputs].copy_from_slice(src);
            }
            (p, padded)
        };
        bias.resize(padded, 0.0);
        Ok(Self {
            inputs,
            outputs,
            weight,
            bias,
            padded,
        })
    }

    /// `out[i] = bias + x[i] . weight` for the `t` images of a tile (`x` is `t x inputs`,
    /// `out` is `t x outputs`).
    #[inline(always)]
    fn forward_tile(&self, x: &[f32], t: usize, out: &mut [f32]) {
        let (inputs, outputs) = (self.inputs, self.outputs);
        if outputs < NARROW {
            for (xi, oi) in x[..t * inputs]
                .chunks_exact(inputs)
                .zip(out.chunks_exact_mut(outputs))
            {
                for ((o, w), &b) in oi
                    .iter_mut()
                    .zip(self.weight.chunks_exact(inputs))
                    .zip(&self.bias)
                {
                    *o = b + dot(xi, w);
                }
            }
            return;
        }
        // Per group of ROWS images, the inputs that are non-zero in at least one of them
        // (the blank border of a digit and switched-off neurons drop out), with their values
        // side by side.
        let groups = t.div_ceil(ROWS);
        let mut active: Vec<Vec<(usize, [f32; ROWS])>> = vec![Vec::with_capacity(inputs); groups];
        for (g, list) in active.iter_mut().enumerate() {
            let first = g * ROWS;
            let rows = ROWS.min(t - first);
            // 16 inputs at a time: one vector compare per image finds the non-zero ones, and
            // a run of blank inputs (a digit's border) is skipped in one step.
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
        // Column block outside, groups inside: the block's weights (inputs x COLS floats)
        // stay in cache while every group of the tile uses them.
        for cb in (0..self.padded).step_by(COLS) {
            let width = COLS.min(outputs - cb);
            for (g, list) in active.iter().enumerate() {
                let acc = self.register_tile(list, cb);
                let rows = ROWS.min(t - g * ROWS);
                for (r, acc) in acc.iter().enumerate().take(rows) {
                    let at = (g * ROWS + r) * outputs + cb;
                    out[at..at + width].copy_from_slice(&acc[..width]);
                }
            }
        }
    }

    /// Outputs `cb..cb + COLS` of up to `ROWS` images from their `active` inputs: the
    /// accumulators stay in registers and each weight row is read once for all the images.
    #[inline(always)]
    fn register_tile(&self, active: &[(usize, [f32; ROWS])], cb: usize) -> [[f32; COLS]; ROWS] {
        let mut acc = [[0f32; COLS]; ROWS];
        if let Some(b) = self.bias[cb..].first_chunk::<COLS>() {
            acc = [*b; ROWS];
        }
        for (k, xs) in active {
            let Some(w) = self.weight[k * self.padded + cb..].first_chunk::<COLS>() else {
                continue;
            };
            for (acc, &v) in acc.iter_mut().zip(xs) {
                for (a, &w) in acc.iter_mut().zip(w) {
                    *a = w.mul_add(v, *a);
                }
            }
        }
        acc
    }
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

/// Dot product with 16 independent partial sums, so that it vectorises (a single running sum
/// fixes the order of the additions and cannot).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((l, &x), &y) in lanes.iter_mut().zip(x).zip(y) {
            *l = x.mul_add(y, *l);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// A masked MLP copied to host memory, run by the zero-skipping kernel.
#[derive(Debug, Clone)]
pub struct SparseMlp {
    hidden: Vec<HostLinear>,
    output: HostLinear,
}

/// What one forward pass returns: logits `[n x classes]` and, when asked for, the last hidden
/// layer's activations `[n x hidden]` (after its mask and ReLU).
#[derive(Debug, Clone, Default)]
pub struct SparseOutput {
    pub logits: Vec<f32>,
    pub last_hidden: Vec<f32>,
}

impl SparseMlp {
    /// Copy the weights of `model` (on any device) to the host.
    pub fn from_model(model: &MaskedMlp) -> Result<Self> {
        let hidden = model
            .hidden
            .iter()
            .map(HostLinear::from_linear)
            .collect::<Result<Vec<_>>>()?;
        let output = HostLinear::from_linear(&model.output)?;
        Ok(Self { hidden, output })
    }

    pub fn input_size(&self) -> usize {
        self.hidden.first().unwrap_or(&self.output).inputs
    }

    pub fn classes(&self) -> usize {
        self.output.outputs
    }

    pub fn hidden_sizes(&self) -> Vec<usize> {
        self.hidden.iter().map(|l| l.outputs).collect()
    }

    /// Logits for `pixels` (`[n x inputs]`, row-major) with mask row i on input i (or the one
    /// broadcast row on all); `keep_hidden` also returns the last hidden activations.
    pub fn forward(
        &self,
        pixels: &[f32],
        masks: &MaskTable,
        keep_hidden: bool,
    ) -> Result<SparseOutput> {
        let inputs = self.input_size();
        if masks.hidden() != self.hidden_sizes() {
            bail!(
                "the mask covers hidden layers {:?}; the network has {:?}",
                masks.hidden(),
                self.hidden_sizes()
            );
        }
        if !pixels.len().is_multiple_of(inputs) {
            bail!(
                "{} input values is not a whole number of {inputs}-value inputs",
                pixels.len()
            );
        }
        let n = pixels.len() / inputs;
        masks.check_inputs(n, "mask").map_err(|e| anyhow!("{e}"))?;
        let classes = self.classes();
        let last = self.hidden.last().map_or(0, |l| l.outputs);
        let mut out = SparseOutput {
            logits: vec![0.0; n * classes],
            last_hidden: if keep_hidden {
                vec![0.0; n * last]
            } else {
                Vec::new()
            },
        };
        let hidden_chunks: Vec<&mut [f32]> = if keep_hidden {
            out.last_hidden.chunks_mut(CHUNK * last.max(1)).collect()
        } else {
            Vec::new()
        };
        let mut hidden_chunks = hidden_chunks.into_iter().map(Some).collect::<Vec<_>>();
        hidden_chunks.resize_with(n.div_ceil(CHUNK), || None);
        pixels
            .par_chunks(CHUNK * inputs)
            .zip(out.logits.par_chunks_mut(CHUNK * classes))
            .zip(hidden_chunks.into_par_iter())
            .enumerate()
            .for_each(|(c, ((x, logits), hidden))| {
                run_chunk(self, masks, c * CHUNK, x, logits, hidden);
            });
        Ok(out)
    }
}

/// One rayon task: the images `first..` in `x`, tile by tile, compiled for the best SIMD
/// level the CPU has (AVX-512, AVX2+FMA, ...) and picked at run time.
#[with_simd]
// `S` is the instruction set the body is compiled for; the body itself never names it.
#[allow(clippy::extra_unused_type_parameters)]
fn run_chunk<'a, S: Simd>(
    net: &'a SparseMlp,
    masks: &'a MaskTable,
    first: usize,
    x: &'a [f32],
    logits: &'a mut [f32],
    mut last_hidden: Option<&'a mut [f32]>,
) {
    let inputs = net.input_size();
    let widest = net.hidden.iter().map(|l| l.outputs).max().unwrap_or(0);
    let width = widest.max(net.classes());
    let (mut a, mut b) = (vec![0f32; TILE * width], vec![0f32; TILE * width]);
    let images = x.len() / inputs;
    let classes = net.classes();
    for start in (0..images).step_by(TILE) {
        let t = TILE.min(images - start);
        // The first layer reads the images where they are; later layers read `a`.
        let pixels = &x[start * inputs..(start + t) * inputs];
        let mut offset = 0;
        for (l, layer) in net.hidden.iter().enumerate() {
            layer.forward_tile(if l == 0 { pixels } else { &a }, t, &mut b);
            let w = layer.outputs;
            for i in 0..t {
                let keep = &masks.row(if masks.is_broadcast() {
                    0
                } else {
                    first + start + i
                })[offset..offset + w];
                mask_relu(&mut b[i * w..(i + 1) * w], keep);
            }
            offset += w;
            if l + 1 == net.hidden.len()
                && let Some(h) = last_hidden.as_deref_mut()
            {
                h[start * w..(start + t) * w].copy_from_slice(&b[..t * w]);
            }
            std::mem::swap(&mut a, &mut b);
        }
        let last = if net.hidden.is_empty() { pixels } else { &a };
        net.output.forward_tile(last, t, &mut b);
        logits[start * classes..(start + t) * classes].copy_from_slice(&b[..t * classes]);
    }
}

/// `h = relu(h * keep)`, the mask right after the Linear as in `MaskedMlp`.
#[inline(always)]
fn mask_relu(h: &mut [f32], keep: &[f32]) {
    for (v, &k) in h.iter_mut().zip(keep) {
        *v = (*v * k).max(0.0);
    }
}
