//! The neuron explorer in a real browser: train a small model, write its ablation map, serve
//! it, and let `e2e/explorer.mjs` drive headless Chromium through the page. What the page
//! showed is checked against the library's own predictions.
//!
//! Needs Debian's `chromium`, node and `npm ci` in tests/e2e (what .ci/run installs).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use data::ArtifactDir;
use infer::ablate::{self, AblationMode};
use infer::circuit;
use infer::serve::{self, Explorer, ServeOptions};
use infer::{BroadcastPath, InputSet, Predictor};
use model::MaskTable;
use serde_json::Value;

/// The project's own MNIST folder (`data/mnist/`), for the flags that name a folder.
fn mnist_dir() -> PathBuf {
    PathBuf::from(data::embedded::SOURCE_DIR)
}

fn probabilities(report: &Value, key: &str) -> Vec<f32> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` in {report}"))
        .iter()
        .map(|v| v.as_f64().expect("a number") as f32)
        .collect()
}

fn assert_close(shown: &[f32], expected: &[f32], what: &str) {
    assert_eq!(shown.len(), expected.len(), "{what}");
    for (c, (x, y)) in shown.iter().zip(expected).enumerate() {
        // The page writes probabilities with 6 decimals.
        assert!(
            (x - y).abs() < 2e-6,
            "{what}, class {c}: page {x}, library {y}"
        );
    }
}

/// A neuron that matters for one test image: the (image, neuron) whose switching-off alone
/// changes the predicted class, with the largest drop in that class's probability (or, if no
/// single neuron changes any prediction, just the largest drop). The output layer is linear, so
/// neuron j off moves the logits by exactly `-h_j * W_out[j, :]`.
fn neuron_that_matters(p: &Predictor, inputs: &InputSet) -> (usize, usize, f32) {
    let out = p
        .hidden_and_logits(&inputs.pixels, &p.default_masks())
        .expect("forward");
    let w = infer::host::host_vec(p.model.output.weight.val(), "weights").expect("weights");
    let classes = out.predictions.classes;
    let softmax = |logits: &[f32]| -> Vec<f32> {
        let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f32 = e.iter().sum();
        e.iter().map(|x| x / sum).collect()
    };
    let mut best = (false, 0, 0, 0.0f32);
    for i in 0..inputs.len() {
        let logits = out.predictions.logits(i);
        let class = out.predictions.predicted(i);
        let p_class = softmax(logits)[class];
        for (j, &h) in out.hidden(i).iter().enumerate() {
            let moved: Vec<f32> = (0..classes)
                .map(|c| logits[c] - h * w[j * classes + c])
                .collect();
            let after = softmax(&moved);
            let flips = (0..classes).any(|c| after[c] > after[class]);
            let drop = p_class - after[class];
            if (flips, drop) > (best.0, best.3) {
                best = (flips, i, j, drop);
            }
        }
    }
    (best.1, best.2, best.3)
}

#[test]
#[ignore = "needs chromium and node; run by .ci/run"]
fn the_explorer_in_headless_chromium() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("model");
    let mnist = mnist_dir();
    let overrides = train::ConfigOverrides {
        epochs: Some(1),
        limit_train: Some(10_000),
        ..Default::default()
    };
    let config = train::resolve_config(&train::ConfigBase::Seed, &overrides).expect("config");
    let mut options = train::RunOptions::new(&dir);
    options.devices = train::Devices::One(backend::DeviceChoice::Flex);
    train::run(&config, &data::MnistSource::Dir(mnist.clone()), &options).expect("trains");

    let device = burn::prelude::Device::flex();
    let p = Predictor::load(&dir, None, &device).expect("loads");
    let test = InputSet::mnist_test(Some(&mnist)).expect("MNIST test set");
    let labels = test.labels.clone().expect("labels");
    let sweep = ablate::sweep(&p, &test.pixels, &labels, AblationMode::Zero, None).expect("sweep");
    ablate::write_csv(&ArtifactDir::new(&dir).ablation(), &sweep).expect("ablation.csv");
    let (image, neuron, drop) = neuron_that_matters(&p, &test);
    println!("image {image}: neuron {neuron} alone lowers the top class by {drop:.3}");

    // A learned mask for digit 3 where the explorer looks (DIR/circuits), kept short: one
    // penalty, one pass over 10k training images; and the same mask as a CSV file to upload.
    let source = data::MnistSource::Dir(mnist.clone());
    let mut train = InputSet::from_split(
        &source.load(data::Split::Train).expect("train"),
        String::new(),
    );
    train.truncate(10_000);
    let training = circuit::TrainingSet::new(&p, &train).expect("pre-activations");
    let settings = circuit::CircuitSettings {
        keep: 0.95,
        penalties: vec![2.0],
        epochs: 1,
        ..Default::default()
    };
    let test_set = circuit::TestSet {
        pixels: &test.pixels,
        labels: &labels,
    };
    let digit3 = circuit::learn(
        &p,
        &training,
        test_set,
        circuit::Task::ClassF1(3),
        &settings,
    )
    .expect("learns");
    let keep_row = digit3.keep_row(&[600]);
    let circuits = dir.join("circuits");
    std::fs::create_dir_all(&circuits).expect("circuits dir");
    data::mask_files::write_keep_row(&circuits.join("digit-3.jsonl"), &[600], &keep_row)
        .expect("digit-3.jsonl");
    let mask_csv = tmp.path().join("mask.csv");
    data::mask_files::write_keep_row(&mask_csv, &[600], &keep_row).expect("mask.csv");
    let atlas = infer::atlas::atlas(&p, &test.pixels, Some(&labels), 0, 6, "test").expect("atlas");
    let hover = (neuron + 1) % 600;

    let listener = serve::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0).expect("binds");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let options = ServeOptions {
        test_set: Some(data::MnistSource::Dir(mnist.clone())),
        ablation: None,
        circuits: None,
    };
    let explorer = Explorer::new(p.clone(), &dir, &options).expect("explorer");
    std::thread::spawn(move || serve::serve(listener, explorer));

    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e");
    assert!(
        e2e.join("node_modules/puppeteer-core").is_dir(),
        "run `npm ci` in {} first (.ci/run does)",
        e2e.display()
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explorer.png");
    let out = Command::new("node")
        .arg("explorer.mjs")
        .arg(&url)
        .arg(&shot)
        .args([
            "--image",
            &image.to_string(),
            "--neuron",
            &neuron.to_string(),
            "--hover",
            &hover.to_string(),
            "--circuit",
            "digit-3",
            "--mask-file",
        ])
        .arg(&mask_csv)
        .current_dir(&e2e)
        .output()
        .expect("node runs (apt-get install nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stdout: {stdout}\nstderr: {stderr}"));
    println!("{report}");
    println!("screenshot: {}", shot.display());
    assert!(out.status.success(), "{report}\n{stderr}");
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(
        (report["cells"].as_u64(), report["columns"].as_u64()),
        (Some(600), Some(30))
    );
    assert!(
        report["label"]
            .as_str()
            .expect("label")
            .ends_with(&format!("label {}", labels[image])),
        "{report}"
    );

    // Before: the intact network; after the click: the neuron off. Both as the library says.
    let one = &test.pixels[image * 784..(image + 1) * 784];
    let predict = |off: &[usize]| {
        p.predict(
            one,
            &MaskTable::broadcast_off(&[600], &[off.to_vec()]),
            BroadcastPath::Multiply,
        )
        .expect("predict")
        .probabilities(0)
    };
    let before = probabilities(&report, "before");
    let after = probabilities(&report, "after");
    assert_close(&before, &predict(&[]), "before the click");
    assert_close(&after, &predict(&[neuron]), "after the click");
    let moved = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        moved >= drop - 1e-4 && moved > 0.05,
        "the bars moved only {moved}"
    );
    assert_eq!(report["clicked_is_off"], true);
    assert!(report["activation"].as_f64().expect("activation") > 0.0);
    assert_eq!(report["intact_ticks"], 10);
    assert_close(
        &probabilities(&report, "after_second_click"),
        &before,
        "clicked back on",
    );

    // Dragging along the first row switched its 30 cells off; reset, top K and the lesion.
    assert_eq!(report["dragged_off"], 30);
    assert_eq!(report["reset_off"], 0);
    assert_eq!(report["top_k_enabled"], true);
    let mut top: Vec<usize> = ablate::top(&sweep, 25).iter().map(|e| e.neuron).collect();
    top.sort();
    let shown: Vec<usize> = report["top_k_neurons"]
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v.as_u64().expect("index") as usize)
        .collect();
    assert_eq!(shown, top);
    assert_close(
        &probabilities(&report, "top_k_probs"),
        &predict(&top),
        "top 25 off",
    );
    assert_eq!(report["overlay_cells"], 600);
    let lesion = report["lesion_off"].as_u64().expect("count");
    assert!(
        (200..=400).contains(&lesion),
        "p = 0.5 switched {lesion} of 600 off"
    );

    // A drawn vertical stroke reaches the model as a 1.
    assert_eq!(report["drawn_label"], "your drawing");
    assert!(report["drawn_ink"].as_u64().expect("ink") > 20);
    let drawn = probabilities(&report, "drawn");
    let top_class = (0..10).fold(0, |b, c| if drawn[c] > drawn[b] { c } else { b });
    assert_eq!(top_class, 1, "a vertical stroke: {drawn:?}");

    // Hovering a neuron showed its atlas entry: field, the library's top images, ten digits.
    let entry = &report["atlas"];
    assert_eq!(entry["neuron"].as_u64(), Some(hover as u64), "{report}");
    assert_eq!(entry["field_shown"], true);
    assert_eq!(entry["profile_bars"], 10);
    let top_images: Vec<u64> = atlas.neurons[hover]
        .top_images
        .iter()
        .map(|&i| i as u64)
        .collect();
    assert_eq!(entry["top"], serde_json::json!(top_images));

    // The learned mask from the list and the uploaded file switch on exactly its neurons.
    let as_list = |key: &str| -> Vec<usize> {
        report[key]
            .as_array()
            .unwrap_or_else(|| panic!("`{key}` in {report}"))
            .iter()
            .map(|v| v.as_u64().expect("index") as usize)
            .collect()
    };
    assert_eq!(as_list("circuit_on"), digit3.kept, "{report}");
    assert_eq!(as_list("file_on"), digit3.kept, "{report}");
    let with_mask = p
        .predict(
            one,
            &MaskTable::broadcast_keep_only(&[600], std::slice::from_ref(&digit3.kept)),
            BroadcastPath::Multiply,
        )
        .expect("predict")
        .probabilities(0);
    assert_close(
        &probabilities(&report, "circuit_probs"),
        &with_mask,
        "learned mask",
    );
    println!(
        "digit 3: {} neurons kept, F1 {:.4} (intact {:.4})",
        digit3.kept.len(),
        digit3.figure,
        digit3.intact
    );

    let png = std::fs::read(&shot).expect("screenshot");
    assert_eq!(&png[1..4], b"PNG");
    assert!(png.len() > 20_000, "a screenshot of {} bytes", png.len());
}
