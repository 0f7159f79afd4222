//! `train`: flags -> [`train::resolve_config`] and [`train::run`] -> printing.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::TrainArgs;

fn main() -> ExitCode {
    let args = TrainArgs::parse();
    backend::cpu::flush_denormals();
    let outcome =
        train::resolve_config(&args.config_base(), &args.overrides()).and_then(|config| {
            let data = data::MnistSource::resolve(args.data_dir.as_deref());
            train::run(&config, &data, &args.run_options())
        });
    match outcome {
        Ok(outcome) => {
            let s = &outcome.summary;
            if args.json {
                // The summary plus where it was written, as the last line of stdout.
                let json = serde_json::to_value(s).map(|mut v| {
                    v["artifact_dir"] = outcome.artifacts.root().display().to_string().into();
                    v
                });
                match json {
                    Ok(json) => println!("{json}"),
                    Err(e) => {
                        eprintln!("error: cannot encode the summary: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                return ExitCode::SUCCESS;
            } else {
                println!(
                    "test accuracy {:.2}%, test loss {:.4}, {:.0} training samples/s on {}",
                    s.test_accuracy * 100.0,
                    s.test_loss,
                    s.train_samples_per_second,
                    s.device
                );
            }
            println!("artifacts: {}", outcome.artifacts.root().display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
