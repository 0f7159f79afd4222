//! Command-line flags of `infer` (the binary's; the library takes plain types). The doc
//! comments are the `--help` text; the `impl` blocks at the end turn flags into the library's
//! plain values.

use std::path::PathBuf;

use backend::DeviceChoice;
use clap::{Args, Parser, Subcommand};
use infer::{InputSource, MaskChoice};
use model::MaskSemantics;

const EXAMPLES: &str = "\
Examples:
  # The test set with neurons 3, 17 and 42 off for every image:
  infer predict --artifact-dir artifacts/mnist-mlp --off 3,17,42

  # One mask per image from a file (1 = neuron on unless --mask-semantics off):
  infer predict --mask-file masks.npy --output predictions.csv

  # Your own digits, black on white:
  infer predict --invert my-3.png my-7.png --off 0:10

  # Answer JSON lines on stdin:
  echo '{\"pixels\": [0, ...784 values], \"off\": [5, 9]}' | infer stream

  # The neuron explorer in the browser (http://127.0.0.1:8080/):
  infer ablate --output artifacts/mnist-mlp/ablation.csv   # optional: the importance overlay
  infer serve

  # What each neuron responds to, as a picture of all receptive fields:
  infer neurons --plot atlas.png

  # The fewest neurons that keep 99% of the test accuracy, or 95% of digit 3's F1:
  infer circuit --keep-accuracy 0.99
  infer circuit --class 3 --keep-accuracy 0.95 --output digit-3.jsonl
  infer predict --mask-file digit-3.jsonl

  # Weights to and from PyTorch's layout:
  infer export --output model.safetensors
  infer import --input torch-model.safetensors --artifact-dir artifacts/imported";

/// Load a trained masked MLP and answer each input with its own hidden neurons switched off.
#[derive(Debug, Parser)]
#[command(name = "infer", version, after_long_help = EXAMPLES)]
pub struct InferArgs {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Predict a set of inputs, one mask row per input.
    Predict(Box<PredictArgs>),
    /// Answer JSON lines from stdin: {"pixels": [784 values], "off": [...]} or "keep".
    Stream(StreamArgs),
    /// Rank every neuron of the last hidden layer by what switching it off costs
    /// (accuracy, loss), all in about one forward pass.
    Ablate(Box<AblateArgs>),
    /// The neuron explorer: a page on http://127.0.0.1:8080/ to draw or pick a digit, switch
    /// hidden neurons off and watch the class probabilities change.
    ///
    /// The page is compiled into the binary (it needs no network). It shows the last hidden
    /// layer as a grid shaded by each neuron's activation for the current input: click a cell
    /// to switch that neuron off or back on, drag to paint several. The class probabilities
    /// update on every change, with a tick for what the intact network says. Reset, "switch off
    /// top K" and "random lesion, p" set the mask; with an ablation map (`infer ablate --output
    /// DIR/ablation.csv`) the grid can also show how much test accuracy each neuron is worth.
    ///
    /// Hovering a cell shows that neuron's atlas entry beside the grid (receptive field, top
    /// test images, mean activation per digit); "learned mask" applies a mask from `infer
    /// circuit` (the --circuits folder) and "mask file" one from disk (.jsonl or .csv).
    ///
    /// JSON API: GET /api/info, GET /api/test-image/{i}, GET /api/ablation, GET
    /// /api/neuron/{j}, GET /api/circuits, and POST
    /// /api/predict, which takes an `infer stream` line ({"pixels": [784 values], "off":
    /// [...]}) and answers {"predicted", "probabilities", "hidden"}. A bad request gets HTTP
    /// 400 with the message `infer stream` gives for that line.
    #[command(after_long_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// The neuron atlas: what each hidden neuron responds to. For every neuron its incoming
    /// weights (a 28x28 picture for the first hidden layer), the K test images that activate
    /// it most, its mean activation per digit, and how often it is zero.
    Neurons(Box<NeuronsArgs>),
    /// Learn the fewest hidden neurons that keep a fraction of the test accuracy (or, with
    /// --class D, of digit D's F1), and write them as a mask file.
    ///
    /// The network's weights stay frozen; one gate per neuron of the last hidden layer,
    /// sigmoid(logit), multiplies its Linear output before the ReLU, and only the gates are
    /// trained (Burn autodiff, Adam) on the training images with an L1 penalty pushing them to
    /// 0. The gates are thresholded at 0.5, the 0/1 mask is checked on the test set, then moved
    /// along the gates' order to the fewest neurons that meet the target; each --penalty is
    /// tried and the smallest mask wins. The figures printed are those `infer predict
    /// --mask-file` measures with the mask written.
    #[command(after_long_help = CIRCUIT_EXAMPLES)]
    Circuit(Box<CircuitArgs>),
    /// Write the weights as safetensors in PyTorch layout (hidden.0.weight [out, in], ...).
    Export(ExportArgs),
    /// Turn a safetensors file in PyTorch layout into an artifact directory.
    Import(ImportArgs),
    /// Time inference on this machine: no mask, per-sample masks, a 90%-off broadcast mask,
    /// and an ablation sweep against one forward pass (images/s, medians).
    Bench(BenchArgs),
}

