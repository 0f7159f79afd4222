//! The IDX format of MNIST (<http://yann.lecun.com/exdb/mnist/>), gzipped or raw.
//!
//! Header: a big-endian u32 magic (2051 for images, 2049 for labels), a u32 item count, and for
//! images u32 rows and u32 columns; then one unsigned byte per pixel or label.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

pub const IMAGES_MAGIC: u32 = 2051;
pub const LABELS_MAGIC: u32 = 2049;
pub const SIDE: usize = 28;
pub const PIXELS: usize = SIDE * SIDE;
pub const CLASSES: usize = 10;

/// Every problem names the file and says what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: is a directory; expected an IDX file")]
    IsDirectory { path: PathBuf },
    #[error("{path}: field `{field}` is {found}; expected {expected}")]
    Field {
        path: PathBuf,
        field: String,
        expected: String,
        found: String,
    },
    #[error(
        "{path}: truncated: the header announces {expected} data bytes ({what}), the file holds {found}"
    )]
    Truncated {
        path: PathBuf,
        what: String,
        expected: u64,
        found: u64,
    },
    #[error("{path}: {extra} bytes follow the {expected} data bytes the header announces")]
    TrailingData {
        path: PathBuf,
        expected: u64,
        extra: u64,
    },
    #[error(
        "{images} holds {image_count} images but {labels} holds {label_count} labels; expected equal counts"
    )]
    CountMismatch {
        images: PathBuf,
        image_count: usize,
        labels: PathBuf,
        label_count: usize,
    },
    #[error(
        "{path}: SHA-256 is {found}; expected {expected} (the file is damaged or not the one listed)"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "{path}: line {line}: {found}; expected `SHA256  FILE` (64 hex digits, two spaces, a file name)"
    )]
    SumsLine {
        path: PathBuf,
        line: usize,
        found: String,
    },
    #[error("{dir}: no {what} file; expected one of: {tried}")]
    Missing {
        dir: PathBuf,
        what: String,
        tried: String,
    },
}

/// Images decoded into one contiguous row-major buffer of `count * 784` bytes (0..=255).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub pixels: Vec<u8>,
}

/// Open a file, transparently gunzipping it when it starts with the gzip magic bytes.
fn open(path: &Path) -> Result<Box<dyn Read>, IdxError> {
    let io = |source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        return Err(IdxError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    let file = BufReader::new(File::open(path).map_err(io)?);
    maybe_gunzip(file).map_err(io)
}

/// The bytes of `source`, gunzipped when they start with the gzip magic bytes.
fn maybe_gunzip(mut source: impl Read + 'static) -> std::io::Result<Box<dyn Read>> {
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut source, &mut magic)?;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let chained = head.chain(source);
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::new(GzDecoder::new(chained))))
    } else {
        Ok(Box::new(chained))
    }
}

