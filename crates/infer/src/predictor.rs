//! A loaded network and the batched, masked forward pass.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use data::ArtifactDir;
use data::artifact::{load_config, load_model};
use model::{ExperimentConfig, MaskPolicy, MaskTable, MaskedMlp};

use crate::host::host_vec;
use kernels::SparseMlp;

/// Inputs per forward pass.
pub const BATCH: usize = 1024;

/// A trained network ready to answer, with the config it was trained with.
#[derive(Debug, Clone)]
pub struct Predictor {
    pub config: ExperimentConfig,
    pub model: MaskedMlp,
    pub device: Device,
    /// The zero-skipping CPU kernel's copy of the weights, on host devices (see
    /// [`Engine`]); `None` runs Burn's forward.
    sparse: Option<Arc<SparseMlp>>,
    /// The last broadcast mask's compacted network, reused while the same neurons stay off
    /// (a sweep over many batches, the explorer's repeated requests).
    compacted: Arc<Mutex<Option<Compacted>>>,
}

/// The neurons each layer keeps (`None` = all), and the network cut down to them.
type Compacted = (Vec<Option<Vec<usize>>>, Arc<SparseMlp>);

/// Which code runs the forward pass (`infer bench --engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Engine {
    /// Burn's tensors on the predictor's device (dense gemm; the only choice on a GPU).
    Burn,
    /// [`SparseMlp`]: skips zero inputs, on host memory. The default on CPU devices.
    Sparse,
}

/// Logits, one row of `classes` per input.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    pub classes: usize,
    pub logits: Vec<f32>,
}

impl Predictions {
    pub fn len(&self) -> usize {
        self.logits.len() / self.classes
    }

    pub fn is_empty(&self) -> bool {
        self.logits.is_empty()
    }

    pub fn logits(&self, i: usize) -> &[f32] {
        &self.logits[i * self.classes..(i + 1) * self.classes]
    }

    /// Softmax probabilities of input `i` (computed in f64 for stability).
    pub fn probabilities(&self, i: usize) -> Vec<f32> {
        let row = self.logits(i);
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let exps: Vec<f64> = row.iter().map(|&l| (l as f64 - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        exps.iter().map(|e| (e / sum) as f32).collect()
    }

    /// The predicted class of input `i` (the first maximum).
    pub fn predicted(&self, i: usize) -> usize {
        let row = self.logits(i);
        (0..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best })
    }
}

/// How a broadcast mask is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastPath {
    /// Drop the switched-off neurons from the weights (faster; identical results).
    Compact,
    /// Multiply the hidden output by the mask, as per-sample masks do.
    Multiply,
}

impl Predictor {
    /// Load `config.json` and `model.bpk` (or `checkpoint`, e.g. `checkpoint/model-3.bpk`).
    pub fn load(dir: &Path, checkpoint: Option<&Path>, device: &Device) -> Result<Self> {
        let artifacts = ArtifactDir::new(dir);
        let config_path = artifacts.config();
        if !dir.is_dir() {
            bail!(
                "{}: no such artifact directory (train writes one)",
                dir.display()
            );
        }
        let config: ExperimentConfig = load_config(&config_path)?;
        config
            .validate()
            .with_context(|| format!("{}", config_path.display()))?;
        let weights = checkpoint
            .map(Path::to_path_buf)
            .unwrap_or_else(|| artifacts.model());
        let model = load_model(&config.model, &weights, device)?;
        Self::new(config, model, device)
    }

    /// A predictor for a model already in memory; CPU devices get the sparse engine.
    pub fn new(config: ExperimentConfig, model: MaskedMlp, device: &Device) -> Result<Self> {
        let sparse = if backend::is_host(device) {
            Some(Arc::new(crate::sparse::from_model(&model)?))
        } else {
            None
        };
        Ok(Self {
            config,
            model,
            device: device.clone(),
            sparse,
            compacted: Arc::default(),
        })
    }

    pub fn engine(&self) -> Engine {
        if self.sparse.is_some() {
            Engine::Sparse
        } else {
            Engine::Burn
        }
    }

    /// Run the forward pass with `engine` from now on. `Sparse` copies the weights to the
    /// host (from any device).
    pub fn set_engine(&mut self, engine: Engine) -> Result<()> {
        self.sparse = match engine {
            Engine::Burn => None,
            Engine::Sparse => match self.sparse.take() {
                Some(s) => Some(s),
                None => Some(Arc::new(crate::sparse::from_model(&self.model)?)),
            },
        };
        Ok(())
    }

    /// The sparse engine's weights, when it is the engine.
    pub fn sparse(&self) -> Option<&SparseMlp> {
        self.sparse.as_deref()
    }

    pub fn hidden(&self) -> &[usize] {
        &self.config.model.hidden
    }

    /// The mask inference applies when none is given: the fixed sub-network the model was
    /// trained as, or all neurons on.
    pub fn default_masks(&self) -> MaskTable {
        match &self.config.train_mask {
            MaskPolicy::Fixed { off } => MaskTable::broadcast_off(self.hidden(), off),
            _ => MaskTable::all_on(self.hidden()),
        }
    }

