//! The zero-skipping forward against Burn's dense forward: the seed's size (784 -> 600 -> 10)
//! and awkward widths (1, 63, 65, 601: below, at and across the kernel's 64-wide blocks),
//! dense, sparse and negative inputs, every kind of mask, batches that fill several tiles and
//! tasks, at every instruction-set level this CPU has.

mod common;

use common::{Layer, burn_forward, values, worst_relative};
use kernels::{KernelError, SimdLevel, SparseMlp};

/// Inputs of each kind: `[n x size]`.
fn inputs(kind: &str, n: usize, size: usize) -> Vec<f32> {
    let v = values(7, n * size);
    match kind {
        // An MNIST-like image: ~80% exact zeros, the rest in (0, 1].
        "sparse" => v
            .iter()
            .map(|&x| if x < 0.3 { 0.0 } else { (x + 0.5).min(1.0) })
            .collect(),
        "dense" => v.iter().map(|&x| x + 0.5).collect(),
        // Negative values, and some whole inputs blank.
        "negative" => v
            .iter()
            .enumerate()
            .map(|(i, &x)| if (i / size) % 5 == 3 { 0.0 } else { 2.0 * x })
            .collect(),
        _ => unreachable!("unknown input kind {kind}"),
    }
}

/// Every kind of mask, as (name, keep values): one row for all inputs, or one per input.
fn masks(width: usize, n: usize) -> Vec<(&'static str, Vec<f32>)> {
    if width == 0 {
        return vec![("no hidden neurons", Vec::new())];
    }
    let every = |f: &dyn Fn(usize) -> bool| (0..width).map(|j| f32::from(u8::from(f(j)))).collect();
    let random = values(11, n * width)
        .iter()
        .map(|&v| f32::from(u8::from(v >= 0.0)))
        .collect();
    let mut layer_off: Vec<f32> = vec![1.0; n * width];
    for row in layer_off.chunks_mut(width).step_by(2) {
        row.fill(0.0);
    }
    vec![
        ("all on", vec![1.0; width]),
        ("broadcast off", every(&|j| j % 7 != 3)),
        ("broadcast keep-only", every(&|j| j % 9 == 0)),
        ("every neuron off", vec![0.0; width]),
        ("per-input random", random),
        ("per-input, every other input all off", layer_off),
    ]
}

/// Compare the kernel with Burn for one network on every input kind, mask kind and level.
fn check(hidden: &[usize], input_size: usize, n: usize) {
    let mut sizes = vec![input_size];
    sizes.extend(hidden);
    let layers: Vec<Layer> = sizes
        .windows(2)
        .enumerate()
        .map(|(l, w)| Layer::new(10 * l as u64, w[0], w[1]))
        .collect();
    let output = Layer::new(99, *sizes.last().expect("sizes"), 10);
    let params: Vec<_> = layers.iter().map(Layer::params).collect();
    let net = SparseMlp::new(&params, &output.params()).expect("network");
    let width: usize = hidden.iter().sum();
    for kind in ["sparse", "dense", "negative"] {
        let x = inputs(kind, n, input_size);
        for (mask, keep) in masks(width, n) {
            let (want_logits, want_hidden) = burn_forward(&layers, &output, &x, &keep);
            for level in SimdLevel::available() {
                let got = net
                    .forward_at(Some(level), &x, &keep, true)
                    .expect("forward");
                let what = format!("{hidden:?}, {kind} inputs, mask {mask}, {level:?}");
                let e = worst_relative(&got.logits, &want_logits);
                assert!(e < 1e-5, "{what}: logits differ by {e} (relative)");
                if !hidden.is_empty() {
                    let e = worst_relative(&got.last_hidden, &want_hidden);
                    assert!(e < 1e-5, "{what}: hidden activations differ by {e}");
                }
            }
        }
    }
}

#[test]
fn the_seed_network_784_600_10() {
    // 300 inputs: a full 256-input task plus a ragged one, and a ragged last tile.
    check(&[600], 784, 300);
}

#[test]
fn awkward_widths() {
    for width in [1, 63, 65, 601] {
        check(&[width], 29, 37);
    }
}

#[test]
fn deeper_nets_and_single_inputs() {
    check(&[65, 1, 63], 17, 1);
    check(&[601, 64], 784, 33);
}

#[test]
fn a_net_without_hidden_layers() {
    check(&[], 20, 5);
}

#[test]
fn the_best_level_is_the_default_and_available() {
    let levels = SimdLevel::available();
    // Which levels the other tests ran at, in the test log.
    eprintln!("instruction-set levels on this CPU: {levels:?}");
    assert_eq!(levels.last(), Some(&SimdLevel::best()));
    assert_eq!(levels.first(), Some(&SimdLevel::Scalar));
    let layer = Layer::new(1, 5, 40);
    let output = Layer::new(2, 40, 3);
    let net = SparseMlp::new(&[layer.params()], &output.params()).expect("network");
    let x = inputs("dense", 3, 5);
    let keep = vec![1.0; 40];
    let auto = net.forward(&x, &keep, false).expect("forward");
    let best = net
        .forward_at(Some(SimdLevel::best()), &x, &keep, false)
        .expect("forward");
    assert_eq!(auto.logits, best.logits);
}

#[test]
fn sizes_that_do_not_fit_are_errors() {
    let layer = Layer::new(1, 5, 40);
    let output = Layer::new(2, 40, 3);
    let net = SparseMlp::new(&[layer.params()], &output.params()).expect("network");
    let err = net
        .forward(&[0.0; 7], &[1.0; 40], false)
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "7 input values is not a whole number of 5-value inputs"
    );
    let err = net
        .forward(&[0.0; 10], &[1.0; 60], false)
        .expect_err("refused");
    assert!(
        matches!(err, KernelError::Shape(ref m) if m.contains("60 values")),
        "{err}"
    );
    let wrong = Layer::new(3, 41, 3);
    let err = SparseMlp::new(&[layer.params()], &wrong.params()).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "layer 1 takes 41 inputs, but layer 0 gives 40"
    );
    let mut short = layer.params();
    short.weight = &short.weight[1..];
    let err = SparseMlp::new(&[short], &output.params()).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "hidden layer 0 has 199 weights; expected 5 x 40"
    );
}
