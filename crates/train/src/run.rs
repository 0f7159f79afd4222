//! One training run, from a config, a data source and plain options to a complete artifact
//! directory; and the config a run uses, from its base and the caller's overrides.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use backend::{DeviceChoice, SelectedDevice};
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::renderer::{MetricsRenderer, default_renderer};
use burn::train::{ExecutionStrategy, Interrupter, Learner, MultiDeviceOptim, SupervisedTraining};
use data::ArtifactDir;
use data::artifact::{load_config, remove_partial_files, save_config, save_model, write_atomic};
use data::{EpochLoader, IndexDataset, MnistBatcher, MnistSource, MnistSplit, Split};
use model::{
    ExperimentConfig, MaskPolicy, MaskSemantics, MaskedBatch, MaskedMlp, TrainingSummary,
    parse_neuron_list,
};

use crate::checkpoint::AtomicCheckpointer;
use crate::divergence::{Divergence, DivergenceGuard};
use crate::progress::{LineRenderer, SplitClock, SplitTimes};
use crate::report;

/// The seed's configuration, compiled in from `configs/mnist-mlp.json` so the file and the
/// default cannot drift apart.
pub const SEED_CONFIG_JSON: &str = include_str!("../../../configs/mnist-mlp.json");
const SEED_CONFIG_NAME: &str = "mnist-mlp";
/// Validation batches are larger: no gradients, so memory is not the limit.
const EVAL_BATCH: usize = 1024;

/// Where a run's config starts from, before the overrides.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigBase {
    /// The seed's run, `configs/mnist-mlp.json` (compiled in).
    Seed,
    /// A Burn Config JSON file such as `configs/mnist-mlp-quick.json`.
    File(PathBuf),
    /// The `config.json` of the run being resumed in this artifact directory.
    Resume(ArtifactDir),
}

/// A fixed or random training mask, as the caller names it.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainMaskChoice {
    /// These neurons off for every sample: `3,17,42` or `1:42`.
    Off(String),
    /// A one-row mask file (.csv, .npy, .jsonl/.json).
    File {
        path: PathBuf,
        semantics: MaskSemantics,
    },
    /// A fresh random mask per sample, each neuron off with probability `p`, no rescaling.
    LesionProb(f64),
}

/// Values that replace the base config's fields (`None`: keep the base's). Errors name them as
/// the `train` flags do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigOverrides {
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub seed: Option<u64>,
    pub hidden: Option<Vec<usize>>,
    pub limit_train: Option<usize>,
    pub limit_test: Option<usize>,
    pub train_mask: Option<TrainMaskChoice>,
}

/// The base config and the file it came from (for messages).
fn base_config(base: &ConfigBase) -> Result<(ExperimentConfig, PathBuf)> {
    Ok(match base {
        ConfigBase::Resume(artifacts) => {
            let path = artifacts.config();
            if !path.is_file() {
                bail!(
                    "--resume: {} does not exist; nothing to resume in {} (run without --resume to start)",
                    path.display(),
                    artifacts.root().display()
                );
            }
            (load_config::<ExperimentConfig>(&path)?, path)
        }
        ConfigBase::File(path) => (load_config::<ExperimentConfig>(path)?, path.clone()),
        ConfigBase::Seed => {
            let config = serde_json::from_str::<ExperimentConfig>(SEED_CONFIG_JSON)
                .context("the built-in configs/mnist-mlp.json is invalid")?;
            (config, PathBuf::from("configs/mnist-mlp.json"))
        }
    })
}

