use std::io::BufReader;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use infer::cli::{Command, InferArgs};
use infer::{BroadcastPath, interop, report, stream};

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
            let predictor = infer::load(&a.model)?;
            let inputs = infer::inputs(&a)?;
            let (table, description) = infer::masks(&a, &predictor, inputs.len())?;
            let path = if a.multiply {
                BroadcastPath::Multiply
            } else {
                BroadcastPath::Compact
            };
            let predictions = predictor.predict(&inputs.pixels, &table, path)?;
            if let Some(out) = &a.output {
                report::write_rows(out, &inputs, &predictions, a.logits)?;
            }
            let summary = report::summarize(&inputs, &predictions, table.mean_off(), description);
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
            let predictor = infer::load(&a.model)?;
            let input = Box::new(BufReader::new(std::io::stdin()));
            let mut out = std::io::stdout().lock();
            let stats = stream::run(&predictor, input, &mut out, a.pixel_scale)?;
            eprintln!(
                "stream: {} answered, {} error line(s), {} batch(es)",
                stats.answered, stats.errors, stats.batches
            );
        }
        Command::Export(a) => {
            let predictor = infer::load(&a.model)?;
            interop::export(&predictor.model, &a.output)?;
            println!("wrote {}", a.output.display());
        }
        Command::Import(a) => {
            let device = backend::select(a.device)?.device;
            let (config, model) = interop::import(&a.input, &device)?;
            interop::write_artifact_dir(&a.artifact_dir, config.clone(), &model)?;
            println!(
                "imported 784 -> {:?} -> {} into {}",
                config.hidden,
                config.num_classes,
                a.artifact_dir.display()
            );
        }
    }
    Ok(())
}
