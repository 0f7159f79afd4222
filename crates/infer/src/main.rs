use std::io::BufReader;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
mod cli;

use cli::{Command, InferArgs};
use infer::{BroadcastPath, bench, interop, report, stream};

fn main() -> ExitCode {
    let args = InferArgs::parse();
    backend::cpu::flush_denormals();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: InferArgs) -> Result<()> {
    match args.command {
        Command::Predict(a) => {
            let predictor = a.model.load()?;
            let inputs = infer::InputSet::load(&a.input_source(), a.limit)?;
            let (table, description) = infer::masks(&a.mask_choice(), &predictor, inputs.len())?;
            let path = if a.multiply {
                BroadcastPath::Multiply
            } else {
                BroadcastPath::Compact
            };
            let predictions = predictor.predict(&inputs.pixels, &table, path)?;
            let summary = report::summarize(&inputs, &predictions, table.mean_off(), description)?;
            if let Some(out) = &a.output {
                report::write_rows(out, &inputs, &predictions, a.logits)?;
            }
            if a.json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                report::print_summary(&summary);
                if let Some(out) = &a.output {
                    println!("rows: {}", out.display());
                }
            }
        }
        Command::Stream(a) => {
            if a.pixel_scale != 255.0 && a.pixel_scale != 1.0 {
                anyhow::bail!("--pixel-scale {}: expected 255 or 1", a.pixel_scale);
            }
            let predictor = a.model.load()?;
            let input = Box::new(BufReader::new(std::io::stdin()));
            let mut out = std::io::stdout().lock();
            let stats = stream::run(&predictor, input, &mut out, a.pixel_scale)?;
            eprintln!(
                "stream: {} answered, {} error line(s), {} batch(es)",
                stats.answered, stats.errors, stats.batches
            );
        }
        Command::Ablate(a) => ablate(&a)?,
        Command::Serve(a) => serve(&a)?,
        Command::Neurons(a) => neurons(&a)?,
        Command::Circuit(a) => circuit(&a)?,
        Command::Bench(a) => {
            let mut predictor = a.model.load()?;
            if let Some(engine) = a.engine {
                predictor.set_engine(engine)?;
            }
            let mut inputs = infer::InputSet::mnist_test(a.data_dir.as_deref())?;
            if let Some(n) = a.limit {
                inputs.truncate(n);
            }
            let device = format!("{:?}", predictor.device);
            let figures = bench::run(&predictor, &inputs, a.repeats, &device)?;
            if a.json {
                println!("{}", serde_json::to_string(&figures)?);
            } else {
                bench::print(&figures);
            }
        }
        Command::Export(a) => {
            let predictor = a.model.load()?;
            interop::export(&predictor.model, &a.output)?;
            println!("wrote {}", a.output.display());
        }
        Command::Import(a) => {
            let device = backend::select(a.device)?.device;
            let (config, model) = interop::import(&a.input, &device)?;
            interop::write_artifact_dir(&a.artifact_dir, config.clone(), &model)?;
            println!(
                "imported {} into {}",
                config.describe(),
                a.artifact_dir.display()
            );
        }
    }
    Ok(())
}

fn ablate(a: &cli::AblateArgs) -> Result<()> {
    use infer::ablate::{self, AblationMode};
    let predictor = a.model.load()?;
    let inputs = infer::InputSet::load(&a.input_source(), a.limit)?;
    let labels = inputs
        .labels
        .clone()
        .ok_or_else(|| anyhow::anyhow!("ablation needs labels: pass --labels with --images"))?;
    let means = match a.mode {
        AblationMode::Zero => None,
        AblationMode::Mean => Some(ablate::cached_means(
            &predictor,
            &a.model.artifact_dir,
            || {
                let source = data::MnistSource::resolve(a.data_dir.as_deref());
                let train = source.load(data::Split::Train)?;
                Ok(infer::InputSet::from_split(&train, String::new()).pixels)
            },
        )?),
    };
    let request = ablate::StudyRequest {
        layer: a.layer,
        mode: a.mode,
        groups: a.groups.clone(),
        cumulative: a.cumulative.is_some(),
    };
    let study = ablate::study(
        &predictor,
        &inputs.pixels,
        &labels,
        &request,
        means.as_deref(),
    )?;
    if let Some(out) = &a.output {
        ablate::write_csv(out, &study.ablation)?;
    }
    if let Some(plot) = &a.plot {
        infer::plots::draw_ablation(plot, &study.ablation, a.top)?;
        infer::plots::draw_per_class(&infer::plots::per_class_path(plot), &study.ablation, a.top)?;
    }
    if let (Some(curve), Some(path)) = (&study.cumulative, &a.cumulative) {
        infer::plots::draw_pruning_curve(path, curve)?;
    }
    if a.json {
        let json = serde_json::json!({
            "ablation": study.ablation,
            "groups": study.groups,
            "cumulative": study.cumulative,
        });
        println!("{json}");
    } else {
        print_study(a, &study, &inputs.origin);
    }
    Ok(())
}