/// The config a run uses: `base` with `overrides` applied on top, validated.
pub fn resolve_config(base: &ConfigBase, overrides: &ConfigOverrides) -> Result<ExperimentConfig> {
    let resume = matches!(base, ConfigBase::Resume(_));
    let (mut config, origin) = base_config(base)?;
    let o = overrides;
    // Override values are checked here, so that the error names the flag rather than the file.
    for (flag, value) in [("--epochs", o.epochs), ("--batch-size", o.batch_size)] {
        if value == Some(0) {
            bail!("{flag} 0: expected at least 1");
        }
    }
    if let Some(v) = o.learning_rate
        && !(v.is_finite() && v > 0.0)
    {
        bail!("--lr {v}: expected a positive number, e.g. 0.001");
    }
    if let Some(v) = o.epochs {
        config.epochs = v;
    }
    if let Some(v) = o.batch_size {
        config.batch_size = v;
    }
    if let Some(v) = o.learning_rate {
        config.learning_rate = v;
    }
    if let Some(v) = o.seed {
        config.seed = v;
    }
    if let Some(v) = o.limit_train {
        config.limit_train = Some(v);
    }
    if let Some(v) = o.limit_test {
        config.limit_test = Some(v);
    }
    if let Some(hidden) = &o.hidden {
        if resume && *hidden != config.model.hidden {
            bail!(
                "--hidden {hidden:?}: the run being resumed has hidden layers {:?} (from {}); \
                 start a new run in another --artifact-dir to change the network",
                config.model.hidden,
                origin.display()
            );
        }
        config.model.hidden = hidden.clone();
    }
    if let Some(choice) = &o.train_mask {
        config.train_mask = train_mask_policy(choice, &config)?;
    }
    config
        .validate()
        .with_context(|| format!("config from {}", origin.display()))?;
    Ok(config)
}

/// The training-mask policy `choice` names for the network `config` describes.
fn train_mask_policy(choice: &TrainMaskChoice, config: &ExperimentConfig) -> Result<MaskPolicy> {
    let hidden = &config.model.hidden;
    Ok(match choice {
        TrainMaskChoice::Off(list) => MaskPolicy::Fixed {
            off: parse_neuron_list(list, hidden, "--train-off")?,
        },
        TrainMaskChoice::File { path, semantics } => {
            let table = data::mask_files::read(path, hidden, *semantics, 1)?;
            if !table.is_broadcast() {
                bail!(
                    "--train-mask {}: {} rows; a fixed training mask is a single row (the same for every sample)",
                    path.display(),
                    table.rows()
                );
            }
            MaskPolicy::Fixed {
                off: table.off_per_layer(),
            }
        }
        TrainMaskChoice::LesionProb(p) => MaskPolicy::RandomOff {
            p: *p,
            seed: config.seed,
        },
    })
}

/// Default artifact directory: `artifacts/<config file stem>` (`artifacts/mnist-mlp` for the
/// seed's run).
pub fn default_artifact_dir(config_file: Option<&Path>) -> PathBuf {
    let name = config_file
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| SEED_CONFIG_NAME.into());
    PathBuf::from("artifacts").join(name)
}

/// Which devices train: one backend, or several for data-parallel training.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Devices {
    One(DeviceChoice),
    /// Device names such as `cuda:0,cuda:1` or `flex,flex`.
    Many(Vec<String>),
}

/// How a run goes, beside its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Where weights, checkpoints, metrics and curves go.
    pub artifact_dir: PathBuf,
    pub devices: Devices,
    /// Continue the run in `artifact_dir` (its last complete checkpoint, or epoch 1).
    pub resume: bool,
    /// Replace an earlier run in `artifact_dir`.
    pub overwrite: bool,
    /// Data-loader worker threads (0: batches are built on the training thread).
    pub workers: usize,
}

impl RunOptions {
    /// A fresh run in `artifact_dir` on the device `auto` picks.
    pub fn new(artifact_dir: impl Into<PathBuf>) -> Self {
        Self {
            artifact_dir: artifact_dir.into(),
            devices: Devices::One(DeviceChoice::Auto),
            resume: false,
            overwrite: false,
            workers: 0,
        }
    }
}

