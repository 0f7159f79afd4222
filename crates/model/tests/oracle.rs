//! The masked model against an independent computation: plain Rust loops over the same weights.

// Index loops mirror the maths of the oracles they implement.
#![allow(clippy::needless_range_loop)]

use burn::prelude::*;
use model::{HiddenMasks, MaskError, MaskedMlp, MaskedMlpConfig, NeuronMask};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn device() -> Device {
    Device::flex()
}

/// A small network with weights drawn from a host RNG, so it is the same in every run
/// whatever other tests do with the device's RNG. Hidden biases are positive so that every
/// neuron is active on most inputs and switching it off shows.
fn small_model(hidden: Vec<usize>, seed: u64) -> MaskedMlp {
    let device = device();
    let mut model = MaskedMlpConfig::new()
        .with_input_size(12)
        .with_hidden(hidden)
        .with_num_classes(4)
        .init(&device);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fill = |linear: &mut burn::nn::Linear, bias_lo: f32| {
        let [d_in, d_out] = linear.weight.dims();
        let w: Vec<f32> = (0..d_in * d_out)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let b: Vec<f32> = (0..d_out).map(|_| rng.random_range(bias_lo..1.0)).collect();
        test_support::set_linear(linear, w, b);
    };
    for layer in model.hidden.iter_mut() {
        fill(layer, 0.2);
    }
    fill(&mut model.output, -1.0);
    model
}

fn random_images(batch: usize, width: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..batch * width).map(|_| rng.random::<f32>()).collect()
}

fn tensor(values: &[f32], rows: usize, cols: usize) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [rows, cols]), &device())
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("f32 data")
}

/// One Linear layer's weights as host vectors: `w[i][o]` (Burn's [in, out] layout) and `b[o]`.
struct HostLinear {
    w: Vec<Vec<f32>>,
    b: Vec<f32>,
}

fn host_linear(linear: &burn::nn::Linear) -> HostLinear {
    let [d_in, d_out] = linear.weight.dims();
    let flat = values(linear.weight.val());
    let w = (0..d_in)
        .map(|i| flat[i * d_out..(i + 1) * d_out].to_vec())
        .collect();
    let b = linear
        .bias
        .as_ref()
        .map(|b| b.val().into_data().try_into_vec_as::<f32>().expect("bias"))
        .unwrap_or_else(|| vec![0.0; d_out]);
    HostLinear { w, b }
}

/// The oracle: `keep[l][row][j]` multiplies hidden layer l's neuron j for input `row`
/// (a single row is used for every input), then ReLU, then the output layer.
fn oracle(model: &MaskedMlp, images: &[f32], batch: usize, keep: &[Vec<Vec<f32>>]) -> Vec<f32> {
    let layers: Vec<HostLinear> = model.hidden.iter().map(host_linear).collect();
    let out = host_linear(&model.output);
    let width = images.len() / batch;
    let mut logits = Vec::new();
    for n in 0..batch {
        let mut x: Vec<f32> = images[n * width..(n + 1) * width].to_vec();
        for (l, layer) in layers.iter().enumerate() {
            let mut h = layer.b.clone();
            for (i, xi) in x.iter().enumerate() {
                for (o, hv) in h.iter_mut().enumerate() {
                    *hv += xi * layer.w[i][o];
                }
            }
            if let Some(rows) = keep.get(l) {
                let row = if rows.len() == 1 { &rows[0] } else { &rows[n] };
                for (hv, k) in h.iter_mut().zip(row) {
                    *hv *= k;
                }
            }
            x = h.into_iter().map(|v| v.max(0.0)).collect();
        }
        let mut y = out.b.clone();
        for (i, xi) in x.iter().enumerate() {
            for (o, yv) in y.iter_mut().enumerate() {
                *yv += xi * out.w[i][o];
            }
        }
        logits.extend(y);
    }
    logits
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "index {i}: {x} vs {y}"
        );
    }
}

#[test]
fn unmasked_forward_matches_the_plain_loop_oracle() {
    let model = small_model(vec![8], 1);
    let images = random_images(5, 12, 2);
    let got = values(model.forward(tensor(&images, 5, 12)));
    assert_close(&got, &oracle(&model, &images, 5, &[]));
}

#[test]
fn all_ones_mask_equals_no_mask_bit_for_bit() {
    let model = small_model(vec![8], 3);
    let images = tensor(&random_images(6, 12, 4), 6, 12);
    let plain = values(model.forward(images.clone()));
    let ones = HiddenMasks::first_layer(NeuronMask::all_on(8, &device()).expect("mask"));
    let masked = values(model.forward_masked(images.clone(), &ones).expect("fits"));
    let none = values(
        model
            .forward_masked(images, &HiddenMasks::none())
            .expect("fits"),
    );
    assert_eq!(plain, masked);
    assert_eq!(plain, none);
}

