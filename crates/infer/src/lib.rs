//! `infer`: load a trained masked MLP and answer each input with its own hidden neurons off.
//!
//! The library is what the binary runs: [`Predictor`] loads an artifact directory and
//! predicts batches with a [`model::MaskTable`] (one mask row per input, or one for all).

pub mod ablate;
pub mod bench;
pub mod cli;
pub mod inputs;
pub mod interop;
pub mod plots;
pub mod predictor;
pub mod report;
pub mod serve;
pub mod sparse;
pub mod stream;

use anyhow::{Result, bail};
use model::{MaskTable, parse_neuron_list};

pub use inputs::InputSet;
pub use predictor::{BroadcastPath, Engine, Predictions, Predictor};

use crate::cli::{ModelArgs, PredictArgs};

/// Start the backend and load the model the flags name.
pub fn load(args: &ModelArgs) -> Result<Predictor> {
    let selected = backend::select(args.device)?;
    if let Some(notice) = &selected.notice {
        eprintln!("{notice}");
    }
    Predictor::load(
        &args.artifact_dir,
        args.checkpoint.as_deref(),
        &selected.device,
    )
}

/// The inputs the flags name: PNGs, an IDX file, or the MNIST test set.
pub fn inputs(args: &PredictArgs) -> Result<InputSet> {
    let mut set = if !args.pngs.is_empty() {
        InputSet::pngs(&args.pngs, args.invert)
    } else if let Some(images) = &args.images {
        InputSet::idx(images, args.labels.as_deref())
    } else {
        InputSet::mnist_test(args.data_dir.as_deref())
    }?;
    if let Some(n) = args.limit {
        set.truncate(n);
    }
    Ok(set)
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

/// The mask table the flags name for `n` inputs, and a description of it.
pub fn masks(args: &PredictArgs, predictor: &Predictor, n: usize) -> Result<(MaskTable, String)> {
    let hidden = predictor.hidden();
    let table = if let Some(list) = &args.off {
        let off = parse_neuron_list(list, hidden, "--off")?;
        (
            MaskTable::broadcast_off(hidden, &off),
            format!("--off {list}"),
        )
    } else if let Some(list) = &args.keep_only {
        let keep = parse_neuron_list(list, hidden, "--keep-only")?;
        (
            MaskTable::broadcast_keep_only(hidden, &keep),
            describe_list("--keep-only", list),
        )
    } else if let Some(path) = &args.mask_file {
        let table = MaskTable::read_file(path, hidden, args.mask_semantics, n)?;
        table.check_inputs(n, &path.display().to_string())?;
        let what = if table.is_broadcast() {
            "one row for all inputs"
        } else {
            "one row per input"
        };
        (table, format!("{} ({what})", path.display()))
    } else if let Some(p) = args.random_off {
        (
            MaskTable::random_off(hidden, n, p, args.seed)?,
            format!("random, each neuron off with p = {p} (seed {})", args.seed),
        )
    } else if args.no_train_mask {
        (MaskTable::all_on(hidden), "none".into())
    } else {
        let table = predictor.default_masks();
        let what = if table.mean_off() > 0.0 {
            "the fixed training mask from config.json"
        } else {
            "none"
        };
        (table, what.into())
    };
    if n == 0 {
        bail!("no inputs to predict");
    }
    Ok(table)
}