/// Refuse to mix a new run into an old one's files, unless asked to replace them.
fn prepare_dir(artifacts: &ArtifactDir, options: &RunOptions) -> Result<()> {
    let root = artifacts.root();
    // A config.json alone is a run that stopped before its first checkpoint: nothing to lose.
    let earlier = artifacts.checkpoints().exists() || artifacts.model().exists();
    if !earlier && !options.resume && artifacts.config().exists() {
        println!(
            "{}: replacing a run that stopped before its first checkpoint",
            root.display()
        );
        clear_outputs(artifacts)?;
    }
    if earlier && !options.resume {
        if !options.overwrite {
            bail!(
                "{} already holds a run; pass --resume to continue it, --overwrite to replace it, \
                 or choose another --artifact-dir",
                root.display()
            );
        }
        clear_outputs(artifacts)?;
    }
    std::fs::create_dir_all(root).with_context(|| format!("{}: cannot create", root.display()))?;
    Ok(())
}

/// Remove what a run writes (checkpoints, metric logs, model, summary, curves), keeping
/// `config.json`.
fn clear_outputs(artifacts: &ArtifactDir) -> Result<()> {
    let root = artifacts.root();
    for sub in [ArtifactDir::CHECKPOINTS, "train", "valid"] {
        let path = root.join(sub);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("{}: cannot remove", path.display()))?;
        }
    }
    for file in [
        ArtifactDir::MODEL,
        ArtifactDir::SUMMARY,
        ArtifactDir::METRICS,
        ArtifactDir::CURVES,
    ] {
        let _ = std::fs::remove_file(root.join(file));
    }
    Ok(())
}

/// The epoch `--resume` continues from: the last complete checkpoint, or none when the run
/// was stopped before its first one (then it starts at epoch 1 with the recorded config).
fn resume_point(artifacts: &ArtifactDir) -> Result<Option<usize>> {
    match artifacts.last_complete_checkpoint() {
        Some(last) => {
            check_checkpoint(artifacts, last)?;
            println!("resume: continuing after checkpoint {last}");
            Ok(Some(last))
        }
        None => {
            println!(
                "resume: {} holds no complete checkpoint yet (the run stopped before epoch 1 \
                 ended): starting at epoch 1 with the recorded config",
                artifacts.checkpoints().display()
            );
            clear_outputs(artifacts)?;
            Ok(None)
        }
    }
}

/// Everything a finished run reports.
#[derive(Debug)]
pub struct RunOutcome {
    pub summary: TrainingSummary,
    pub artifacts: ArtifactDir,
}

/// Train `config` on `data` as `options` say and write the complete artifact directory.
/// `config` is validated again here; on resume it should be what [`resolve_config`] gave for
/// [`ConfigBase::Resume`].
pub fn run(
    config: &ExperimentConfig,
    data: &MnistSource,
    options: &RunOptions,
) -> Result<RunOutcome> {
    let started = Instant::now();
    config.validate().context("config")?;
    let artifacts = ArtifactDir::new(&options.artifact_dir);
    prepare_dir(&artifacts, options)?;
    println!("artifacts: {}", artifacts.root().display());
    let resume_from = if options.resume {
        resume_point(&artifacts)?
    } else {
        None
    };
    // Debris of a run killed mid-write (the finished files themselves are always whole).
    for dir in [artifacts.root().to_path_buf(), artifacts.checkpoints()] {
        remove_partial_files(&dir)
            .with_context(|| format!("{}: cannot clear temporary files", dir.display()))?;
    }

    let devices = match &options.devices {
        Devices::Many(specs) => backend::select_many(specs)?,
        Devices::One(choice) => vec![backend::select(*choice)?],
    };
    let selected = devices[0].clone();
    if let Some(notice) = &selected.notice {
        println!("{notice}");
    }
    let names: Vec<&str> = devices.iter().map(|d| d.description.as_str()).collect();
    println!("device: {}", names.join(", "));
    // Recorded before anything slow, so that a run killed at any later moment can --resume.
    save_config(config, &artifacts.config())?;

    let (train_split, test_split) = load_splits(config, data)?;

    let times = Arc::new(Mutex::new(SplitTimes::default()));
    let trained = match resume_from {
        Some(last) if last >= config.epochs => {
            println!(
                "checkpoint {last} already covers the {} requested epoch(s); nothing to train",
                config.epochs
            );
            load_checkpoint(config, &artifacts, last, &selected.device)?
        }
        _ => fit(
            config,
            &devices,
            options.workers,
            &artifacts,
            &train_split,
            &test_split,
            resume_from,
            times.clone(),
        )?,
    };

    save_model(&trained, &artifacts.model())?;
    let (test_loss, test_accuracy) = evaluate(&trained, config, &test_split, &selected.device)?;

    let times = times.lock().map(|t| t.clone()).unwrap_or_default();
    let rows = report::collect_metrics(&artifacts, config.epochs, &times);
    report::write_metrics_csv(&artifacts.metrics(), &rows)?;
    report::draw_curves(&artifacts.curves(), &rows)
        .map_err(|e| anyhow::anyhow!("{}: cannot draw: {e}", artifacts.curves().display()))?;
    let summary = summarize(
        config,
        &times,
        train_split.len(),
        (test_loss, test_accuracy),
        &selected.description,
        started,
    );
    let json = serde_json::to_string_pretty(&summary)?;
    write_atomic(&artifacts.summary(), json.as_bytes())?;
    Ok(RunOutcome { summary, artifacts })
}

