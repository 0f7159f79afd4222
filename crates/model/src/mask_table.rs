//! One 0/1 mask row per input, read from files or built from flags, shared by `train` and
//! `infer` (its `predict`, `stream` and `serve`).
//!
//! A row covers every hidden neuron: the column blocks of the hidden layers side by side
//! (600 columns for the seed's net, 512 + 256 for `[512, 256]`). One row applies to every
//! input (a broadcast mask); otherwise row i goes with input i.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::ops::Range;
use std::path::Path;

use burn::prelude::*;
use rand::{RngExt, SeedableRng, rngs::StdRng};

use crate::mask::{HiddenMasks, MaskError, NeuronMask};
use crate::neurons::{MaskSemantics, NeuronListError, parse_neuron_list};

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

/// Keep values (1 = on), `rows x sum(hidden)`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskTable {
    hidden: Vec<usize>,
    rows: usize,
    keep: Vec<f32>,
}

fn file_error(origin: &str, message: String) -> NeuronListError {
    NeuronListError::File {
        origin: origin.into(),
        message,
    }
}

impl MaskTable {
    fn width(hidden: &[usize]) -> usize {
        hidden.iter().sum()
    }

    /// No neuron off: one all-ones row.
    pub fn all_on(hidden: &[usize]) -> Self {
        Self {
            hidden: hidden.to_vec(),
            rows: 1,
            keep: vec![1.0; Self::width(hidden)],
        }
    }

    /// One broadcast row switching off `off[l]` in hidden layer `l` (indices already checked,
    /// e.g. by `parse_neuron_list`).
    pub fn broadcast_off(hidden: &[usize], off: &[Vec<usize>]) -> Self {
        let mut table = Self::all_on(hidden);
        let mut start = 0;
        for (l, &width) in hidden.iter().enumerate() {
            for &i in off.get(l).map(Vec::as_slice).unwrap_or_default() {
                if i < width {
                    table.keep[start + i] = 0.0;
                }
            }
            start += width;
        }
        table
    }

    /// One broadcast row keeping only `keep[l]` in hidden layer `l`.
    pub fn broadcast_keep_only(hidden: &[usize], keep: &[Vec<usize>]) -> Self {
        let off: Vec<Vec<usize>> = hidden
            .iter()
            .enumerate()
            .map(|(l, &w)| {
                let kept = keep.get(l).map(Vec::as_slice).unwrap_or_default();
                (0..w).filter(|i| !kept.contains(i)).collect()
            })
            .collect();
        Self::broadcast_off(hidden, &off)
    }

