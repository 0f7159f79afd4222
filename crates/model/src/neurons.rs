//! Naming neurons on the command line and in files, shared by `train` and `infer`.
//!
//! A neuron is `index` (in the first hidden layer) or `layer:index` (layers count from 0).
//! Mask files hold keep values (1 = on) by default; `MaskSemantics::Off` reads 1 as off,
//! the convention of the question this project grew from.

use std::fmt;
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
    #[error("{origin}: layer {layer} does not exist; the network has {layers} hidden layer(s) (0..={max})", max = layers.saturating_sub(1))]
    Layer {
        origin: String,
        layer: usize,
        layers: usize,
    },
    #[error("{origin}: neuron {index} is beyond hidden layer {layer}, which has {width} neurons (0..={max})", max = width.saturating_sub(1))]
    Index {
        origin: String,
        layer: usize,
        index: usize,
        width: usize,
    },
    #[error("{origin}: {message}")]
    File { origin: String, message: String },
}

impl NeuronListError {
    /// A problem with the file or line named `origin`.
    pub fn file(origin: &str, message: String) -> Self {
        NeuronListError::File {
            origin: origin.into(),
            message,
        }
    }
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