/// The run's splits, limited as the config says, announced on stdout with the model.
fn load_splits(config: &ExperimentConfig, data: &MnistSource) -> Result<(MnistSplit, MnistSplit)> {
    let mut train_split = data.load(Split::Train)?;
    let mut test_split = data.load(Split::Test)?;
    if let Some(n) = config.limit_train {
        train_split = train_split.truncated(n);
    }
    if let Some(n) = config.limit_test {
        test_split = test_split.truncated(n);
    }
    println!(
        "data: {} ({} training, {} test images)",
        data.describe(),
        train_split.len(),
        test_split.len()
    );
    println!(
        "model: {}, Adam lr {}, batch {}, {} epoch(s), seed {}, training mask: {}",
        config.model.describe(),
        config.learning_rate,
        config.batch_size,
        config.epochs,
        config.seed,
        describe_policy(&config.train_mask)
    );
    Ok((train_split, test_split))
}

/// The weights of checkpoint `epoch`, when it already covers every requested epoch.
fn load_checkpoint(
    config: &ExperimentConfig,
    artifacts: &ArtifactDir,
    epoch: usize,
    device: &Device,
) -> Result<MaskedMlp> {
    let path = artifacts.checkpoint_model(epoch);
    let record =
        ModuleRecord::load(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    config
        .model
        .init(device)
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// `summary.json`'s figures.
fn summarize(
    config: &ExperimentConfig,
    times: &SplitTimes,
    train_samples: usize,
    (test_loss, test_accuracy): (f64, f64),
    device: &str,
    started: Instant,
) -> TrainingSummary {
    let epoch_seconds: Vec<f64> = (1..=config.epochs)
        .filter_map(|e| times.seconds(e, "train"))
        .collect();
    let trained_images = epoch_seconds.len() * train_samples;
    let train_secs: f64 = epoch_seconds.iter().sum();
    TrainingSummary {
        test_accuracy,
        test_loss,
        epochs: config.epochs,
        epoch_seconds,
        device: device.to_string(),
        train_samples,
        train_samples_per_second: if train_secs > 0.0 {
            trained_images as f64 / train_secs
        } else {
            0.0
        },
        total_seconds: started.elapsed().as_secs_f64(),
    }
}

fn describe_policy(policy: &MaskPolicy) -> String {
    match policy {
        MaskPolicy::None => "none".into(),
        MaskPolicy::Fixed { off } => {
            let parts: Vec<String> = off
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.is_empty())
                .map(|(layer, l)| format!("layer {layer}: {} neuron(s) off", l.len()))
                .collect();
            if parts.is_empty() {
                "none".into()
            } else {
                format!("fixed ({})", parts.join(", "))
            }
        }
        MaskPolicy::RandomOff { p, .. } => {
            format!("random lesions, each neuron off with p = {p}, no rescaling")
        }
    }
}

/// Decode all three files of the checkpoint first: the Learner panics on a damaged one.
fn check_checkpoint(artifacts: &ArtifactDir, epoch: usize) -> Result<()> {
    let dir = artifacts.checkpoints();
    AtomicCheckpointer::new(&dir, "model")
        .check::<ModuleRecord>(epoch)
        .and_then(|_| {
            AtomicCheckpointer::new(&dir, "optim").check::<burn::optim::OptimizerRecord>(epoch)
        })
        .and_then(|_| {
            AtomicCheckpointer::new(&dir, "scheduler")
                .check::<burn::lr_scheduler::LrSchedulerRecord>(epoch)
        })
        .map_err(|e| anyhow::anyhow!("--resume: checkpoint {epoch} is unreadable: {e}"))
}

/// What the run shows while it trains: Burn's dashboard on a terminal (with the `tui`
/// feature), plain lines elsewhere; either way watched by the divergence guard, which stops
/// the run through `interrupter` and records why in `diverged`.
fn screen(
    interrupter: Interrupter,
    resume_from: Option<usize>,
    diverged: Arc<Mutex<Option<Divergence>>>,
) -> Box<dyn MetricsRenderer> {
    let screen: Box<dyn MetricsRenderer> =
        if cfg!(feature = "tui") && std::io::stdout().is_terminal() {
            default_renderer(interrupter.clone(), resume_from)
        } else {
            Box::new(LineRenderer::new(Duration::from_secs(2)))
        };
    Box::new(DivergenceGuard::new(screen, interrupter, diverged))
}

/// The training set's loader. Without worker threads, epoch e's order comes from (seed, e)
/// alone, so a resumed run trains on the batches an uninterrupted one would
/// (`data::EpochLoader`); with workers, Burn's threaded loader builds the batches and draws
/// its own orders.
fn training_loader(
    config: &ExperimentConfig,
    train_split: &MnistSplit,
    workers: usize,
    resume_from: Option<usize>,
    device: &Device,
) -> Arc<dyn DataLoader<MaskedBatch>> {
    let batcher = MnistBatcher::new(
        train_split.clone(),
        config.model.hidden.clone(),
        config.train_mask.clone(),
    );
    if workers == 0 {
        Arc::new(EpochLoader::new(
            batcher,
            train_split.len(),
            config.batch_size,
            config.seed,
            resume_from.unwrap_or(0),
            device.clone(),
        ))
    } else {
        DataLoaderBuilder::new(batcher)
            .batch_size(config.batch_size)
            .shuffle(config.seed)
            .num_workers(workers)
            .set_device(device.clone())
            .build(IndexDataset::of(train_split))
    }
}

#[allow(clippy::too_many_arguments)] // the run's parts, passed once from `run`
fn fit(
    config: &ExperimentConfig,
    devices: &[SelectedDevice],
    workers: usize,
    artifacts: &ArtifactDir,
    train_split: &MnistSplit,
    test_split: &MnistSplit,
    resume_from: Option<usize>,
    times: Arc<Mutex<SplitTimes>>,
) -> Result<MaskedMlp> {
    let device = devices[0].device.clone();
    device.seed(config.seed);
    let hidden = config.model.hidden.clone();
    let train_loader = training_loader(config, train_split, workers, resume_from, &device);
    let valid_loader = DataLoaderBuilder::new(MnistBatcher::new(
        test_split.clone(),
        hidden,
        evaluation_policy(&config.train_mask),
    ))
    .batch_size(EVAL_BATCH)
    .set_device(device.clone())
    .build(IndexDataset::of(test_split));

    let dir = artifacts.checkpoints();
    let mut training = SupervisedTraining::new(artifacts.root(), train_loader, valid_loader)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .with_custom_checkpointers(
            AtomicCheckpointer::new(&dir, "model"),
            AtomicCheckpointer::new(&dir, "optim"),
            AtomicCheckpointer::new(&dir, "scheduler"),
        )
        .with_application_logger(None)
        .with_progress_logger(SplitClock::new(times))
        .num_epochs(config.epochs)
        .summary();
    let interrupter = Interrupter::new();
    let diverged = Arc::new(Mutex::new(None));
    training = training
        .with_interrupter(interrupter.clone())
        .renderer(screen(interrupter, resume_from, diverged.clone()));
    if let Some(epoch) = resume_from {
        training = training.checkpoint(epoch);
    }
    if devices.len() > 1 {
        let all = devices.iter().map(|d| d.device.clone()).collect();
        training = training.with_training_strategy(
            ExecutionStrategy::MultiDevice(all, MultiDeviceOptim::OptimMainDevice).into(),
        );
    }
    let model = config.model.init(&device.clone().autodiff());
    // On flex, Adam's update is one in-place pass per parameter (the same arithmetic as Burn's).
    #[cfg(feature = "flex")]
    let optimizer = crate::fused_adam::init(&config.optimizer);
    #[cfg(not(feature = "flex"))]
    let optimizer = config.optimizer.init();
    let result = training.launch(Learner::new(model, optimizer, config.learning_rate));
    if let Some(error) = result.error {
        bail!("training failed: {error}");
    }
    if let Some(d) = diverged.lock().ok().and_then(|d| *d) {
        return Err(divergence_error(&d, artifacts, config.learning_rate));
    }
    if let Some(interruption) = result.interrupted {
        bail!("training was interrupted: {interruption:?}");
    }
    Ok(result.model.valid())
}

/// What a diverged run says: where it stopped and which checkpoint survives.
fn divergence_error(d: &Divergence, artifacts: &ArtifactDir, learning_rate: f64) -> anyhow::Error {
    let kept = match artifacts.last_complete_checkpoint() {
        Some(e) => format!(
            "the last good checkpoint, epoch {e}, is kept in {}; continue from it with \
             --resume and a smaller --lr",
            artifacts.checkpoints().display()
        ),
        None => "no epoch finished, so there is no checkpoint; start again with a \
                 smaller --lr"
            .into(),
    };
    anyhow::anyhow!(
        "training diverged: the loss became {} in epoch {} (after {} training images; \
         learning rate {:e}); stopped without saving that epoch: {kept}",
        d.loss,
        d.epoch,
        d.items,
        learning_rate
    )
}

/// Validation and test see the network that inference will use: a fixed sub-network keeps its
/// mask, random lesions are a training device only.
fn evaluation_policy(policy: &MaskPolicy) -> MaskPolicy {
    match policy {
        MaskPolicy::RandomOff { .. } => MaskPolicy::None,
        other => other.clone(),
    }
}

/// Test loss and accuracy (fraction) of the final model, computed here in one pass rather than
/// read from the Learner's logs.
pub fn evaluate(
    model: &MaskedMlp,
    config: &ExperimentConfig,
    split: &MnistSplit,
    device: &Device,
) -> Result<(f64, f64)> {
    let batcher = MnistBatcher::new(
        split.clone(),
        config.model.hidden.clone(),
        evaluation_policy(&config.train_mask),
    );
    let items: Vec<usize> = (0..split.len()).collect();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    for chunk in items.chunks(EVAL_BATCH) {
        let batch: MaskedBatch =
            burn::data::dataloader::batcher::Batcher::batch(&batcher, chunk.to_vec(), device);
        let logits = model
            .forward_masked(batch.images, &batch.masks)
            .context("evaluation mask")?;
        let loss: f32 = loss_fn
            .forward(logits.clone(), batch.targets.clone())
            .into_scalar();
        loss_sum += loss as f64 * chunk.len() as f64;
        let hits: i64 = logits
            .argmax(1)
            .squeeze::<1>()
            .equal(batch.targets)
            .int()
            .sum()
            .into_scalar();
        correct += hits as usize;
    }
    let n = split.len().max(1) as f64;
    Ok((loss_sum / n, correct as f64 / n))
}