#[test]
fn switching_neuron_off_equals_zeroing_its_weight_column_and_bias() {
    let model = small_model(vec![8], 5);
    let images = random_images(4, 12, 6);
    for j in [0, 3, 7] {
        let mask = NeuronMask::switch_off(8, &[j], &device()).expect("mask");
        let got = values(
            model
                .forward_masked(tensor(&images, 4, 12), &HiddenMasks::first_layer(mask))
                .expect("fits"),
        );
        // Independent: zero column j and bias j of the hidden layer, then plain loops.
        let mut zeroed = host_linear(&model.hidden[0]);
        for row in zeroed.w.iter_mut() {
            row[j] = 0.0;
        }
        zeroed.b[j] = 0.0;
        let out = host_linear(&model.output);
        let mut expected = Vec::new();
        for n in 0..4 {
            let x = &images[n * 12..(n + 1) * 12];
            let h: Vec<f32> = (0..8)
                .map(|o| {
                    let s: f32 = zeroed.b[o] + (0..12).map(|i| x[i] * zeroed.w[i][o]).sum::<f32>();
                    s.max(0.0)
                })
                .collect();
            for c in 0..4 {
                expected.push(out.b[c] + (0..8).map(|o| h[o] * out.w[o][c]).sum::<f32>());
            }
        }
        assert_close(&got, &expected);
        // And it must actually differ from the intact network for some input.
        let intact = values(model.forward(tensor(&images, 4, 12)));
        assert_ne!(
            got, intact,
            "neuron {j} had no effect; pick inputs that activate it"
        );
    }
}

#[test]
fn per_sample_mask_row_changes_only_its_own_output_row() {
    let model = small_model(vec![8], 7);
    let images = tensor(&random_images(5, 12, 8), 5, 12);
    let plain = values(model.forward(images.clone()));
    let mut rows = vec![Vec::new(); 5];
    rows[2] = vec![0, 1, 2, 3, 4, 5];
    let mask = NeuronMask::per_sample_off(8, &rows, &device()).expect("mask");
    assert_eq!(mask.rows(), 5);
    let masked = values(
        model
            .forward_masked(images, &HiddenMasks::first_layer(mask))
            .expect("fits"),
    );
    for n in 0..5 {
        let (a, b) = (&plain[n * 4..(n + 1) * 4], &masked[n * 4..(n + 1) * 4]);
        if n == 2 {
            assert_ne!(a, b, "row 2 had neurons off and must change");
        } else {
            assert_eq!(a, b, "row {n} had no neuron off and must not change");
        }
    }
}

#[test]
fn broadcast_row_equals_the_same_row_repeated() {
    let model = small_model(vec![8], 9);
    let images = tensor(&random_images(6, 12, 10), 6, 12);
    let off = [1, 4, 6];
    let broadcast = NeuronMask::switch_off(8, &off, &device()).expect("mask");
    assert!(broadcast.is_broadcast());
    let repeated = NeuronMask::per_sample_off(8, &vec![off.to_vec(); 6], &device()).expect("mask");
    let a = values(
        model
            .forward_masked(images.clone(), &HiddenMasks::first_layer(broadcast))
            .expect("fits"),
    );
    let b = values(
        model
            .forward_masked(images, &HiddenMasks::first_layer(repeated))
            .expect("fits"),
    );
    assert_eq!(a, b);
}

#[test]
fn two_hidden_layers_with_per_sample_masks_on_both_match_the_oracle() {
    let model = small_model(vec![8, 6], 11);
    let batch = 7;
    let images = random_images(batch, 12, 12);
    let mut rng = StdRng::seed_from_u64(13);
    let mut keep = Vec::new();
    let mut masks = Vec::new();
    for width in [8, 6] {
        let rows: Vec<Vec<f32>> = (0..batch)
            .map(|_| {
                (0..width)
                    .map(|_| f32::from(rng.random_bool(0.6)))
                    .collect()
            })
            .collect();
        let flat: Vec<f32> = rows.concat();
        masks.push(Some(
            NeuronMask::from_keep_values(&flat, batch, width, &device()).expect("mask"),
        ));
        keep.push(rows);
    }
    let got = values(
        model
            .forward_masked(tensor(&images, batch, 12), &HiddenMasks::per_layer(masks))
            .expect("fits"),
    );
    assert_close(&got, &oracle(&model, &images, batch, &keep));
}

#[test]
fn off_values_and_keep_values_name_opposite_conventions() {
    let d = device();
    let keep = NeuronMask::from_keep_values(&[1.0, 0.0, 1.0], 1, 3, &d).expect("mask");
    let off = NeuronMask::from_off_values(&[0.0, 1.0, 0.0], 1, 3, &d).expect("mask");
    let listed = NeuronMask::switch_off(3, &[1], &d).expect("mask");
    let only = NeuronMask::keep_only(3, &[0, 2], &d).expect("mask");
    for m in [&off, &listed, &only] {
        assert_eq!(m.keep_values().ok(), keep.keep_values().ok());
    }
    assert_eq!(keep.keep_values().ok(), Some(vec![1.0, 0.0, 1.0]));
}

