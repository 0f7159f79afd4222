//! Command-line flags of `train` (the binary's; the library takes plain types). The doc
//! comments are the `--help` text; the `impl` at the end turns flags into the library's values.

use std::path::PathBuf;

use backend::DeviceChoice;
use clap::Parser;
use data::ArtifactDir;
use model::MaskSemantics;
use train::{ConfigBase, ConfigOverrides, Devices, RunOptions, TrainMaskChoice};

const EXAMPLES: &str = "\
Examples:
  # The seed's run (configs/mnist-mlp.json) on the built-in MNIST, GPU if there is one:
  cargo run -p train --release

  # CPU only, built without wgpu:
  cargo run -p train --release --no-default-features --features flex

  # A quick smoke run: 20k images, 1 epoch:
  train --config configs/mnist-mlp-quick.json

  # Fashion-MNIST, or any folder of IDX files with the MNIST names:
  train --data-dir ~/data/fashion-mnist --artifact-dir artifacts/fashion

  # A deeper net, with neurons 3, 17 and layer-1 neuron 42 off during training:
  train --hidden 512,256 --train-off 3,17,1:42

  # Continue an interrupted run to 20 epochs:
  train --artifact-dir artifacts/mnist-mlp --resume --epochs 20

Data: --data-dir, else $MNIST_DIR, else the real MNIST built into this binary (no network,
no folder needed). A folder holds train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]; Fashion-MNIST uses the same
names and format. A SHA256SUMS file in the folder, if any, is checked.";

/// Train the masked MLP (784 -> hidden -> 10) on MNIST with Burn's Learner.
///
/// Without arguments it trains the seed's model: one hidden layer of 600 ReLU neurons, Adam
/// with learning rate 1e-3, batch 128, 10 epochs, pixels / 255, validated on the 10k test
/// images. Weights, checkpoints, metrics and curves go to the artifact directory, which
/// `infer` reads.
#[derive(Debug, Parser)]
#[command(name = "train", version, after_long_help = EXAMPLES)]
pub struct TrainArgs {
    /// Experiment config (Burn Config JSON, like configs/mnist-mlp.json); the flags below
    /// override its fields. Default: the seed's run, configs/mnist-mlp.json.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Passes over the training set.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,

    /// Images per training step.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// Adam's learning rate.
    #[arg(long, value_name = "RATE")]
    pub lr: Option<f64>,

    /// Seed for initial weights, shuffling and random masks; the same seed on the same CPU
    /// backend gives identical weights.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Hidden layer sizes, input side first: `600` (the seed) or `512,256`.
    #[arg(long, value_name = "SIZES", value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,

    /// Folder with the four IDX files, MNIST names (gz or raw). Default: $MNIST_DIR, else the
    /// MNIST built into this binary.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Where weights, checkpoints and metrics go. Default: artifacts/<config name>.
    #[arg(long, value_name = "DIR")]
    pub artifact_dir: Option<PathBuf>,

    /// Backend to run on: `auto` takes a hardware GPU if there is one, else the CPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,

    /// Data-parallel training on several devices, e.g. `cuda:0,cuda:1` or `wgpu:0,wgpu:1`
    /// (`flex,flex` runs two workers on the CPU): each optimizer step takes one batch per
    /// device, the update happening on the first. Overrides --device.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub devices: Option<Vec<String>>,

    /// Train on the first N training images only.
    #[arg(long, value_name = "N")]
    pub limit_train: Option<usize>,

    /// Validate and test on the first N test images only.
    #[arg(long, value_name = "N")]
    pub limit_test: Option<usize>,

    /// Continue the run in --artifact-dir from its last complete checkpoint; its config.json
    /// is the base, and flags such as --epochs still override it.
    #[arg(long)]
    pub resume: bool,

    /// Start afresh even if --artifact-dir holds an earlier run (its files are replaced).
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,

    /// Train a fixed sub-network: these neurons are off for every sample, e.g. `3,17,42`
    /// (first hidden layer) or `1:42` (layer 1). Recorded in config.json, so `infer` applies
    /// the same mask by default.
    #[arg(long, value_name = "NEURONS", conflicts_with_all = ["train_mask", "lesion_prob"])]
    pub train_off: Option<String>,

    /// Like --train-off, from a one-row mask file: .csv (0/1 per hidden neuron, layer blocks
    /// side by side; see --mask-semantics), .npy, or .jsonl/.json (`{"off": [3, "1:42"]}` or
    /// `{"keep": [...]}`).
    #[arg(long, value_name = "FILE", conflicts_with = "lesion_prob")]
    pub train_mask: Option<PathBuf>,

    /// What a 1 means in a --train-mask CSV: `keep` (1 = neuron on; the default) or `off`
    /// (1 = neuron switched off).
    #[arg(long, value_name = "keep|off", default_value = "keep")]
    pub mask_semantics: MaskSemantics,

    /// Lesion training: every sample gets a fresh random mask with each hidden neuron off
    /// with probability P. Unlike dropout, the surviving activations are NOT rescaled by
    /// 1/(1-P), so the trained network expects lesions at this rate. Validation and
    /// `infer` use the intact network.
    #[arg(long, value_name = "P")]
    pub lesion_prob: Option<f64>,

    /// Data-loader worker threads (0 = batches are built on the training thread). With 0, each
    /// epoch's order comes from the seed and the epoch alone, so `--resume` continues exactly
    /// as an uninterrupted run; with workers, Burn's threaded loader draws its own orders.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub workers: usize,

    /// Print the final summary as JSON on stdout (the same as summary.json).
    #[arg(long)]
    pub json: bool,
}

impl TrainArgs {
    /// Where the config starts: the run being resumed, --config, or the seed's.
    pub fn config_base(&self) -> ConfigBase {
        if self.resume {
            ConfigBase::Resume(ArtifactDir::new(self.artifact_dir()))
        } else if let Some(path) = &self.config {
            ConfigBase::File(path.clone())
        } else {
            ConfigBase::Seed
        }
    }

    /// The config fields the flags replace.
    pub fn overrides(&self) -> ConfigOverrides {
        let train_mask = if let Some(list) = &self.train_off {
            Some(TrainMaskChoice::Off(list.clone()))
        } else if let Some(path) = &self.train_mask {
            Some(TrainMaskChoice::File {
                path: path.clone(),
                semantics: self.mask_semantics,
            })
        } else {
            self.lesion_prob.map(TrainMaskChoice::LesionProb)
        };
        ConfigOverrides {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            seed: self.seed,
            hidden: self.hidden.clone(),
            limit_train: self.limit_train,
            limit_test: self.limit_test,
            train_mask,
        }
    }

    /// --artifact-dir, else `artifacts/<config name>`.
    pub fn artifact_dir(&self) -> PathBuf {
        self.artifact_dir
            .clone()
            .unwrap_or_else(|| train::default_artifact_dir(self.config.as_deref()))
    }

    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            artifact_dir: self.artifact_dir(),
            devices: match &self.devices {
                Some(specs) => Devices::Many(specs.clone()),
                None => Devices::One(self.device),
            },
            resume: self.resume,
            overwrite: self.overwrite,
            workers: self.workers,
        }
    }
}
