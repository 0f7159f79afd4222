//! End-to-end training on the real MNIST, read from the project's own `data/mnist/`.
//!
//! The runs share the process-wide flex device and its seed, so they take a lock.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::prelude::*;
use data::ArtifactDir;
use data::artifact::{load_config, load_model};
use model::{ExperimentConfig, MaskPolicy, MaskSemantics, TrainingSummary};
use train::{ConfigBase, ConfigOverrides, Devices, RunOptions, TrainMaskChoice};

static DEVICE_LOCK: Mutex<()> = Mutex::new(());

/// The project's own MNIST folder; named explicitly so that a `$MNIST_DIR` in the caller's
/// environment cannot change what these tests train on.
fn mnist_dir() -> PathBuf {
    PathBuf::from(data::embedded::SOURCE_DIR)
}

/// A run as these tests describe it: the seed's config with `overrides`, in `options`'s
/// directory on flex, on the project's MNIST.
struct Spec {
    base: ConfigBase,
    overrides: ConfigOverrides,
    options: RunOptions,
}

fn spec(dir: &Path) -> Spec {
    let mut options = RunOptions::new(dir);
    options.devices = Devices::One(backend::DeviceChoice::Flex);
    Spec {
        base: ConfigBase::Seed,
        overrides: ConfigOverrides::default(),
        options,
    }
}

impl Spec {
    /// Train on the first `train` images, test on `test`, for `epochs`.
    fn small(mut self, train: usize, test: usize, epochs: usize) -> Self {
        self.overrides.limit_train = Some(train);
        self.overrides.limit_test = Some(test);
        self.overrides.epochs = Some(epochs);
        self
    }

    /// Continue the run in the same directory.
    fn resume(mut self) -> Self {
        self.base = ConfigBase::Resume(ArtifactDir::new(&self.options.artifact_dir));
        self.options.resume = true;
        self
    }

    fn config(&self) -> anyhow::Result<ExperimentConfig> {
        train::resolve_config(&self.base, &self.overrides)
    }
}

fn try_train(spec: Spec) -> anyhow::Result<train::RunOutcome> {
    let _guard = DEVICE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let config = spec.config()?;
    train::run(&config, &data::MnistSource::Dir(mnist_dir()), &spec.options)
}

fn train(spec: Spec) -> train::RunOutcome {
    try_train(spec).expect("training succeeds")
}

fn weights(model: &model::MaskedMlp) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for l in model.hidden.iter().chain(std::iter::once(&model.output)) {
        out.push(
            l.weight
                .val()
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("f32"),
        );
        if let Some(b) = &l.bias {
            out.push(b.val().into_data().try_into_vec_as::<f32>().expect("f32"));
        }
    }
    out
}

#[test]
fn seed_config_file_is_the_built_in_default() {
    let file: ExperimentConfig =
        load_config(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/mnist-mlp.json"))
            .expect("configs/mnist-mlp.json loads");
    let seed = ExperimentConfig::seed_run();
    assert_eq!(file.model, seed.model);
    assert_eq!(file.model.hidden, vec![600]);
    assert_eq!((file.epochs, file.batch_size), (10, 128));
    assert_eq!(file.learning_rate, 1e-3);
    assert_eq!(file.train_mask, MaskPolicy::None);
    assert_eq!(
        serde_json::to_value(&file.optimizer).expect("json"),
        serde_json::to_value(&seed.optimizer).expect("json")
    );
    let quick: ExperimentConfig = load_config(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/mnist-mlp-quick.json"),
    )
    .expect("quick config loads");
    assert_eq!((quick.epochs, quick.limit_train), (1, Some(20_000)));
}

#[test]
#[ignore = "slow: trains on real MNIST (run by CI with --include-ignored)"]
fn quick_run_reaches_90_percent_and_leaves_a_complete_artifact_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let quick = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/mnist-mlp-quick.json");
    let mut quick_run = spec(tmp.path());
    quick_run.base = ConfigBase::File(quick);
    let outcome = train(quick_run);
    let s = &outcome.summary;
    assert!(s.test_accuracy >= 0.90, "test accuracy {}", s.test_accuracy);
    assert_eq!(s.epochs, 1);
    assert_eq!(s.epoch_seconds.len(), 1);
    assert!(s.train_samples_per_second > 0.0);

    let art = ArtifactDir::new(tmp.path());
    for path in [
        art.config(),
        art.model(),
        art.summary(),
        art.metrics(),
        art.curves(),
        art.checkpoint_model(1),
    ] {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{} missing or empty", path.display());
    }
    let png = std::fs::read(art.curves()).expect("png");
    assert_eq!(&png[1..4], b"PNG");
    let csv = std::fs::read_to_string(art.metrics()).expect("csv");
    assert!(
        csv.starts_with("epoch,split,loss,accuracy,seconds\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\n1,train,") && csv.contains("\n1,valid,"),
        "{csv}"
    );
    let summary: TrainingSummary =
        serde_json::from_str(&std::fs::read_to_string(art.summary()).expect("json"))
            .expect("summary");
    // serde_json's default float parser may differ from the written value in the last ulp.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
    assert!(close(summary.test_accuracy, s.test_accuracy) && close(summary.test_loss, s.test_loss));
    assert!(close(
        summary.train_samples_per_second,
        s.train_samples_per_second
    ));
    assert_eq!(
        (summary.epochs, summary.train_samples),
        (s.epochs, s.train_samples)
    );
    assert_eq!(summary.device, s.device);
    assert_eq!(summary.epoch_seconds.len(), s.epoch_seconds.len());

    // model.bpk reloads into the network config.json describes and scores the same.
    let config: ExperimentConfig = load_config(&art.config()).expect("config.json");
    let device = Device::flex();
    let reloaded = load_model(&config.model, &art.model(), &device).expect("model.bpk reloads");
    let test = data::MnistSource::Dir(mnist_dir())
        .load(data::Split::Test)
        .expect("test split");
    let (loss, acc) = train::run::evaluate(&reloaded, &config, &test, &device).expect("evaluate");
    assert!(
        (acc - s.test_accuracy).abs() < 1e-9,
        "{acc} vs {}",
        s.test_accuracy
    );
    assert!(
        (loss - s.test_loss).abs() < 1e-5,
        "{loss} vs {}",
        s.test_loss
    );
}

