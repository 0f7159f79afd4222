//! Training with the first layer's zero-skipping operation (`model::sparse_op`, what `train`
//! runs on flex) learns as well as Burn's dense Linear: one epoch on 20,000 real MNIST images,
//! the same seed, initial weights and batches, both paths; test accuracies within 0.3 points.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::relu;
use data::{MnistSplit, Split};
use model::{HiddenMasks, MaskedMlp, MaskedMlpConfig};

fn images(split: &MnistSplit, range: std::ops::Range<usize>, device: &Device) -> Tensor<2> {
    let pixels: Vec<f32> = range
        .clone()
        .flat_map(|i| split.image(i).iter().map(|&p| p as f32 / 255.0))
        .collect();
    Tensor::from_data(TensorData::new(pixels, [range.len(), 784]), device)
}

fn labels(split: &MnistSplit, range: std::ops::Range<usize>, device: &Device) -> Tensor<1, Int> {
    let l: Vec<i64> = range.clone().map(|i| split.label(i) as i64).collect();
    Tensor::from_data(TensorData::new(l, [range.len()]), device)
}

/// Burn's dense path, written out: `relu(Linear(x))` per hidden layer, then the output.
fn dense_forward(model: &MaskedMlp, x: Tensor<2>) -> Tensor<2> {
    let mut x = x;
    for layer in &model.hidden {
        x = relu(layer.forward(x));
    }
    model.output.forward(x)
}

/// One epoch from the same start; then the test accuracy and the first layer's weights.
fn train_one_epoch(sparse: bool, train: &MnistSplit, test: &MnistSplit) -> (f64, Vec<f32>) {
    let device = Device::flex().autodiff();
    device.seed(42);
    let mut model = MaskedMlpConfig::new().init(&device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for start in (0..train.len()).step_by(128) {
        let range = start..(start + 128).min(train.len());
        let x = images(train, range.clone(), &device);
        let logits = if sparse {
            model
                .forward_masked(x, &HiddenMasks::none())
                .expect("masks fit")
        } else {
            dense_forward(&model, x)
        };
        let loss = loss_fn.forward(logits, labels(train, range, &device));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    let model = model.valid();
    let device = Device::flex();
    let logits = dense_forward(&model, images(test, 0..test.len(), &device));
    let hits: i64 = logits
        .argmax(1)
        .reshape([test.len()])
        .equal(labels(test, 0..test.len(), &device))
        .int()
        .sum()
        .into_scalar();
    let weights = model.hidden[0]
        .weight
        .val()
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32");
    (hits as f64 / test.len() as f64, weights)
}

#[test]
#[ignore = "trains two networks on real MNIST (~10 s); run with --include-ignored"]
fn the_sparse_first_layer_learns_like_the_dense_one() {
    let train = MnistSplit::embedded(Split::Train)
        .expect("built-in MNIST")
        .truncated(20_000);
    let test = MnistSplit::embedded(Split::Test).expect("built-in MNIST");
    let (sparse, w_sparse) = train_one_epoch(true, &train, &test);
    let (dense, w_dense) = train_one_epoch(false, &train, &test);
    eprintln!("one epoch: sparse op {sparse:.4}, dense {dense:.4}");
    // Two different computations (summation orders differ), so not bit for bit the same
    // weights: proof that the operation ran.
    assert_ne!(w_sparse, w_dense, "the sparse path did not run");
    assert!(sparse > 0.9, "the sparse path learned: {sparse}");
    assert!(
        (sparse - dense).abs() <= 0.003,
        "sparse {sparse:.4} vs dense {dense:.4}: more than 0.3 points apart"
    );
}
