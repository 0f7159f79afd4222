//! The neuron atlas against a direct computation in plain loops: receptive fields are the
//! first layer's weight columns, top images the largest activations, per-class means and
//! zero fractions what they say.

use infer::host::host_vec;

mod common;
use common::{predictor, test_inputs};

#[test]
fn fields_top_images_and_means_match_a_direct_computation() {
    let p = predictor();
    let inputs = test_inputs(300);
    let labels = inputs.labels.clone().expect("labels");
    let k = 7;
    let atlas =
        infer::atlas::atlas(&p, &inputs.pixels, Some(&labels), 0, k, "test").expect("atlas");
    let w1 = host_vec(p.model.hidden[0].weight.val(), "w1").expect("w1");
    let b1 = host_vec(p.model.hidden[0].bias.as_ref().expect("b1").val(), "b1").expect("b1");
    let h = 32;
    assert_eq!(atlas.neurons.len(), h);
    assert_eq!(atlas.field_side, Some(28));
    let act: Vec<Vec<f32>> = (0..inputs.len())
        .map(|n| {
            let x = &inputs.pixels[n * 784..(n + 1) * 784];
            (0..h)
                .map(|j| {
                    let s: f32 = b1[j] + (0..784).map(|i| x[i] * w1[i * h + j]).sum::<f32>();
                    s.max(0.0)
                })
                .collect()
        })
        .collect();
    for (j, profile) in atlas.neurons.iter().enumerate() {
        let column: Vec<f32> = (0..784).map(|i| w1[i * h + j]).collect();
        assert_eq!(
            profile.receptive_field.as_deref(),
            Some(column.as_slice()),
            "neuron {j}"
        );
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by(|&a, &b| act[b][j].total_cmp(&act[a][j]).then(a.cmp(&b)));
        let want: Vec<f32> = order[..k].iter().map(|&i| act[i][j]).collect();
        for (got, want) in profile.top_activations.iter().zip(&want) {
            assert!((got - want).abs() < 1e-4, "neuron {j}: {got} vs {want}");
        }
        // Each listed image's own activation is what is listed, and none left out is larger.
        let kth = *profile.top_activations.last().expect("k values");
        for (&i, &a) in profile.top_images.iter().zip(&profile.top_activations) {
            assert!((act[i][j] - a).abs() < 1e-4, "neuron {j}, image {i}");
        }
        for i in (0..inputs.len()).filter(|i| !profile.top_images.contains(i)) {
            assert!(act[i][j] <= kth + 1e-4, "neuron {j}: image {i} left out");
        }
        let zeros = (0..inputs.len()).filter(|&n| act[n][j] == 0.0).count();
        assert!((profile.zero_fraction - zeros as f64 / inputs.len() as f64).abs() < 0.01);
        for c in 0..10 {
            let of: Vec<usize> = (0..inputs.len())
                .filter(|&n| labels[n] as usize == c)
                .collect();
            let mean = of.iter().map(|&n| act[n][j] as f64).sum::<f64>() / of.len() as f64;
            let got = profile.mean_per_class[c].expect("every digit is in 300 images");
            assert!(
                (got - mean).abs() < 1e-4,
                "neuron {j}, digit {c}: {got} vs {mean}"
            );
        }
    }
}

#[test]
fn a_layer_the_network_lacks_is_refused() {
    let p = predictor();
    let inputs = test_inputs(10);
    let e = infer::atlas::atlas(&p, &inputs.pixels, None, 1, 3, "test").expect_err("no layer 1");
    assert_eq!(
        e.to_string(),
        "--layer 1: the network has 1 hidden layer(s); expected 0 to 0"
    );
}

#[test]
fn the_atlas_picture_is_drawn() {
    let p = predictor();
    let inputs = test_inputs(50);
    let atlas = infer::atlas::atlas(&p, &inputs.pixels, None, 0, 3, "test").expect("atlas");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("atlas.png");
    infer::plots::draw_atlas(&path, &atlas).expect("draws");
    let bytes = std::fs::read(&path).expect("png");
    assert_eq!(&bytes[1..4], b"PNG");
}
