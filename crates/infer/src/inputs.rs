//! Where the images come from: the MNIST test set, an IDX file, or PNG files.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use data::{MnistSource, MnistSplit, PIXELS, Split};

/// Refuse labels the model cannot predict (an imported model with fewer classes than the
/// data has), naming both numbers, before any array is indexed by them.
pub fn check_labels(labels: &[u8], classes: usize) -> Result<()> {
    if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
        bail!(
            "input {i} has label {}, but the model has {classes} classes (0..={}); \
             these labels do not fit this model",
            labels[i],
            classes.saturating_sub(1)
        );
    }
    Ok(())
}

/// Where a batch of inputs comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// 28x28 grayscale PNGs (white on black; `invert` for black on white).
    Pngs { paths: Vec<PathBuf>, invert: bool },
    /// An IDX image file, with an IDX label file to score against.
    Idx {
        images: PathBuf,
        labels: Option<PathBuf>,
    },
    /// The test split of `data_dir`, `$MNIST_DIR` or the MNIST built into the binary.
    TestSet { data_dir: Option<PathBuf> },
}

/// Images scaled to 0..1, row-major `[n, 784]`, with labels when known.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSet {
    pub pixels: Vec<f32>,
    pub labels: Option<Vec<u8>>,
    /// Where the inputs came from, for the summary.
    pub origin: String,
}

impl InputSet {
    pub fn len(&self) -> usize {
        self.pixels.len() / PIXELS
    }

    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The inputs `source` names, the first `limit` only when given.
    pub fn load(source: &InputSource, limit: Option<usize>) -> Result<Self> {
        let mut set = match source {
            InputSource::Pngs { paths, invert } => Self::pngs(paths, *invert),
            InputSource::Idx { images, labels } => Self::idx(images, labels.as_deref()),
            InputSource::TestSet { data_dir } => Self::mnist_test(data_dir.as_deref()),
        }?;
        if let Some(n) = limit {
            set.truncate(n);
        }
        Ok(set)
    }

    /// Keep the first `n` inputs only.
    pub fn truncate(&mut self, n: usize) {
        self.pixels.truncate(n * PIXELS);
        if let Some(labels) = &mut self.labels {
            labels.truncate(n);
        }
    }

    /// From a decoded split (MNIST or IDX files), pixels / 255 as in training.
    pub fn from_split(split: &MnistSplit, origin: String) -> Self {
        let mut pixels = Vec::with_capacity(split.len() * PIXELS);
        for i in 0..split.len() {
            pixels.extend(split.image(i).iter().map(|&p| p as f32 / 255.0));
        }
        Self {
            pixels,
            labels: Some(split.labels().to_vec()),
            origin,
        }
    }

    /// The test set from `--data-dir`, `$MNIST_DIR` or the MNIST built into the binary.
    pub fn mnist_test(data_dir: Option<&Path>) -> Result<Self> {
        let source = MnistSource::resolve(data_dir);
        let split = source.load(Split::Test)?;
        let origin = match &source {
            MnistSource::Embedded => "built-in MNIST test set".to_string(),
            MnistSource::Dir(dir) => format!("MNIST test set ({})", dir.display()),
        };
        Ok(Self::from_split(&split, origin))
    }

    /// An IDX image file (gz or raw), with labels from an IDX label file if given.
    pub fn idx(images: &Path, labels: Option<&Path>) -> Result<Self> {
        match labels {
            Some(labels) => {
                let split = MnistSplit::from_files(images, labels)?;
                Ok(Self::from_split(&split, images.display().to_string()))
            }
            None => {
                let decoded = data::idx::read_images(images)?;
                Ok(Self {
                    pixels: decoded.pixels.iter().map(|&p| p as f32 / 255.0).collect(),
                    labels: None,
                    origin: images.display().to_string(),
                })
            }
        }
    }

    /// 28x28 grayscale PNGs, MNIST style (white digit on black); `invert` for black on white.
    /// Colour images are converted to luminance; an alpha channel is ignored.
    pub fn pngs(paths: &[PathBuf], invert: bool) -> Result<Self> {
        let mut pixels = Vec::with_capacity(paths.len() * PIXELS);
        for path in paths {
            let gray = read_png(path)?;
            pixels.extend(
                gray.iter()
                    .map(|&g| if invert { 255 - g } else { g } as f32 / 255.0),
            );
        }
        Ok(Self {
            pixels,
            labels: None,
            origin: format!("{} PNG file(s)", paths.len()),
        })
    }
}

/// Decode one PNG into 784 gray bytes, refusing any other size.
pub fn read_png(path: &Path) -> Result<Vec<u8>> {
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| anyhow::anyhow!("{}: not a readable PNG: {e}", path.display()))?;
    let (width, height) = (reader.info().width, reader.info().height);
    if (width, height) != (28, 28) {
        bail!(
            "{}: image is {width}x{height}; expected 28x28 (MNIST size: scale it down first)",
            path.display()
        );
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| anyhow::anyhow!("{}: image too large", path.display()))?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| anyhow::anyhow!("{}: corrupt PNG data: {e}", path.display()))?;
    let channels = frame.color_type.samples();
    let gray = buf[..frame.buffer_size()]
        .chunks(channels)
        .take(PIXELS)
        .map(|px| match channels {
            1 | 2 => px[0],
            _ => (0.299 * px[0] as f32 + 0.587 * px[1] as f32 + 0.114 * px[2] as f32).round() as u8,
        })
        .collect::<Vec<u8>>();
    if gray.len() != PIXELS {
        bail!(
            "{}: decoded {} pixels; expected 784",
            path.display(),
            gray.len()
        );
    }
    Ok(gray)
}
