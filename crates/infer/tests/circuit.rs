//! Learned minimal masks and the neuron atlas against answers known by construction.
//!
//! The circuit tests build a 784 -> 47 -> 10 network by hand: each class c of 0..8 has three
//! "style" neurons S_c, each firing only on a third of c's images (one bright pixel per style)
//! and voting for c; class 9 is "nothing seen", a constant 0.5 that wins when no kept neuron
//! votes (so keeping S_c alone does not make every other image a c). The other 20 neurons
//! carry noise: random weights on noise pixels, tiny random votes. So class c's F1 needs all
//! of S_c and nothing else, and the whole task needs all 27 style neurons.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::prelude::*;
use data::ArtifactDir;
use data::artifact::{save_config, save_model};
use model::{ExperimentConfig, MaskedMlpConfig};
use serde_json::Value;
use test_support::{Lcg, set_linear};

const CLASSES: usize = 10;
const STYLED: usize = 9;
const STYLES: usize = 3;
const NOISE: usize = 20;
const HIDDEN: usize = STYLED * STYLES + NOISE;
/// The first noise pixel; 30 noise pixels follow.
const NOISE_PIXELS: usize = 100;

/// Where style neuron (class, style) sits in the layer: scattered, not in order.
fn position(class: usize, style: usize) -> usize {
    (class * STYLES + style) * 7 % HIDDEN
}

fn style_neurons(class: usize) -> Vec<usize> {
    let mut s: Vec<usize> = (0..STYLES).map(|st| position(class, st)).collect();
    s.sort_unstable();
    s
}

/// The network, saved as `train` would.
fn save_network(dir: &Path) {
    let device = Device::flex();
    let config = ExperimentConfig::new(
        MaskedMlpConfig::new().with_hidden(vec![HIDDEN]),
        burn::optim::AdamConfig::new(),
    );
    let mut model = config.model.init(&device);
    let mut rng = Lcg::new(7);
    let mut w1 = vec![0f32; 784 * HIDDEN];
    let mut b1 = vec![0f32; HIDDEN];
    let mut w2 = vec![0f32; HIDDEN * CLASSES];
    let mut b2 = vec![0f32; CLASSES];
    b2[9] = 0.5;
    let mut style = [false; HIDDEN];
    for c in 0..STYLED {
        for s in 0..STYLES {
            let j = position(c, s);
            style[j] = true;
            w1[(c * STYLES + s) * HIDDEN + j] = 1.0;
            b1[j] = -0.3;
            w2[j * CLASSES + c] = 2.0;
        }
    }
    for j in (0..HIDDEN).filter(|&j| !style[j]) {
        for p in NOISE_PIXELS..NOISE_PIXELS + 30 {
            w1[p * HIDDEN + j] = rng.next_centered();
        }
        for c in 0..CLASSES {
            w2[j * CLASSES + c] = rng.next_centered() * 0.02;
        }
    }
    set_linear(&mut model.hidden[0], w1, b1);
    set_linear(&mut model.output, w2, b2);
    let art = ArtifactDir::new(dir);
    std::fs::create_dir_all(dir).expect("model dir");
    save_config(&config, &art.config()).expect("config.json");
    save_model(&model, &art.model()).expect("model.bpk");
}

/// `n` images per class 0..8, styles in turn: the style's pixel bright, other style pixels
/// dim, noise pixels random.
fn images(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Lcg::new(seed);
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n * STYLED {
        let (c, s) = (i % STYLED, (i / STYLED) % STYLES);
        let mut img = vec![0u8; 784];
        for (p, v) in img.iter_mut().enumerate().take(STYLED * STYLES) {
            *v = (rng.next_u32() % 30) as u8;
            if p == c * STYLES + s {
                *v = 200 + (rng.next_u32() % 56) as u8;
            }
        }
        for v in &mut img[NOISE_PIXELS..NOISE_PIXELS + 30] {
            *v = (rng.next_u32() % 256) as u8;
        }
        pixels.extend(img);
        labels.push(c as u8);
    }
    (pixels, labels)
}

fn idx(magic: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, magic];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(body);
    out
}