#[test]
fn keep_tensor_is_validated_after_reading_it_back() {
    let d = device();
    let good = tensor(&[1.0, 0.0, 1.0, 1.0], 2, 2);
    assert_eq!(
        NeuronMask::from_keep_tensor(good).expect("binary").rows(),
        2
    );
    let bad = tensor(&[1.0, 0.5, 1.0, 1.0], 2, 2);
    assert!(matches!(
        NeuronMask::from_keep_tensor(bad),
        Err(MaskError::NotBinary {
            row: 0,
            column: 1,
            ..
        })
    ));
    let _ = d;
}

#[test]
fn bad_masks_are_typed_errors_not_panics() {
    let d = device();
    let model = small_model(vec![8], 14);
    let images = tensor(&random_images(4, 12, 15), 4, 12);

    let wrong_width = NeuronMask::switch_off(7, &[0], &d).expect("a valid 7-wide mask");
    let err = model
        .forward_masked(images.clone(), &HiddenMasks::first_layer(wrong_width))
        .expect_err("width 7 on a layer of 8");
    assert!(matches!(&err, MaskError::Layer { layer: 0, source }
        if **source == MaskError::Width { expected: 8, found: 7 }));
    assert!(err.to_string().contains("expected 8"), "{err}");

    let wrong_rows = NeuronMask::per_sample_off(8, &vec![vec![]; 3], &d).expect("3 rows");
    let err = model
        .forward_masked(images.clone(), &HiddenMasks::first_layer(wrong_rows))
        .expect_err("3 rows for 4 inputs");
    assert!(matches!(&err, MaskError::Layer { source, .. }
        if **source == MaskError::Rows { batch: 4, found: 3 }));

    let too_many_layers = HiddenMasks::per_layer(vec![None, None]);
    assert!(matches!(
        model.forward_masked(images, &too_many_layers),
        Err(MaskError::LayerCount {
            expected: 1,
            found: 2
        })
    ));

    let mut two = vec![1.0; 8];
    two[5] = 2.0;
    assert_eq!(
        NeuronMask::from_keep_values(&two, 1, 8, &d).expect_err("2 is not binary"),
        MaskError::NotBinary {
            row: 0,
            column: 5,
            value: 2.0
        }
    );
    let mut nan = vec![1.0; 16];
    nan[9] = f32::NAN;
    assert!(matches!(
        NeuronMask::from_keep_values(&nan, 2, 8, &d),
        Err(MaskError::NotBinary { row: 1, column: 1, value }) if value.is_nan()
    ));
    assert_eq!(
        NeuronMask::switch_off(8, &[8], &d).expect_err("index 8 of 8"),
        MaskError::IndexOutOfRange { index: 8, width: 8 }
    );
    assert_eq!(
        NeuronMask::keep_only(8, &[100], &d).expect_err("index 100 of 8"),
        MaskError::IndexOutOfRange {
            index: 100,
            width: 8
        }
    );
    assert!(matches!(
        NeuronMask::from_keep_values(&[1.0; 7], 1, 8, &d),
        Err(MaskError::Length {
            expected: 8,
            found: 7,
            ..
        })
    ));
    assert_eq!(
        NeuronMask::from_keep_values(&[], 0, 8, &d).expect_err("no rows"),
        MaskError::NoRows
    );
    let mut rng = StdRng::seed_from_u64(0);
    assert_eq!(
        NeuronMask::random_off(1, 8, 1.5, &mut rng, &d).expect_err("p > 1"),
        MaskError::Probability(1.5)
    );
}

#[test]
fn a_mask_table_from_rows_checks_every_row() {
    use model::{MaskError, MaskTable};
    let good =
        MaskTable::from_rows(&[2, 1], vec![vec![1.0, 0.0, 1.0], vec![0.0; 3]]).expect("fits");
    assert_eq!((good.rows(), good.row(1)), (2, &[0.0, 0.0, 0.0][..]));
    let short = MaskTable::from_rows(&[2, 1], vec![vec![1.0; 3], vec![1.0; 2]]).expect_err("short");
    assert!(
        matches!(&short, MaskError::Row { row: 1, .. }) && short.to_string().contains("expected"),
        "{short}"
    );
    let two = MaskTable::from_rows(&[3], vec![vec![1.0, 2.0, 1.0]]).expect_err("not 0/1");
    assert!(
        matches!(
            two,
            MaskError::NotBinary {
                row: 0,
                column: 1,
                ..
            }
        ),
        "{two}"
    );
    assert!(matches!(
        MaskTable::from_rows(&[3], vec![]),
        Err(MaskError::NoRows)
    ));
}
