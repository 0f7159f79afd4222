//! The training set's data loader: epoch `e` visits the images in an order drawn from the run's
//! seed and `e` alone, so a run resumed after epoch `e` (a new process) trains on exactly the
//! batches, and random lesions, of an uninterrupted run.
//!
//! Why not Burn's shuffling loader: it draws each epoch's order from one generator that
//! advances per pass, and the Learner forks it when it moves the loader to its device; a
//! resumed run starts from a fresh generator, so its epochs see other orders (measured: the
//! weights after a resume differed from an uninterrupted run's). Batches are built on the
//! training thread, as Burn's loader does without workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::prelude::*;
use model::MaskedBatch;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

use crate::batcher::MnistBatcher;

/// Batches of one epoch's order of `items` (indices into the split).
#[derive(Clone)]
pub struct EpochLoader {
    batcher: Arc<MnistBatcher>,
    /// The items this loader covers (all of the split, or a device's slice of it).
    items: Arc<Vec<usize>>,
    batch_size: usize,
    seed: u64,
    /// Epochs begun so far (0-based index of the next one); shared with the copies that
    /// `to_device` makes, since the Learner iterates the copy.
    next_epoch: Arc<AtomicUsize>,
    device: Device,
}

impl std::fmt::Debug for EpochLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochLoader")
            .field("items", &self.items.len())
            .field("batch_size", &self.batch_size)
            .field("seed", &self.seed)
            .field("next_epoch", &self.next_epoch.load(Ordering::Relaxed))
            .finish()
    }
}

impl EpochLoader {
    /// A loader over all `len` items of `batcher`'s split whose next pass is epoch
    /// `finished_epochs + 1` (0 for a new run; the checkpoint's epoch for a resumed one).
    pub fn new(
        batcher: MnistBatcher,
        len: usize,
        batch_size: usize,
        seed: u64,
        finished_epochs: usize,
        device: Device,
    ) -> Self {
        Self {
            batcher: Arc::new(batcher),
            items: Arc::new((0..len).collect()),
            batch_size: batch_size.max(1),
            seed,
            next_epoch: Arc::new(AtomicUsize::new(finished_epochs)),
            device,
        }
    }

    /// Epoch `epoch`'s order of this loader's items (0-based epoch).
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order = self.items.as_ref().clone();
        let seed = self.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        order
    }
}

struct EpochIterator {
    batcher: Arc<MnistBatcher>,
    order: Vec<usize>,
    batch_size: usize,
    position: usize,
    device: Device,
}

impl Iterator for EpochIterator {
    type Item = Result<MaskedBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.order.len() {
            return None;
        }
        let end = (self.position + self.batch_size).min(self.order.len());
        let items = self.order[self.position..end].to_vec();
        self.position = end;
        Some(Ok(self.batcher.batch(items, &self.device)))
    }
}

impl DataLoaderIterator<MaskedBatch> for EpochIterator {
    fn progress(&self) -> Progress {
        Progress::new(self.position, self.order.len(), Some("items".into()))
    }
}

impl DataLoader<MaskedBatch> for EpochLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<MaskedBatch> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        Box::new(EpochIterator {
            batcher: self.batcher.clone(),
            order: self.order(epoch),
            batch_size: self.batch_size,
            position: 0,
            device: self.device.clone(),
        })
    }

    fn num_items(&self) -> usize {
        self.items.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<MaskedBatch>> {
        Arc::new(Self {
            device: device.clone(),
            ..self.clone()
        })
    }

    /// Items `start..end` of the split, for one of several devices; its epochs count on their
    /// own from the current one.
    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<MaskedBatch>> {
        let end = end.min(self.items.len());
        let start = start.min(end);
        Arc::new(Self {
            items: Arc::new(self.items[start..end].to_vec()),
            next_epoch: Arc::new(AtomicUsize::new(self.next_epoch.load(Ordering::SeqCst))),
            ..self.clone()
        })
    }
}