/// A folder with MNIST's file names holding the synthetic images.
fn save_data(dir: &Path) {
    std::fs::create_dir_all(dir).expect("data dir");
    for (split, n, seed) in [(data::Split::Train, 120, 1), (data::Split::Test, 60, 2)] {
        let (pixels, labels) = images(n, seed);
        let count = labels.len() as u32;
        std::fs::write(
            dir.join(&split.image_names()[1]),
            idx(3, &[count, 28, 28], &pixels),
        )
        .expect("images");
        std::fs::write(dir.join(&split.label_names()[1]), idx(1, &[count], &labels))
            .expect("labels");
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    model: PathBuf,
    data: PathBuf,
    out: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tmp.path().join("model");
    let data = tmp.path().join("data");
    save_network(&model);
    save_data(&data);
    let out = tmp.path().to_path_buf();
    Fixture {
        _tmp: tmp,
        model,
        data,
        out,
    }
}

fn infer(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(args)
        .output()
        .expect("infer runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "infer {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn kept(circuit: &Value) -> Vec<usize> {
    circuit["kept"]
        .as_array()
        .expect("kept")
        .iter()
        .map(|v| v.as_u64().expect("index") as usize)
        .collect()
}

/// `infer predict` with the mask file: its summary and its per-input predictions.
fn predict_with(f: &Fixture, mask: &Path) -> (Value, Vec<(u8, u8)>) {
    let rows = f.out.join("rows.csv");
    let summary = on_fixture(
        f,
        "predict",
        &[
            "--mask-file",
            mask.to_str().expect("utf-8"),
            "--output",
            rows.to_str().expect("utf-8"),
        ],
    );
    let mut reader = csv::Reader::from_path(&rows).expect("rows.csv");
    let pairs = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (
                r[1].parse().expect("label"),
                r[2].parse().expect("predicted"),
            )
        })
        .collect();
    (summary, pairs)
}

fn f1(pairs: &[(u8, u8)], class: u8) -> f64 {
    let tp = pairs
        .iter()
        .filter(|&&(l, p)| l == class && p == class)
        .count();
    let predicted = pairs.iter().filter(|&&(_, p)| p == class).count();
    let actual = pairs.iter().filter(|&&(l, _)| l == class).count();
    2.0 * tp as f64 / (predicted + actual) as f64
}

/// `infer COMMAND` on the fixture's model and data, with `--json`.
fn on_fixture(f: &Fixture, command: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        command,
        "--artifact-dir",
        f.model.to_str().expect("utf-8"),
        "--device",
        "flex",
        "--data-dir",
        f.data.to_str().expect("utf-8"),
        "--json",
    ];
    args.extend(extra);
    infer(&args)
}

fn circuit(f: &Fixture, extra: &[&str], output: &Path) -> Value {
    let mut args = vec![
        "--output",
        output.to_str().expect("utf-8"),
        "--epochs",
        "20",
    ];
    args.extend(extra);
    on_fixture(f, "circuit", &args)
}

#[test]
fn a_class_circuit_is_its_style_neurons_and_predict_measures_what_it_reports() {
    let f = fixture();
    for class in [2usize, 6] {
        let mask = f.out.join(format!("digit-{class}.jsonl"));
        let found = circuit(
            &f,
            &[
                "--class",
                &class.to_string(),
                "--keep-accuracy",
                "0.95",
                "--compare-greedy",
            ],
            &mask,
        );
        let kept = kept(&found);
        let want = style_neurons(class);
        // No order keeps the class with fewer than its own neurons.
        for order in ["greedy", "greedy_own"] {
            let count = found[order]["kept"].as_u64().expect("a greedy count") as usize;
            assert!(count >= want.len(), "{order}: {count}");
        }
        assert!(
            want.iter().all(|j| kept.contains(j)),
            "class {class}: kept {kept:?} lacks some of S_c = {want:?}"
        );
        assert!(
            kept.len() <= want.len() + 2,
            "class {class}: kept {kept:?}, S_c = {want:?}"
        );
        let (summary, pairs) = predict_with(&f, &mask);
        let reported = found["figure"].as_f64().expect("figure");
        assert_eq!(reported, f1(&pairs, class as u8), "class {class}: F1");
        assert!(reported >= found["required"].as_f64().expect("required"));
        assert_eq!(summary["accuracy"], found["accuracy"], "class {class}");
        assert_eq!(
            summary["accuracy_per_class"], found["accuracy_per_class"],
            "class {class}"
        );
    }
}

#[test]
fn the_whole_task_circuit_is_every_style_neuron() {
    let f = fixture();
    let mask = f.out.join("task.csv");
    let found = circuit(&f, &["--keep-accuracy", "0.99", "--compare-greedy"], &mask);
    let kept = kept(&found);
    let want: Vec<usize> = (0..STYLED).flat_map(style_neurons).collect();
    assert!(
        want.iter().all(|j| kept.contains(j)),
        "kept {kept:?} lacks some of {want:?}"
    );
    assert!(
        kept.len() <= want.len() + 2,
        "kept {} neurons: {kept:?}",
        kept.len()
    );
    let (summary, _) = predict_with(&f, &mask);
    assert_eq!(summary["accuracy"], found["figure"]);
    assert_eq!(summary["accuracy"], found["accuracy"]);
    assert!(found["greedy"]["kept"].as_u64().expect("greedy count") as usize >= want.len());
}

#[test]
fn all_classes_writes_ten_masks_the_overlap_and_counts_unneeded_neurons() {
    let f = fixture();
    let dir = f.out.join("circuits");
    let set = circuit(
        &f,
        &["--all-classes", "--keep-accuracy", "0.95", "--penalty", "2"],
        &dir,
    );
    let circuits = set["circuits"].as_array().expect("circuits");
    // Class 9 has no test images: only 0..8 are learned, and 9 is reported as skipped.
    assert_eq!(circuits.len(), STYLED, "{set}");
    assert_eq!(set["skipped"], serde_json::json!([9]));
    for (c, found) in circuits.iter().enumerate() {
        assert!(dir.join(format!("digit-{c}.jsonl")).is_file());
        assert_eq!(
            set["overlap"][c][c].as_u64(),
            Some(kept(found).len() as u64)
        );
    }
    assert!(dir.join("overlap.png").is_file());
    // The 20 noise neurons are needed by no class (a few may ride along).
    let none = set["needed_by_none"].as_u64().expect("count") as usize;
    assert!((NOISE - 4..=NOISE).contains(&none), "{none} unneeded");
}

mod common;

#[test]
fn a_deeper_net_gates_its_last_layer_and_the_written_mask_reads_back() {
    use infer::circuit::{self, CircuitSettings, Task, TestSet, TrainingSet};
    let hidden = [32, 16];
    let dir = common::random_artifact_dir_with_classes(&hidden, 10);
    let p = infer::Predictor::load(dir.path(), None, &Device::flex()).expect("loads");
    let inputs = common::test_inputs(400);
    let labels = inputs.labels.clone().expect("labels");
    let train = TrainingSet::new(&p, &inputs).expect("pre-activations");
    let settings = CircuitSettings {
        keep: 0.9,
        penalties: vec![1.0],
        epochs: 3,
        ..Default::default()
    };
    let test = TestSet {
        pixels: &inputs.pixels,
        labels: &labels,
    };
    let found = circuit::learn(&p, &train, test, Task::Accuracy, &settings).expect("learns");
    assert_eq!((found.layer, found.width), (1, 16));
    assert!(found.figure >= found.required, "{found:?}");
    let row = found.keep_row(&hidden);
    assert_eq!(row.len(), 48);
    assert!(row[..32].iter().all(|&v| v == 1.0), "layer 0 stays on");
    let on: Vec<usize> = (0..16).filter(|&j| row[32 + j] == 1.0).collect();
    assert_eq!(on, found.kept);
    let tmp = tempfile::tempdir().expect("tempdir");
    for name in ["mask.jsonl", "mask.csv"] {
        let path = tmp.path().join(name);
        data::mask_files::write_keep_row(&path, &hidden, &row).expect("writes");
        let table =
            data::mask_files::read(&path, &hidden, model::MaskSemantics::Keep, 1).expect("reads");
        assert_eq!(table.row(0), row.as_slice(), "{name}");
        let predictions = p
            .predict(&inputs.pixels, &table, infer::BroadcastPath::Compact)
            .expect("predict");
        let accuracy = kernels::score::score_rows(&predictions.logits, &labels, 10).0 as f64
            / labels.len() as f64;
        assert_eq!(accuracy, found.accuracy, "{name}");
    }
}
