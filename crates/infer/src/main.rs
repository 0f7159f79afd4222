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

fn serve(a: &cli::ServeArgs) -> Result<()> {
    use infer::serve::{self, Explorer, ServeOptions};
    let listener = serve::bind(a.host, a.port)?;
    let predictor = a.model.load()?;
    let options = ServeOptions {
        test_set: Some(data::MnistSource::resolve(a.data_dir.as_deref())),
        ablation: a.ablation.clone(),
    };
    let explorer = Explorer::new(predictor, &a.model.artifact_dir, &options)?;
    let addr = listener.local_addr()?;
    println!("neuron explorer: http://{addr}/  ({})", explorer.describe());
    println!("Ctrl-C stops it.");
    std::io::Write::flush(&mut std::io::stdout())?;
    serve::serve(listener, explorer)
}
