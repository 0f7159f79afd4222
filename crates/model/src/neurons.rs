//! Naming neurons on the command line and in files, shared by `train` and `infer`.
//!
//! A neuron is `index` (in the first hidden layer) or `layer:index` (layers count from 0).
//! Mask files hold keep values (1 = on) by default; `MaskSemantics::Off` reads 1 as off,
//! the convention of the question this project grew from.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// What a 1 means in a 0/1 mask file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskSemantics {
    /// 1 = neuron on, 0 = switched off (the accepted answer's convention; the default).
    #[default]
    Keep,
    /// 1 = neuron switched off, 0 = on (the original question's convention).
    Off,
}

impl FromStr for MaskSemantics {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "keep" => Ok(Self::Keep),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "`{other}`: expected `keep` (1 = on) or `off` (1 = off)"
            )),
        }
    }
}

impl fmt::Display for MaskSemantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keep => "keep",
            Self::Off => "off",
        })
    }
}

/// A neuron list or mask file that does not fit the network.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NeuronListError {
    #[error("{origin}: the list is empty; expected neuron indices such as `3,17,42` or `1:5`")]
    Empty { origin: String },
    #[error(
        "{origin}: `{token}` is not a neuron; expected `index` or `layer:index` with whole numbers"
    )]
    Syntax { origin: String, token: String },
    #[error("{origin}: layer {layer} does not exist; the network has {layers} hidden layer(s) (0..={max})", max = layers - 1)]
    Layer {
        origin: String,
        layer: usize,
        layers: usize,
    },
    #[error("{origin}: neuron {index} is beyond hidden layer {layer}, which has {width} neurons (0..={max})", max = width - 1)]
    Index {
        origin: String,
        layer: usize,
        index: usize,
        width: usize,
    },
    #[error("{origin}: {message}")]
    File { origin: String, message: String },
}

/// Parse `3,17,1:42` into per-layer index lists (`result[l]` for hidden layer `l`).
/// `origin` names where the text came from (a flag or a file) for error messages.
pub fn parse_neuron_list(
    text: &str,
    hidden: &[usize],
    origin: &str,
) -> Result<Vec<Vec<usize>>, NeuronListError> {
    let mut per_layer = vec![Vec::new(); hidden.len()];
    let tokens: Vec<&str> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return Err(NeuronListError::Empty {
            origin: origin.into(),
        });
    }
    for token in tokens {
        let syntax = || NeuronListError::Syntax {
            origin: origin.into(),
            token: token.into(),
        };
        let (layer, index) = match token.split_once(':') {
            Some((l, i)) => (
                l.trim().parse::<usize>().map_err(|_| syntax())?,
                i.trim().parse::<usize>().map_err(|_| syntax())?,
            ),
            None => (0, token.parse::<usize>().map_err(|_| syntax())?),
        };
        push_checked(&mut per_layer, hidden, layer, index, origin)?;
    }
    Ok(per_layer)
}

fn push_checked(
    per_layer: &mut [Vec<usize>],
    hidden: &[usize],
    layer: usize,
    index: usize,
    origin: &str,
) -> Result<(), NeuronListError> {
    let Some(&width) = hidden.get(layer) else {
        return Err(NeuronListError::Layer {
            origin: origin.into(),
            layer,
            layers: hidden.len(),
        });
    };
    if index >= width {
        return Err(NeuronListError::Index {
            origin: origin.into(),
            layer,
            index,
            width,
        });
    }
    if !per_layer[layer].contains(&index) {
        per_layer[layer].push(index);
    }
    Ok(())
}

/// The neurons a single 0/1 row switches off, split into one column block per hidden layer.
pub fn off_lists_from_row(
    row: &[f32],
    hidden: &[usize],
    semantics: MaskSemantics,
    origin: &str,
) -> Result<Vec<Vec<usize>>, NeuronListError> {
    let total: usize = hidden.iter().sum();
    if row.len() != total {
        return Err(NeuronListError::File {
            origin: origin.into(),
            message: format!(
                "{} values; expected {total} (one per hidden neuron: {})",
                row.len(),
                hidden
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
        });
    }
    let mut per_layer = Vec::with_capacity(hidden.len());
    let mut start = 0;
    for &width in hidden {
        let mut off = Vec::new();
        for (i, &v) in row[start..start + width].iter().enumerate() {
            if v != 0.0 && v != 1.0 {
                return Err(NeuronListError::File {
                    origin: origin.into(),
                    message: format!("column {} is {v}; expected exactly 0 or 1", start + i + 1),
                });
            }
            let is_off = match semantics {
                MaskSemantics::Keep => v == 0.0,
                MaskSemantics::Off => v == 1.0,
            };
            if is_off {
                off.push(i);
            }
        }
        per_layer.push(off);
        start += width;
    }
    Ok(per_layer)
}

/// Read a fixed mask from a file: a CSV/text row of 0/1 values (what 1 means is `semantics`),
/// or a JSON object `{"off": [..]}` / `{"keep": [..]}` whose entries are `index` or
/// `"layer:index"`.
pub fn read_fixed_mask_file(
    path: &Path,
    hidden: &[usize],
    semantics: MaskSemantics,
) -> Result<Vec<Vec<usize>>, NeuronListError> {
    let origin = path.display().to_string();
    let file_err = |message: String| NeuronListError::File {
        origin: origin.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| file_err(format!("invalid JSON: {e}")))?;
        let (key, list) = match (value.get("off"), value.get("keep")) {
            (Some(list), None) => ("off", list),
            (None, Some(list)) => ("keep", list),
            _ => {
                return Err(file_err(
                    "expected exactly one of the fields `off` or `keep`".into(),
                ));
            }
        };
        let items = list
            .as_array()
            .ok_or_else(|| file_err(format!("field `{key}` must be a list of neurons")))?;
        let names: Vec<String> = items
            .iter()
            .map(|v| match v {
                serde_json::Value::Number(n) => Ok(n.to_string()),
                serde_json::Value::String(s) => Ok(s.clone()),
                other => Err(file_err(format!(
                    "field `{key}` holds {other}; expected `index` or \"layer:index\""
                ))),
            })
            .collect::<Result<_, _>>()?;
        let listed = if names.is_empty() {
            vec![Vec::new(); hidden.len()]
        } else {
            parse_neuron_list(
                &names.join(","),
                hidden,
                &format!("{origin}: field `{key}`"),
            )?
        };
        return Ok(if key == "off" {
            listed
        } else {
            listed
                .iter()
                .zip(hidden)
                .map(|(keep, &w)| (0..w).filter(|i| !keep.contains(i)).collect())
                .collect()
        });
    }
    let rows: Vec<&str> = trimmed.lines().filter(|l| !l.trim().is_empty()).collect();
    if rows.len() != 1 {
        return Err(file_err(format!(
            "{} rows; a fixed training mask is exactly one row of 0/1 values",
            rows.len()
        )));
    }
    let values = rows[0]
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .enumerate()
        .map(|(i, t)| {
            t.parse::<f32>()
                .map_err(|_| file_err(format!("column {} is `{t}`; expected 0 or 1", i + 1)))
        })
        .collect::<Result<Vec<f32>, _>>()?;
    off_lists_from_row(&values, hidden, semantics, &origin)
}
