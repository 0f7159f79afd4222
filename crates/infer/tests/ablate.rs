//! The fast ablation sweep against brute force: one masked forward pass per neuron.

mod common;
use common::{predictor, test_inputs};
use infer::host::host_vec;

use infer::ablate::{self, AblationMode};

#[test]
fn fast_zero_sweep_equals_one_masked_forward_per_neuron() {
    let p = predictor();
    let inputs = test_inputs(2000);
    let labels = inputs.labels.clone().expect("labels");
    let result =
        ablate::sweep(&p, &inputs.pixels, &labels, AblationMode::Zero, None).expect("sweep");
    assert_eq!(result.effects.len(), 32);
    let mut changed = 0;
    for j in 0..32 {
        let (correct, loss) =
            ablate::brute_force_zero(&p, &inputs.pixels, &labels, 0, j).expect("brute force");
        let e = &result.effects[j];
        assert_eq!(e.correct, correct, "neuron {j}: accuracy counts differ");
        assert!(
            (e.loss - loss).abs() < 1e-4,
            "neuron {j}: loss {} vs {loss}",
            e.loss
        );
        if e.correct != result.baseline_correct {
            changed += 1;
        }
    }
    assert!(
        changed > 0,
        "no neuron changed any prediction: the test would prove nothing"
    );
    // Ranks are a permutation, rank 1 the largest accuracy drop.
    let mut ranks: Vec<usize> = result.effects.iter().map(|e| e.rank).collect();
    ranks.sort();
    assert_eq!(ranks, (1..=32).collect::<Vec<_>>());
    let first = ablate::top(&result, 1)[0];
    assert!(result.effects.iter().all(|e| e.correct >= first.correct));
}

#[test]
fn mean_mode_holds_each_neuron_at_its_mean() {
    let p = predictor();
    let inputs = test_inputs(500);
    let labels = inputs.labels.clone().expect("labels");
    let means = ablate::neuron_means(&p, &inputs.pixels).expect("means");
    let result = ablate::sweep(
        &p,
        &inputs.pixels,
        &labels,
        AblationMode::Mean,
        Some(&means),
    )
    .expect("sweep");
    // Independent check for a few neurons: replace column j of the activations by its mean on
    // the host and apply the output layer with plain loops.
    use burn::prelude::*;
    let h = host_vec(
        p.model
            .last_hidden(
                Tensor::from_data(
                    TensorData::new(inputs.pixels.clone(), [500, 784]),
                    &p.device,
                ),
                &model::HiddenMasks::none(),
            )
            .expect("hidden"),
        "f32",
    )
    .expect("f32");
    let w = host_vec(p.model.output.weight.val(), "w").expect("w");
    let b = host_vec(p.model.output.bias.as_ref().expect("b").val(), "b").expect("b");
    for j in [0usize, 13, 31] {
        let (mut correct, mut loss) = (0usize, 0f64);
        for n in 0..500 {
            let logits: Vec<f64> = (0..10)
                .map(|c| {
                    b[c] as f64
                        + (0..32)
                            .map(|o| {
                                let a = if o == j { means[j] } else { h[n * 32 + o] };
                                a as f64 * w[o * 10 + c] as f64
                            })
                            .sum::<f64>()
                })
                .collect();
            let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
            loss += lse - logits[labels[n] as usize];
            let pred = (0..10).fold(0, |best, c| if logits[c] > logits[best] { c } else { best });
            correct += usize::from(pred == labels[n] as usize);
        }
        let e = &result.effects[j];
        assert!(
            (e.loss - loss / 500.0).abs() < 1e-4,
            "neuron {j}: {} vs {}",
            e.loss,
            loss / 500.0
        );
        assert!(
            (e.correct as i64 - correct as i64).abs() <= 1,
            "neuron {j}: {} vs {correct}",
            e.correct
        );
    }
}

#[test]
fn cli_writes_the_ranked_csv_and_the_plot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (csv, png) = (tmp.path().join("a.csv"), tmp.path().join("a.png"));
    let dir = common::artifact_dir().display().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_infer"))
        .args([
            "ablate",
            "--artifact-dir",
            &dir,
            "--device",
            "flex",
            "--limit",
            "500",
            "--top",
            "5",
        ])
        .arg("--output")
        .arg(&csv)
        .arg("--plot")
        .arg(&png)
        .env_remove("MNIST_DIR")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).expect("csv");
    assert!(text.starts_with("layer,neuron,accuracy,loss,delta_accuracy,delta_loss,rank\n"));
    assert_eq!(text.lines().count(), 33, "header + 32 neurons");
    // Read back (what infer serve overlays): every neuron once, ranks a permutation.
    let rows = ablate::read_csv(&csv).expect("reads back");
    assert_eq!(
        rows.iter().map(|r| r.neuron).collect::<Vec<_>>(),
        (0..32).collect::<Vec<_>>()
    );
    let mut ranks: Vec<usize> = rows.iter().map(|r| r.rank).collect();
    ranks.sort();
    assert_eq!(ranks, (1..=32).collect::<Vec<_>>());
    let broken = tmp.path().join("broken.csv");
    std::fs::write(&broken, text.replacen("\n0,0,", "\n0,x,", 1)).expect("write");
    let message = ablate::read_csv(&broken).expect_err("refused").to_string();
    assert!(message.contains("broken.csv: line 2"), "{message}");
    for path in [png.clone(), tmp.path().join("a-per-class.png")] {
        let bytes = std::fs::read(&path).expect("png");
        assert_eq!(&bytes[1..4], b"PNG", "{}", path.display());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("rank"))
        .skip(1)
        .take_while(|l| l.trim_start().starts_with(char::is_numeric))
        .collect();
    assert_eq!(table.len(), 5, "{stdout}");
}