    /// A fresh random row per input, each neuron off with probability `p`.
    pub fn random_off(hidden: &[usize], rows: usize, p: f64, seed: u64) -> Result<Self, MaskError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(MaskError::Probability(p));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let keep = (0..rows * Self::width(hidden))
            .map(|_| if rng.random_bool(p) { 0.0 } else { 1.0 })
            .collect();
        Ok(Self {
            hidden: hidden.to_vec(),
            rows,
            keep,
        })
    }

    /// From row-major 0/1 values read as `semantics`; every value must be exactly 0 or 1.
    pub fn from_values(
        hidden: &[usize],
        values: Vec<f32>,
        semantics: MaskSemantics,
        origin: &str,
    ) -> Result<Self, NeuronListError> {
        let width = Self::width(hidden);
        if values.is_empty() || !values.len().is_multiple_of(width) {
            return Err(file_error(
                origin,
                format!(
                    "{} values; expected a whole number of rows of {width} (one value per hidden neuron)",
                    values.len()
                ),
            ));
        }
        let mut keep = values;
        for (i, v) in keep.iter_mut().enumerate() {
            if *v != 0.0 && *v != 1.0 {
                return Err(file_error(
                    origin,
                    format!(
                        "row {}, column {} is {v}; expected exactly 0 or 1",
                        i / width + 1,
                        i % width + 1
                    ),
                ));
            }
            if semantics == MaskSemantics::Off {
                *v = 1.0 - *v;
            }
        }
        Ok(Self {
            hidden: hidden.to_vec(),
            rows: keep.len() / width,
            keep,
        })
    }

    pub fn hidden(&self) -> &[usize] {
        &self.hidden
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn is_broadcast(&self) -> bool {
        self.rows == 1
    }

    /// The keep values of row `row` (all columns).
    pub fn row(&self, row: usize) -> &[f32] {
        let width = Self::width(&self.hidden);
        &self.keep[row * width..(row + 1) * width]
    }

    /// Check the row count against the number of inputs: 1 or exactly `inputs`.
    pub fn check_inputs(&self, inputs: usize, origin: &str) -> Result<(), NeuronListError> {
        if self.rows == 1 || self.rows == inputs {
            Ok(())
        } else {
            Err(file_error(
                origin,
                format!(
                    "{} mask rows for {inputs} inputs; expected 1 (the same mask for all) or {inputs} (one per input)",
                    self.rows
                ),
            ))
        }
    }

    /// Mean number of neurons switched off per input.
    pub fn mean_off(&self) -> f64 {
        let off = self.keep.iter().filter(|&&k| k == 0.0).count();
        off as f64 / self.rows as f64
    }

    /// The neurons row 0 switches off, per hidden layer (for a broadcast table: the mask).
    pub fn off_per_layer(&self) -> Vec<Vec<usize>> {
        let mut start = 0;
        self.hidden
            .iter()
            .map(|&width| {
                let row = &self.keep[start..start + width];
                start += width;
                (0..width).filter(|&i| row[i] == 0.0).collect()
            })
            .collect()
    }

    /// For a broadcast table: the kept neurons of each layer (`None` where all are kept).
    pub fn kept_per_layer(&self) -> Vec<Option<Vec<usize>>> {
        let mut start = 0;
        self.hidden
            .iter()
            .map(|&width| {
                let row = &self.keep[start..start + width];
                start += width;
                if row.iter().all(|&k| k == 1.0) {
                    None
                } else {
                    Some((0..width).filter(|&i| row[i] == 1.0).collect())
                }
            })
            .collect()
    }

    /// The masks for inputs `range` (row i goes with input i; a broadcast row with all).
    /// Layers with every neuron on get no mask at all.
    pub fn masks_for(
        &self,
        range: Range<usize>,
        device: &Device,
    ) -> Result<HiddenMasks, MaskError> {
        let width = Self::width(&self.hidden);
        let rows = if self.is_broadcast() { 0..1 } else { range };
        let n = rows.len();
        let mut layers = Vec::with_capacity(self.hidden.len());
        let mut start = 0;
        for (l, &w) in self.hidden.iter().enumerate() {
            let mut values = Vec::with_capacity(n * w);
            for r in rows.clone() {
                let offset = r * width + start;
                values.extend_from_slice(&self.keep[offset..offset + w]);
            }
            start += w;
            if values.iter().all(|&k| k == 1.0) {
                layers.push(None);
            } else {
                let mask = NeuronMask::from_keep_values(&values, n, w, device)
                    .map_err(|e| e.in_layer(l))?;
                layers.push(Some(mask));
            }
        }
        Ok(HiddenMasks::per_layer(layers))
    }

    /// Read a mask file, by extension: `.csv`/`.txt` (rows of 0/1 values), `.npy` (shape
    /// (N,H), (1,H) or (H,); bool, integer or float), `.jsonl`/`.json` (one object per line,
    /// `{"off": [...]}` or `{"keep": [...]}` with `index` or `"layer:index"` entries).
    /// `semantics` says what a 1 means in CSV and NPY files.
    ///
    /// `max_rows` is the most rows the caller can use (its input count; 1 for a training
    /// mask): a file far larger than that many rows could be is refused before it is read,
    /// so a stray multi-gigabyte file costs neither time nor memory.
    pub fn read_file(
        path: &Path,
        hidden: &[usize],
        semantics: MaskSemantics,
        max_rows: usize,
    ) -> Result<Self, NeuronListError> {
        let origin = path.display().to_string();
        if let Ok(meta) = std::fs::metadata(path)
            && meta.is_file()
        {
            let limit = MAX_HEADER_BYTES
                + (max_rows.max(1) as u64) * (Self::width(hidden) as u64) * MAX_BYTES_PER_VALUE;
            if meta.len() > limit {
                return Err(file_error(
                    &origin,
                    format!(
                        "is {} bytes; a mask file for {} input(s) and {} neurons is at most \
                         {limit} bytes (one row per input)",
                        meta.len(),
                        max_rows.max(1),
                        Self::width(hidden)
                    ),
                ));
            }
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if path.is_dir() {
            return Err(file_error(
                &origin,
                "is a directory; expected a mask file".into(),
            ));
        }
        match ext.as_str() {
            "csv" | "txt" => Self::read_csv(path, hidden, semantics, &origin),
            "npy" => Self::read_npy(path, hidden, semantics, &origin),
            "jsonl" | "json" => Self::read_jsonl(path, hidden, &origin),
            other => Err(file_error(
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
    ) -> Result<Self, NeuronListError> {
        let width = Self::width(hidden);
        let file = File::open(path).map_err(|e| file_error(origin, e.to_string()))?;
        let mut values = Vec::new();
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| file_error(origin, format!("row {}: {e}", n + 1)))?;
            if line.trim().is_empty() {
                continue;
            }
            let before = values.len();
            for (c, cell) in line.split(',').enumerate() {
                let cell = cell.trim();
                let v: f32 = cell.parse().map_err(|_| {
                    file_error(
                        origin,
                        format!(
                            "row {}, column {}: `{cell}` is not a number; expected 0 or 1",
                            n + 1,
                            c + 1
                        ),
                    )
                })?;
                values.push(v);
            }
            if values.len() - before != width {
                return Err(file_error(
                    origin,
                    format!(
                        "row {} has {} values; expected {width} (one per hidden neuron)",
                        n + 1,
                        values.len() - before
                    ),
                ));
            }
        }
        if values.is_empty() {
            return Err(file_error(
                origin,
                "no rows; expected rows of 0/1 values".into(),
            ));
        }
        Self::from_values(hidden, values, semantics, origin)
    }

    fn read_npy(
        path: &Path,
        hidden: &[usize],
        semantics: MaskSemantics,
        origin: &str,
    ) -> Result<Self, NeuronListError> {
        let width = Self::width(hidden);
        let io = |e: std::io::Error| file_error(origin, e.to_string());
        let mut file = File::open(path).map_err(io)?;
        if let Some(depth) = npy_header_nesting(&mut file).map_err(io)?
            && depth > MAX_NPY_HEADER_NESTING
        {
            return Err(file_error(
                origin,
                format!(
                    "the .npy header nests brackets {depth} deep; expected a plain header \
                     such as {{'descr': '<f4', 'fortran_order': False, 'shape': (N, {width}), }}"
                ),
            ));
        }
        file.rewind().map_err(io)?;
        let npy = npyz::NpyFile::new(BufReader::new(file))
            .map_err(|e| file_error(origin, format!("not a readable .npy file: {e}")))?;
        let shape = npy.shape().to_vec();
        let (rows, cols) = match shape.as_slice() {
            [h] => (1, *h as usize),
            [n, h] => (*n as usize, *h as usize),
            other => {
                return Err(file_error(
                    origin,
                    format!("shape {other:?}; expected (N, {width}), (1, {width}) or ({width},)"),
                ));
            }
        };
        if cols != width || rows == 0 {
            return Err(file_error(
                origin,
                format!("shape {shape:?}; expected (N, {width}), (1, {width}) or ({width},)"),
            ));
        }
        let fortran = npy.order() == npyz::Order::Fortran;
        let dtype = npy.dtype().descr();
        let read_err = |e: std::io::Error| file_error(origin, format!("reading the data: {e}"));
        macro_rules! try_types {
            ($npy:expr, $($t:ty),*) => {{
                let npy = $npy;
                $(
                    let npy = match npy.try_data::<$t>() {
                        Ok(reader) => {
                            return reader
                                .map(|v| v.map(|v| v as f32))
                                .collect::<Result<Vec<f32>, _>>()
                                .map_err(read_err)
                                .and_then(|values| finish(values, rows, cols, fortran))
                                .and_then(|values| Self::from_values(hidden, values, semantics, origin));
                        }
                        Err(npy) => npy,
                    };
                )*
                drop(npy);
            }};
        }
        fn finish(
            values: Vec<f32>,
            rows: usize,
            cols: usize,
            fortran: bool,
        ) -> Result<Vec<f32>, NeuronListError> {
            if !fortran || rows == 1 {
                return Ok(values);
            }
            let mut out = vec![0.0; values.len()];
            for r in 0..rows {
                for c in 0..cols {
                    out[r * cols + c] = values[c * rows + r];
                }
            }
            Ok(out)
        }
        // Booleans first (they do not convert with `as`), then every numeric dtype, all on the
        // one open file: `try_data` hands the file back when the dtype does not match.
        let npy = match npy.try_data::<bool>() {
            Ok(reader) => {
                let values = reader
                    .map(|v| v.map(|b| if b { 1.0 } else { 0.0 }))
                    .collect::<Result<Vec<f32>, _>>()
                    .map_err(read_err)?;
                return Self::from_values(
                    hidden,
                    finish(values, rows, cols, fortran)?,
                    semantics,
                    origin,
                );
            }
            Err(npy) => npy,
        };
        try_types!(npy, f32, f64, i64, i32, i16, i8, u64, u32, u16, u8);
        Err(file_error(
            origin,
            format!("dtype `{dtype}`; expected bool, an integer or a float type"),
        ))
    }

    fn read_jsonl(path: &Path, hidden: &[usize], origin: &str) -> Result<Self, NeuronListError> {
        let file = File::open(path).map_err(|e| file_error(origin, e.to_string()))?;
        let mut rows = Vec::new();
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let where_ = format!("{origin}: line {}", n + 1);
            let line = line.map_err(|e| file_error(&where_, e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| file_error(&where_, format!("invalid JSON: {e}")))?;
            rows.push(Self::row_from_json(&value, hidden, &where_)?);
        }
        if rows.is_empty() {
            return Err(file_error(
                origin,
                "no lines; expected one JSON object per input".into(),
            ));
        }
        let n = rows.len();
        Ok(Self {
            hidden: hidden.to_vec(),
            rows: n,
            keep: rows.concat(),
        })
    }

    /// One keep row from `{"off": [...]}` or `{"keep": [...]}` (a stream line, a JSONL line).
    pub fn row_from_json(
        value: &serde_json::Value,
        hidden: &[usize],
        origin: &str,
    ) -> Result<Vec<f32>, NeuronListError> {
        let (key, list) = match (value.get("off"), value.get("keep")) {
            (Some(list), None) => ("off", list),
            (None, Some(list)) => ("keep", list),
            (Some(_), Some(_)) => {
                return Err(file_error(
                    origin,
                    "both `off` and `keep` given; expected one".into(),
                ));
            }
            (None, None) => return Ok(Self::all_on(hidden).keep),
        };
        let items = list
            .as_array()
            .ok_or_else(|| file_error(origin, format!("`{key}` must be a list of neurons")))?;
        let names = items
            .iter()
            .map(|v| match v {
                serde_json::Value::Number(n) => Ok(n.to_string()),
                serde_json::Value::String(s) => Ok(s.clone()),
                other => Err(file_error(
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
            Self::broadcast_off(hidden, &listed)
        } else {
            Self::broadcast_keep_only(hidden, &listed)
        };
        Ok(table.keep)
    }

    /// Stack rows (each `sum(hidden)` long, keep values 0 or 1) into a table.
    pub fn from_rows(hidden: &[usize], rows: Vec<Vec<f32>>) -> Result<Self, MaskError> {
        let width: usize = hidden.iter().sum();
        if rows.is_empty() {
            return Err(MaskError::NoRows);
        }
        for (row, values) in rows.iter().enumerate() {
            if values.len() != width {
                return Err(MaskError::Length {
                    rows: 1,
                    width,
                    expected: width,
                    found: values.len(),
                }
                .in_row(row));
            }
            if let Some(column) = values.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(MaskError::NotBinary {
                    row,
                    column,
                    value: values[column],
                });
            }
        }
        Ok(Self {
            hidden: hidden.to_vec(),
            rows: rows.len(),
            keep: rows.concat(),
        })
    }
}