#[test]
#[ignore = "slow: trains on real MNIST (run by CI with --include-ignored)"]
fn resume_continues_at_the_next_epoch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = train(spec(tmp.path()).small(2000, 1000, 1));
    assert_eq!(first.summary.epoch_seconds.len(), 1);

    let second = train(spec(tmp.path()).small(2000, 1000, 2).resume());
    // Only epoch 2 was trained by the second process...
    assert_eq!(
        second.summary.epoch_seconds.len(),
        1,
        "{:?}",
        second.summary
    );
    assert_eq!(second.summary.epochs, 2);
    let art = ArtifactDir::new(tmp.path());
    assert!(art.checkpoint_model(2).is_file());
    // ...and the metrics cover both epochs, epoch 1 from the first process's logs.
    let csv = std::fs::read_to_string(art.metrics()).expect("csv");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(
        rows[0].starts_with("1,train,") && rows[0].ends_with(','),
        "epoch 1 not re-timed: {csv}"
    );
    assert!(
        rows[2].starts_with("2,train,") && !rows[2].ends_with(','),
        "{csv}"
    );
    let config: ExperimentConfig = load_config(&art.config()).expect("config");
    assert_eq!(config.epochs, 2);
}

#[test]
#[ignore = "slow: trains on real MNIST (run by CI with --include-ignored)"]
fn same_seed_same_backend_gives_identical_weights() {
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let seeded = |dir: &Path| {
        let mut s = spec(dir).small(1500, 500, 1);
        s.overrides.seed = Some(7);
        s
    };
    train(seeded(a.path()));
    train(seeded(b.path()));
    let device = Device::flex();
    let config = ExperimentConfig::seed_run();
    let wa = weights(
        &load_model(&config.model, &ArtifactDir::new(a.path()).model(), &device).expect("a"),
    );
    let wb = weights(
        &load_model(&config.model, &ArtifactDir::new(b.path()).model(), &device).expect("b"),
    );
    assert_eq!(wa, wb);
}

#[test]
#[ignore = "slow: trains on real MNIST (run by CI with --include-ignored)"]
fn neurons_switched_off_in_training_keep_their_initial_weights() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let off = [3usize, 17, 42];
    let mut lesioned = spec(tmp.path()).small(1500, 500, 1);
    lesioned.overrides.seed = Some(11);
    lesioned.overrides.train_mask = Some(TrainMaskChoice::Off("3,17,42".into()));
    train(lesioned);
    let art = ArtifactDir::new(tmp.path());
    let config: ExperimentConfig = load_config(&art.config()).expect("config");
    assert_eq!(
        config.train_mask,
        MaskPolicy::Fixed {
            off: vec![off.to_vec()]
        }
    );

    let device = Device::flex();
    let trained = load_model(&config.model, &art.model(), &device).expect("trained");
    // The initial weights: the same seed on the same device, before any step.
    let initial = {
        let _guard = DEVICE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let d = Device::flex();
        d.seed(11);
        config.model.init(&d.autodiff()).valid()
    };
    let rows = |m: &model::MaskedMlp| -> Vec<Vec<f32>> {
        let w: Vec<f32> = m
            .output
            .weight
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("f32");
        w.chunks(10).map(<[f32]>::to_vec).collect()
    };
    let (t, i) = (rows(&trained), rows(&initial));
    for j in 0..600 {
        if off.contains(&j) {
            assert_eq!(
                t[j], i[j],
                "outgoing weights of switched-off neuron {j} moved"
            );
        }
    }
    let moved = (0..600)
        .filter(|j| !off.contains(j) && t[*j] != i[*j])
        .count();
    assert!(
        moved > 500,
        "only {moved} other neurons' weights moved: wrong initial weights?"
    );
}