/// Which trained model, on which backend.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// The artifact directory `train` wrote (config.json + model.bpk).
    #[arg(long, value_name = "DIR", default_value = "artifacts/mnist-mlp")]
    pub artifact_dir: PathBuf,

    /// Use these weights instead of model.bpk, e.g. DIR/checkpoint/model-3.bpk.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Backend: `auto` takes a hardware GPU if there is one, else the CPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// 28x28 grayscale PNG files (white digit on black, as MNIST). Default input: the MNIST
    /// test set.
    #[arg(value_name = "PNG")]
    pub pngs: Vec<PathBuf>,

    /// The PNGs are black on white: invert them.
    #[arg(long, requires = "pngs")]
    pub invert: bool,

    /// An IDX image file (gz or raw) instead of the MNIST test set.
    #[arg(long, value_name = "FILE", conflicts_with = "pngs")]
    pub images: Option<PathBuf>,

    /// IDX labels for --images, to report accuracy.
    #[arg(long, value_name = "FILE", requires = "images")]
    pub labels: Option<PathBuf>,

    /// Predict only the first N inputs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Folder of IDX files with the MNIST names (MNIST, Fashion-MNIST, ...). Default:
    /// $MNIST_DIR, else the MNIST built into this binary.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Switch these neurons off for every input: `3,17,42`, or `layer:index` in deeper nets.
    #[arg(long, value_name = "NEURONS", group = "mask")]
    pub off: Option<String>,

    /// Keep only these neurons on, for every input.
    #[arg(long, value_name = "NEURONS", group = "mask")]
    pub keep_only: Option<String>,

    /// One mask row per input (or one row for all): .csv (rows of 0/1), .npy ((N,H), (1,H) or
    /// (H,); bool, int or float) or .jsonl ({"off": [...]} or {"keep": [...]} per line). For
    /// deeper nets a row is the layers' column blocks side by side.
    #[arg(long, value_name = "FILE", group = "mask")]
    pub mask_file: Option<PathBuf>,

    /// What a 1 means in a CSV or NPY mask: `keep` (1 = neuron on; default) or `off` (1 =
    /// switched off, the original question's convention).
    #[arg(long, value_name = "keep|off", default_value = "keep")]
    pub mask_semantics: MaskSemantics,

    /// A fresh random mask per input: each hidden neuron off with probability P.
    #[arg(long, value_name = "P", group = "mask")]
    pub random_off: Option<f64>,

    /// Seed for --random-off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Ignore the fixed training mask recorded in config.json (it applies by default).
    #[arg(long)]
    pub no_train_mask: bool,

    /// Apply a mask shared by all inputs by multiplication instead of dropping the
    /// switched-off neurons from the weights (same results, slower).
    #[arg(long)]
    pub multiply: bool,

    /// One row per input: .csv or .jsonl (index, label, predicted, 10 probabilities).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Add the 10 logits to --output rows.
    #[arg(long)]
    pub logits: bool,

    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// The brightest pixel value in lines that carry no "scale" field: 255 (bytes) or 1.
    #[arg(long, value_name = "255|1", default_value_t = 255.0)]
    pub pixel_scale: f32,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  # Rank the neurons once (for the overlay and \"switch off top K\"), then serve:
  infer ablate --artifact-dir artifacts/mnist-mlp --output artifacts/mnist-mlp/ablation.csv
  infer serve --artifact-dir artifacts/mnist-mlp
  # and open http://127.0.0.1:8080/ in a browser.

  # Any free port (printed), and the API without the page:
  infer serve --port 0
  curl -s http://127.0.0.1:PORT/api/test-image/0
  curl -s http://127.0.0.1:PORT/api/predict -d '{\"pixels\": [0, ...784 values], \"off\": [3, 17]}'";

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Port to listen on; 0 takes any free port (the address is printed).
    #[arg(long, value_name = "N", default_value_t = 8080)]
    pub port: u16,

    /// Address to listen on. The default answers this machine only; the explorer has no
    /// authentication, so think twice before 0.0.0.0.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,

    /// Folder of IDX files with the MNIST names, for the page's test-image picker. Default:
    /// $MNIST_DIR, else the MNIST built into this binary.
    #[arg(long, value_name = "DIR", env = "MNIST_DIR")]
    pub data_dir: Option<PathBuf>,

    /// The ablation map to overlay on the grid and to rank neurons for "switch off top K": the
    /// CSV `infer ablate --output` writes. Default: ablation.csv in the artifact directory,
    /// when it is there.
    #[arg(long, value_name = "FILE")]
    pub ablation: Option<PathBuf>,

    /// The folder of learned masks the page offers (what `infer circuit` writes). Default:
    /// circuits/ in the artifact directory.
    #[arg(long, value_name = "DIR")]
    pub circuits: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AblateArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Labelled IDX images instead of the MNIST test set (needs --labels).
    #[arg(long, value_name = "FILE", requires = "labels")]
    pub images: Option<PathBuf>,

    /// IDX labels for --images.
    #[arg(long, value_name = "FILE", requires = "images")]
    pub labels: Option<PathBuf>,

    /// Folder of IDX files with the MNIST names (MNIST, Fashion-MNIST, ...). Default:
    /// $MNIST_DIR, else the MNIST built into this binary.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Use only the first N inputs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// `zero`: the neuron's activation becomes 0 (the seed's mask); `mean`: it is held at its
    /// mean over the training set (computed once, kept as neuron_means.json in the artifact
    /// directory).
    #[arg(long, value_enum, default_value = "zero")]
    pub mode: infer::ablate::AblationMode,

    /// Which hidden layer to sweep (default: the last). Earlier layers of deeper nets run the
    /// rest of the network once per neuron (zero mode only); --groups and --cumulative
    /// always use the last layer.
    #[arg(long, value_name = "L")]
    pub layer: Option<usize>,

    /// How many of the most important neurons to print.
    #[arg(long, value_name = "K", default_value_t = 20)]
    pub top: usize,

    /// Every neuron's figures as CSV: layer,neuron,accuracy,loss,delta_accuracy,delta_loss,rank.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Sets of neurons switched off together, one set a line (`3,17,42` or `0:5 0:9`);
    /// each set's accuracy and loss are reported.
    #[arg(long, value_name = "FILE")]
    pub groups: Option<PathBuf>,

    /// Switch neurons off one after another, least important first, and draw the accuracy
    /// curve (PNG; default pruning.png): how many can go before accuracy drops 1 point?
    #[arg(long, value_name = "FILE.png", num_args = 0..=1, default_missing_value = "pruning.png")]
    pub cumulative: Option<PathBuf>,

    /// Draw the layer as a grid of cells coloured by accuracy drop, beside a bar chart of
    /// the --top K neurons (PNG); and, beside it as NAME-per-class.png, how much each of
    /// those neurons hurts each digit.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,

    /// Print the whole result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NeuronsArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Folder of IDX files with the MNIST names: the test set's images are profiled. Default:
    /// $MNIST_DIR, else the MNIST built into this binary.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Use only the first N test images.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Which hidden layer (default: the first, whose incoming weights are pictures).
    #[arg(long, value_name = "L", default_value_t = 0)]
    pub layer: usize,

    /// How many of the most activating test images to list per neuron.
    #[arg(long, value_name = "K", default_value_t = 9)]
    pub top: usize,

    /// Draw every neuron's receptive field in one PNG (first hidden layer only).
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,

    /// Print the whole atlas as one JSON object (receptive fields included).
    #[arg(long)]
    pub json: bool,
}