/// A file already in memory (read whole, or compiled into the binary), named `path` in errors.
fn open_bytes(path: &Path, bytes: impl AsRef<[u8]> + 'static) -> Result<Box<dyn Read>, IdxError> {
    maybe_gunzip(std::io::Cursor::new(bytes)).map_err(|source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Like `read_exact`, but returns how many bytes were available instead of failing.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

struct Reader<'a> {
    path: &'a Path,
    inner: Box<dyn Read>,
}

impl Reader<'_> {
    fn io(&self, source: std::io::Error) -> IdxError {
        IdxError::Io {
            path: self.path.to_path_buf(),
            source,
        }
    }

    fn field(&self, field: &str, expected: impl ToString, found: impl ToString) -> IdxError {
        IdxError::Field {
            path: self.path.to_path_buf(),
            field: field.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    fn header_u32(&mut self, field: &str) -> Result<u32, IdxError> {
        let mut buf = [0u8; 4];
        let n = read_up_to(&mut self.inner, &mut buf).map_err(|e| self.io(e))?;
        if n < 4 {
            return Err(self.field(
                field,
                "a 4-byte big-endian integer",
                format!("end of file after {n} byte(s)"),
            ));
        }
        Ok(u32::from_be_bytes(buf))
    }

    fn expect_u32(&mut self, field: &str, expected: u32) -> Result<(), IdxError> {
        let found = self.header_u32(field)?;
        if found == expected {
            Ok(())
        } else {
            Err(self.field(field, expected, found))
        }
    }

    /// Read exactly `len` data bytes and check that nothing follows. The buffer grows with the
    /// data actually present, so a header that lies about the count cannot make us allocate
    /// more than the file holds.
    fn body(&mut self, len: u64, what: String) -> Result<Vec<u8>, IdxError> {
        let mut data = Vec::with_capacity(len.min(64 << 20) as usize);
        (&mut self.inner)
            .take(len)
            .read_to_end(&mut data)
            .map_err(|e| self.io(e))?;
        if (data.len() as u64) < len {
            return Err(IdxError::Truncated {
                path: self.path.to_path_buf(),
                what,
                expected: len,
                found: data.len() as u64,
            });
        }
        let mut probe = [0u8; 4096];
        let extra = read_up_to(&mut self.inner, &mut probe).map_err(|e| self.io(e))?;
        if extra > 0 {
            let rest =
                std::io::copy(&mut self.inner, &mut std::io::sink()).map_err(|e| self.io(e))?;
            return Err(IdxError::TrailingData {
                path: self.path.to_path_buf(),
                expected: len,
                extra: extra as u64 + rest,
            });
        }
        Ok(data)
    }
}

/// Read an IDX image file (magic 2051) of 28x28 images.
pub fn read_images(path: &Path) -> Result<IdxImages, IdxError> {
    decode_images(Reader {
        path,
        inner: open(path)?,
    })
}

/// [`read_images`] of a file already in memory; `path` names it in errors.
pub fn read_images_bytes(
    path: &Path,
    bytes: impl AsRef<[u8]> + 'static,
) -> Result<IdxImages, IdxError> {
    decode_images(Reader {
        path,
        inner: open_bytes(path, bytes)?,
    })
}

fn decode_images(mut r: Reader<'_>) -> Result<IdxImages, IdxError> {
    r.expect_u32("magic", IMAGES_MAGIC)?;
    let count = r.header_u32("image count")? as usize;
    r.expect_u32("rows", SIDE as u32)?;
    r.expect_u32("columns", SIDE as u32)?;
    let len = count as u64 * PIXELS as u64;
    let pixels = r.body(len, format!("{count} images of 28x28"))?;
    Ok(IdxImages { count, pixels })
}

/// Read an IDX label file (magic 2049) of digits 0..=9.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    decode_labels(Reader {
        path,
        inner: open(path)?,
    })
}

/// [`read_labels`] of a file already in memory; `path` names it in errors.
pub fn read_labels_bytes(
    path: &Path,
    bytes: impl AsRef<[u8]> + 'static,
) -> Result<Vec<u8>, IdxError> {
    decode_labels(Reader {
        path,
        inner: open_bytes(path, bytes)?,
    })
}

fn decode_labels(mut r: Reader<'_>) -> Result<Vec<u8>, IdxError> {
    r.expect_u32("magic", LABELS_MAGIC)?;
    let count = r.header_u32("label count")? as usize;
    let labels = r.body(count as u64, format!("{count} labels"))?;
    if let Some(i) = labels.iter().position(|&l| l as usize >= CLASSES) {
        return Err(r.field(&format!("label[{i}]"), "a digit 0..=9", labels[i]));
    }
    Ok(labels)
}

/// Encode images and labels as IDX (raw). The inverse of the readers, used by tests and tools.
pub fn encode_images(pixels: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [IMAGES_MAGIC, count as u32, SIDE as u32, SIDE as u32] {
        out.extend(v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// See [`encode_images`].
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    for v in [LABELS_MAGIC, labels.len() as u32] {
        out.extend(v.to_be_bytes());
    }
    out.extend_from_slice(labels);
    out
}