#[test]
#[ignore = "slow: wgpu on a software Vulkan driver compiles shaders for minutes on a cold cache"]
fn trains_briefly_on_wgpu_when_compiled_in() {
    if !backend::DeviceChoice::Wgpu.is_compiled() {
        eprintln!("wgpu feature not compiled in; skipping");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut on_wgpu = spec(tmp.path()).small(1024, 512, 1);
    on_wgpu.options.devices = Devices::One(backend::DeviceChoice::Wgpu);
    let outcome = try_train(on_wgpu).expect("wgpu training runs (on CI: Mesa lavapipe)");
    assert!(
        outcome.summary.device.starts_with("wgpu"),
        "{}",
        outcome.summary.device
    );
    assert!(outcome.summary.test_accuracy > 0.5, "{:?}", outcome.summary);
    println!("wgpu: {:?}", outcome.summary);
}

#[test]
fn a_train_mask_file_becomes_the_fixed_policy_recorded_in_the_config() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut row = vec!["1"; 600];
    row[3] = "0";
    row[17] = "0";
    let csv = tmp.path().join("mask.csv");
    std::fs::write(&csv, row.join(",") + "\n").expect("write");
    let with_mask = |semantics| {
        let mut s = spec(tmp.path());
        s.overrides.train_mask = Some(TrainMaskChoice::File {
            path: csv.clone(),
            semantics,
        });
        s
    };
    let config = with_mask(MaskSemantics::Keep).config().expect("resolves");
    assert_eq!(
        config.train_mask,
        MaskPolicy::Fixed {
            off: vec![vec![3, 17]]
        }
    );

    // The same file read with the question's convention (1 = off) means the opposite.
    let config = with_mask(MaskSemantics::Off).config().expect("resolves");
    let MaskPolicy::Fixed { off } = config.train_mask else {
        panic!("fixed policy")
    };
    assert_eq!(off[0].len(), 598);

    std::fs::write(&csv, format!("{}\n{}\n", row.join(","), row.join(","))).expect("write");
    let err = with_mask(MaskSemantics::Keep).config().expect_err("2 rows");
    assert!(err.to_string().contains("single row"), "{err}");
}

#[test]
#[ignore = "slow: trains on real MNIST (run by CI with --include-ignored)"]
fn data_parallel_training_on_two_cpu_workers_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut parallel = spec(tmp.path()).small(4000, 1000, 1);
    parallel.options.devices = Devices::Many(vec!["flex".into(), "flex".into()]);
    let outcome = train(parallel);
    assert!(outcome.summary.test_accuracy > 0.6, "{:?}", outcome.summary);
    assert!(ArtifactDir::new(tmp.path()).model().is_file());
}

#[test]
#[ignore = "slow: trains on real MNIST (run by CI with --include-ignored)"]
fn a_diverging_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().expect("tempdir");
    train(spec(tmp.path()).small(2000, 500, 1));
    let art = ArtifactDir::new(tmp.path());
    let good = std::fs::read(art.checkpoint_model(1)).expect("checkpoint 1");
    let model_before = std::fs::read(art.model()).expect("model.bpk");

    // Adam moves every weight by about lr per step: 1e30 overflows f32 within two steps.
    let mut diverging = spec(tmp.path()).small(2000, 500, 3).resume();
    diverging.overrides.learning_rate = Some(1e30);
    let err = try_train(diverging).expect_err("a diverging run fails");
    let message = format!("{err:#}");
    assert!(message.contains("training diverged"), "{message}");
    assert!(message.contains("epoch 2"), "{message}");
    assert!(
        message.contains("last good checkpoint, epoch 1"),
        "{message}"
    );
    // Nothing of the bad epoch reached the disk; the good files are untouched.
    assert!(!art.checkpoint_model(2).exists());
    assert_eq!(art.last_complete_checkpoint(), Some(1));
    assert_eq!(std::fs::read(art.checkpoint_model(1)).expect("ckpt"), good);
    assert_eq!(std::fs::read(art.model()).expect("model"), model_before);
}
