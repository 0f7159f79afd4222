//! The `train` binary refuses bad input with one clear line and a non-zero exit, never a panic.

use std::process::Command;

fn train(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(args)
        .env_remove("MNIST_DIR")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (out.status.success(), stderr)
}

fn refused(args: &[&str], expect: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let art = dir.path().join("run");
    let mut all = vec![
        "--artifact-dir",
        art.to_str().expect("utf8"),
        "--device",
        "flex",
    ];
    all.extend_from_slice(args);
    let (ok, stderr) = train(&all);
    assert!(!ok, "{args:?} must fail");
    for e in expect {
        assert!(stderr.contains(e), "{args:?}: expected `{e}` in: {stderr}");
    }
}

#[test]
fn bad_values_are_named() {
    refused(&["--epochs", "0"], &["epochs", "at least 1"]);
    refused(&["--batch-size", "0"], &["--batch-size 0", "at least 1"]);
    refused(&["--lr=-0.1"], &["--lr -0.1", "positive"]);
    refused(&["--train-off", "600"], &["--train-off", "600", "0..=599"]);
    refused(&["--train-off", "2:1"], &["layer 2", "1 hidden layer"]);
    refused(&["--train-off", "a,b"], &["`a`"]);
    refused(&["--lesion-prob", "1.5"], &["train_mask", "1.5"]);
    refused(&["--resume"], &["--resume", "config.json"]);
    refused(
        &["--config", "/nonexistent/c.json"],
        &["/nonexistent/c.json"],
    );
    refused(
        &["--data-dir", "/nonexistent/mnist"],
        &["/nonexistent/mnist"],
    );
}

#[test]
fn a_backend_not_compiled_in_says_how_to_get_it() {
    if backend::DeviceChoice::Cuda.is_compiled() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let art = dir.path().join("run");
    let (ok, stderr) = train(&[
        "--device",
        "cuda",
        "--artifact-dir",
        art.to_str().expect("utf8"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("--features cuda"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn help_explains_the_masks() {
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--train-off",
        "--lesion-prob",
        "NOT rescaled",
        "--resume",
        "--device",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
