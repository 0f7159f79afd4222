//! Burn's per-epoch checkpoints, written atomically.
//!
//! Burn's `FileCheckpointer` writes the file in place, so a crash mid-write leaves a truncated
//! checkpoint that `--resume` would then fail on. This one writes a temporary file and renames
//! it, so a checkpoint file is either complete or absent.

use std::path::{Path, PathBuf};

use burn::tensor::Bytes;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};
use data::artifact::write_atomic;

/// Checkpoints named `<name>-<epoch>.bpk` in one folder, the layout `ArtifactDir` expects.
#[derive(Debug, Clone)]
pub struct AtomicCheckpointer {
    dir: PathBuf,
    name: &'static str,
}

impl AtomicCheckpointer {
    pub fn new(dir: &Path, name: &'static str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            name,
        }
    }

    fn path(&self, epoch: usize) -> PathBuf {
        self.dir.join(format!("{}-{epoch}.bpk", self.name))
    }

    /// Read and decode the checkpoint of `epoch`, so that a damaged file is reported before
    /// the Learner (which panics on a bad checkpoint) ever sees it.
    pub fn check<R: Checkpoint>(&self, epoch: usize) -> Result<(), String> {
        self.restore_record::<R>(epoch)
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.path(epoch).display()))
    }

    fn restore_record<R: Checkpoint>(&self, epoch: usize) -> Result<R, CheckpointerError> {
        let bytes = std::fs::read(self.path(epoch)).map_err(CheckpointerError::IOError)?;
        R::checkpoint_from_bytes(Bytes::from_bytes_vec(bytes)).map_err(CheckpointerError::Record)
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        std::fs::create_dir_all(&self.dir).map_err(CheckpointerError::IOError)?;
        let bytes = record
            .checkpoint_into_bytes()
            .map_err(CheckpointerError::Record)?;
        write_atomic(&self.path(epoch), &bytes)
            .map_err(|e| CheckpointerError::Unknown(e.to_string()))
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        match std::fs::remove_file(self.path(epoch)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CheckpointerError::IOError(e))
            }
            _ => Ok(()),
        }
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        self.restore_record(epoch)
    }
}
