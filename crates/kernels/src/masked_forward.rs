//! The masked forward pass on the CPU, skipping zero inputs.
//!
//! Why a kernel of our own: an MNIST image is about 80% zero pixels, and after the mask and the
//! ReLU about half of the hidden activations are zero too (every switched-off neuron among
//! them). A dense matmul multiplies all those zeros. Adding up only the weight rows that a
//! non-zero input selects does about a fifth of the first layer's work, and a switched-off
//! neuron costs nothing in the next layer. The results equal Burn's dense forward up to float
//! summation order (the tests compare the two at every instruction-set level).
//!
//! The network is the masked MLP: each hidden layer is `relu((x W + b) * keep)`, the keep row
//! (1 = on, 0 = off) right after the Linear; the output layer is a plain Linear.

use macerator::{Simd, WithSimd};
use rayon::prelude::*;

use crate::simd::{SimdLevel, dispatch};
use crate::{KernelError, tile};

/// Images per rayon task; a task walks them in tiles.
const CHUNK: usize = 256;
/// Images whose activations are computed together: the weights of one column block are
/// read from memory once for all of them.
const TILE: usize = 32;
/// Wide layers' rows are padded with zeros to a multiple of the widest tile row, so that a
/// tile's loads never leave the row.
const PAD: usize = tile::MAX_COLS;
/// Layers narrower than this (the 10-class output) are computed as dot products instead.
const NARROW: usize = 32;

/// One Linear layer's parameters, in Burn's layout.
#[derive(Debug, Clone, Copy)]
pub struct LinearParams<'a> {
    pub inputs: usize,
    pub outputs: usize,
    /// `[inputs x outputs]`, row-major.
    pub weight: &'a [f32],
    /// `outputs` long; `None` for a Linear without bias.
    pub bias: Option<&'a [f32]>,
}

/// One Linear layer in the kernel's layout.
#[derive(Debug, Clone)]
struct HostLinear {
    inputs: usize,
    outputs: usize,
    /// Wide layers: `[inputs x padded]`, Burn's layout with each row padded with zeros to
    /// a multiple of `PAD`. Narrow layers: `[outputs x inputs]` (transposed), one contiguous
    /// row per output for the dot products.
    weight: Vec<f32>,
    /// `padded` long (zeros after `outputs`).
    bias: Vec<f32>,
    padded: usize,
}

