//! The artifact directory's files: the experiment config read and written (with what it
//! refuses), and the checkpoint layout.

use data::ArtifactDir;
use data::artifact::{load_config, save_config};
use model::{ExperimentConfig, MaskPolicy, MaskedMlpConfig};

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
