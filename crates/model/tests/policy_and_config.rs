//! Training-mask policies and the experiment config's validation. (Reading and writing the
//! config file: crates/data/tests/artifact_files.rs.)

use burn::prelude::*;
use model::{ExperimentConfig, MaskError, MaskPolicy, MaskedMlpConfig};

fn keep_rows(policy: &MaskPolicy, hidden: &[usize], ids: &[usize]) -> Vec<Vec<f32>> {
    let masks = policy
        .masks_for_batch(hidden, ids, &Device::flex())
        .expect("valid policy");
    (0..hidden.len())
        .map(|l| {
            masks
                .layer(l)
                .map(|m| m.keep_values().expect("host values"))
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn random_masks_are_reproducible_and_fresh_per_batch() {
    let policy = MaskPolicy::RandomOff { p: 0.5, seed: 7 };
    let a = keep_rows(&policy, &[64], &[3, 9, 27]);
    let b = keep_rows(&policy, &[64], &[3, 9, 27]);
    let c = keep_rows(&policy, &[64], &[4, 9, 27]);
    assert_eq!(a, b, "same seed and batch, same masks");
    assert_ne!(a, c, "another batch, fresh masks");
    assert_eq!(a[0].len(), 3 * 64, "one row per sample");
    let off = a[0].iter().filter(|&&k| k == 0.0).count();
    assert!(
        (40..=152).contains(&off),
        "about half of 192 off, got {off}"
    );
    let rows = &a[0];
    assert_ne!(rows[..64], rows[64..128], "each sample has its own row");
}

#[test]
fn random_masks_at_the_extremes() {
    let none_off = keep_rows(&MaskPolicy::RandomOff { p: 0.0, seed: 1 }, &[10], &[0, 1]);
    assert!(none_off[0].iter().all(|&k| k == 1.0));
    let all_off = keep_rows(&MaskPolicy::RandomOff { p: 1.0, seed: 1 }, &[10], &[0, 1]);
    assert!(all_off[0].iter().all(|&k| k == 0.0));
}

#[test]
fn fixed_policy_switches_the_same_neurons_off_for_every_sample() {
    let policy = MaskPolicy::Fixed {
        off: vec![vec![1, 3], vec![]],
    };
    let rows = keep_rows(&policy, &[5, 4], &[0, 1, 2]);
    assert_eq!(rows[0], vec![1.0, 0.0, 1.0, 0.0, 1.0], "one broadcast row");
    assert!(rows[1].is_empty(), "layer 1 left intact");
    let bad = MaskPolicy::Fixed { off: vec![vec![5]] };
    assert!(matches!(
        bad.validate(&[5]),
        Err(MaskError::Layer { layer: 0, .. })
    ));
}

/// Found by fuzzing `config_json`: validating a fixed mask built a row as wide as the layer,
/// so a config naming a huge hidden size panicked ("capacity overflow") or aborted (failed
/// allocation) instead of answering. The check must look at the listed indices only.
#[test]
fn validating_a_fixed_mask_for_a_huge_layer_allocates_nothing() {
    for width in [1usize << 62, 1 << 40] {
        let config = ExperimentConfig::new(
            MaskedMlpConfig::new().with_hidden(vec![width]),
            burn::optim::AdamConfig::new(),
        );
        let fits = MaskPolicy::Fixed {
            off: vec![vec![1, width - 1]],
        };
        assert_eq!(fits.validate(&[width]), Ok(()));
        // A layer this wide is refused for its size, by name, before the mask is looked at.
        let err = config
            .clone()
            .with_train_mask(fits)
            .validate()
            .expect_err("too large to allocate");
        assert_eq!(err.field, "model.hidden[0]");
        let beyond = MaskPolicy::Fixed {
            off: vec![vec![1, width]],
        };
        assert!(matches!(
            beyond.validate(&[width]),
            Err(MaskError::Layer { layer: 0, .. })
        ));
        let err = config
            .with_train_mask(beyond)
            .validate()
            .expect_err("index beyond the layer");
        assert_eq!(err.field, "model.hidden[0]");
    }
}