const CIRCUIT_EXAMPLES: &str = "\
Examples:
  # The fewest neurons keeping 99% of the test accuracy, and the greedy order's count:
  infer circuit --keep-accuracy 0.99 --compare-greedy

  # Digit 3 (its F1 kept at 95%), written where the explorer finds it:
  infer circuit --class 3 --keep-accuracy 0.95
  infer predict --mask-file artifacts/mnist-mlp/circuits/digit-3.jsonl

  # All ten digits, with the 10 x 10 overlap picture:
  infer circuit --all-classes --keep-accuracy 0.95 --compare-greedy";

#[derive(Debug, Args)]
pub struct CircuitArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// The fraction of the intact network's test accuracy (with --class: of the digit's F1)
    /// the mask must keep, in (0, 1].
    #[arg(long, value_name = "F", default_value_t = 0.99)]
    pub keep_accuracy: f64,

    /// Keep one digit's F1 instead of the whole task's accuracy.
    #[arg(long, value_name = "D", conflicts_with = "all_classes")]
    pub class: Option<usize>,

    /// One mask per digit (F1), written as DIR/digit-D.jsonl, and the overlap picture.
    #[arg(long)]
    pub all_classes: bool,

    /// The mask file to write (.jsonl: {\"keep\": [...]}, or .csv: one 0/1 row); with
    /// --all-classes a folder. Default: circuits/task.jsonl or circuits/digit-D.jsonl in the
    /// artifact directory (the explorer lists that folder).
    #[arg(long, value_name = "FILE|DIR")]
    pub output: Option<PathBuf>,

    /// With --all-classes: the overlap picture (default: overlap.png in the output folder).
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,

    /// L1 penalties on the gates to try (comma-separated); the smallest mask wins.
    #[arg(long, value_name = "L,...", value_delimiter = ',', default_values_t = [0.25, 0.5, 1.0, 2.0, 4.0])]
    pub penalty: Vec<f64>,

    /// Passes over the training images per penalty.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub epochs: usize,

    /// Also count the neurons the greedy order of `ablate --cumulative` keeps at the same
    /// target.
    #[arg(long)]
    pub compare_greedy: bool,

    /// Folder of IDX files with the MNIST names (gates train on its training set, the target
    /// is checked on its test set). Default: $MNIST_DIR, else the MNIST built into this binary.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// The safetensors file to write.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A safetensors file with hidden.0.weight [out, in], hidden.0.bias, ..., output.weight,
    /// output.bias (f32).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,

    /// The artifact directory to create (config.json + model.bpk).
    #[arg(long, value_name = "DIR")]
    pub artifact_dir: PathBuf,

    /// Backend used while converting.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Folder of IDX files with the MNIST names (the test set is what is timed). Default:
    /// $MNIST_DIR, else the MNIST built into this binary.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Use only the first N test images.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Timed passes per figure (after one warm-up); the median is reported.
    #[arg(long, value_name = "R", default_value_t = 5)]
    pub repeats: usize,

    /// `sparse`: our zero-skipping CPU kernel (the default on CPU devices); `burn`: Burn's
    /// dense forward on the chosen device.
    #[arg(long, value_enum)]
    pub engine: Option<infer::Engine>,

    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl ModelArgs {
    /// Start the backend and load the model the flags name.
    pub fn load(&self) -> anyhow::Result<infer::Predictor> {
        infer::load(&self.artifact_dir, self.checkpoint.as_deref(), self.device)
    }
}

