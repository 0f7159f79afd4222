//! Burn's Learner in a plain `cargo test` (no real-data flag needed, a few seconds): the `train`
//! binary on a few thousand images of the MNIST built into it trains, checkpoints, resumes,
//! and leaves a model that reloads and predicts what the run reported; and the same binary
//! trains on another folder of IDX files with the MNIST names (as Fashion-MNIST ships).

use std::io::Write;
use std::path::Path;
use std::process::Command;

use burn::prelude::*;
use data::ArtifactDir;
use data::artifact::{load_config, load_model};
use data::{MnistSplit, PIXELS, Split, idx};
use model::{ExperimentConfig, HiddenMasks, TrainingSummary};

/// Run `train ARGS` with no `$MNIST_DIR`; returns stdout, failing the test on an error.
fn train(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["--device", "flex"])
        .args(args)
        .env_remove("MNIST_DIR")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "train {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn summary(art: &ArtifactDir) -> TrainingSummary {
    serde_json::from_slice(&std::fs::read(art.summary()).expect("summary.json")).expect("json")
}

#[test]
fn a_short_run_on_the_built_in_mnist_trains_checkpoints_resumes_reloads_and_predicts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let dir_arg = dir.display().to_string();
    let small = ["--limit-train", "3000", "--limit-test", "500"];

    let out = train(&[&["--artifact-dir", &dir_arg, "--epochs", "1"], &small[..]].concat());
    assert!(
        out.contains("data: built-in MNIST (3000 training, 500 test images)"),
        "{out}"
    );
    let art = ArtifactDir::new(&dir);
    assert_eq!(art.last_complete_checkpoint(), Some(1));

    // --resume continues after the checkpoint: only epoch 2 is trained.
    let out = train(&["--artifact-dir", &dir_arg, "--resume", "--epochs", "2"]);
    assert!(out.contains("continuing after checkpoint 1"), "{out}");
    assert_eq!(art.last_complete_checkpoint(), Some(2));
    let s = summary(&art);
    assert_eq!((s.epochs, s.epoch_seconds.len()), (2, 1), "{s:?}");
    let csv = std::fs::read_to_string(art.metrics()).expect("metrics.csv");
    for row in ["1,train,", "1,valid,", "2,train,", "2,valid,"] {
        assert!(csv.contains(&format!("\n{row}")), "{row} missing: {csv}");
    }

    // model.bpk reloads and predicts the 500 test images as the run scored them.
    let config: ExperimentConfig = load_config(&art.config()).expect("config.json");
    let device = Device::flex();
    let model = load_model(&config.model, &art.model(), &device).expect("model.bpk reloads");
    let test = MnistSplit::embedded(Split::Test)
        .expect("built-in test set")
        .truncated(500);
    let pixels: Vec<f32> = (0..test.len())
        .flat_map(|i| test.image(i).iter().map(|&p| p as f32 / 255.0))
        .collect();
    let images = Tensor::<2>::from_data(TensorData::new(pixels, [test.len(), PIXELS]), &device);
    let logits = model
        .forward_masked(images, &HiddenMasks::none())
        .expect("forward");
    let predicted = logits
        .argmax(1)
        .into_data()
        .try_into_vec_as::<i64>()
        .expect("ints");
    let correct = predicted
        .iter()
        .zip(test.labels())
        .filter(|&(&p, &l)| p == l as i64)
        .count();
    let accuracy = correct as f64 / test.len() as f64;
    assert!(
        (accuracy - s.test_accuracy).abs() < 1e-9,
        "reloaded model: {accuracy}, run reported {}",
        s.test_accuracy
    );
    assert!(accuracy > 0.8, "3000 images, 2 epochs: accuracy {accuracy}");
}

fn gzip_to(path: &Path, bytes: &[u8]) {
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create"),
        flate2::Compression::fast(),
    );
    enc.write_all(bytes).expect("write");
    enc.finish().expect("gzip");
}

/// `n` noisy 28x28 images whose class is a bright horizontal band (rows 2c+3 and 2c+4).
fn banded_images(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = test_support::Lcg::new(seed);
    let mut next = move || rng.next_u32();
    let (mut pixels, mut labels) = (Vec::with_capacity(n * PIXELS), Vec::with_capacity(n));
    for i in 0..n {
        let class = (i % 10) as u8;
        for p in 0..PIXELS {
            let row = p / 28;
            let band = row == 2 * class as usize + 3 || row == 2 * class as usize + 4;
            let noise = if next() % 4 == 0 { next() % 120 } else { 0 };
            pixels.push(if band {
                160 + (next() % 96) as u8
            } else {
                noise as u8
            });
        }
        labels.push(class);
    }
    (pixels, labels)
}

#[test]
fn any_folder_of_idx_files_with_the_mnist_names_trains_like_fashion_mnist() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("banded");
    std::fs::create_dir_all(&data_dir).expect("mkdir");
    for (split, n, seed) in [(Split::Train, 2000, 1), (Split::Test, 300, 2)] {
        let (pixels, labels) = banded_images(n, seed);
        let [images_name, _] = split.image_names();
        let [labels_name, _] = split.label_names();
        gzip_to(&data_dir.join(images_name), &idx::encode_images(&pixels, n));
        gzip_to(&data_dir.join(labels_name), &idx::encode_labels(&labels));
    }
    let art_dir = tmp.path().join("run");
    let out = train(&[
        "--data-dir",
        &data_dir.display().to_string(),
        "--artifact-dir",
        &art_dir.display().to_string(),
        "--epochs",
        "2",
    ]);
    assert!(
        out.contains(&format!(
            "data: {} (2000 training, 300 test images)",
            data_dir.display()
        )),
        "{out}"
    );
    let s = summary(&ArtifactDir::new(&art_dir));
    assert!(s.test_accuracy > 0.95, "banded digits: {s:?}");
}
