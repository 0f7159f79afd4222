//! The README's masking example, verbatim, plus checks that it does what the README says.

use burn::prelude::*;
use model::{HiddenMasks, MaskError, MaskedMlpConfig, NeuronMask};

#[test]
fn readme_masking_example_runs_as_written() -> Result<(), MaskError> {
    // --- from README.md ---
    let device = Device::flex();
    let net = MaskedMlpConfig::new().init(&device); // 784 -> 600 -> 10
    let images = Tensor::<2>::zeros([3, 784], &device);

    // The same neurons off for every image: a broadcast (1, 600) mask.
    let all = NeuronMask::switch_off(600, &[3, 17, 42], &device)?;
    let logits = net.forward_masked(images.clone(), &HiddenMasks::first_layer(all))?;

    // One row per image: image 0 loses neuron 5, image 1 nothing, image 2 neurons 0..300.
    let rows = vec![vec![5], vec![], (0..300).collect()];
    let per_image = NeuronMask::per_sample_off(600, &rows, &device)?;
    let logits_per_image =
        net.forward_masked(images.clone(), &HiddenMasks::first_layer(per_image))?;
    // --- end ---

    assert_eq!(logits.dims(), [3, 10]);
    assert_eq!(logits_per_image.dims(), [3, 10]);
    let plain: Vec<f32> = net
        .forward(images)
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32");
    let masked: Vec<f32> = logits_per_image
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32");
    // Image 1 had no neuron off: its logits are the plain network's, bit for bit.
    assert_eq!(plain[10..20], masked[10..20]);
    // Image 2 lost half the layer: on zero images only the biases flow, so it changes.
    assert_ne!(plain[20..30], masked[20..30]);
    Ok(())
}