/// The terminal report of `infer ablate`.
fn print_study(a: &cli::AblateArgs, study: &infer::ablate::Study, origin: &str) {
    let result = &study.ablation;
    println!(
        "{} inputs ({}); intact model: accuracy {:.2}%, loss {:.4}",
        result.inputs,
        origin,
        result.baseline_accuracy * 100.0,
        result.baseline_loss
    );
    println!(
        "swept {} neurons of hidden layer {} ({:?} mode) in {:.2}s",
        result.effects.len(),
        study.layer,
        a.mode,
        study.sweep_seconds
    );
    println!(
        "{:>4}  {:>6}  {:>9}  {:>9}  {:>8}  {:>8}",
        "rank", "neuron", "accuracy", "Δaccuracy", "loss", "Δloss"
    );
    for e in infer::ablate::top(result, a.top) {
        println!(
            "{:>4}  {:>6}  {:>8.2}%  {:>+8.2}%  {:>8.4}  {:>+8.4}",
            e.rank,
            e.neuron,
            e.accuracy * 100.0,
            e.delta_accuracy * 100.0,
            e.loss,
            e.delta_loss
        );
    }
    if let Some(out) = &a.output {
        println!("all neurons: {}", out.display());
    }
    if let Some(plot) = &a.plot {
        let per_class = infer::plots::per_class_path(plot);
        println!("plots: {} and {}", plot.display(), per_class.display());
    }
    for g in study.groups.iter().flatten() {
        println!(
            "group (line {}, {} neurons): accuracy {:.2}% ({:+.2}%), loss {:.4} ({:+.4})",
            g.line,
            g.neurons.len(),
            g.accuracy * 100.0,
            g.delta_accuracy * 100.0,
            g.loss,
            g.delta_loss
        );
    }
    if let (Some(curve), Some(path)) = (&study.cumulative, &a.cumulative) {
        println!(
            "pruning: {} of {} neurons can be switched off (least important first) with accuracy within 1 point of {:.2}%; curve: {}",
            curve.removable_within_1pp,
            curve.accuracy.len() - 1,
            curve.accuracy[0] * 100.0,
            path.display()
        );
    }
}

fn neurons(a: &cli::NeuronsArgs) -> Result<()> {
    let predictor = a.model.load()?;
    infer::atlas::check_layer(&predictor, a.layer)?;
    let source = infer::InputSource::TestSet {
        data_dir: a.data_dir.clone(),
    };
    let inputs = infer::InputSet::load(&source, a.limit)?;
    let atlas = infer::atlas::atlas(
        &predictor,
        &inputs.pixels,
        inputs.labels.as_deref(),
        a.layer,
        a.top,
        &inputs.origin,
    )?;
    if let Some(plot) = &a.plot {
        infer::plots::draw_atlas(plot, &atlas)?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&atlas)?);
        return Ok(());
    }
    println!(
        "hidden layer {}: {} neurons over {} inputs ({}); {} dead (zero on every input)",
        atlas.layer,
        atlas.neurons.len(),
        atlas.inputs,
        atlas.origin,
        atlas.dead()
    );
    println!(
        "{:>6}  {:>6}  {:>7}  {:>9}  top {} inputs (activation)",
        "neuron", "zero", "mean", "favourite", a.top
    );
    for p in &atlas.neurons {
        let favourite =
            infer::atlas::preferred_class(p).map_or("-".to_string(), |c| format!("digit {c}"));
        let top: Vec<String> = p
            .top_images
            .iter()
            .zip(&p.top_activations)
            .map(|(i, v)| format!("{i} ({v:.2})"))
            .collect();
        println!(
            "{:>6}  {:>5.1}%  {:>7.3}  {:>9}  {}",
            p.neuron,
            p.zero_fraction * 100.0,
            p.mean,
            favourite,
            top.join(" ")
        );
    }
    if let Some(plot) = &a.plot {
        println!("receptive fields: {}", plot.display());
    }
    Ok(())
}

