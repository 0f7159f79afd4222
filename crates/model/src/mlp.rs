//! The network: 784 -> hidden Linear layers (each masked, then ReLU) -> 10 logits.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::mask::{HiddenMasks, MaskError};

/// Shape of the masked MLP. The defaults are the seed's Keras model: 784 -> 600 -> 10.
#[derive(Config, Debug, PartialEq)]
pub struct MaskedMlpConfig {
    /// Pixels per image (28 x 28).
    #[config(default = 784)]
    pub input_size: usize,
    /// Sizes of the hidden layers, input side first. Each layer can be masked on its own.
    #[config(default = "vec![600]")]
    pub hidden: Vec<usize>,
    /// Number of classes (digits).
    #[config(default = 10)]
    pub num_classes: usize,
}

/// A configuration that cannot describe a network.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelConfigError {
    #[error("field `hidden` is empty; expected at least one hidden layer size, e.g. [600]")]
    NoHiddenLayer,
    #[error("field `{field}` is 0; expected a positive size")]
    ZeroSize { field: String },
}

impl MaskedMlpConfig {
    /// Check that every size is positive and there is a hidden layer to mask.
    pub fn validate(&self) -> Result<(), ModelConfigError> {
        if self.hidden.is_empty() {
            return Err(ModelConfigError::NoHiddenLayer);
        }
        let zero = |field: String| Err(ModelConfigError::ZeroSize { field });
        if self.input_size == 0 {
            return zero("input_size".into());
        }
        if self.num_classes == 0 {
            return zero("num_classes".into());
        }
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return zero(format!("hidden[{i}]"));
        }
        Ok(())
    }

    /// Build the network with Burn's default initialisation.
    pub fn init(&self, device: &Device) -> MaskedMlp {
        let mut width = self.input_size;
        let mut hidden = Vec::with_capacity(self.hidden.len());
        for &size in &self.hidden {
            hidden.push(LinearConfig::new(width, size).init(device));
            width = size;
        }
        MaskedMlp {
            hidden,
            output: LinearConfig::new(width, self.num_classes).init(device),
        }
    }
}

/// The MLP whose hidden neurons can be switched off per input.
///
/// Parameters are named `hidden.{l}.weight`, `hidden.{l}.bias`, `output.weight`, `output.bias`.
/// Burn stores Linear weights as `[in, out]`, so column j of `hidden.l.weight` feeds neuron j.
#[derive(Module, Debug)]
pub struct MaskedMlp {
    pub hidden: Vec<Linear>,
    pub output: Linear,
}

impl MaskedMlp {
    /// Hidden layer sizes, input side first.
    pub fn hidden_sizes(&self) -> Vec<usize> {
        self.hidden.iter().map(|l| l.weight.dims()[1]).collect()
    }

    /// Input width the first layer expects.
    pub fn input_size(&self) -> usize {
        self.hidden
            .first()
            .map_or_else(|| self.output.weight.dims()[0], |l| l.weight.dims()[0])
    }

    /// Logits `[B, classes]` of the plain, unmasked network.
    pub fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        let mut x = images;
        for layer in &self.hidden {
            x = relu(layer.forward(x));
        }
        self.output.forward(x)
    }

    /// Logits `[B, classes]` with each hidden layer's output multiplied by its mask right after
    /// the Linear and before the ReLU, as in the seed's accepted answer.
    pub fn forward_masked(
        &self,
        images: Tensor<2>,
        masks: &HiddenMasks,
    ) -> Result<Tensor<2>, MaskError> {
        masks.check_fits(&self.hidden_sizes(), images.dims()[0])?;
        let mut x = images;
        for (l, layer) in self.hidden.iter().enumerate() {
            let pre = layer.forward(x);
            let pre = match masks.layer(l) {
                Some(mask) => pre * mask.keep_tensor().clone(),
                None => pre,
            };
            x = relu(pre);
        }
        Ok(self.output.forward(x))
    }
}
