//! SIGKILL a training run at several moments (while it loads data, mid-epoch, while a
//! checkpoint is written), `--resume` it each time, and check that it finishes with every
//! epoch and a loadable model: each file reaches the disk whole or not at all.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use data::ArtifactDir;
use data::artifact::{load_config, load_model};
use model::{ExperimentConfig, TrainingSummary};
use test_support::parameter_values;

const EPOCHS: usize = 3;

/// `train` on the built-in MNIST (no --data-dir), stdout into `log`.
fn start(dir: &Path, log: &Path, extra: &[&str]) -> Child {
    let epochs = EPOCHS.to_string();
    let mut args = vec![
        "--artifact-dir".to_string(),
        dir.display().to_string(),
        "--device".into(),
        "flex".into(),
        "--epochs".into(),
        epochs,
        "--limit-train".into(),
        "6000".into(),
        "--limit-test".into(),
        "1000".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_train"))
        .args(&args)
        .env_remove("MNIST_DIR")
        .stdout(std::fs::File::create(log).expect("log file"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("train starts")
}

/// Wait until `ready` holds (polling every 2 ms), then `delay` more, then SIGKILL.
/// Returns false if the run ended by itself first.
fn kill_when(child: &mut Child, ready: impl Fn() -> bool, delay: Duration) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        if child.try_wait().expect("wait").is_some() || Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(delay);
    if child.try_wait().expect("wait").is_some() {
        return false;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    true
}

fn finish(mut child: Child) -> String {
    let status = child.wait().expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).expect("stderr");
    }
    assert!(status.success(), "run failed: {err}");
    err
}

#[test]
#[ignore = "slow: trains on real MNIST (run by CI with --include-ignored)"]
fn killed_runs_resume_to_a_complete_artifact_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut kills = 0;

    let log = tmp.path().join("stdout.log");
    let stdout = || std::fs::read_to_string(&log).unwrap_or_default();

    // 1. During data loading: config.json is recorded, nothing else. --resume starts at epoch 1
    //    with the recorded config and says so.
    let dir = tmp.path().join("run");
    let art = ArtifactDir::new(&dir);
    let mut child = start(&dir, &log, &[]);
    assert!(
        kill_when(&mut child, || art.config().is_file(), Duration::ZERO),
        "the run ended before it could be killed"
    );
    kills += 1;
    assert_eq!(
        art.last_complete_checkpoint(),
        None,
        "killed while loading data"
    );

    // 2. --resume, killed part-way through epoch 2.
    let mut child = start(&dir, &log, &["--resume"]);
    let killed = kill_when(
        &mut child,
        || art.checkpoint_model(1).exists(),
        Duration::from_millis(120),
    );
    let said = stdout();
    let line = said
        .lines()
        .find(|l| l.contains("no complete checkpoint"))
        .unwrap_or_else(|| panic!("--resume without a checkpoint must say so: {said}"));
    assert!(
        line.contains("starting at epoch 1 with the recorded config"),
        "{line}"
    );
    if killed {
        kills += 1;
    }

    // 3. The moment the first checkpoint file appears: its siblings may be missing or still
    //    being written. 4. Part-way through a later epoch.
    let points: [(&dyn Fn() -> bool, Duration); 3] = [
        (&|| art.checkpoint_model(1).exists(), Duration::ZERO),
        (
            &|| art.checkpoint_model(1).exists(),
            Duration::from_millis(5),
        ),
        (
            &|| art.checkpoint_model(2).exists(),
            Duration::from_millis(120),
        ),
    ];
    for (ready, delay) in points {
        let mut child = start(&dir, &log, &["--resume"]);
        if kill_when(&mut child, ready, delay) {
            kills += 1;
        }
        // Whatever was on disk when the process died is whole: every checkpoint set that
        // `--resume` would pick decodes.
        if let Some(epoch) = art.last_complete_checkpoint() {
            let config: ExperimentConfig = load_config(&art.config()).expect("config whole");
            load_model(
                &config.model,
                &art.checkpoint_model(epoch),
                &burn::prelude::Device::flex(),
            )
            .expect("checkpoint whole");
        }
    }
    assert!(kills >= 3, "only {kills} of the runs were killed in time");

    // Finish the run.
    finish(start(&dir, &log, &["--resume"]));
    let summary: TrainingSummary =
        serde_json::from_slice(&std::fs::read(art.summary()).expect("summary")).expect("json");
    assert_eq!(summary.epochs, EPOCHS);
    assert!(summary.test_accuracy > 0.85, "{summary:?}");
    assert_eq!(art.last_complete_checkpoint(), Some(EPOCHS));
    let config: ExperimentConfig = load_config(&art.config()).expect("config");
    load_model(&config.model, &art.model(), &burn::prelude::Device::flex()).expect("model");
    let csv = std::fs::read_to_string(art.metrics()).expect("metrics.csv");
    for epoch in 1..=EPOCHS {
        assert!(
            csv.lines()
                .any(|l| l.starts_with(&format!("{epoch},train,"))),
            "epoch {epoch} missing: {csv}"
        );
    }
    // No temporary files left behind next to the artifacts.
    let strays: Vec<_> = std::fs::read_dir(art.checkpoints())
        .expect("checkpoint dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".bpk"))
        .collect();
    assert!(strays.is_empty(), "{strays:?}");

    // The same run without a kill (same config, same seed) ends with the same weights: resume
    // restores the model, the optimizer's moments (the fused Adam's) and the data order.
    let straight = ArtifactDir::new(tmp.path().join("straight"));
    finish(start(
        straight.root(),
        &tmp.path().join("straight.log"),
        &[],
    ));
    let device = burn::prelude::Device::flex();
    let resumed = load_model(&config.model, &art.model(), &device).expect("model");
    let uninterrupted = load_model(&config.model, &straight.model(), &device).expect("model");
    let (a, b) = (parameter_values(&resumed), parameter_values(&uninterrupted));
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert_eq!(
        differ,
        0,
        "a killed and resumed run ended with {differ} of {} weights unlike an uninterrupted one",
        a.len()
    );
}