fn circuit(a: &cli::CircuitArgs) -> Result<()> {
    use infer::circuit::{self, Task, TestSet, TrainingSet};
    circuit::check_keep(a.keep_accuracy)?;
    let predictor = a.model.load()?;
    let classes = predictor.config.model.num_classes;
    if let Some(c) = a.class {
        circuit::check_class(c, classes)?;
    }
    let circuits = data::ArtifactDir::new(&a.model.artifact_dir)
        .root()
        .join("circuits");
    let output = match (&a.output, a.class, a.all_classes) {
        (Some(path), _, _) => path.clone(),
        (None, _, true) => circuits.clone(),
        (None, Some(c), false) => circuits.join(format!("digit-{c}.jsonl")),
        (None, None, false) => circuits.join("task.jsonl"),
    };
    if !a.all_classes {
        data::mask_files::check_written_type(&output)?;
    }
    let source = data::MnistSource::resolve(a.data_dir.as_deref());
    let train = infer::InputSet::from_split(&source.load(data::Split::Train)?, String::new());
    let test = infer::InputSet::from_split(&source.load(data::Split::Test)?, source.describe());
    let labels = test
        .labels
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the test set has no labels"))?;
    let test_set = TestSet {
        pixels: &test.pixels,
        labels: &labels,
    };
    let training = TrainingSet::new(&predictor, &train)?;
    let settings = a.settings();
    let hidden = predictor.hidden().to_vec();
    if a.all_classes {
        let set = circuit::learn_all_classes(&predictor, &training, test_set, &settings, |c| {
            if !a.json {
                print_circuit(c, None);
            }
        })?;
        std::fs::create_dir_all(&output)
            .map_err(|e| anyhow::anyhow!("--output {}: {e}", output.display()))?;
        for found in &set.circuits {
            let c = found.class().unwrap_or_default();
            let path = output.join(format!("digit-{c}.jsonl"));
            data::mask_files::write_keep_row(&path, &hidden, &found.keep_row(&hidden))?;
        }
        let plot = a.plot.clone().unwrap_or_else(|| output.join("overlap.png"));
        infer::plots::draw_overlap(&plot, &set)?;
        if a.json {
            println!("{}", serde_json::to_string(&set)?);
        } else {
            println!(
                "{} of {} neurons no digit needs; masks: {}/digit-D.jsonl; overlap: {} ({:.1}s in all)",
                set.needed_by_none,
                set.circuits.first().map_or(0, |c| c.width),
                output.display(),
                plot.display(),
                set.seconds
            );
        }
        return Ok(());
    }
    let task = a.class.map_or(Task::Accuracy, Task::ClassF1);
    let found = circuit::learn(&predictor, &training, test_set, task, &settings)?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("--output {}: {e}", output.display()))?;
    }
    data::mask_files::write_keep_row(&output, &hidden, &found.keep_row(&hidden))?;
    if a.json {
        println!("{}", serde_json::to_string(&found)?);
    } else {
        print_circuit(&found, Some(&output));
    }
    Ok(())
}

/// The terminal report of one learned mask.
fn print_circuit(c: &infer::circuit::Circuit, written: Option<&std::path::Path>) {
    println!(
        "{}: {} of {} neurons kept; {} {:.2}% (intact {:.2}%, asked >= {:.2}% = {:.1}% of it); \
         accuracy {:.2}%; {:.1}s",
        c.class()
            .map_or("whole task".to_string(), |d| format!("digit {d}")),
        c.kept.len(),
        c.width,
        c.figure_name,
        c.figure * 100.0,
        c.intact * 100.0,
        c.required * 100.0,
        c.keep_fraction * 100.0,
        c.accuracy * 100.0,
        c.seconds
    );
    let per_class: Vec<String> = c
        .accuracy_per_class
        .iter()
        .enumerate()
        .map(|(d, a)| a.map_or(format!("{d}: -"), |a| format!("{d}: {:.1}%", a * 100.0)))
        .collect();
    println!("  per class: {}", per_class.join("  "));
    let tried: Vec<String> = c
        .tried
        .iter()
        .map(|t| {
            format!(
                "penalty {}: threshold kept {} ({:.2}%), adjusted {}",
                t.penalty,
                t.thresholded,
                t.thresholded_figure * 100.0,
                t.kept
            )
        })
        .collect();
    println!("  gates: {}", tried.join("; "));
    if let Some(g) = &c.greedy {
        println!(
            "  greedy order of ablate --cumulative: {} neurons ({:.2}%)",
            g.kept,
            g.figure * 100.0
        );
    }
    if let Some(g) = &c.greedy_own {
        println!(
            "  greedy order by the digit's own F1: {} neurons ({:.2}%)",
            g.kept,
            g.figure * 100.0
        );
    }
    if let Some(path) = written {
        println!("  mask: {}", path.display());
    }
}

fn serve(a: &cli::ServeArgs) -> Result<()> {
    use infer::serve::{self, Explorer, ServeOptions};
    let listener = serve::bind(a.host, a.port)?;
    let predictor = a.model.load()?;
    let options = ServeOptions {
        test_set: Some(data::MnistSource::resolve(a.data_dir.as_deref())),
        ablation: a.ablation.clone(),
        circuits: a.circuits.clone(),
    };
    let explorer = Explorer::new(predictor, &a.model.artifact_dir, &options)?;
    let addr = listener.local_addr()?;
    println!("neuron explorer: http://{addr}/  ({})", explorer.describe());
    println!("Ctrl-C stops it.");
    std::io::Write::flush(&mut std::io::stdout())?;
    serve::serve(listener, explorer)
}
