//! `infer` against independent computations, on a small untrained model with fixed
//! pseudo-random weights, made once per process.

// Index loops mirror the maths of the oracles they implement.
#![allow(clippy::needless_range_loop)]

use infer::host::host_vec;
use std::io::Write;
use std::process::Command;

use burn::prelude::*;
use data::artifact::save_model;
use infer::{BroadcastPath, InputSet, Predictor};
use model::{ExperimentConfig, MaskSemantics, MaskTable, MaskedMlpConfig};
use npyz::WriterBuilder;

mod common;
use common::{artifact_dir, predictor, test_inputs};

#[test]
fn off_j_equals_the_model_with_column_j_and_bias_j_zeroed() {
    let p = predictor();
    let inputs = test_inputs(64);
    for j in [0usize, 7, 31] {
        let masked = p
            .predict(
                &inputs.pixels,
                &MaskTable::broadcast_off(&[32], &[vec![j]]),
                BroadcastPath::Multiply,
            )
            .expect("predict");
        // Independent: zero the weights in plain Rust and run loops.
        let w1 = host_vec(p.model.hidden[0].weight.val(), "w1").expect("w1");
        let b1 = host_vec(p.model.hidden[0].bias.as_ref().expect("b1").val(), "b1").expect("b1");
        let w2 = host_vec(p.model.output.weight.val(), "w2").expect("w2");
        let b2 = host_vec(p.model.output.bias.as_ref().expect("b2").val(), "b2").expect("b2");
        for n in 0..64 {
            let x = &inputs.pixels[n * 784..(n + 1) * 784];
            let h: Vec<f32> = (0..32)
                .map(|o| {
                    if o == j {
                        return 0.0; // column j and bias j zeroed
                    }
                    let s: f32 = b1[o] + (0..784).map(|i| x[i] * w1[i * 32 + o]).sum::<f32>();
                    s.max(0.0)
                })
                .collect();
            for c in 0..10 {
                let y = b2[c] + (0..32).map(|o| h[o] * w2[o * 10 + c]).sum::<f32>();
                let got = masked.logits(n)[c];
                assert!((got - y).abs() < 1e-4, "input {n} class {c}: {got} vs {y}");
            }
        }
    }
}

#[test]
fn compacted_broadcast_path_equals_the_multiply_path() {
    let p = predictor();
    let inputs = test_inputs(300);
    let table = MaskTable::broadcast_off(&[32], &[(0..32).filter(|i| i % 3 != 0).collect()]);
    let a = p
        .predict(&inputs.pixels, &table, BroadcastPath::Compact)
        .expect("compact");
    let b = p
        .predict(&inputs.pixels, &table, BroadcastPath::Multiply)
        .expect("multiply");
    for (x, y) in a.logits.iter().zip(&b.logits) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
    assert_eq!(
        (0..300).map(|i| a.predicted(i)).collect::<Vec<_>>(),
        (0..300).map(|i| b.predicted(i)).collect::<Vec<_>>()
    );
}

fn per_sample_rows(n: usize) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| (0..32).filter(|j| (i * 7 + j * 3) % 5 == 0).collect())
        .collect()
}

