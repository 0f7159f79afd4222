//! The artifact directory: what `train` writes and `infer` reads, defined once, and the
//! atomic writes and checked reads of its files.
//!
//! ```text
//! <dir>/config.json        ExperimentConfig: everything needed to rebuild the model
//! <dir>/model.bpk          final weights (Burn burnpack record)
//! <dir>/summary.json       TrainingSummary: test accuracy and loss, timings, device
//! <dir>/metrics.csv        epoch,split,loss,accuracy,seconds
//! <dir>/curves.png         loss and accuracy per epoch
//! <dir>/checkpoint/        Burn's per-epoch checkpoints: model-N.bpk, optim-N.bpk, scheduler-N.bpk
//! <dir>/neuron_means.json  mean training-set activation per last-hidden neuron (infer ablate)
//! <dir>/ablation.csv       every neuron's cost when switched off (infer ablate --output; infer serve)
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use model::MaskedMlpConfig;

/// Paths inside one run's artifact directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactDir {
    root: PathBuf,
}

impl ArtifactDir {
    pub const CONFIG: &'static str = "config.json";
    pub const MODEL: &'static str = "model.bpk";
    pub const SUMMARY: &'static str = "summary.json";
    pub const METRICS: &'static str = "metrics.csv";
    pub const CURVES: &'static str = "curves.png";
    pub const CHECKPOINTS: &'static str = "checkpoint";
    pub const NEURON_MEANS: &'static str = "neuron_means.json";
    pub const ABLATION: &'static str = "ablation.csv";

    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> PathBuf {
        self.root.join(Self::CONFIG)
    }

    pub fn model(&self) -> PathBuf {
        self.root.join(Self::MODEL)
    }

    pub fn summary(&self) -> PathBuf {
        self.root.join(Self::SUMMARY)
    }

    pub fn metrics(&self) -> PathBuf {
        self.root.join(Self::METRICS)
    }

    pub fn curves(&self) -> PathBuf {
        self.root.join(Self::CURVES)
    }

    /// Mean activation of each last-hidden-layer neuron over the training set, written by
    /// `infer ablate --mode mean` the first time it needs it.
    pub fn neuron_means(&self) -> PathBuf {
        self.root.join(Self::NEURON_MEANS)
    }

    /// The ablation map `infer serve` overlays, when `infer ablate --output` wrote it here.
    pub fn ablation(&self) -> PathBuf {
        self.root.join(Self::ABLATION)
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.root.join(Self::CHECKPOINTS)
    }

    /// Burn's model checkpoint of `epoch` (epochs count from 1).
    pub fn checkpoint_model(&self, epoch: usize) -> PathBuf {
        self.checkpoints().join(format!("model-{epoch}.bpk"))
    }

    /// The last epoch whose model, optimizer and scheduler checkpoints all exist.
    pub fn last_complete_checkpoint(&self) -> Option<usize> {
        let entries = std::fs::read_dir(self.checkpoints()).ok()?;
        entries
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_prefix("model-")?
                    .strip_suffix(".bpk")?
                    .parse::<usize>()
                    .ok()
            })
            .filter(|epoch| {
                ["optim", "scheduler"].iter().all(|kind| {
                    self.checkpoints()
                        .join(format!("{kind}-{epoch}.bpk"))
                        .is_file()
                })
            })
            .max()
    }
}

/// A problem reading or writing an artifact file; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory, flushed and
/// synced, then renamed over the target. A crash leaves the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    let io = |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    // `.NAME.<random>.partial`: hidden, and recognisable as debris if the process dies before
    // the rename (`remove_partial_files` clears it on the next run).
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    builder.prefix(&prefix).suffix(PARTIAL_SUFFIX);
    // Artifacts are ordinary files (rw-r--r--), not tempfile's private 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    // The rename itself reaches the disk only when the directory is synced.
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

/// What `write_atomic`'s temporary files end with.
const PARTIAL_SUFFIX: &str = ".partial";

/// Delete temporary files that a killed `write_atomic` left in `dir` (not recursive); returns
/// how many. A missing directory has none.
pub fn remove_partial_files(dir: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Save a Burn config as pretty JSON, atomically.
pub fn save_config<C: Config>(config: &C, path: &Path) -> Result<(), ArtifactError> {
    let json = serde_json::to_string_pretty(config).map_err(|e| ArtifactError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomic(path, json.as_bytes())
}

/// Load a Burn config, refusing fields it does not know (a typo must not silently fall back
/// to a default) and numbers its fields cannot hold (`1e39` for an f32 would become infinity,
/// which JSON cannot write back: the saved `config.json` would not load again).
pub fn load_config<C: Config>(path: &Path) -> Result<C, ArtifactError> {
    let invalid = |message: String| ArtifactError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let given: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
    let config: C = serde_json::from_value(given.clone()).map_err(|e| invalid(e.to_string()))?;
    let known = serde_json::to_value(&config).map_err(|e| invalid(e.to_string()))?;
    match field_not_kept(&given, &known, "") {
        Some(NotKept::Unknown(field)) => Err(invalid(format!(
            "unknown field `{field}`; expected only the fields of {}",
            std::any::type_name::<C>()
                .rsplit("::")
                .next()
                .unwrap_or("the config")
        ))),
        Some(NotKept::OutOfRange(field, value)) => Err(invalid(format!(
            "field `{field}` is {value}; expected a number within its type's range"
        ))),
        None => Ok(config),
    }
}

/// A field of a config file that the config does not keep as written.
enum NotKept<'a> {
    /// The key path is not a field of the config.
    Unknown(String),
    /// The number came back as null: out of range for its type (infinity for an f32).
    OutOfRange(String, &'a serde_json::Value),
}

/// The first field of `given` not kept as written in `known`, the config serialized again.
fn field_not_kept<'a>(
    given: &'a serde_json::Value,
    known: &serde_json::Value,
    path: &str,
) -> Option<NotKept<'a>> {
    use serde_json::Value;
    match (given, known) {
        (Value::Object(given), Value::Object(known)) => given.iter().find_map(|(key, value)| {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match known.get(key) {
                None => Some(NotKept::Unknown(child)),
                Some(known_value) => field_not_kept(value, known_value, &child),
            }
        }),
        (Value::Array(given), Value::Array(known)) => given
            .iter()
            .zip(known)
            .enumerate()
            .find_map(|(i, (g, k))| field_not_kept(g, k, &format!("{path}[{i}]"))),
        (Value::Number(_), Value::Null) => Some(NotKept::OutOfRange(path.to_string(), given)),
        _ => None,
    }
}

/// Save the model's weights as a burnpack file, atomically.
pub fn save_model(model: &model::MaskedMlp, path: &Path) -> Result<(), ArtifactError> {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| ArtifactError::Invalid {
            path: path.to_path_buf(),
            message: format!("cannot encode the weights: {e}"),
        })?;
    write_atomic(path, &bytes)
}

/// Rebuild the network described by `config` and load its weights from a burnpack file.
/// A missing, truncated or mismatched file (e.g. another hidden size) is an error naming it.
pub fn load_model(
    config: &MaskedMlpConfig,
    path: &Path,
    device: &Device,
) -> Result<model::MaskedMlp, ArtifactError> {
    let invalid = |message: String| ArtifactError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    config
        .validate()
        .map_err(|e| invalid(format!("the config beside it is invalid: {e}")))?;
    let bytes = std::fs::read(path).map_err(|source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| invalid(format!("not a readable burnpack record: {e}")))?;
    config.init(device).try_load_record(record).map_err(|e| {
        invalid(format!(
            "weights do not fit the network {}: {e}",
            config.describe()
        ))
    })
}