    /// Logits for `n` images (`pixels` row-major `[n, 784]`, scaled to 0..1), row i with mask
    /// row i (or the one broadcast row). Per-sample masks multiply; a broadcast mask drops the
    /// switched-off neurons when `path` is `Compact`.
    pub fn predict(
        &self,
        pixels: &[f32],
        masks: &MaskTable,
        path: BroadcastPath,
    ) -> Result<Predictions> {
        let n = self.count_inputs(pixels, masks)?;
        if let Some(sparse) = &self.sparse {
            return self.predict_sparse(sparse, pixels, masks, path);
        }
        let compact = match (path, masks.is_broadcast()) {
            (BroadcastPath::Compact, true) => {
                let kept = masks.kept_per_layer();
                if kept.iter().all(Option::is_none) {
                    None
                } else {
                    self.model.compact(&kept)
                }
            }
            _ => None,
        };
        let mut logits = Vec::with_capacity(n * self.config.model.num_classes);
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let images = self.images(pixels, start..end);
            let out = match &compact {
                Some(model) => model.forward(images),
                None => {
                    let m = masks.masks_for(start..end, &self.device)?;
                    self.model.forward_masked(images, &m)?
                }
            };
            logits.extend(host_vec(out, "logits")?);
        }
        Ok(Predictions {
            classes: self.config.model.num_classes,
            logits,
        })
    }

    /// The network without the neurons `kept` leaves out, for the sparse engine (cached for the
    /// last mask); `None` when a layer would keep nothing.
    fn compacted_for(&self, kept: &[Option<Vec<usize>>]) -> Result<Option<Arc<SparseMlp>>> {
        let mut cache = self
            .compacted
            .lock()
            .map_err(|_| anyhow::anyhow!("the compaction cache was poisoned by a panic"))?;
        if let Some((key, net)) = cache.as_ref()
            && key.as_slice() == kept
        {
            return Ok(Some(net.clone()));
        }
        let Some(model) = self.model.compact(kept) else {
            return Ok(None);
        };
        let net = Arc::new(crate::sparse::from_model(&model)?);
        *cache = Some((kept.to_vec(), net.clone()));
        Ok(Some(net))
    }

    /// The sparse engine; a broadcast mask with neurons off drops them from a copy of the
    /// weights first (`Compact`), as the Burn path does.
    fn predict_sparse(
        &self,
        sparse: &SparseMlp,
        pixels: &[f32],
        masks: &MaskTable,
        path: BroadcastPath,
    ) -> Result<Predictions> {
        let classes = self.config.model.num_classes;
        if path == BroadcastPath::Compact && masks.is_broadcast() {
            let kept = masks.kept_per_layer();
            if kept.iter().any(Option::is_some)
                && let Some(small) = self.compacted_for(&kept)?
            {
                let all_on = MaskTable::all_on(&small.hidden_sizes());
                let logits = crate::sparse::forward(&small, pixels, &all_on, false)?.logits;
                return Ok(Predictions { classes, logits });
            }
        }
        let logits = crate::sparse::forward(sparse, pixels, masks, false)?.logits;
        Ok(Predictions { classes, logits })
    }
}

/// The last hidden layer's activations beside the logits they give.
#[derive(Debug, Clone, PartialEq)]
pub struct HiddenAndLogits {
    /// Width of the last hidden layer.
    pub width: usize,
    /// Activations after the layer's mask and ReLU, row-major `[n, width]`.
    pub hidden: Vec<f32>,
    pub predictions: Predictions,
}

impl HiddenAndLogits {
    /// The activations of input `i`.
    pub fn hidden(&self, i: usize) -> &[f32] {
        &self.hidden[i * self.width..(i + 1) * self.width]
    }
}

impl Predictor {
    /// How many images `pixels` holds, checked against the mask rows.
    fn count_inputs(&self, pixels: &[f32], masks: &MaskTable) -> Result<usize> {
        let width = self.config.model.input_size;
        if !pixels.len().is_multiple_of(width) {
            bail!(
                "{} pixel values is not a whole number of {width}-pixel images",
                pixels.len()
            );
        }
        let n = pixels.len() / width;
        masks
            .check_inputs(n, "mask")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(n)
    }

    /// Images `range` of `pixels` (row-major, 0..1) as a `[len, input_size]` tensor.
    pub fn images(&self, pixels: &[f32], range: std::ops::Range<usize>) -> Tensor<2> {
        let width = self.config.model.input_size;
        Tensor::from_data(
            TensorData::new(
                pixels[range.start * width..range.end * width].to_vec(),
                [range.len(), width],
            ),
            &self.device,
        )
    }

    /// The last hidden layer's activations and the logits for `n` images, row i with mask row
    /// i (or the one broadcast row), from one forward pass of the predictor's engine (Burn's
    /// masked forward, or the sparse engine on CPU devices): the logits are the output layer
    /// applied to those activations. `infer stream` and `infer serve` answer with it.
    pub fn hidden_and_logits(&self, pixels: &[f32], masks: &MaskTable) -> Result<HiddenAndLogits> {
        let n = self.count_inputs(pixels, masks)?;
        let width = self.hidden().last().copied().unwrap_or(0);
        let classes = self.config.model.num_classes;
        if let Some(sparse) = &self.sparse {
            let out = crate::sparse::forward(sparse, pixels, masks, true)?;
            return Ok(HiddenAndLogits {
                width,
                hidden: out.last_hidden,
                predictions: Predictions {
                    classes,
                    logits: out.logits,
                },
            });
        }
        let mut hidden = Vec::with_capacity(n * width);
        let mut logits = Vec::with_capacity(n * classes);
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let m = masks.masks_for(start..end, &self.device)?;
            let act = self
                .model
                .last_hidden(self.images(pixels, start..end), &m)?;
            logits.extend(host_vec(self.model.output.forward(act.clone()), "logits")?);
            hidden.extend(host_vec(act, "activations")?);
        }
        Ok(HiddenAndLogits {
            width,
            hidden,
            predictions: Predictions { classes, logits },
        })
    }
}