/// Brute force: accuracy with `off` switched off, by a masked forward pass.
fn brute_accuracy(p: &infer::Predictor, pixels: &[f32], labels: &[u8], off: &[usize]) -> f64 {
    let table = model::MaskTable::broadcast_off(&[32], &[off.to_vec()]);
    let out = p
        .predict(pixels, &table, infer::BroadcastPath::Multiply)
        .expect("predict");
    let correct = (0..labels.len())
        .filter(|&i| out.predicted(i) == labels[i] as usize)
        .count();
    correct as f64 / labels.len() as f64
}

#[test]
fn groups_and_the_pruning_curve_equal_masked_forward_passes() {
    let p = predictor();
    let inputs = test_inputs(1000);
    let labels = inputs.labels.clone().expect("labels");
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("groups.txt");
    std::fs::write(&file, "# a comment\n1,2,3\n\n0:4 0:5 0:30\n").expect("write");
    let sets = ablate::read_groups(&file, &[32]).expect("groups parse");
    assert_eq!(sets, vec![(2, vec![1, 2, 3]), (4, vec![4, 5, 30])]);
    let effects = ablate::groups(&p, &inputs.pixels, &labels, &sets, None).expect("groups");
    for (g, (_, off)) in effects.iter().zip(&sets) {
        assert!((g.accuracy - brute_accuracy(&p, &inputs.pixels, &labels, off)).abs() < 1e-12);
    }

    let sweep =
        ablate::sweep(&p, &inputs.pixels, &labels, AblationMode::Zero, None).expect("sweep");
    let curve = ablate::cumulative(&p, &inputs.pixels, &labels, &sweep, None).expect("curve");
    assert_eq!(curve.accuracy.len(), 33);
    for k in [0usize, 1, 7, 20, 32] {
        let expected = brute_accuracy(&p, &inputs.pixels, &labels, &curve.order[..k]);
        assert!(
            (curve.accuracy[k] - expected).abs() < 1e-12,
            "k = {k}: {} vs {expected}",
            curve.accuracy[k]
        );
    }
    // The least important neuron goes first.
    assert_eq!(sweep.effects[curve.order[0]].rank, 32);

    std::fs::write(&file, "1,2\n40\n").expect("write");
    let err = ablate::read_groups(&file, &[32]).expect_err("40 is beyond the layer");
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn earlier_layers_of_deeper_nets_equal_brute_force() {
    use burn::prelude::*;
    use data::artifact::{save_config, save_model};
    let tmp = tempfile::tempdir().expect("tempdir");
    let device = Device::flex();
    let config = model::ExperimentConfig::new(
        model::MaskedMlpConfig::new().with_hidden(vec![24, 12]),
        burn::optim::AdamConfig::new(),
    );
    device.seed(3);
    let net = config.model.init(&device);
    let art = data::ArtifactDir::new(tmp.path());
    save_config(&config, &art.config()).expect("config");
    save_model(&net, &art.model()).expect("model");
    let p = infer::Predictor::load(tmp.path(), None, &device).expect("loads");
    let inputs = test_inputs(700);
    let labels = inputs.labels.clone().expect("labels");
    for layer in [0usize, 1] {
        let result =
            ablate::sweep_layer(&p, &inputs.pixels, &labels, layer, AblationMode::Zero, None)
                .expect("sweep");
        assert_eq!(result.effects.len(), [24, 12][layer]);
        for j in [0usize, 5, 11] {
            let (correct, loss) =
                ablate::brute_force_zero(&p, &inputs.pixels, &labels, layer, j).expect("brute");
            let e = &result.effects[j];
            assert_eq!(
                (e.layer, e.correct),
                (layer, correct),
                "layer {layer} neuron {j}"
            );
            assert!(
                (e.loss - loss).abs() < 1e-4,
                "layer {layer} neuron {j}: {} vs {loss}",
                e.loss
            );
        }
    }
    assert!(
        ablate::sweep_layer(
            &p,
            &inputs.pixels,
            &labels,
            0,
            AblationMode::Mean,
            Some(&[0.0; 24])
        )
        .is_err()
    );
}

#[test]
fn labels_beyond_the_models_classes_are_an_error_naming_both_numbers() {
    use infer::{Predictor, report};
    // A 5-class model (as an import could give) on MNIST's labels 0..=9.
    let dir = common::random_artifact_dir_with_classes(&[32], 5);
    let p = Predictor::load(dir.path(), None, &burn::prelude::Device::flex()).expect("loads");
    let inputs = common::test_inputs(50);
    let labels = inputs.labels.clone().expect("labels");
    let expect = |e: anyhow::Error| {
        let m = e.to_string();
        assert!(m.contains("5 classes") && m.contains("label 7"), "{m}");
    };
    expect(
        ablate::sweep(&p, &inputs.pixels, &labels, AblationMode::Zero, None).expect_err("sweep"),
    );
    expect(ablate::groups(&p, &inputs.pixels, &labels, &[(0, vec![1])], None).expect_err("groups"));
    let table = model::MaskTable::all_on(&[32]);
    let predictions = p
        .predict(&inputs.pixels, &table, infer::BroadcastPath::Multiply)
        .expect("predicting needs no labels");
    expect(report::summarize(&inputs, &predictions, 0.0, "none".into()).expect_err("summary"));
}
