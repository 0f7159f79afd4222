//! The fuzz targets' checks, one function per target, shared by `fuzz/` (cargo-fuzz, nightly)
//! and by `fuzz_replay.rs` (stable, in `cargo test --workspace`), which feeds them the saved
//! corpus in `fuzz/corpus/<target>/`.
//!
//! Each check hands the bytes to the real entry point (the file readers get a file under
//! `/dev/shm`, with the extension that picks the format) and asserts: no panic, and on `Ok` a
//! result consistent with the input. An `Err` is always fine: rejecting garbage is the job.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use data::artifact::{load_config, save_config};
use data::idx::{self, PIXELS};
use model::{ExperimentConfig, MaskSemantics};

/// A check: takes one fuzz input, panics when an invariant breaks.
pub type Check = fn(&[u8]);

/// Every target, by the name of its folder under `fuzz/corpus/` and `fuzz/fuzz_targets/`.
pub const TARGETS: &[(&str, Check)] = &[
    ("idx_images", idx_images),
    ("idx_labels", idx_labels),
    ("mask_csv", mask_csv),
    ("mask_npy", mask_npy),
    ("mask_jsonl", mask_jsonl),
    ("stream_line", stream_line),
    ("config_json", config_json),
];

/// The seed's net and a small two-layer one, to exercise the `layer:index` column blocks.
const HIDDEN_VARIANTS: [&[usize]; 2] = [&[600], &[5, 3]];

/// Mask rows a caller could use; only bounds the file size, far above any fuzz input.
const MAX_ROWS: usize = 64;

/// The scratch folder: on tmpfs where there is one, so each input costs no disk I/O.
fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join("neuromask-fuzz");
        std::fs::create_dir_all(&dir).expect("create the fuzz scratch folder");
        dir
    })
}

/// A fuzz input written to a file of its own, removed again when dropped.
struct ScratchFile(PathBuf);

impl ScratchFile {
    /// `name` is this process's file `name`: one per target and process, so targets may run
    /// in parallel threads and fuzzers in parallel processes.
    fn new(name: &str, bytes: &[u8]) -> Self {
        let path = scratch_dir().join(format!("{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).expect("write the fuzz input");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The first input byte picks the network (bit 0) and what a 1 means (bit 1); the rest is
/// the file or line. Empty input picks the defaults and an empty body.
fn split_selector(data: &[u8]) -> (&'static [usize], MaskSemantics, &[u8]) {
    let (first, body) = data.split_first().map_or((0, data), |(f, b)| (*f, b));
    let hidden = HIDDEN_VARIANTS[usize::from(first & 1)];
    let semantics = if first & 2 == 0 {
        MaskSemantics::Keep
    } else {
        MaskSemantics::Off
    };
    (hidden, semantics, body)
}

fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
}

fn assert_binary(values: &[f32], what: &str) {
    if let Some(v) = values.iter().find(|&&v| v != 0.0 && v != 1.0) {
        panic!("{what} holds {v}; expected only 0 and 1");
    }
}

/// `data::idx::read_images`: on Ok, `count * 784` pixels, and a raw file is exactly header
/// plus pixels.
pub fn idx_images(data: &[u8]) {
    let file = ScratchFile::new("images.idx", data);
    if let Ok(images) = idx::read_images(file.path()) {
        assert_eq!(images.pixels.len(), images.count * PIXELS, "pixel count");
        if !is_gzip(data) {
            assert_eq!(data.len(), 16 + images.pixels.len(), "raw file length");
            assert_eq!(&data[16..], images.pixels.as_slice(), "pixels as stored");
        }
    }
}

/// `data::idx::read_labels`: on Ok, digits 0..=9 only, and a raw file is exactly header plus
/// labels.
pub fn idx_labels(data: &[u8]) {
    let file = ScratchFile::new("labels.idx", data);
    if let Ok(labels) = idx::read_labels(file.path()) {
        assert!(
            labels.iter().all(|&l| l < 10),
            "a label above 9: {labels:?}"
        );
        if !is_gzip(data) {
            assert_eq!(data.len(), 8 + labels.len(), "raw file length");
            assert_eq!(&data[8..], labels.as_slice(), "labels as stored");
        }
    }
}

/// `data::mask_files::read` on a `.ext` file: on Ok, the network's widths, at least one row,
/// every row a full row of 0/1 values.
fn mask_file(data: &[u8], ext: &str) {
    let (hidden, semantics, body) = split_selector(data);
    let file = ScratchFile::new(&format!("mask.{ext}"), body);
    if let Ok(table) = data::mask_files::read(file.path(), hidden, semantics, MAX_ROWS) {
        let width: usize = hidden.iter().sum();
        assert_eq!(table.hidden(), hidden, "hidden sizes");
        assert!(table.rows() >= 1, "a table without rows");
        for r in 0..table.rows() {
            let row = table.row(r);
            assert_eq!(row.len(), width, "row {r} width");
            assert_binary(row, &format!("row {r}"));
        }
        let off: usize = table.off_per_layer().iter().map(Vec::len).sum();
        assert!(off <= width, "{off} neurons off in a row of {width}");
    }
}

pub fn mask_csv(data: &[u8]) {
    mask_file(data, "csv");
}

pub fn mask_npy(data: &[u8]) {
    mask_file(data, "npy");
}

pub fn mask_jsonl(data: &[u8]) {
    mask_file(data, "jsonl");
}

/// `infer::stream::parse_request` on one line (bit 1 of the selector: default scale 255 or
/// 1): on Ok, 784 pixels in [0, 1] and a full 0/1 keep row.
pub fn stream_line(data: &[u8]) {
    let (hidden, semantics, body) = split_selector(data);
    let default_scale = if semantics == MaskSemantics::Keep {
        255.0
    } else {
        1.0
    };
    let width: usize = hidden.iter().sum();
    let default_keep = vec![1.0; width];
    let text = String::from_utf8_lossy(body);
    if let Ok(request) = infer::stream::parse_request(&text, hidden, default_scale, &default_keep) {
        assert_eq!(request.pixels.len(), PIXELS, "pixel count");
        if let Some(p) = request.pixels.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            panic!("pixel {p} outside [0, 1]");
        }
        assert_eq!(request.keep.len(), width, "keep row width");
        assert_binary(&request.keep, "the keep row");
    }
}

/// `load_config::<ExperimentConfig>` then `validate`: either may refuse, neither may panic;
/// a config that validates must survive `save_config` and load and validate again (what
/// `train` writes, `infer` must read).
pub fn config_json(data: &[u8]) {
    let file = ScratchFile::new("config.json", data);
    let Ok(config) = load_config::<ExperimentConfig>(file.path()) else {
        return;
    };
    if config.validate().is_err() {
        return;
    }
    let saved = ScratchFile::new("config-saved.json", b"");
    save_config(&config, saved.path()).expect("save a validated config");
    let again = load_config::<ExperimentConfig>(saved.path())
        .unwrap_or_else(|e| panic!("a validated config does not load back: {e}"));
    again
        .validate()
        .unwrap_or_else(|e| panic!("a validated config fails validation once saved: {e}"));
    assert_eq!(again.model.hidden, config.model.hidden, "hidden sizes");
}