#[test]
fn csv_npy_and_jsonl_masks_give_identical_outputs() {
    let p = predictor();
    let n = 40;
    let inputs = test_inputs(n);
    let rows = per_sample_rows(n);
    let dir = tempfile::tempdir().expect("tempdir");

    let keep_rows: Vec<Vec<f32>> = rows
        .iter()
        .map(|off| {
            (0..32)
                .map(|j| if off.contains(&j) { 0.0 } else { 1.0 })
                .collect()
        })
        .collect();
    let csv = dir.path().join("m.csv");
    let text: String = keep_rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| format!("{v}"))
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    std::fs::write(&csv, text).expect("csv");

    // NPY in the opposite convention (1 = off), as bools: --mask-semantics off.
    let npy = dir.path().join("m.npy");
    let mut writer = npyz::WriteOptions::<bool>::new()
        .default_dtype()
        .shape(&[n as u64, 32])
        .writer(std::fs::File::create(&npy).expect("npy"))
        .begin_nd()
        .expect("npy writer");
    for r in &keep_rows {
        for &v in r {
            writer.push(&(v == 0.0)).expect("push");
        }
    }
    writer.finish().expect("finish");

    let jsonl = dir.path().join("m.jsonl");
    let mut f = std::fs::File::create(&jsonl).expect("jsonl");
    for off in &rows {
        writeln!(f, "{}", serde_json::json!({ "off": off })).expect("line");
    }

    let from_csv =
        data::mask_files::read(&csv, &[32], MaskSemantics::Keep, 1000).expect("csv reads");
    let from_npy =
        data::mask_files::read(&npy, &[32], MaskSemantics::Off, 1000).expect("npy reads");
    let from_jsonl =
        data::mask_files::read(&jsonl, &[32], MaskSemantics::Keep, 1000).expect("jsonl reads");
    assert_eq!(from_csv, from_npy);
    assert_eq!(from_csv, from_jsonl);
    let outputs: Vec<_> = [from_csv, from_npy, from_jsonl]
        .iter()
        .map(|t| {
            p.predict(&inputs.pixels, t, BroadcastPath::Compact)
                .expect("predict")
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    // Row i goes with input i: predicting input 5 alone with row 5 gives the same logits.
    let single = MaskTable::broadcast_off(&[32], &[rows[5].clone()]);
    let alone = p
        .predict(
            &inputs.pixels[5 * 784..6 * 784],
            &single,
            BroadcastPath::Multiply,
        )
        .expect("one");
    for (x, y) in alone.logits(0).iter().zip(outputs[0].logits(5)) {
        assert!((x - y).abs() < 1e-5);
    }
}

#[test]
fn export_then_import_gives_identical_logits() {
    let p = predictor();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("m.safetensors");
    infer::interop::export(&p.model, &file).expect("export");
    let (config, model) = infer::interop::import(&file, &Device::flex()).expect("import");
    assert_eq!(config.hidden, vec![32]);
    let imported_dir = dir.path().join("imported");
    infer::interop::write_artifact_dir(&imported_dir, config, &model).expect("artifact dir");
    let q = Predictor::load(&imported_dir, None, &Device::flex()).expect("loads");
    let inputs = test_inputs(50);
    let table = MaskTable::all_on(&[32]);
    let a = p
        .predict(&inputs.pixels, &table, BroadcastPath::Multiply)
        .expect("a");
    let b = q
        .predict(&inputs.pixels, &table, BroadcastPath::Multiply)
        .expect("b");
    assert_eq!(a, b);
    // PyTorch layout: [out, in].
    let bytes = std::fs::read(&file).expect("read");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("parse");
    assert_eq!(st.tensor("hidden.0.weight").expect("w").shape(), &[32, 784]);
    assert_eq!(st.tensor("output.weight").expect("w").shape(), &[10, 32]);
}

#[test]
fn stream_of_1000_lines_with_per_line_masks_equals_predict() {
    let p = predictor();
    let n = 1000;
    let inputs = test_inputs(n);
    let rows = per_sample_rows(n);
    let mut text = String::new();
    for i in 0..n {
        let pixels: Vec<u32> = inputs.pixels[i * 784..(i + 1) * 784]
            .iter()
            .map(|&v| (v * 255.0).round() as u32)
            .collect();
        text.push_str(&serde_json::json!({"pixels": pixels, "off": rows[i]}).to_string());
        text.push('\n');
        if i == 500 {
            text.push_str("{\"pixels\": [1, 2, 3]}\n"); // a bad line in the middle
        }
    }
    let mut out = Vec::new();
    let stats = infer::stream::run(
        &p,
        Box::new(std::io::Cursor::new(text.into_bytes())),
        &mut out,
        255.0,
    )
    .expect("stream");
    assert_eq!((stats.answered, stats.errors), (n, 1));
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), n + 1);
    assert!(
        lines[501]["error"]
            .as_str()
            .expect("error line")
            .contains("line 502"),
        "{}",
        lines[501]
    );
    assert!(
        lines[501]["error"]
            .as_str()
            .expect("error line")
            .contains("784")
    );

    let table = MaskTable::from_rows(
        &[32],
        rows.iter()
            .map(|off| {
                (0..32)
                    .map(|j| if off.contains(&j) { 0.0 } else { 1.0 })
                    .collect()
            })
            .collect(),
    )
    .expect("rows of 32");
    let expected = p
        .predict(&inputs.pixels, &table, BroadcastPath::Multiply)
        .expect("predict");
    let answers: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("error").is_none()).collect();
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(
            a["predicted"].as_u64().expect("predicted") as usize,
            expected.predicted(i),
            "input {i}"
        );
        let probs: Vec<f32> = a["probabilities"]
            .as_array()
            .expect("probs")
            .iter()
            .map(|v| v.as_f64().expect("f") as f32)
            .collect();
        for (x, y) in probs.iter().zip(expected.probabilities(i)) {
            assert!((x - y).abs() < 1e-6, "input {i}: {x} vs {y}");
        }
    }
}

