//! The MNIST files of the repository's `data/mnist/`, compiled into every binary that reads
//! MNIST: `train` and `infer` need no data folder, no network and no path at run time, also
//! when installed with `cargo install` and run from anywhere. Each file is checked against its
//! SHA-256, pinned here, every time it is read.

use std::path::PathBuf;

use crate::checksum;
use crate::idx::IdxError;
use crate::mnist::Split;

/// Where the shipped files lie in the source tree. Valid in a clone of the repository only
/// (tests, tools); a binary never needs it.
pub const SOURCE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist");

/// One shipped file: its name in `data/mnist/`, its bytes and its pinned SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedFile {
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub sha256: &'static str,
}

impl EmbeddedFile {
    /// How errors name it: where it came from, and that it is the built-in copy.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("data/mnist/{} (built into this binary)", self.name))
    }

    /// The bytes, once they match the pinned sum.
    pub fn verified(&self) -> Result<&'static [u8], IdxError> {
        checksum::verify(&self.path(), self.bytes, self.sha256)?;
        Ok(self.bytes)
    }
}

macro_rules! shipped {
    ($name:literal, $sha256:literal) => {
        EmbeddedFile {
            name: $name,
            bytes: include_bytes!(concat!("../../../data/mnist/", $name)),
            sha256: $sha256,
        }
    };
}

/// The four files, in the order of `data/mnist/SHA256SUMS` (a test checks they agree).
pub const FILES: [EmbeddedFile; 4] = [
    shipped!(
        "t10k-images-idx3-ubyte.gz",
        "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be"
    ),
    shipped!(
        "t10k-labels-idx1-ubyte.gz",
        "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b"
    ),
    shipped!(
        "train-images-idx3-ubyte.gz",
        "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971"
    ),
    shipped!(
        "train-labels-idx1-ubyte.gz",
        "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203"
    ),
];

/// The shipped `(images, labels)` files of a split.
pub fn files(split: Split) -> (EmbeddedFile, EmbeddedFile) {
    match split {
        Split::Test => (FILES[0], FILES[1]),
        Split::Train => (FILES[2], FILES[3]),
    }
}
