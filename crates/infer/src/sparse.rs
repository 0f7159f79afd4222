//! The bridge from a Burn model to the zero-skipping CPU kernel ([`kernels::SparseMlp`]): the
//! weights copied to host memory, and the forward pass run with a [`MaskTable`].
//!
//! On a host device the [`crate::Predictor`] uses the kernel instead of Burn's dense gemm
//! (see `kernels::masked_forward` for why); GPU devices keep Burn's forward.

use anyhow::{Result, anyhow, bail};
use kernels::{LinearParams, SparseMlp, SparseOutput};
use model::{MaskTable, MaskedMlp};

use crate::host::host_vec;

/// One Linear layer read back to host memory.
struct HostLayer {
    inputs: usize,
    outputs: usize,
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl HostLayer {
    fn read(layer: &burn::nn::Linear) -> Result<Self> {
        let [inputs, outputs] = layer.weight.dims();
        Ok(Self {
            inputs,
            outputs,
            weight: host_vec(layer.weight.val(), "weights")?,
            bias: match &layer.bias {
                Some(b) => Some(host_vec(b.val(), "bias")?),
                None => None,
            },
        })
    }

    fn params(&self) -> LinearParams<'_> {
        LinearParams {
            inputs: self.inputs,
            outputs: self.outputs,
            weight: &self.weight,
            bias: self.bias.as_deref(),
        }
    }
}

/// Copy the weights of `model` (on any device) into the kernel.
pub fn from_model(model: &MaskedMlp) -> Result<SparseMlp> {
    let hidden = model
        .hidden
        .iter()
        .map(HostLayer::read)
        .collect::<Result<Vec<_>>>()?;
    let output = HostLayer::read(&model.output)?;
    let params: Vec<LinearParams> = hidden.iter().map(HostLayer::params).collect();
    Ok(SparseMlp::new(&params, &output.params())?)
}

/// Logits for `pixels` (`[n x inputs]`, row-major) with mask row i on input i (or the one
/// broadcast row on all); `keep_hidden` also returns the last hidden activations.
pub fn forward(
    net: &SparseMlp,
    pixels: &[f32],
    masks: &MaskTable,
    keep_hidden: bool,
) -> Result<SparseOutput> {
    if masks.hidden() != net.hidden_sizes() {
        bail!(
            "the mask covers hidden layers {:?}; the network has {:?}",
            masks.hidden(),
            net.hidden_sizes()
        );
    }
    let inputs = net.input_size();
    if pixels.len().is_multiple_of(inputs) {
        masks
            .check_inputs(pixels.len() / inputs, "mask")
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(net.forward(pixels, masks.values(), keep_hidden)?)
}
