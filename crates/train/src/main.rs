use std::process::ExitCode;

use clap::Parser;
use train::TrainArgs;

fn main() -> ExitCode {
    let args = TrainArgs::parse();
    backend::cpu::flush_denormals();
    match train::run(&args) {
        Ok(outcome) => {
            let s = &outcome.summary;
            if args.json {
                match serde_json::to_string(s) {
                    Ok(json) => println!("{json}"),
                    Err(e) => eprintln!("error: cannot encode the summary: {e}"),
                }
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