impl PredictArgs {
    /// Where the inputs come from: PNGs, an IDX file, or the test set.
    pub fn input_source(&self) -> InputSource {
        if !self.pngs.is_empty() {
            InputSource::Pngs {
                paths: self.pngs.clone(),
                invert: self.invert,
            }
        } else if let Some(images) = &self.images {
            InputSource::Idx {
                images: images.clone(),
                labels: self.labels.clone(),
            }
        } else {
            InputSource::TestSet {
                data_dir: self.data_dir.clone(),
            }
        }
    }

    /// Which mask the flags ask for.
    pub fn mask_choice(&self) -> MaskChoice {
        if let Some(list) = &self.off {
            MaskChoice::Off(list.clone())
        } else if let Some(list) = &self.keep_only {
            MaskChoice::KeepOnly(list.clone())
        } else if let Some(path) = &self.mask_file {
            MaskChoice::File {
                path: path.clone(),
                semantics: self.mask_semantics,
            }
        } else if let Some(p) = self.random_off {
            MaskChoice::RandomOff { p, seed: self.seed }
        } else if self.no_train_mask {
            MaskChoice::AllOn
        } else {
            MaskChoice::TrainingDefault
        }
    }
}

impl CircuitArgs {
    /// The gate training's settings from the flags.
    pub fn settings(&self) -> infer::circuit::CircuitSettings {
        infer::circuit::CircuitSettings {
            keep: self.keep_accuracy,
            penalties: self.penalty.clone(),
            epochs: self.epochs,
            compare_greedy: self.compare_greedy,
            ..Default::default()
        }
    }
}

impl AblateArgs {
    /// Labelled IDX files, or the test set.
    pub fn input_source(&self) -> InputSource {
        match &self.images {
            Some(images) => InputSource::Idx {
                images: images.clone(),
                labels: self.labels.clone(),
            },
            None => InputSource::TestSet {
                data_dir: self.data_dir.clone(),
            },
        }
    }
}
