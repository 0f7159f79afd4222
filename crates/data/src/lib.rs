//! MNIST for neuromask: the real MNIST built into the binary (checked by SHA-256), an IDX
//! reader (gzipped or raw) that checks every header field, splits decoded once into
//! contiguous memory, and a Burn dataset and batcher that carry masks.

pub mod artifact;
pub mod batcher;
pub mod checksum;
pub mod csv_cells;
pub mod embedded;
pub mod epoch_loader;
pub mod idx;
pub mod mask_files;
pub mod mnist;

pub use artifact::{ArtifactDir, ArtifactError};
pub use batcher::{IndexDataset, MnistBatcher};
pub use epoch_loader::EpochLoader;
pub use idx::{IdxError, PIXELS};
pub use mnist::{MNIST_DIR_ENV, MnistSource, MnistSplit, Split};
