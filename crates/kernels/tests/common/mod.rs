//! What the kernel tests share: deterministic test values and Burn's dense forward as the
//! reference.

#![allow(dead_code)]

use burn::prelude::*;
use burn::tensor::activation::relu;

/// `n` deterministic values in [-0.5, 0.5) (a multiplicative hash of the index and the seed;
/// the kernels crate cannot use test-support, which depends on `model`).
pub fn values(seed: u64, n: usize) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let h = (i + 1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
            ((h >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// One Linear layer's weights `[inputs x outputs]` and bias, scaled like a trained layer's.
pub struct Layer {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Layer {
    pub fn new(seed: u64, inputs: usize, outputs: usize) -> Self {
        let scale = 2.0 / (inputs as f32).sqrt();
        Self {
            inputs,
            outputs,
            weight: values(seed, inputs * outputs)
                .iter()
                .map(|v| v * scale)
                .collect(),
            bias: values(seed + 1, outputs).iter().map(|v| v * 0.2).collect(),
        }
    }

    pub fn params(&self) -> kernels::LinearParams<'_> {
        kernels::LinearParams {
            inputs: self.inputs,
            outputs: self.outputs,
            weight: &self.weight,
            bias: Some(&self.bias),
        }
    }
}

fn tensor(v: &[f32], shape: [usize; 2]) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), &Device::flex())
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// Burn's dense forward of the masked MLP (`relu((x W + b) * keep)` per hidden layer, then
/// the output Linear): the logits and the last hidden activations.
pub fn burn_forward(
    hidden: &[Layer],
    output: &Layer,
    x: &[f32],
    keep: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let n = x.len() / hidden.first().unwrap_or(output).inputs;
    let width: usize = hidden.iter().map(|l| l.outputs).sum();
    let rows = if keep.len() == width { 1 } else { n };
    let keep = tensor(keep, [rows, width]);
    let mut h = tensor(x, [n, x.len() / n.max(1)]);
    let mut offset = 0;
    for l in hidden {
        let linear =
            h.matmul(tensor(&l.weight, [l.inputs, l.outputs])) + tensor(&l.bias, [1, l.outputs]);
        let k = keep.clone().slice([0..rows, offset..offset + l.outputs]);
        h = relu(linear * k);
        offset += l.outputs;
    }
    let last = host(h.clone());
    let logits = h.matmul(tensor(&output.weight, [output.inputs, output.outputs]))
        + tensor(&output.bias, [1, output.outputs]);
    (host(logits), last)
}

/// The largest difference between `a` and `b`, relative to the largest magnitude in `b`.
pub fn worst_relative(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs() / scale))
}