fn infer_bin(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(args)
        .env_remove("MNIST_DIR")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[test]
fn cli_predict_off_j_matches_the_library_and_reports_accuracy() {
    let dir = artifact_dir().display().to_string();
    let (ok, stdout, stderr) = infer_bin(&[
        "predict",
        "--artifact-dir",
        &dir,
        "--device",
        "flex",
        "--off",
        "3",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json summary");
    assert_eq!(summary["inputs"], 10000);
    assert_eq!(summary["mean_neurons_off"], 1.0);
    let p = predictor();
    let inputs = test_inputs(10000);
    let expected = p
        .predict(
            &inputs.pixels,
            &MaskTable::broadcast_off(&[32], &[vec![3]]),
            BroadcastPath::Multiply,
        )
        .expect("predict");
    let labels = inputs.labels.expect("labels");
    let correct = (0..10000)
        .filter(|&i| expected.predicted(i) == labels[i] as usize)
        .count();
    assert_eq!(
        summary["accuracy"].as_f64().expect("accuracy"),
        correct as f64 / 10000.0
    );
}

fn refused(args: &[&str], expect: &[&str]) {
    let (ok, _, stderr) = infer_bin(args);
    assert!(!ok, "{args:?} must fail");
    for e in expect {
        assert!(stderr.contains(e), "{args:?}: expected `{e}` in: {stderr}");
    }
}

#[test]
fn bad_inputs_are_refused_with_file_row_and_expectation() {
    let dir = artifact_dir().display().to_string();
    let tmp = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let predict = ["predict", "--artifact-dir", &dir, "--device", "flex"];
    let base = [&predict[..], &["--mask-file"]].concat();
    let ones = vec!["1"; 32].join(",");
    let wide = write("wide.csv", &(ones.clone() + ",1\n"));
    refused(
        &[&base[..], &[&wide]].concat(),
        &["wide.csv", "row 1", "33 values", "expected 32"],
    );
    let two = write(
        "two.csv",
        &format!("{ones}\n{}\n", ones.replacen('1', "2", 1)),
    );
    refused(
        &[&base[..], &[&two]].concat(),
        &["two.csv", "row 2, column 1", "expected exactly 0 or 1"],
    );
    let rows3 = write("rows.csv", &format!("{ones}\n{ones}\n{ones}\n"));
    refused(
        &[&base[..], &[&rows3]].concat(),
        &["rows.csv", "3 mask rows for 10000 inputs"],
    );
    let text = write("text.csv", &ones.replacen('1', "x", 1));
    refused(
        &[&base[..], &[&text]].concat(),
        &["text.csv", "`x` is not a number"],
    );
    refused(
        &[
            "predict",
            "--artifact-dir",
            "/nonexistent/run",
            "--device",
            "flex",
        ],
        &["/nonexistent/run"],
    );
    refused(
        &[&predict[..], &["--off", "32"]].concat(),
        &["--off", "32", "0..=31"],
    );

    // A checkpoint whose hidden size differs from the config.
    let other = tmp.path().join("other");
    let config = ExperimentConfig::new(
        MaskedMlpConfig::new().with_hidden(vec![16]),
        burn::optim::AdamConfig::new(),
    );
    std::fs::create_dir_all(&other).expect("mkdir");
    save_model(
        &config.model.init(&Device::flex()),
        &other.join("model.bpk"),
    )
    .expect("save");
    let ck = other.join("model.bpk").display().to_string();
    refused(
        &[&predict[..], &["--checkpoint", &ck]].concat(),
        &["model.bpk", "do not fit"],
    );
    // A corrupt checkpoint.
    let corrupt = write("corrupt.bpk", "not a burnpack");
    refused(
        &[&predict[..], &["--checkpoint", &corrupt]].concat(),
        &["corrupt.bpk"],
    );
    // A PNG that is not 28x28: write a 2x2 grayscale PNG.
    let png_path = tmp.path().join("small.png");
    {
        let f = std::fs::File::create(&png_path).expect("png");
        let mut enc = png::Encoder::new(f, 2, 2);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .expect("hdr")
            .write_image_data(&[0, 255, 255, 0])
            .expect("data");
    }
    refused(
        &[&predict[..], &[&png_path.display().to_string()]].concat(),
        &["small.png", "2x2", "expected 28x28"],
    );
}

#[test]
fn png_inputs_match_the_same_mnist_images() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inputs = test_inputs(3);
    let mut paths = Vec::new();
    for i in 0..3 {
        let path = tmp.path().join(format!("digit{i}.png"));
        let bytes: Vec<u8> = inputs.pixels[i * 784..(i + 1) * 784]
            .iter()
            .map(|&v| (v * 255.0).round() as u8)
            .collect();
        let mut enc = png::Encoder::new(std::fs::File::create(&path).expect("png"), 28, 28);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .expect("hdr")
            .write_image_data(&bytes)
            .expect("data");
        paths.push(path);
    }
    let from_png = InputSet::pngs(&paths, false).expect("pngs decode");
    assert_eq!(from_png.pixels, inputs.pixels);
    let inverted = InputSet::pngs(&paths, true).expect("inverted");
    assert_eq!(inverted.pixels[0], 1.0 - inputs.pixels[0]);

    // Through the binary: three PNGs in, three rows out, in order.
    let out = tmp.path().join("rows.jsonl");
    let dir = artifact_dir().display().to_string();
    let mut args = vec![
        "predict",
        "--artifact-dir",
        &dir,
        "--device",
        "flex",
        "--output",
    ];
    let out_s = out.display().to_string();
    args.push(&out_s);
    let path_strings: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(path_strings.iter().map(String::as_str));
    let (ok, _, stderr) = infer_bin(&args);
    assert!(ok, "{stderr}");
    let expected = predictor()
        .predict(
            &inputs.pixels,
            &MaskTable::all_on(&[32]),
            BroadcastPath::Multiply,
        )
        .expect("predict");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .expect("rows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["index"], i);
        assert_eq!(
            row["predicted"].as_u64().expect("p") as usize,
            expected.predicted(i)
        );
    }
}

#[test]
fn a_missing_checkpoint_file_is_named() {
    let dir = artifact_dir().display().to_string();
    refused(
        &[
            "predict",
            "--artifact-dir",
            &dir,
            "--device",
            "flex",
            "--checkpoint",
            "/nonexistent/model-9.bpk",
        ],
        &["/nonexistent/model-9.bpk"],
    );
}
