//! The zero-skipping CPU engine against Burn's dense forward: same logits up to float
//! summation order, for every kind of mask, on one- and two-layer networks.

mod common;

use burn::prelude::*;
use infer::{BroadcastPath, Engine, Predictor};
use model::{ExperimentConfig, MaskTable, MaskedMlpConfig};

/// Largest |a - b| / (1 + |b|) over all logits, and whether every input whose top two
/// logits are clearly apart gets the same class.
fn compare(a: &infer::Predictions, b: &infer::Predictions) -> (f32, bool) {
    assert_eq!(a.logits.len(), b.logits.len());
    let worst = a
        .logits
        .iter()
        .zip(&b.logits)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0f32, f32::max);
    let same = (0..b.len()).all(|i| {
        let mut row = b.logits(i).to_vec();
        row.sort_by(|x, y| y.total_cmp(x));
        row[0] - row[1] < 1e-3 || a.predicted(i) == b.predicted(i)
    });
    (worst, same)
}

fn both_engines(p: &Predictor) -> (Predictor, Predictor) {
    let mut sparse = p.clone();
    sparse.set_engine(Engine::Sparse).expect("sparse engine");
    let mut dense = p.clone();
    dense.set_engine(Engine::Burn).expect("burn engine");
    assert_eq!(sparse.engine(), Engine::Sparse);
    assert_eq!(dense.engine(), Engine::Burn);
    (sparse, dense)
}

fn check_all_masks(p: &Predictor, pixels: &[f32]) {
    let (sparse, dense) = both_engines(p);
    let hidden = p.hidden().to_vec();
    let n = pixels.len() / 784;
    let some_off: Vec<Vec<usize>> = hidden
        .iter()
        .map(|&h| (0..h).filter(|i| i % 3 != 0).collect())
        .collect();
    let layer_off: Vec<Vec<usize>> = hidden
        .iter()
        .enumerate()
        .map(|(l, &h)| if l == 0 { (0..h).collect() } else { vec![] })
        .collect();
    let cases = [
        (
            "no mask",
            MaskTable::all_on(&hidden),
            BroadcastPath::Compact,
        ),
        (
            "per-sample random",
            MaskTable::random_off(&hidden, n, 0.4, 3).expect("p"),
            BroadcastPath::Multiply,
        ),
        (
            "broadcast, compacted",
            MaskTable::broadcast_off(&hidden, &some_off),
            BroadcastPath::Compact,
        ),
        (
            "broadcast, multiplied",
            MaskTable::broadcast_off(&hidden, &some_off),
            BroadcastPath::Multiply,
        ),
        (
            "a whole layer off",
            MaskTable::broadcast_off(&hidden, &layer_off),
            BroadcastPath::Compact,
        ),
    ];
    for (name, table, path) in cases {
        let a = sparse.predict(pixels, &table, path).expect("sparse");
        let b = dense.predict(pixels, &table, path).expect("burn");
        let (worst, same) = compare(&a, &b);
        assert!(
            worst < 1e-4,
            "{name}: sparse and Burn logits differ by {worst} (relative)"
        );
        assert!(same, "{name}: a clear prediction changed");
    }
}

#[test]
fn sparse_engine_equals_burn_on_mnist_images() {
    let p = common::predictor();
    assert_eq!(p.engine(), Engine::Sparse, "CPU devices default to sparse");
    // 1000 images: 3 full chunks of 256 and a ragged one of 232 (31 tiles of 32, then 8).
    let inputs = common::test_inputs(1000);
    check_all_masks(&p, &inputs.pixels);
    // An input count that is no multiple of the tile or chunk size.
    check_all_masks(&p, &inputs.pixels[..37 * 784]);
}

#[test]
fn sparse_engine_equals_burn_on_a_two_layer_net_and_dense_inputs() {
    let device = Device::flex();
    device.seed(9);
    let config = ExperimentConfig::new(
        MaskedMlpConfig::new().with_hidden(vec![48, 24]),
        burn::optim::AdamConfig::new(),
    );
    let model = config.model.init(&device);
    let p = Predictor::new(config, model, &device).expect("predictor");
    // No zero inputs at all, negative values included: nothing is skipped by luck.
    let mut state = 1u32;
    let pixels: Vec<f32> = (0..50 * 784)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.3
        })
        .collect();
    check_all_masks(&p, &pixels);
}

#[test]
fn sparse_hidden_activations_equal_burns() {
    let p = common::predictor();
    let inputs = common::test_inputs(100);
    let table = MaskTable::random_off(p.hidden(), 100, 0.5, 1).expect("p");
    let sparse = p.sparse().expect("sparse engine on flex");
    let got = infer::sparse::forward(sparse, &inputs.pixels, &table, true)
        .expect("forward")
        .last_hidden;
    let images = Tensor::<2>::from_data(
        TensorData::new(inputs.pixels.clone(), [100, 784]),
        &p.device,
    );
    let masks = table.masks_for(0..100, &p.device).expect("masks");
    let want: Vec<f32> = p
        .model
        .last_hidden(images, &masks)
        .expect("burn")
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32");
    assert_eq!(got.len(), want.len());
    let zeros = want.iter().filter(|&&v| v == 0.0).count();
    assert!(zeros > 100 * 32 / 3, "masks and ReLU leave zeros: {zeros}");
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "activation {i}: {a} vs {b}"
        );
        assert_eq!(
            *a == 0.0,
            *b == 0.0 || b.abs() < 1e-6,
            "activation {i}: {a} vs {b}"
        );
    }
}
