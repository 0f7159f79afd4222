//! The IDX reader on synthetic files (gz and raw, good and broken) and on the real MNIST.

use std::io::Write;
use std::path::{Path, PathBuf};

use data::idx::{self, IdxError};
use data::{MnistSplit, PIXELS, Split};
use flate2::Compression;
use flate2::write::GzEncoder;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn synthetic(count: usize) -> (Vec<u8>, Vec<u8>) {
    let pixels = (0..count * PIXELS).map(|i| (i * 7 % 256) as u8).collect();
    let labels = (0..count).map(|i| (i % 10) as u8).collect();
    (pixels, labels)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn synthetic_files_round_trip_raw_and_gzipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pixels, labels) = synthetic(13);
    for gz in [false, true] {
        let enc = |b: Vec<u8>| if gz { gzip(&b) } else { b };
        let ext = if gz { ".gz" } else { "" };
        let sub = dir.path().join(if gz { "gz" } else { "raw" });
        std::fs::create_dir_all(&sub).expect("mkdir");
        write(
            &sub,
            &format!("t10k-images-idx3-ubyte{ext}"),
            &enc(idx::encode_images(&pixels, 13)),
        );
        write(
            &sub,
            &format!("t10k-labels-idx1-ubyte{ext}"),
            &enc(idx::encode_labels(&labels)),
        );
        let split = MnistSplit::load(&sub, Split::Test).expect("load");
        assert_eq!(split.len(), 13);
        for i in 0..13 {
            assert_eq!(split.image(i), &pixels[i * PIXELS..(i + 1) * PIXELS]);
            assert_eq!(split.label(i), labels[i]);
        }
    }
}

fn expect_error(bytes: &[u8], images: bool) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "broken-file", bytes);
    let err = if images {
        idx::read_images(&path).map(|_| ()).expect_err("must fail")
    } else {
        idx::read_labels(&path).map(|_| ()).expect_err("must fail")
    };
    let msg = err.to_string();
    assert!(
        msg.contains("broken-file"),
        "the message names the file: {msg}"
    );
    msg
}

#[test]
fn broken_files_are_errors_naming_file_field_expected_and_found() {
    let (pixels, labels) = synthetic(3);
    let good_images = idx::encode_images(&pixels, 3);
    let good_labels = idx::encode_labels(&labels);

    let mut wrong_magic = good_images.clone();
    wrong_magic[3] = 0x01; // 2049: a label file's magic
    let msg = expect_error(&wrong_magic, true);
    assert!(
        msg.contains("magic") && msg.contains("2051") && msg.contains("2049"),
        "{msg}"
    );

    let mut wrong_rows = good_images.clone();
    wrong_rows[11] = 27;
    let msg = expect_error(&wrong_rows, true);
    assert!(
        msg.contains("rows") && msg.contains("28") && msg.contains("27"),
        "{msg}"
    );

    let mut wrong_cols = good_images.clone();
    wrong_cols[15] = 32;
    let msg = expect_error(&wrong_cols, true);
    assert!(msg.contains("columns") && msg.contains("32"), "{msg}");

    let truncated = &good_images[..good_images.len() - 100];
    let msg = expect_error(truncated, true);
    assert!(msg.contains("truncated") && msg.contains("2352"), "{msg}");
    let msg = expect_error(&gzip(truncated), true);
    assert!(msg.contains("truncated"), "gz too: {msg}");

    let msg = expect_error(&good_images[..10], true);
    assert!(msg.contains("rows") || msg.contains("count"), "{msg}");
    let msg = expect_error(&[], true);
    assert!(
        msg.contains("magic") && msg.contains("end of file"),
        "{msg}"
    );

    let mut trailing = good_labels.clone();
    trailing.extend([0u8; 5]);
    let msg = expect_error(&trailing, false);
    assert!(msg.contains("5 bytes follow"), "{msg}");

    let mut bad_label = good_labels.clone();
    *bad_label.last_mut().expect("a label") = 12;
    let msg = expect_error(&bad_label, false);
    assert!(msg.contains("label[2]") && msg.contains("12"), "{msg}");

    let mut corrupt_gz = gzip(&good_labels);
    let mid = corrupt_gz.len() / 2;
    corrupt_gz[mid..].fill(0xAB);
    expect_error(&corrupt_gz, false);
}

#[test]
fn a_header_claiming_billions_of_images_does_not_allocate_them() {
    let mut huge = idx::encode_images(&[0u8; PIXELS], 1);
    huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    let msg = expect_error(&huge, true);
    assert!(
        msg.contains("truncated") && msg.contains("4294967295 images"),
        "{msg}"
    );
}

#[test]
fn mismatched_counts_and_missing_files_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pixels, labels) = synthetic(4);
    let images = write(
        dir.path(),
        "train-images-idx3-ubyte",
        &idx::encode_images(&pixels, 4),
    );
    let labels = write(
        dir.path(),
        "train-labels-idx1-ubyte",
        &idx::encode_labels(&labels[..3]),
    );
    let err = MnistSplit::from_files(&images, &labels).expect_err("4 vs 3");
    assert!(matches!(
        err,
        IdxError::CountMismatch {
            image_count: 4,
            label_count: 3,
            ..
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("train-images") && msg.contains("train-labels"),
        "{msg}"
    );

    let err = MnistSplit::load(dir.path(), Split::Test).expect_err("no t10k files");
    assert!(
        err.to_string().contains("t10k-images-idx3-ubyte.gz"),
        "{err}"
    );

    let err = idx::read_images(dir.path()).expect_err("a directory");
    assert!(err.to_string().contains("directory"), "{err}");
}

/// The real MNIST beside the project (`../shared/data/mnist`), or `$MNIST_DIR`.
fn real_mnist() -> PathBuf {
    std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist"))
}

#[test]
fn real_mnist_loads_with_the_known_counts() {
    let dir = real_mnist();
    let train = MnistSplit::load(&dir, Split::Train).unwrap_or_else(|e| {
        panic!(
            "real MNIST expected at {} (or set MNIST_DIR): {e}",
            dir.display()
        )
    });
    let test = MnistSplit::load(&dir, Split::Test).expect("test split");
    assert_eq!(train.len(), 60_000);
    assert_eq!(test.len(), 10_000);
    assert_eq!(
        train.label_histogram(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        test.label_histogram(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // The first training image is a 5 whose pixels sum to a known value.
    assert_eq!(train.label(0), 5);
    assert_eq!(
        train.image(0).iter().map(|&p| p as u64).sum::<u64>(),
        27_525
    );
}
