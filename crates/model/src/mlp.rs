//! The network: 784 -> hidden Linear layers (each masked, then ReLU) -> 10 logits.

use burn::module::Param;
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

    /// The shape as messages print it: `784 -> [600] -> 10`.
    pub fn describe(&self) -> String {
        format!(
            "{} -> {:?} -> {}",
            self.input_size, self.hidden, self.num_classes
        )
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

    /// The last hidden layer's activations `[B, H]` (after its mask and ReLU): what the
    /// output layer sees. `output.forward` of them gives `forward_masked`'s logits.
    pub fn last_hidden(
        &self,
        images: Tensor<2>,
        masks: &HiddenMasks,
    ) -> Result<Tensor<2>, MaskError> {
        self.activations_after(images, masks, self.hidden.len().saturating_sub(1))
    }

    /// Activations `[B, H_layer]` of hidden layer `layer` (after its mask and ReLU).
    pub fn activations_after(
        &self,
        images: Tensor<2>,
        masks: &HiddenMasks,
        layer: usize,
    ) -> Result<Tensor<2>, MaskError> {
        masks.check_fits(&self.hidden_sizes(), images.dims()[0])?;
        let mut x = images;
        for (l, linear) in self.hidden.iter().enumerate().take(layer + 1) {
            // The first layer's inputs are the (mostly zero) images: when training on flex,
            // one zero-skipping operation (Linear, mask and ReLU) with its own backward.
            #[cfg(feature = "flex")]
            let sparse = if l == 0 && linear.bias.is_some() && crate::sparse_op::applies(&x) {
                let keep = match masks.layer(l) {
                    Some(mask) => mask.keep_tensor().clone(),
                    None => Tensor::ones([1, linear.weight.dims()[1]], &x.device()),
                };
                crate::sparse_op::masked_linear_relu(&x, linear, &keep)
            } else {
                None
            };
            #[cfg(not(feature = "flex"))]
            let sparse = None;
            x = match (sparse, masks.layer(l)) {
                (Some(activations), _) => activations,
                (None, Some(mask)) => relu(linear.forward(x) * mask.keep_tensor().clone()),
                (None, None) => relu(linear.forward(x)),
            };
        }
        Ok(x)
    }

    /// Logits from the activations `x` of hidden layer `layer`: the later hidden layers (with
    /// their masks, which must be broadcast or match `x`'s rows) and the output layer.
    pub fn logits_from(
        &self,
        x: Tensor<2>,
        masks: &HiddenMasks,
        layer: usize,
    ) -> Result<Tensor<2>, MaskError> {
        let mut x = x;
        for (l, linear) in self.hidden.iter().enumerate().skip(layer + 1) {
            let pre = linear.forward(x);
            let pre = match masks.layer(l) {
                Some(mask) => {
                    mask.check_fits(linear.weight.dims()[1], pre.dims()[0])
                        .map_err(|e| e.in_layer(l))?;
                    pre * mask.keep_tensor().clone()
                }
                None => pre,
            };
            x = relu(pre);
        }
        Ok(self.output.forward(x))
    }

    /// Hidden layer `layer`'s Linear output `[B, H_layer]` before its mask and ReLU, with the
    /// earlier layers unmasked: what a gate on that layer multiplies.
    pub fn pre_activations(&self, images: Tensor<2>, layer: usize) -> Tensor<2> {
        let mut x = images;
        for linear in self.hidden.iter().take(layer) {
            x = relu(linear.forward(x));
        }
        self.hidden[layer].forward(x)
    }

    /// Logits from hidden layer `layer`'s pre-activations `pre` (see [`Self::pre_activations`])
    /// multiplied by a continuous `gate` (`[1, H]` or `[B, H]`, values in 0..1) before the
    /// ReLU; the later layers run unmasked. Burn's dense operations only, so a gradient
    /// reaches the gate (a learned mask); the 0/1 [`NeuronMask`](crate::NeuronMask) path is
    /// [`Self::forward_masked`].
    pub fn logits_gated(&self, pre: Tensor<2>, gate: Tensor<2>, layer: usize) -> Tensor<2> {
        let mut x = relu(pre * gate);
        for linear in self.hidden.iter().skip(layer + 1) {
            x = relu(linear.forward(x));
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
        Ok(self.output.forward(self.last_hidden(images, masks)?))
    }
}

impl MaskedMlp {
    /// The same network with the switched-off neurons removed: hidden layer `l` keeps only the
    /// neurons in `keep[l]` (`None` = all), so its Linear and the next layer's inputs shrink.
    /// Equal to the masked forward with one broadcast mask, and cheaper: the off neurons are
    /// never computed. Returns `None` when a layer would keep no neuron at all (the multiply
    /// path handles that case) or an index is out of range.
    pub fn compact(&self, keep: &[Option<Vec<usize>>]) -> Option<MaskedMlp> {
        let sizes = self.hidden_sizes();
        if keep.len() > sizes.len() {
            return None;
        }
        let device = self.output.weight.device();
        let indices = |list: &[usize]| {
            let ids: Vec<i64> = list.iter().map(|&i| i as i64).collect();
            Tensor::<1, Int>::from_data(TensorData::new(ids, [list.len()]), &device)
        };
        let mut previous: Option<Tensor<1, Int>> = None;
        let mut hidden = Vec::with_capacity(self.hidden.len());
        for (l, layer) in self.hidden.iter().enumerate() {
            let mut weight = layer.weight.val();
            if let Some(rows) = &previous {
                weight = weight.select(0, rows.clone());
            }
            let mut bias = layer.bias.as_ref().map(|b| b.val());
            previous = match keep.get(l).and_then(Option::as_ref) {
                Some(list) if list.is_empty() || list.iter().any(|&i| i >= sizes[l]) => {
                    return None;
                }
                Some(list) => {
                    let cols = indices(list);
                    weight = weight.select(1, cols.clone());
                    bias = bias.map(|b| b.select(0, cols.clone()));
                    Some(cols)
                }
                None => None,
            };
            hidden.push(Linear {
                weight: Param::from_tensor(weight),
                bias: bias.map(Param::from_tensor),
            });
        }
        let mut out_weight = self.output.weight.val();
        if let Some(rows) = previous {
            out_weight = out_weight.select(0, rows);
        }
        Some(MaskedMlp {
            hidden,
            output: Linear {
                weight: Param::from_tensor(out_weight),
                bias: self
                    .output
                    .bias
                    .as_ref()
                    .map(|b| Param::from_tensor(b.val())),
            },
        })
    }
}
