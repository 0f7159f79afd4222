//! Where MNIST comes from (the copy built into the binary, or a folder of IDX files) and
//! loading a split into contiguous memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::idx::{self, IdxError, PIXELS};
use crate::{checksum, embedded};

/// Environment variable naming a folder that holds the four MNIST files.
pub const MNIST_DIR_ENV: &str = "MNIST_DIR";

/// The two halves of MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// 60,000 training images.
    Train,
    /// 10,000 test images (the seed validates on them).
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }

    /// Candidate file names for this split's images, raw or gzipped.
    pub fn image_names(self) -> [String; 2] {
        let base = format!("{}-images-idx3-ubyte", self.prefix());
        [format!("{base}.gz"), base]
    }

    /// Candidate file names for this split's labels, raw or gzipped.
    pub fn label_names(self) -> [String; 2] {
        let base = format!("{}-labels-idx1-ubyte", self.prefix());
        [format!("{base}.gz"), base]
    }
}

/// One split decoded once into contiguous memory: `count * 784` pixel bytes and `count` labels.
/// Pixels stay bytes (a quarter of f32's memory); the batcher scales them by 1/255.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistSplit {
    pixels: Arc<[u8]>,
    labels: Arc<[u8]>,
}

impl MnistSplit {
    /// From raw parts. `pixels.len()` must be `labels.len() * 784` and every label below 10.
    pub fn from_parts(pixels: Vec<u8>, labels: Vec<u8>) -> Result<Self, String> {
        if pixels.len() != labels.len() * PIXELS {
            return Err(format!(
                "{} pixel bytes for {} labels; expected {} (784 per image)",
                pixels.len(),
                labels.len(),
                labels.len() * PIXELS
            ));
        }
        if let Some(i) = labels.iter().position(|&l| l >= 10) {
            return Err(format!(
                "label[{i}] is {}; expected a digit 0..=9",
                labels[i]
            ));
        }
        Ok(Self {
            pixels: pixels.into(),
            labels: labels.into(),
        })
    }

    /// Read an image file and a label file (IDX, raw or gz) and check that their counts agree.
    pub fn from_files(images: &Path, labels: &Path) -> Result<Self, IdxError> {
        Self::decode_pair(
            idx::read_images(images)?,
            images,
            idx::read_labels(labels)?,
            labels,
        )
    }

    /// Load a split from a folder holding the standard file names. When the folder has a
    /// `SHA256SUMS` file that lists a file, the file must match its sum.
    pub fn load(dir: &Path, split: Split) -> Result<Self, IdxError> {
        let images = find(dir, &split.image_names(), "images")?;
        let labels = find(dir, &split.label_names(), "labels")?;
        let sums = checksum::sums_in(dir)?;
        if sums.is_empty() {
            return Self::from_files(&images, &labels);
        }
        let read_checked = |path: &Path| -> Result<Vec<u8>, IdxError> {
            let bytes = std::fs::read(path).map_err(|source| IdxError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if let Some(expected) = name.and_then(|n| sums.get(&n)) {
                checksum::verify(path, &bytes, expected)?;
            }
            Ok(bytes)
        };
        let image_bytes = read_checked(&images)?;
        let label_bytes = read_checked(&labels)?;
        Self::decode_pair(
            idx::read_images_bytes(&images, image_bytes)?,
            &images,
            idx::read_labels_bytes(&labels, label_bytes)?,
            &labels,
        )
    }

    /// The split shipped with neuromask (`data/mnist/`, compiled in), checked against its
    /// pinned SHA-256 sums.
    pub fn embedded(split: Split) -> Result<Self, IdxError> {
        let (images, labels) = embedded::files(split);
        Self::decode_pair(
            idx::read_images_bytes(&images.path(), images.verified()?)?,
            &images.path(),
            idx::read_labels_bytes(&labels.path(), labels.verified()?)?,
            &labels.path(),
        )
    }

    fn decode_pair(
        image_data: idx::IdxImages,
        images: &Path,
        label_data: Vec<u8>,
        labels: &Path,
    ) -> Result<Self, IdxError> {
        if image_data.count != label_data.len() {
            return Err(IdxError::CountMismatch {
                images: images.to_path_buf(),
                image_count: image_data.count,
                labels: labels.to_path_buf(),
                label_count: label_data.len(),
            });
        }
        Ok(Self {
            pixels: image_data.pixels.into(),
            labels: label_data.into(),
        })
    }

    /// The first `n` items only (all of them when `n` is larger).
    pub fn truncated(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            pixels: self.pixels[..n * PIXELS].into(),
            labels: self.labels[..n].into(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 pixel bytes of item `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }

    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// How many items of each digit.
    pub fn label_histogram(&self) -> [usize; 10] {
        let mut counts = [0; 10];
        for &l in self.labels.iter() {
            counts[l as usize] += 1;
        }
        counts
    }
}

fn find(dir: &Path, names: &[String], what: &str) -> Result<PathBuf, IdxError> {
    if !dir.is_dir() {
        return Err(IdxError::Missing {
            dir: dir.to_path_buf(),
            what: format!("MNIST {what} (the folder does not exist)"),
            tried: names.join(", "),
        });
    }
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| IdxError::Missing {
            dir: dir.to_path_buf(),
            what: format!("MNIST {what}"),
            tried: names.join(", "),
        })
}

/// Where MNIST comes from: an explicit folder, else `$MNIST_DIR`, else the copy built in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MnistSource {
    /// A folder of IDX files with the standard names (MNIST, Fashion-MNIST, or any data in
    /// the same format).
    Dir(PathBuf),
    /// The real MNIST shipped in `data/mnist/` and compiled into the binary.
    Embedded,
}

impl MnistSource {
    /// `--data-dir` if given, else the `MNIST_DIR` environment variable, else the built-in
    /// copy.
    pub fn resolve(data_dir: Option<&Path>) -> Self {
        match data_dir {
            Some(dir) => MnistSource::Dir(dir.to_path_buf()),
            None => match std::env::var_os(MNIST_DIR_ENV) {
                Some(dir) if !dir.is_empty() => MnistSource::Dir(dir.into()),
                _ => MnistSource::Embedded,
            },
        }
    }

    /// Load one split from this source.
    pub fn load(&self, split: Split) -> Result<MnistSplit, IdxError> {
        match self {
            MnistSource::Dir(dir) => MnistSplit::load(dir, split),
            MnistSource::Embedded => MnistSplit::embedded(split),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            MnistSource::Dir(dir) => dir.display().to_string(),
            MnistSource::Embedded => "built-in MNIST".into(),
        }
    }
}
