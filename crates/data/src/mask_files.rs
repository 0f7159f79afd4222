//! Mask files: one 0/1 row per input (or one for all) as CSV, NPY or JSON lines, read into a
//! [`MaskTable`] with every size checked before memory is spent. `infer predict --mask-file`,
//! `train --train-mask` and the fuzz targets read them here; `infer stream` parses its lines
//! with [`row_from_json`].

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use model::{MaskSemantics, MaskTable, NeuronListError, parse_neuron_list};

/// Values in one row: every hidden neuron of every layer.
fn width(hidden: &[usize]) -> usize {
    hidden.iter().sum()
}

/// Room for an NPY header or blank lines in a mask file.
const MAX_HEADER_BYTES: u64 = 1 << 20;
/// Generous bytes per mask value in any format (`1.000000,` in CSV, f64 in NPY, `"1:599", `
/// in JSONL).
const MAX_BYTES_PER_VALUE: u64 = 24;

/// Deepest bracket nesting accepted in an NPY header; a plain one nests two deep
/// (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 600), }`).
const MAX_NPY_HEADER_NESTING: usize = 4;

/// How deep the brackets of an NPY header nest, read before npyz parses it: npyz's
/// Python-literal grammar backtracks, in time exponential in the nesting (found by fuzzing:
/// 14 unclosed `{` in a 100-byte file took over a minute, each one more about 2.7x longer).
/// `None` when the file does not start like an NPY file; npyz reports that.
fn npy_header_nesting(file: &mut File) -> std::io::Result<Option<usize>> {
    let mut prefix = Vec::with_capacity(12);
    file.by_ref().take(12).read_to_end(&mut prefix)?;
    let (len, start) = match prefix.as_slice() {
        [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => {
            (u64::from(u16::from_le_bytes([*a, *b])), 10)
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d] => {
            (u64::from(u32::from_le_bytes([*a, *b, *c, *d])), 12)
        }
        _ => return Ok(None),
    };
    file.seek(std::io::SeekFrom::Start(start))?;
    let mut header = Vec::new();
    file.by_ref().take(len).read_to_end(&mut header)?;
    let (mut depth, mut deepest) = (0usize, 0);
    for byte in header {
        match byte {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(Some(deepest))
}

/// Read a mask file, by extension: `.csv`/`.txt` (rows of 0/1 values), `.npy` (shape
/// (N,H), (1,H) or (H,); bool, integer or float), `.jsonl`/`.json` (one object per line,
/// `{"off": [...]}` or `{"keep": [...]}` with `index` or `"layer:index"` entries).
/// `semantics` says what a 1 means in CSV and NPY files.
///
/// `max_rows` is the most rows the caller can use (its input count; 1 for a training
/// mask): a file far larger than that many rows could be is refused before it is read,
/// so a stray multi-gigabyte file costs neither time nor memory.
pub fn read(
    path: &Path,
    hidden: &[usize],
    semantics: MaskSemantics,
    max_rows: usize,
) -> Result<MaskTable, NeuronListError> {
    let origin = path.display().to_string();
    if let Ok(meta) = std::fs::metadata(path)
        && meta.is_file()
    {
        let limit = MAX_HEADER_BYTES
            + (max_rows.max(1) as u64) * (width(hidden) as u64) * MAX_BYTES_PER_VALUE;
        if meta.len() > limit {
            return Err(NeuronListError::file(
                &origin,
                format!(
                    "is {} bytes; a mask file for {} input(s) and {} neurons is at most \
                     {limit} bytes (one row per input)",
                    meta.len(),
                    max_rows.max(1),
                    width(hidden)
                ),
            ));
        }
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if path.is_dir() {
        return Err(NeuronListError::file(
            &origin,
            "is a directory; expected a mask file".into(),
        ));
    }
    match ext.as_str() {
        "csv" | "txt" => read_csv(path, hidden, semantics, &origin),
        "npy" => read_npy(path, hidden, semantics, &origin),
        "jsonl" | "json" => read_jsonl(path, hidden, &origin),
        other => Err(NeuronListError::file(
            &origin,
            format!("unknown mask file type `.{other}`; expected .csv, .npy or .jsonl"),
        )),
    }
}

fn read_csv(
    path: &Path,
    hidden: &[usize],
    semantics: MaskSemantics,
    origin: &str,
) -> Result<MaskTable, NeuronListError> {
    let width = width(hidden);
    let file = File::open(path).map_err(|e| NeuronListError::file(origin, e.to_string()))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::new(file));
    let mut values = Vec::new();
    // Byte records: a cell that is not UTF-8 is reported as not a number, like any other.
    for (n, record) in reader.byte_records().enumerate() {
        let record = record.map_err(|e| {
            let row = e.position().map_or(n as u64 + 1, csv::Position::line);
            NeuronListError::file(origin, format!("row {row}: {e}"))
        })?;
        let row = record.position().map_or(n as u64 + 1, csv::Position::line);
        if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
            continue;
        }
        let before = values.len();
        for (c, cell) in record.iter().enumerate() {
            let cell = String::from_utf8_lossy(cell.trim_ascii());
            let v: f32 = cell.parse().map_err(|_| {
                NeuronListError::file(
                    origin,
                    format!(
                        "row {row}, column {}: `{cell}` is not a number; expected 0 or 1",
                        c + 1
                    ),
                )
            })?;
            values.push(v);
        }
        if values.len() - before != width {
            return Err(NeuronListError::file(
                origin,
                format!(
                    "row {row} has {} values; expected {width} (one per hidden neuron)",
                    values.len() - before
                ),
            ));
        }
    }
    if values.is_empty() {
        return Err(NeuronListError::file(
            origin,
            "no rows; expected rows of 0/1 values".into(),
        ));
    }
    MaskTable::from_values(hidden, values, semantics, origin)
}

fn read_npy(
    path: &Path,
    hidden: &[usize],
    semantics: MaskSemantics,
    origin: &str,
) -> Result<MaskTable, NeuronListError> {
    let (npy, rows, cols) = open_npy(path, width(hidden), origin)?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let values = npy_values(npy, origin)?;
    let values = if fortran && rows > 1 {
        // Column-major on disk: back to one row per input.
        let mut out = vec![0.0; values.len()];
        for r in 0..rows {
            for c in 0..cols {
                out[r * cols + c] = values[c * rows + r];
            }
        }
        out
    } else {
        values
    };
    MaskTable::from_values(hidden, values, semantics, origin)
}

/// The .npy file at `path` with its header checked, and its (rows, columns): `(N, width)`,
/// `(1, width)` or `(width,)`.
fn open_npy(
    path: &Path,
    width: usize,
    origin: &str,
) -> Result<(npyz::NpyFile<BufReader<File>>, usize, usize), NeuronListError> {
    let io = |e: std::io::Error| NeuronListError::file(origin, e.to_string());
    let mut file = File::open(path).map_err(io)?;
    if let Some(depth) = npy_header_nesting(&mut file).map_err(io)?
        && depth > MAX_NPY_HEADER_NESTING
    {
        return Err(NeuronListError::file(
            origin,
            format!(
                "the .npy header nests brackets {depth} deep; expected a plain header \
                 such as {{'descr': '<f4', 'fortran_order': False, 'shape': (N, {width}), }}"
            ),
        ));
    }
    file.rewind().map_err(io)?;
    let npy = npyz::NpyFile::new(BufReader::new(file))
        .map_err(|e| NeuronListError::file(origin, format!("not a readable .npy file: {e}")))?;
    let shape = npy.shape().to_vec();
    let bad_shape = || {
        NeuronListError::file(
            origin,
            format!("shape {shape:?}; expected (N, {width}), (1, {width}) or ({width},)"),
        )
    };
    let (rows, cols) = match shape.as_slice() {
        [h] => (1, *h as usize),
        [n, h] => (*n as usize, *h as usize),
        _ => return Err(bad_shape()),
    };
    if cols != width || rows == 0 {
        return Err(bad_shape());
    }
    Ok((npy, rows, cols))
}

/// Every value of `npy` as f32, in file order, whatever its dtype (bool, integer or float).
fn npy_values(
    npy: npyz::NpyFile<BufReader<File>>,
    origin: &str,
) -> Result<Vec<f32>, NeuronListError> {
    let dtype = npy.dtype().descr();
    let read_err =
        |e: std::io::Error| NeuronListError::file(origin, format!("reading the data: {e}"));
    // Booleans first (they do not convert with `as`), then every numeric dtype, all on the
    // one open file: `try_data` hands the file back when the dtype does not match.
    let npy = match npy.try_data::<bool>() {
        Ok(reader) => {
            return reader
                .map(|v| v.map(|b| if b { 1.0 } else { 0.0 }))
                .collect::<Result<Vec<f32>, _>>()
                .map_err(read_err);
        }
        Err(npy) => npy,
    };
    macro_rules! try_types {
        ($npy:expr, $($t:ty),*) => {{
            let npy = $npy;
            $(
                let npy = match npy.try_data::<$t>() {
                    Ok(reader) => {
                        return reader
                            .map(|v| v.map(|v| v as f32))
                            .collect::<Result<Vec<f32>, _>>()
                            .map_err(read_err);
                    }
                    Err(npy) => npy,
                };
            )*
            drop(npy);
        }};
    }
    try_types!(npy, f32, f64, i64, i32, i16, i8, u64, u32, u16, u8);
    Err(NeuronListError::file(
        origin,
        format!("dtype `{dtype}`; expected bool, an integer or a float type"),
    ))
}

fn read_jsonl(path: &Path, hidden: &[usize], origin: &str) -> Result<MaskTable, NeuronListError> {
    let file = File::open(path).map_err(|e| NeuronListError::file(origin, e.to_string()))?;
    let mut rows = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let where_ = format!("{origin}: line {}", n + 1);
        let line = line.map_err(|e| NeuronListError::file(&where_, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| NeuronListError::file(&where_, format!("invalid JSON: {e}")))?;
        rows.push(row_from_json(&value, hidden, &where_)?);
    }
    if rows.is_empty() {
        return Err(NeuronListError::file(
            origin,
            "no lines; expected one JSON object per input".into(),
        ));
    }
    MaskTable::from_values(hidden, rows.concat(), MaskSemantics::Keep, origin)
}

/// One keep row from `{"off": [...]}` or `{"keep": [...]}` (a stream line, a JSONL line).
pub fn row_from_json(
    value: &serde_json::Value,
    hidden: &[usize],
    origin: &str,
) -> Result<Vec<f32>, NeuronListError> {
    row_from_lists(value.get("off"), value.get("keep"), hidden, origin)
}

/// A keep row from the `off` or `keep` list of a JSON mask line (`None`: not given).
pub fn row_from_lists(
    off: Option<&serde_json::Value>,
    keep: Option<&serde_json::Value>,
    hidden: &[usize],
    origin: &str,
) -> Result<Vec<f32>, NeuronListError> {
    let (key, list) = match (off, keep) {
        (Some(list), None) => ("off", list),
        (None, Some(list)) => ("keep", list),
        (Some(_), Some(_)) => {
            return Err(NeuronListError::file(
                origin,
                "both `off` and `keep` given; expected one".into(),
            ));
        }
        (None, None) => return Ok(MaskTable::all_on(hidden).row(0).to_vec()),
    };
    let items = list.as_array().ok_or_else(|| {
        NeuronListError::file(origin, format!("`{key}` must be a list of neurons"))
    })?;
    let names = items
        .iter()
        .map(|v| match v {
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::String(s) => Ok(s.clone()),
            other => Err(NeuronListError::file(
                origin,
                format!("`{key}` holds {other}; expected an index or \"layer:index\""),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let listed = if names.is_empty() {
        vec![Vec::new(); hidden.len()]
    } else {
        parse_neuron_list(&names.join(","), hidden, &format!("{origin}: `{key}`"))?
    };
    let table = if key == "off" {
        MaskTable::broadcast_off(hidden, &listed)
    } else {
        MaskTable::broadcast_keep_only(hidden, &listed)
    };
    Ok(table.row(0).to_vec())
}

/// The formats [`write_keep_row`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrittenType {
    Jsonl,
    Csv,
}

/// The format `path`'s extension names for [`write_keep_row`], checked before work is spent.
pub fn check_written_type(path: &Path) -> Result<WrittenType, NeuronListError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jsonl" | "json" => Ok(WrittenType::Jsonl),
        "csv" | "txt" => Ok(WrittenType::Csv),
        other => Err(NeuronListError::file(
            &path.display().to_string(),
            format!("unknown mask file type `.{other}`; expected .jsonl or .csv"),
        )),
    }
}

/// Write one keep row (1 = on; every hidden layer's block side by side) as a mask for all
/// inputs, atomically, in the format the extension names: `.jsonl`/`.json`, one line
/// `{"keep": [...]}` (plain indices for one hidden layer, `"layer:index"` for deeper nets), or
/// `.csv`/`.txt`, one row of 0/1. [`read`] reads either back as the same mask.
pub fn write_keep_row(path: &Path, hidden: &[usize], keep: &[f32]) -> Result<(), NeuronListError> {
    let origin = path.display().to_string();
    if keep.len() != width(hidden) {
        return Err(NeuronListError::file(
            &origin,
            format!(
                "a row of {} values was given for {} neurons",
                keep.len(),
                width(hidden)
            ),
        ));
    }
    let text = match check_written_type(path)? {
        WrittenType::Jsonl => {
            let mut names = Vec::new();
            let mut start = 0;
            for (l, &size) in hidden.iter().enumerate() {
                for j in 0..size {
                    if keep[start + j] != 0.0 {
                        names.push(if hidden.len() == 1 {
                            serde_json::Value::from(j)
                        } else {
                            format!("{l}:{j}").into()
                        });
                    }
                }
                start += size;
            }
            format!("{}\n", serde_json::json!({ "keep": names }))
        }
        WrittenType::Csv => {
            let cells: Vec<&str> = keep
                .iter()
                .map(|&v| if v != 0.0 { "1" } else { "0" })
                .collect();
            format!("{}\n", cells.join(","))
        }
    };
    crate::artifact::write_atomic(path, text.as_bytes())
        .map_err(|e| NeuronListError::file(&origin, e.to_string()))
}
