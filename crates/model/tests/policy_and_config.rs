//! Training-mask policies and the experiment config file.

use burn::prelude::*;
use model::artifact::{load_config, save_config};
use model::{ArtifactDir, ExperimentConfig, MaskError, MaskPolicy, MaskedMlpConfig};

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

#[test]
fn config_round_trips_and_rejects_unknown_fields_and_bad_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.json");
    let config = ExperimentConfig::seed_run()
        .with_train_mask(MaskPolicy::Fixed {
            off: vec![vec![3, 17]],
        })
        .with_limit_train(Some(1000));
    save_config(&config, &path).expect("save");
    let back: ExperimentConfig = load_config(&path).expect("load");
    assert_eq!(back.train_mask, config.train_mask);
    assert_eq!(back.model, MaskedMlpConfig::new());
    assert_eq!(back.limit_train, Some(1000));
    assert!(back.validate().is_ok());

    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replacen("\"epochs\"", "\"epochz\": 3, \"epochs\"", 1),
    )
    .expect("write");
    let err = load_config::<ExperimentConfig>(&path).expect_err("unknown field");
    let msg = err.to_string();
    assert!(
        msg.contains("c.json") && msg.contains("unknown field `epochz`"),
        "{msg}"
    );
    let nested = text.replacen("\"beta_1\"", "\"beta_one\": 0.5, \"beta_1\"", 1);
    std::fs::write(&path, nested).expect("write");
    let msg = load_config::<ExperimentConfig>(&path)
        .expect_err("nested")
        .to_string();
    assert!(msg.contains("optimizer.beta_one"), "{msg}");
    std::fs::write(&path, text.replacen("\"epochs\"", "\"epochz\"", 1)).expect("write");
    let msg = load_config::<ExperimentConfig>(&path)
        .expect_err("missing")
        .to_string();
    assert!(msg.contains("c.json") && msg.contains("epochs"), "{msg}");

    for (bad, field) in [
        (
            ExperimentConfig::seed_run().with_learning_rate(-1.0),
            "learning_rate",
        ),
        (
            ExperimentConfig::seed_run().with_batch_size(0),
            "batch_size",
        ),
        (ExperimentConfig::seed_run().with_epochs(0), "epochs"),
        (
            ExperimentConfig::new(
                MaskedMlpConfig::new().with_hidden(vec![]),
                burn::optim::AdamConfig::new(),
            ),
            "model",
        ),
        (
            ExperimentConfig::new(
                MaskedMlpConfig::new().with_hidden(vec![600, 1 << 31]),
                burn::optim::AdamConfig::new(),
            ),
            "model.hidden[1]",
        ),
        (
            ExperimentConfig::new(
                MaskedMlpConfig::new(),
                burn::optim::AdamConfig::new().with_beta_1(1.0),
            ),
            "optimizer.beta_1",
        ),
        (
            ExperimentConfig::new(
                MaskedMlpConfig::new(),
                burn::optim::AdamConfig::new().with_beta_2(-0.1),
            ),
            "optimizer.beta_2",
        ),
        (
            ExperimentConfig::new(
                MaskedMlpConfig::new(),
                burn::optim::AdamConfig::new().with_epsilon(0.0),
            ),
            "optimizer.epsilon",
        ),
    ] {
        let err = bad.validate().expect_err(field);
        assert_eq!(err.field, field);
    }
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

/// Found by fuzzing `config_json`: `"beta_1": 8.9e70` loaded as an f32 infinity, validated,
/// and was saved as `null`, so the `config.json` a run wrote did not load again. Such numbers
/// are refused on load, naming the field; a number that only loses precision is fine.
#[test]
fn config_numbers_out_of_range_for_their_type_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.json");
    save_config(&ExperimentConfig::seed_run(), &path).expect("save");
    let text = std::fs::read_to_string(&path).expect("read");
    for (field, bad) in [("beta_1", "8.9e70"), ("epsilon", "-1e39")] {
        let at = text
            .find(&format!("\"{field}\""))
            .expect("field in the file");
        let end = at + text[at..].find(',').expect("a comma after the value");
        let edited = format!("{}\"{field}\": {bad}{}", &text[..at], &text[end..]);
        std::fs::write(&path, edited).expect("write");
        let msg = load_config::<ExperimentConfig>(&path)
            .expect_err(field)
            .to_string();
        assert!(
            msg.contains("c.json") && msg.contains(&format!("optimizer.{field}")),
            "{msg}"
        );
    }
    std::fs::write(&path, text.replacen("0.999", "0.1234567890123456789", 1)).expect("write");
    let config: ExperimentConfig = load_config(&path).expect("precision loss is not an error");
    let again = dir.path().join("again.json");
    save_config(&config, &again).expect("save");
    load_config::<ExperimentConfig>(&again).expect("loads back");
}

#[test]
fn artifact_dir_finds_the_last_complete_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let art = ArtifactDir::new(dir.path());
    assert_eq!(art.last_complete_checkpoint(), None);
    std::fs::create_dir_all(art.checkpoints()).expect("mkdir");
    for epoch in [1, 2] {
        for kind in ["model", "optim", "scheduler"] {
            std::fs::write(art.checkpoints().join(format!("{kind}-{epoch}.bpk")), b"x")
                .expect("write");
        }
    }
    // Epoch 3's model was written but its optimizer state was not: not complete.
    std::fs::write(art.checkpoint_model(3), b"x").expect("write");
    assert_eq!(art.last_complete_checkpoint(), Some(2));
}
