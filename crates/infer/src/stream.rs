//! `infer stream`: JSON lines in, JSON lines out, the model loaded once.
//!
//! Lines are batched when they arrive faster than they are answered (a reader thread feeds a
//! queue; each batch takes what is waiting), but each line keeps its own mask and the answers
//! come out in input order. A bad line gets an error line and the stream goes on.

use std::io::{BufRead, Write};
use std::sync::mpsc;

use anyhow::Result;
use data::PIXELS;
use model::MaskTable;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::predictor::Predictor;

/// Largest number of lines answered by one forward pass.
pub const MAX_BATCH: usize = 256;

/// One request: 784 pixels scaled to 0..1 and a keep row over every hidden neuron.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub pixels: Vec<f32>,
    pub keep: Vec<f32>,
}

/// A request line as sent: which fields are there (any others are refused), each still as
/// the JSON it was, so that every check below can quote it in its message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestLine {
    #[serde(default, deserialize_with = "present")]
    pixels: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    off: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    keep: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    scale: Option<Value>,
}

/// A field that is there, even as `null` (serde's `Option` would read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Parse `{"pixels": [...784], "off": [...] | "keep": [...], "scale": 255 | 1}`. `scale` says
/// what the brightest pixel is (255 for bytes, 1 for 0..1 floats); `default_scale` applies when
/// the line does not say; a line without `off` or `keep` gets `default_keep` (the model's
/// default mask).
pub fn parse_request(
    text: &str,
    hidden: &[usize],
    default_scale: f32,
    default_keep: &[f32],
) -> Result<Request, String> {
    // JSON syntax first, then the fields: a line that is not JSON says so whatever it holds.
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    if !value.is_object() {
        return Err("expected a JSON object with `pixels`".into());
    }
    let line: RequestLine = serde_json::from_value(value).map_err(|e| {
        let e = e.to_string();
        match e
            .strip_prefix("unknown field `")
            .and_then(|r| r.split_once('`'))
        {
            Some((key, _)) => format!("unknown field `{key}`; expected pixels, off, keep, scale"),
            None => e,
        }
    })?;
    let scale = match &line.scale {
        None => default_scale,
        Some(s) => match s.as_f64() {
            Some(v) if v == 255.0 || v == 1.0 => v as f32,
            _ => return Err(format!("`scale` is {s}; expected 255 or 1")),
        },
    };
    let pixels = line
        .pixels
        .as_ref()
        .and_then(Value::as_array)
        .ok_or("missing `pixels`: expected a list of 784 numbers")?;
    if pixels.len() != PIXELS {
        return Err(format!(
            "`pixels` has {} values; expected 784 (28x28)",
            pixels.len()
        ));
    }
    let pixels = pixels
        .iter()
        .enumerate()
        .map(|(i, p)| match p.as_f64() {
            Some(v) if (0.0..=scale as f64).contains(&v) => Ok(v as f32 / scale),
            _ => Err(format!(
                "pixel {i} is {p}; expected a number from 0 to {scale}"
            )),
        })
        .collect::<Result<Vec<f32>, String>>()?;
    let keep = if line.off.is_none() && line.keep.is_none() {
        default_keep.to_vec()
    } else {
        data::mask_files::row_from_lists(line.off.as_ref(), line.keep.as_ref(), hidden, "mask")
            .map_err(|e| e.to_string())?
    };
    Ok(Request { pixels, keep })
}

/// What one request gets: the predicted class, the class probabilities, and the last hidden
/// layer's activations (`infer serve` shades its grid with them; `infer stream` leaves them out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub predicted: usize,
    pub probabilities: Vec<f32>,
    pub hidden: Vec<f32>,
}

impl Answer {
    /// The answer as `infer stream` writes it: class and probabilities.
    pub fn stream_json(&self) -> Value {
        json!({"predicted": self.predicted, "probabilities": self.probabilities})
    }
}

