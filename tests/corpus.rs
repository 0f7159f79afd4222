//! Every bad input in `tests/corpus/cases.json`, fed to the real binaries: each must end in a
//! clear error (non-zero exit, or an error line from `infer stream`) that names what was
//! wrong, never a panic, and must leave no output behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The project's own MNIST folder (`data/mnist/`), for the flags that name a folder.
fn mnist_dir() -> PathBuf {
    PathBuf::from(data::embedded::SOURCE_DIR)
}

/// `train` and `infer` sit beside this test's `deps/` folder once `cargo test --workspace`
/// has built them.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built; run the workspace's tests (`cargo test --workspace --release`)",
        path.display()
    );
    path
}

/// A 784-600-10 network with its default (random) initialisation, saved as `train` would.
fn model_dir(root: &Path) -> PathBuf {
    let dir = root.join("model");
    test_support::save_model_dir(&dir, &[600], 10, test_support::Weights::Default);
    dir
}

struct Places {
    corpus: PathBuf,
    model: PathBuf,
    mnist: PathBuf,
    tmp: PathBuf,
}

impl Places {
    fn fill(&self, text: &str) -> String {
        text.replace("{corpus}", &self.corpus.display().to_string())
            .replace("{model}", &self.model.display().to_string())
            .replace("{mnist}", &self.mnist.display().to_string())
            .replace("{tmp}", &self.tmp.display().to_string())
    }

    fn path(&self, v: &Value) -> PathBuf {
        PathBuf::from(self.fill(v.as_str().expect("path string")))
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

fn setup(step: &Value, at: &Places) {
    let (action, arg) = step
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("one action per setup step");
    match action.as_str() {
        "copy_model" => copy_dir(&at.model, &at.path(arg)),
        "remove" => std::fs::remove_file(at.path(arg)).expect("remove"),
        "copy_file" => {
            let to = at.path(&arg[1]);
            std::fs::create_dir_all(to.parent().expect("a folder")).expect("mkdir");
            std::fs::copy(at.path(&arg[0]), to).expect("copy");
        }
        "write" => std::fs::write(at.path(&arg[0]), arg[1].as_str().expect("text")).expect("write"),
        "truncate" => std::fs::OpenOptions::new()
            .write(true)
            .open(at.path(&arg[0]))
            .and_then(|f| f.set_len(arg[1].as_u64().expect("length")))
            .expect("truncate"),
        // A file of this many bytes that takes no disk space.
        "sparse" => std::fs::File::create(at.path(&arg[0]))
            .and_then(|f| f.set_len(arg[1].as_u64().expect("length")))
            .expect("sparse file"),
        // `text` repeated `count` times, then `end`: large inputs without committing them.
        "repeat" => {
            let text = arg[1].as_str().expect("text");
            let count = arg[2].as_u64().expect("count") as usize;
            let mut body = text.repeat(count);
            body.push_str(arg[3].as_str().expect("end"));
            std::fs::write(at.path(&arg[0]), body).expect("write")
        }
        "edit_config" => {
            let path = at.path(&arg[0]);
            let mut config: Value =
                serde_json::from_slice(&std::fs::read(&path).expect("config")).expect("json");
            config["model"][arg[1].as_str().expect("field")] = arg[2].clone();
            std::fs::write(&path, config.to_string()).expect("write config");
        }
        other => panic!("unknown setup action {other}"),
    }
}

/// Runs one case; returns what went wrong, if anything.
fn run_case(case: &Value, at: &Places) -> Result<(), String> {
    for step in case["setup"].as_array().into_iter().flatten() {
        setup(step, at);
    }
    let args: Vec<String> = case["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| at.fill(a.as_str().expect("arg")))
        .collect();
    // Output goes to files and the run has a deadline, so a misbehaving binary (endless
    // output, a hang) fails the case instead of exhausting the test's memory or time.
    let (out_path, err_path) = (at.tmp.join("stdout.txt"), at.tmp.join("stderr.txt"));
    let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut command = Command::new(binary(case["bin"].as_str().expect("bin")));
    command
        .args(&args)
        .env("RUST_BACKTRACE", "1")
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?);
    let stdin = case["stdin"].as_str().map(|s| at.fill(s));
    command.stdin(match &stdin {
        Some(path) => Stdio::from(std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?),
        None => Stdio::null(),
    });
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("still running after 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |p: &Path| -> Result<String, String> {
        let len = std::fs::metadata(p).map_err(|e| e.to_string())?.len();
        if len > 16 << 20 {
            return Err(format!("{} bytes of output", len));
        }
        Ok(String::from_utf8_lossy(&std::fs::read(p).map_err(|e| e.to_string())?).into_owned())
    };
    let (stdout, stderr) = (read(&out_path)?, read(&err_path)?);
    let out = std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    let shown = format!(
        "exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
    for text in [&stdout, &stderr] {
        if text.contains("panicked") || text.contains("stack backtrace") {
            return Err(format!("panicked:\n{shown}"));
        }
    }
    let want_success = case["status"].as_str() == Some("success");
    if out.status.success() != want_success {
        return Err(format!("wrong exit status:\n{shown}"));
    }
    if !want_success {
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        if errors.len() != 1 {
            return Err(format!("expected one error line on stderr:\n{shown}"));
        }
        for fragment in case["expect"].as_array().into_iter().flatten() {
            let fragment = at.fill(fragment.as_str().expect("fragment"));
            if !errors[0].contains(&fragment) {
                return Err(format!("error does not mention `{fragment}`:\n{shown}"));
            }
        }
    }
    if let Some(lines) = case["lines"].as_array() {
        let got: Vec<&str> = stdout.lines().collect();
        if got.len() != lines.len() {
            return Err(format!("expected {} answer lines:\n{shown}", lines.len()));
        }
        for (i, (want, line)) in lines.iter().zip(&got).enumerate() {
            let answer: Value =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}: {line}", i + 1))?;
            match want.as_array() {
                None if answer.get("predicted").is_some() => {}
                None => return Err(format!("line {} should be answered: {line}", i + 1)),
                Some(fragments) => {
                    let error = answer["error"].as_str().unwrap_or_default();
                    for f in fragments {
                        if !error.contains(f.as_str().unwrap_or_default()) {
                            return Err(format!("line {}: `{error}` lacks {f}", i + 1));
                        }
                    }
                }
            }
        }
    }
    for path in case["absent"].as_array().into_iter().flatten() {
        let path = at.path(path);
        if path.exists() {
            return Err(format!("{} was written:\n{shown}", path.display()));
        }
    }
    Ok(())
}

#[test]
fn every_bad_input_in_the_corpus_gets_a_clear_error_and_no_panic() {
    let cases: Value = serde_json::from_slice(
        &std::fs::read(corpus().join("cases.json")).expect("tests/corpus/cases.json"),
    )
    .expect("cases.json is JSON");
    let root = tempfile::tempdir().expect("tempdir");
    let model = model_dir(root.path());
    let mut failures = Vec::new();
    let cases = cases["cases"].as_array().expect("cases");
    for (i, case) in cases.iter().enumerate() {
        let tmp = root.path().join(format!("case-{i}"));
        std::fs::create_dir_all(&tmp).expect("case dir");
        let at = Places {
            corpus: corpus(),
            model: model.clone(),
            mnist: mnist_dir(),
            tmp,
        };
        if let Err(why) = run_case(case, &at) {
            failures.push(format!("--- {}: {why}", case["name"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("{} corpus cases answered with clear errors", cases.len());
}
