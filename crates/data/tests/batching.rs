//! The batcher: scaling, labels, masks, and its place in Burn's data loader.

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use data::{IndexDataset, MnistBatcher, MnistSplit, PIXELS};
use model::MaskPolicy;

fn split(count: usize) -> MnistSplit {
    let pixels = (0..count * PIXELS).map(|i| (i % 256) as u8).collect();
    let labels = (0..count).map(|i| (i % 10) as u8).collect();
    MnistSplit::from_parts(pixels, labels).expect("valid parts")
}

#[test]
fn batch_scales_pixels_by_255_and_keeps_item_order() {
    let s = split(6);
    let batcher = MnistBatcher::new(s.clone(), vec![16], MaskPolicy::None);
    let batch = batcher.batch(vec![4, 1], &Device::flex());
    assert_eq!(batch.images.dims(), [2, PIXELS]);
    let images: Vec<f32> = batch
        .images
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32");
    for (row, item) in [4usize, 1].into_iter().enumerate() {
        for p in [0, 100, 783] {
            assert_eq!(images[row * PIXELS + p], s.image(item)[p] as f32 / 255.0);
        }
    }
    let labels: Vec<i64> = batch
        .targets
        .into_data()
        .try_into_vec_as::<i64>()
        .expect("i64");
    assert_eq!(labels, vec![4, 1]);
    assert!(batch.masks.is_empty());
}

#[test]
fn batch_carries_one_random_mask_row_per_sample() {
    let batcher = MnistBatcher::new(
        split(8),
        vec![32],
        MaskPolicy::RandomOff { p: 0.5, seed: 3 },
    );
    let batch = batcher.batch(vec![0, 1, 2], &Device::flex());
    let mask = batch.masks.layer(0).expect("layer 0 mask");
    assert_eq!((mask.rows(), mask.width()), (3, 32));
}

#[test]
fn data_loader_covers_every_item_once_per_epoch() {
    let s = split(50);
    let loader = DataLoaderBuilder::new(MnistBatcher::new(s, vec![4], MaskPolicy::None))
        .batch_size(16)
        .shuffle(1)
        .set_device(Device::flex())
        .build(IndexDataset::new(50));
    let mut seen = Vec::new();
    for batch in loader.iter() {
        let batch = batch.expect("batch");
        seen.extend(
            batch
                .targets
                .into_data()
                .try_into_vec_as::<i64>()
                .expect("i64"),
        );
    }
    assert_eq!(seen.len(), 50);
    let mut hist = [0; 10];
    for l in seen {
        hist[l as usize] += 1;
    }
    assert_eq!(hist, [5; 10]);
}