/// Answers to a batch of requests, in order, from one forward pass with a mask row each.
pub fn answer(predictor: &Predictor, requests: &[Request]) -> Result<Vec<Answer>> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let pixels: Vec<f32> = requests
        .iter()
        .flat_map(|r| r.pixels.iter().copied())
        .collect();
    let table = MaskTable::from_rows(
        predictor.hidden(),
        requests.iter().map(|r| r.keep.clone()).collect(),
    )?;
    let out = predictor.hidden_and_logits(&pixels, &table)?;
    Ok((0..requests.len())
        .map(|i| Answer {
            predicted: out.predictions.predicted(i),
            probabilities: out.predictions.probabilities(i),
            hidden: out.hidden(i).to_vec(),
        })
        .collect())
}

/// The longest line read: a request is 784 numbers and a mask list, far below this; a longer
/// line (a binary file piped in by mistake) is answered with an error without being held in
/// memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The next line without its newline: `None` at the end of the input, `Some(Err)` for a line
/// that is too long (skipped up to its newline) or not UTF-8.
fn read_bounded_line(input: &mut dyn BufRead) -> std::io::Result<Option<std::io::Result<String>>> {
    let mut bytes = Vec::new();
    let read = std::io::Read::take(&mut *input, MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', &mut bytes)?;
    if read == 0 {
        return Ok(None);
    }
    if bytes.last() != Some(&b'\n') && bytes.len() > MAX_LINE_BYTES {
        // Drop the rest of the overlong line, a buffer at a time.
        loop {
            let buf = input.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    input.consume(i + 1);
                    break;
                }
                None => {
                    let len = buf.len();
                    input.consume(len);
                }
            }
        }
        return Ok(Some(Err(std::io::Error::other(format!(
            "longer than {MAX_LINE_BYTES} bytes; expected one JSON object per line"
        )))));
    }
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    Ok(Some(String::from_utf8(bytes).map_err(|_| {
        std::io::Error::other("not UTF-8 text; expected one JSON object per line")
    })))
}

/// Wait for one item, then take whatever else is already waiting, up to [`MAX_BATCH`] in all:
/// requests that arrive together are answered by one forward pass. `None` once every sender
/// is gone.
pub fn next_batch<T>(rx: &mpsc::Receiver<T>) -> Option<Vec<T>> {
    let first = rx.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Counts for the closing line on stderr.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    pub answered: usize,
    pub errors: usize,
    pub batches: usize,
}

/// Serve a stream until the input ends.
pub fn run(
    predictor: &Predictor,
    input: Box<dyn BufRead + Send>,
    output: &mut dyn Write,
    default_scale: f32,
) -> Result<StreamStats> {
    let (tx, rx) = mpsc::sync_channel::<(usize, std::io::Result<String>)>(4 * MAX_BATCH);
    let reader = std::thread::spawn(move || {
        let mut input = input;
        let mut n = 0;
        loop {
            n += 1;
            let (line, last) = match read_bounded_line(&mut input) {
                Ok(None) => break,
                Ok(Some(line)) => (line, false),
                // The input itself failed: report it on this line and stop reading.
                Err(e) => (Err(e), true),
            };
            if tx.send((n, line)).is_err() || last {
                break;
            }
        }
    });
    let mut stats = StreamStats::default();
    while let Some(lines) = next_batch(&rx) {
        let hidden = predictor.hidden().to_vec();
        let default_keep = predictor.default_masks().row(0).to_vec();
        let parsed: Vec<(usize, Result<Request, String>)> = lines
            .into_iter()
            .filter(|(_, l)| l.as_ref().map_or(true, |t| !t.trim().is_empty()))
            .map(|(n, l)| match l {
                Ok(text) => (
                    n,
                    parse_request(&text, &hidden, default_scale, &default_keep),
                ),
                Err(e) => (n, Err(format!("unreadable line: {e}"))),
            })
            .collect();
        let good: Vec<Request> = parsed
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().cloned())
            .collect();
        let mut answers = answer(predictor, &good)?.into_iter();
        for (n, request) in parsed {
            let line = match request {
                Ok(_) => {
                    stats.answered += 1;
                    let mut a = answers.next().map_or(Value::Null, |a| a.stream_json());
                    a["line"] = n.into();
                    a
                }
                Err(e) => {
                    stats.errors += 1;
                    json!({"line": n, "error": format!("line {n}: {e}")})
                }
            };
            writeln!(output, "{line}")?;
        }
        output.flush()?;
        stats.batches += 1;
    }
    let _ = reader.join();
    Ok(stats)
}
