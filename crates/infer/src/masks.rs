//! Which mask a prediction runs with: the plain choice a caller makes (neurons to switch off,
//! a file, random lesions, the training default) turned into a [`MaskTable`] for `n` inputs.

use std::path::PathBuf;

use anyhow::{Result, bail};
use model::{MaskSemantics, MaskTable, parse_neuron_list};

use crate::Predictor;

/// The mask for a batch of inputs, as a caller names it.
#[derive(Debug, Clone, PartialEq)]
pub enum MaskChoice {
    /// These neurons off for every input: `3,17,42`, or `layer:index` in deeper nets.
    Off(String),
    /// Only these neurons on, for every input.
    KeepOnly(String),
    /// One row per input, or one for all, from a .csv, .npy or .jsonl file.
    File {
        path: PathBuf,
        semantics: MaskSemantics,
    },
    /// A fresh random mask per input, each neuron off with probability `p`.
    RandomOff { p: f64, seed: u64 },
    /// Every neuron on, ignoring a training mask recorded in `config.json`.
    AllOn,
    /// The model's default: the fixed training mask from `config.json`, if any.
    TrainingDefault,
}

/// Shorten a long neuron list for the summary line.
fn describe_list(flag: &str, list: &str) -> String {
    if list.len() <= 40 {
        format!("{flag} {list}")
    } else {
        let count = list.split(',').filter(|t| !t.trim().is_empty()).count();
        format!("{flag} ({count} neurons)")
    }
}

/// The mask table `choice` names for `n` inputs, and a description of it for the summary.
pub fn masks(choice: &MaskChoice, predictor: &Predictor, n: usize) -> Result<(MaskTable, String)> {
    let hidden = predictor.hidden();
    let table = match choice {
        MaskChoice::Off(list) => {
            let off = parse_neuron_list(list, hidden, "--off")?;
            (
                MaskTable::broadcast_off(hidden, &off),
                format!("--off {list}"),
            )
        }
        MaskChoice::KeepOnly(list) => {
            let keep = parse_neuron_list(list, hidden, "--keep-only")?;
            (
                MaskTable::broadcast_keep_only(hidden, &keep),
                describe_list("--keep-only", list),
            )
        }
        MaskChoice::File { path, semantics } => {
            let table = data::mask_files::read(path, hidden, *semantics, n)?;
            table.check_inputs(n, &path.display().to_string())?;
            let what = if table.is_broadcast() {
                "one row for all inputs"
            } else {
                "one row per input"
            };
            (table, format!("{} ({what})", path.display()))
        }
        MaskChoice::RandomOff { p, seed } => (
            MaskTable::random_off(hidden, n, *p, *seed)?,
            format!("random, each neuron off with p = {p} (seed {seed})"),
        ),
        MaskChoice::AllOn => (MaskTable::all_on(hidden), "none".into()),
        MaskChoice::TrainingDefault => {
            let table = predictor.default_masks();
            let what = if table.mean_off() > 0.0 {
                "the fixed training mask from config.json"
            } else {
                "none"
            };
            (table, what.into())
        }
    };
    if n == 0 {
        bail!("no inputs to predict");
    }
    Ok(table)
}
