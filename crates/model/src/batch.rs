//! What one training or validation step sees, and the Learner's step traits.
//!
//! The Learner's step takes a single batch type, so the masks travel inside the batch.
//! (The step traits must live here, beside `MaskedMlp`, because of the orphan rule.)

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use crate::mask::HiddenMasks;
use crate::mlp::MaskedMlp;

/// A batch of images `[B, 784]` scaled to [0, 1], their labels `[B]`, and the masks to apply.
#[derive(Debug, Clone)]
pub struct MaskedBatch {
    pub images: Tensor<2>,
    pub targets: Tensor<1, Int>,
    pub masks: HiddenMasks,
}

impl MaskedMlp {
    /// Forward pass plus cross-entropy loss, in the form Burn's metrics expect.
    pub fn forward_classification(&self, batch: MaskedBatch) -> ClassificationOutput {
        let logits = self
            .forward_masked(batch.images, &batch.masks)
            // The batcher validated the mask policy against this network before training.
            .expect("training masks were validated against the network before training");
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl TrainStep for MaskedMlp {
    type Input = MaskedBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: MaskedBatch) -> TrainOutput<ClassificationOutput> {
        let out = self.forward_classification(batch);
        TrainOutput::new(self, out.loss.backward(), out)
    }
}

impl InferenceStep for MaskedMlp {
    type Input = MaskedBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: MaskedBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}