impl HostLinear {
    fn new(p: &LinearParams, what: &str) -> Result<Self, KernelError> {
        let LinearParams {
            inputs, outputs, ..
        } = *p;
        if inputs == 0 || outputs == 0 {
            return Err(shape(format!(
                "{what} is {inputs} -> {outputs}; both sizes must be at least 1"
            )));
        }
        // The tile's lists of non-zero inputs hold each input's index as a `u32`.
        if u32::try_from(inputs).is_err() {
            return Err(shape(format!(
                "{what} has {inputs} inputs; at most {} are supported",
                u32::MAX
            )));
        }
        if p.weight.len() != inputs * outputs {
            return Err(shape(format!(
                "{what} has {} weights; expected {inputs} x {outputs}",
                p.weight.len()
            )));
        }
        let mut bias = match p.bias {
            Some(b) if b.len() != outputs => {
                return Err(shape(format!(
                    "{what} has {} biases; expected {outputs}",
                    b.len()
                )));
            }
            Some(b) => b.to_vec(),
            None => vec![0.0; outputs],
        };
        let (weight, padded) = if outputs < NARROW {
            (crate::transpose(p.weight, [inputs, outputs]), outputs)
        } else {
            let padded = outputs.div_ceil(PAD) * PAD;
            let mut w = vec![0.0; inputs * padded];
            for (dst, src) in w
                .chunks_exact_mut(padded)
                .zip(p.weight.chunks_exact(outputs))
            {
                dst[..outputs].copy_from_slice(src);
            }
            (w, padded)
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
    fn forward_tile<S: Simd>(
        &self,
        x: &[f32],
        t: usize,
        out: &mut [f32],
        active: &mut tile::ActiveInputs,
    ) {
        if self.outputs < NARROW {
            self.narrow_tile(x, t, out);
            return;
        }
        active.fill(x, self.inputs, t);
        let cols = tile::cols::<S>();
        // Column block outside, groups inside: the block's weights (inputs x cols floats)
        // stay in cache while every group of the tile uses them.
        for cb in (0..self.outputs).step_by(cols) {
            let width = cols.min(self.outputs - cb);
            for (g, list) in active.groups().enumerate() {
                let acc =
                    tile::accumulate::<S>(list, &self.weight, self.padded, cb, &self.bias[cb..]);
                let rows = tile::ROWS.min(t - g * tile::ROWS);
                for (r, row) in tile::to_rows::<S>(&acc).iter().enumerate().take(rows) {
                    let at = (g * tile::ROWS + r) * self.outputs + cb;
                    out[at..at + width].copy_from_slice(&row[..width]);
                }
            }
        }
    }

    /// A narrow layer: one dot product per (image, output).
    #[inline(always)]
    fn narrow_tile(&self, x: &[f32], t: usize, out: &mut [f32]) {
        let (inputs, outputs) = (self.inputs, self.outputs);
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
    }
}

fn shape(message: String) -> KernelError {
    KernelError::Shape(message)
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

/// A masked MLP in host memory, run by the zero-skipping kernel.
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
    /// The network `hidden[0] -> ... -> output` (copied into the kernel's layout); each layer's
    /// inputs must be the previous layer's outputs.
    pub fn new(hidden: &[LinearParams], output: &LinearParams) -> Result<Self, KernelError> {
        let hidden = hidden
            .iter()
            .enumerate()
            .map(|(l, p)| HostLinear::new(p, &format!("hidden layer {l}")))
            .collect::<Result<Vec<_>, _>>()?;
        let output = HostLinear::new(output, "the output layer")?;
        let widths = hidden.iter().chain([&output]);
        for (l, (a, b)) in widths.clone().zip(widths.skip(1)).enumerate() {
            if a.outputs != b.inputs {
                return Err(shape(format!(
                    "layer {} takes {} inputs, but layer {l} gives {}",
                    l + 1,
                    b.inputs,
                    a.outputs
                )));
            }
        }
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

    /// Logits for `inputs` (`[n x input_size]`, row-major). `keep` is one mask row over all
    /// hidden neurons (the layers' blocks side by side; 1 = on, 0 = off) for every input, or
    /// `n` rows, row i for input i. `keep_hidden` also returns the last hidden activations.
    pub fn forward(
        &self,
        inputs: &[f32],
        keep: &[f32],
        keep_hidden: bool,
    ) -> Result<SparseOutput, KernelError> {
        self.forward_at(None, inputs, keep, keep_hidden)
    }

    /// [`Self::forward`] at instruction-set `level` (`None`: the best this CPU has).
    pub fn forward_at(
        &self,
        level: Option<SimdLevel>,
        inputs: &[f32],
        keep: &[f32],
        keep_hidden: bool,
    ) -> Result<SparseOutput, KernelError> {
        let n = self.check(inputs, keep)?;
        let (classes, last) = (self.classes(), self.hidden.last().map_or(0, |l| l.outputs));
        let mut out = SparseOutput {
            logits: vec![0.0; n * classes],
            last_hidden: vec![0.0; if keep_hidden { n * last } else { 0 }],
        };
        let mut hidden_chunks: Vec<Option<&mut [f32]>> = out
            .last_hidden
            .chunks_mut(CHUNK * last.max(1))
            .map(Some)
            .collect();
        hidden_chunks.resize_with(n.div_ceil(CHUNK), || None);
        let width: usize = self.hidden_sizes().iter().sum();
        let broadcast = keep.len() == width;
        inputs
            .par_chunks(CHUNK * self.input_size())
            .zip(out.logits.par_chunks_mut(CHUNK * classes))
            .zip(hidden_chunks.into_par_iter())
            .enumerate()
            .try_for_each(|(c, ((x, logits), last_hidden))| {
                let first = c * CHUNK;
                let keep = if broadcast {
                    keep
                } else {
                    &keep[first * width..(first + x.len() / self.input_size()) * width]
                };
                let chunk = Chunk {
                    net: self,
                    keep,
                    broadcast,
                    x,
                    logits,
                    last_hidden,
                };
                dispatch(level, chunk)
            })?;
        Ok(out)
    }

    /// The number of inputs, once `inputs` and `keep` fit the network.
    fn check(&self, inputs: &[f32], keep: &[f32]) -> Result<usize, KernelError> {
        let size = self.input_size();
        if !inputs.len().is_multiple_of(size) {
            return Err(shape(format!(
                "{} input values is not a whole number of {size}-value inputs",
                inputs.len()
            )));
        }
        let n = inputs.len() / size;
        let width: usize = self.hidden_sizes().iter().sum();
        if keep.len() != width && keep.len() != n * width {
            return Err(shape(format!(
                "the mask has {} values; expected one row of {width} (one per hidden neuron) or {n} rows, one per input",
                keep.len()
            )));
        }
        Ok(n)
    }
}

/// One rayon task's images, run at one instruction-set level.
struct Chunk<'a> {
    net: &'a SparseMlp,
    /// The mask rows of these images (or the one broadcast row).
    keep: &'a [f32],
    broadcast: bool,
    x: &'a [f32],
    logits: &'a mut [f32],
    last_hidden: Option<&'a mut [f32]>,
}

impl WithSimd for Chunk<'_> {
    type Output = ();

    // `S` only selects the target features the body is compiled with.
    #[inline(always)]
    fn with_simd<S: Simd>(self) {
        self.run::<S>();
    }
}

impl Chunk<'_> {
    /// The images tile by tile through every layer (inlined into each level's copy).
    #[inline(always)]
    fn run<S: Simd>(mut self) {
        let net = self.net;
        let inputs = net.input_size();
        let widest = net.hidden.iter().map(|l| l.outputs).max().unwrap_or(0);
        let width = widest.max(net.classes());
        let mask_width: usize = net.hidden.iter().map(|l| l.outputs).sum();
        let (mut a, mut b) = (vec![0f32; TILE * width], vec![0f32; TILE * width]);
        let mut active = tile::ActiveInputs::default();
        let images = self.x.len() / inputs;
        let classes = net.classes();
        for start in (0..images).step_by(TILE) {
            let t = TILE.min(images - start);
            // The first layer reads the images where they are; later layers read `a`.
            let pixels = &self.x[start * inputs..(start + t) * inputs];
            let mut offset = 0;
            for (l, layer) in net.hidden.iter().enumerate() {
                layer.forward_tile::<S>(if l == 0 { pixels } else { &a }, t, &mut b, &mut active);
                let w = layer.outputs;
                for i in 0..t {
                    let row = if self.broadcast { 0 } else { start + i };
                    let keep = &self.keep[row * mask_width + offset..][..w];
                    mask_relu(&mut b[i * w..(i + 1) * w], keep);
                }
                offset += w;
                if l + 1 == net.hidden.len()
                    && let Some(h) = self.last_hidden.as_deref_mut()
                {
                    h[start * w..(start + t) * w].copy_from_slice(&b[..t * w]);
                }
                std::mem::swap(&mut a, &mut b);
            }
            let last = if net.hidden.is_empty() { pixels } else { &a };
            net.output.forward_tile::<S>(last, t, &mut b, &mut active);
            self.logits[start * classes..(start + t) * classes].copy_from_slice(&b[..t * classes]);
        }
    }
}

/// `h = relu(h * keep)`, the mask right after the Linear.
#[inline(always)]
fn mask_relu(h: &mut [f32], keep: &[f32]) {
    for (v, &k) in h.iter_mut().zip(keep) {
        *v = (*v * k).max(0.0);
    }
}
