//! The IDX reader on synthetic files (gz and raw, good and broken), the SHA-256 checks, and
//! the real MNIST shipped in `data/mnist/` (built in and on disk).

use std::io::Write;
use std::path::{Path, PathBuf};

use data::checksum::{self, SUMS_FILE};
use data::idx::{self, IdxError};
use data::{MnistSource, MnistSplit, PIXELS, Split, embedded};
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

/// The project's own copy of MNIST, `data/mnist/` at the repository root.
fn shipped_dir() -> PathBuf {
    PathBuf::from(embedded::SOURCE_DIR)
}

fn assert_is_real_mnist(train: &MnistSplit, test: &MnistSplit) {
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

#[test]
fn the_built_in_mnist_loads_with_the_known_counts() {
    let train = MnistSplit::embedded(Split::Train).expect("built-in train split");
    let test = MnistSplit::embedded(Split::Test).expect("built-in test split");
    assert_is_real_mnist(&train, &test);
    // The default source, with no folder named, is the built-in copy.
    assert_eq!(MnistSource::Embedded.load(Split::Test).expect("test"), test);
}

#[test]
fn the_shipped_folder_loads_checked_against_its_sha256sums_and_equals_the_built_in_copy() {
    let dir = shipped_dir();
    assert!(dir.join(SUMS_FILE).is_file(), "data/mnist/SHA256SUMS");
    let train = MnistSplit::load(&dir, Split::Train).expect("data/mnist train");
    let test = MnistSplit::load(&dir, Split::Test).expect("data/mnist test");
    assert_is_real_mnist(&train, &test);
    assert_eq!(train, MnistSplit::embedded(Split::Train).expect("built in"));
}

#[test]
fn the_pinned_sums_are_those_of_sha256sums_and_of_the_files() {
    let sums_path = shipped_dir().join(SUMS_FILE);
    let text = std::fs::read_to_string(&sums_path).expect("SHA256SUMS");
    let listed = checksum::parse_sums(&sums_path, &text).expect("parses");
    assert_eq!(listed.len(), embedded::FILES.len());
    for file in embedded::FILES {
        assert_eq!(
            listed.get(file.name),
            Some(&file.sha256.to_string()),
            "{}",
            file.name
        );
        assert_eq!(
            checksum::sha256_hex(file.bytes),
            file.sha256,
            "{}",
            file.name
        );
        let on_disk = std::fs::read(shipped_dir().join(file.name)).expect("file");
        assert!(
            on_disk == file.bytes,
            "{}: built-in bytes differ from data/mnist",
            file.name
        );
    }
    // A known vector, so the hex and the hash are both right.
    assert_eq!(
        checksum::sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn a_damaged_file_is_one_error_naming_it_and_both_sums() {
    // A copy of the shipped test split with one byte flipped in the labels.
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        SUMS_FILE,
    ] {
        std::fs::copy(shipped_dir().join(name), dir.path().join(name)).expect("copy");
    }
    MnistSplit::load(dir.path(), Split::Test).expect("an intact copy loads");
    let labels = dir.path().join("t10k-labels-idx1-ubyte.gz");
    let mut bytes = std::fs::read(&labels).expect("read");
    let last = bytes.len() - 20;
    bytes[last] ^= 0x40;
    std::fs::write(&labels, &bytes).expect("write");
    let err = MnistSplit::load(dir.path(), Split::Test).expect_err("damaged");
    let message = err.to_string();
    assert!(matches!(err, IdxError::Checksum { .. }), "{message}");
    assert!(
        message.contains("t10k-labels-idx1-ubyte.gz")
            && message.contains("b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b")
            && !message.contains('\n'),
        "{message}"
    );

    // The same check guards the built-in copy: bytes that do not match the pinned sum.
    let mut damaged = embedded::FILES[1];
    damaged.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    let message = damaged.verified().expect_err("mismatch").to_string();
    assert!(
        message.contains("data/mnist/t10k-labels-idx1-ubyte.gz (built into this binary)")
            && message.contains("SHA-256"),
        "{message}"
    );
}

#[test]
fn a_malformed_sums_file_is_an_error_naming_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pixels, labels) = synthetic(3);
    write(
        dir.path(),
        "t10k-images-idx3-ubyte",
        &idx::encode_images(&pixels, 3),
    );
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &idx::encode_labels(&labels),
    );
    // No sums file: nothing to check.
    MnistSplit::load(dir.path(), Split::Test).expect("loads");
    write(
        dir.path(),
        SUMS_FILE,
        b"# sums\n\nnot-a-sum t10k-images-idx3-ubyte\n",
    );
    let message = MnistSplit::load(dir.path(), Split::Test)
        .expect_err("bad sums file")
        .to_string();
    assert!(
        message.contains(SUMS_FILE) && message.contains("line 3") && message.contains("64 hex"),
        "{message}"
    );
    // A correct sums file in binary mode (`HEX *NAME`) for one file only: that one is checked.
    let sum = checksum::sha256_hex(&idx::encode_images(&pixels, 3));
    write(
        dir.path(),
        SUMS_FILE,
        format!("{sum} *t10k-images-idx3-ubyte\n").as_bytes(),
    );
    MnistSplit::load(dir.path(), Split::Test).expect("listed file matches");
}
