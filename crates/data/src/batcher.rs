//! Burn dataset and batcher over a decoded split.
//!
//! Items are just indices into the split's contiguous buffers, so the data loader moves no
//! pixels around; the batcher copies each batch once, straight into the tensor's buffer.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::*;
use model::{MaskPolicy, MaskedBatch};

use crate::idx::PIXELS;
use crate::mnist::MnistSplit;

/// The items of a split, as indices (`get(i)` is `i`).
#[derive(Debug, Clone)]
pub struct IndexDataset {
    len: usize,
}

impl IndexDataset {
    pub fn new(len: usize) -> Self {
        Self { len }
    }

    pub fn of(split: &MnistSplit) -> Self {
        Self::new(split.len())
    }
}

impl Dataset<usize> for IndexDataset {
    fn get(&self, index: usize) -> Result<usize, DatasetError> {
        if index < self.len {
            Ok(index)
        } else {
            Err(DatasetError::new(std::io::Error::other(format!(
                "index {index} is beyond the dataset's {} items",
                self.len
            ))))
        }
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// Builds `MaskedBatch`es: images scaled by 1/255 as in the seed, labels, and the masks that
/// the policy gives this batch.
#[derive(Debug, Clone)]
pub struct MnistBatcher {
    split: MnistSplit,
    hidden: Vec<usize>,
    policy: MaskPolicy,
}

impl MnistBatcher {
    /// `hidden` are the network's hidden layer sizes; the policy must have been validated
    /// against them (`MaskPolicy::validate`).
    pub fn new(split: MnistSplit, hidden: Vec<usize>, policy: MaskPolicy) -> Self {
        Self {
            split,
            hidden,
            policy,
        }
    }

    /// Images `[n, 784]` in [0, 1] and labels, host-side, for the given items.
    pub fn host_batch(&self, items: &[usize]) -> (Vec<f32>, Vec<i64>) {
        let mut images = Vec::with_capacity(items.len() * PIXELS);
        let mut labels = Vec::with_capacity(items.len());
        for &i in items {
            images.extend(self.split.image(i).iter().map(|&p| p as f32 / 255.0));
            labels.push(self.split.label(i) as i64);
        }
        (images, labels)
    }
}

impl Batcher<usize, MaskedBatch> for MnistBatcher {
    fn batch(&self, items: Vec<usize>, device: &Device) -> MaskedBatch {
        let n = items.len();
        let (images, labels) = self.host_batch(&items);
        let masks = self
            .policy
            .masks_for_batch(&self.hidden, &items, device)
            .expect("the mask policy was validated against the network before batching");
        MaskedBatch {
            images: Tensor::from_data(TensorData::new(images, [n, PIXELS]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
            masks,
        }
    }
}
