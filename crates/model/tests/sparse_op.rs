//! The zero-skipping masked Linear + ReLU (model::sparse_op) against Burn's dense autodiff: forward,
//! dW, db and (when asked) dX, for no mask, per-sample and broadcast masks, a whole layer off,
//! batch sizes 1, 127 and 128, inputs with negative values and all-zero rows.
#![cfg(feature = "flex")]

use burn::prelude::*;
use burn::tensor::activation::relu;
use model::sparse_op::masked_linear_relu as masked_linear;
use test_support::Lcg;

fn values(rng: &mut Lcg, n: usize, zeros: bool) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let v = rng.next_centered();
            // ~75% zeros, some negative values, and every 5th row blank when `zeros`.
            if zeros && (v < 0.25 || (i / 784) % 5 == 4) {
                0.0
            } else {
                v * 2.0
            }
        })
        .collect()
}

fn tensor(v: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("f32")
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs() / scale))
}

/// One case: forward and gradients of both paths, compared.
fn check(n: usize, inputs: usize, outputs: usize, keep: &[f32], x_grad: bool, what: &str) {
    let device = Device::flex().autodiff();
    let mut rng = Lcg::new(n as u64 * 31 + outputs as u64);
    let linear = burn::nn::LinearConfig::new(inputs, outputs).init(&device);
    let x_values = values(&mut rng, n * inputs, true);
    let upstream = tensor(values(&mut rng, n * outputs, false), [n, outputs], &device);
    let rows = keep.len() / outputs;
    let keep = tensor(keep.to_vec(), [rows, outputs], &device);
    let run = |sparse: bool| {
        let mut x = tensor(x_values.clone(), [n, inputs], &device);
        if x_grad {
            x = x.require_grad();
        }
        let out = if sparse {
            masked_linear(&x, &linear, &keep).expect("flex device")
        } else {
            relu(linear.forward(x.clone()) * keep.clone())
        };
        let grads = (out.clone() * upstream.clone()).sum().backward();
        let dw = linear.weight.grad(&grads).expect("dW");
        let db = linear
            .bias
            .as_ref()
            .expect("bias")
            .grad(&grads)
            .expect("db");
        let dx = x_grad.then(|| host(x.grad(&grads).expect("dX")));
        (
            host(out.inner()),
            host(dw),
            db.into_data().try_to_vec::<f32>().expect("f32"),
            dx,
        )
    };
    let (sparse, dense) = (run(true), run(false));
    let e = worst(&sparse.0, &dense.0);
    assert!(e < 1e-5, "{what}: forward differs by {e}");
    let e = worst(&sparse.1, &dense.1);
    assert!(e < 1e-5, "{what}: dW differs by {e}");
    let e = worst(&sparse.2, &dense.2);
    assert!(e < 1e-5, "{what}: db differs by {e}");
    if let (Some(a), Some(b)) = (&sparse.3, &dense.3) {
        let e = worst(a, b);
        assert!(e < 1e-5, "{what}: dX differs by {e}");
    }
}

fn masks(n: usize, width: usize) -> Vec<(&'static str, Vec<f32>)> {
    let mut rng = Lcg::new(5);
    let per_sample = (0..n * width)
        .map(|_| f32::from(u8::from(rng.next_centered() >= -0.2)))
        .collect();
    vec![
        ("no mask", vec![1.0; width]),
        (
            "broadcast",
            (0..width)
                .map(|j| f32::from(u8::from(j % 3 != 0)))
                .collect(),
        ),
        ("per-sample", per_sample),
        ("whole layer off", vec![0.0; width]),
    ]
}

#[test]
fn gradients_equal_burns_dense_autodiff_784_600() {
    for n in [1, 127, 128] {
        for (name, keep) in masks(n, 600) {
            check(n, 784, 600, &keep, false, &format!("n={n}, {name}"));
        }
    }
}

#[test]
fn input_gradient_when_the_input_is_tracked() {
    for (name, keep) in masks(33, 65) {
        check(33, 50, 65, &keep, true, &format!("dX, {name}"));
    }
}

#[test]
fn second_layer_shapes_512_256() {
    for (name, keep) in masks(127, 256) {
        check(127, 512, 256, &keep, false, &format!("512->256, {name}"));
    }
}

#[test]
fn only_training_on_flex_takes_the_operation() {
    let device = Device::flex().autodiff();
    let linear = burn::nn::LinearConfig::new(3, 2).init(&device);
    let x = Tensor::<2>::ones([2, 3], &device);
    let keep = Tensor::<2>::ones([1, 2], &device);
    let got = host(
        masked_linear(&x, &linear, &keep)
            .expect("autodiff flex")
            .inner(),
    );
    let want = host(relu(linear.forward(x)).inner());
    assert!(worst(&got, &want) < 1e-6, "{got:?} vs {want:?}");
    // A plain (inference) forward stays Burn's.
    let plain = Device::flex();
    let linear = burn::nn::LinearConfig::new(3, 2).init(&plain);
    let x = Tensor::<2>::ones([2, 3], &plain);
    assert!(masked_linear(&x, &linear, &Tensor::ones([1, 2], &plain)).is_none());
}

#[test]
fn a_mask_that_needs_a_gradient_takes_burns_path() {
    let device = Device::flex().autodiff();
    let linear = burn::nn::LinearConfig::new(4, 3).init(&device);
    let x = Tensor::<2>::ones([2, 4], &device);
    let gates = Tensor::<2>::from_data([[0.5f32, 1.0, 0.0]], &device).require_grad();
    assert!(masked_linear(&x, &linear, &gates).is_none());
    // Derived from a tracked tensor (a sigmoid of gate logits) counts too.
    let derived = burn::tensor::activation::sigmoid(gates.clone());
    assert!(masked_linear(&x, &linear, &derived).is_none());
    // A constant mask (as training's lesions and `--train-mask` build) keeps the operation.
    let constant = Tensor::<2>::from_data([[0.0f32, 1.0, 1.0]], &device);
    assert!(masked_linear(&x, &linear, &constant).is_some());
}
