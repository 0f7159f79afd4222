//! SIGKILL a training run at several moments, resume it, and check that it finishes with every
//! epoch and a loadable model: each file reaches the disk whole or not at all.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use model::artifact::{load_config, load_model};
use model::{ArtifactDir, ExperimentConfig, TrainingSummary};

const EPOCHS: usize = 3;

fn mnist_dir() -> PathBuf {
    std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist"))
}

fn start(dir: &Path, extra: &[&str]) -> Child {
    let epochs = EPOCHS.to_string();
    let mut args = vec![
        "--data-dir".to_string(),
        mnist_dir().display().to_string(),
        "--artifact-dir".into(),
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
        .stdout(Stdio::null())
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
    let dir = tmp.path();
    let art = ArtifactDir::new(dir);
    let mut kills = 0;

    // 1. During data loading / the first epoch: no checkpoint yet, so --resume must say so.
    let mut child = start(dir, &[]);
    if kill_when(
        &mut child,
        || art.config().is_file(),
        Duration::from_millis(150),
    ) {
        kills += 1;
        if art.last_complete_checkpoint().is_none() {
            let out = Command::new(env!("CARGO_BIN_EXE_train"))
                .args(["--artifact-dir", &dir.display().to_string(), "--resume"])
                .args(["--data-dir", &mnist_dir().display().to_string()])
                .output()
                .expect("runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success());
            assert!(err.contains("no complete checkpoint"), "{err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }

    // 2. The moment the first checkpoint file appears: its siblings may be missing or still
    //    being written. 3. Part-way through a later epoch.
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
        let resume: &[&str] = if art.last_complete_checkpoint().is_some() {
            &["--resume"]
        } else {
            &["--overwrite"]
        };
        let mut child = start(dir, resume);
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
    let resume: &[&str] = if art.last_complete_checkpoint().is_some() {
        &["--resume"]
    } else {
        &["--overwrite"]
    };
    finish(start(dir, resume));
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
}
