//! Weights in and out as safetensors, in PyTorch's layout.
//!
//! Names: `hidden.{l}.weight` `[out, in]`, `hidden.{l}.bias` `[out]`, `output.weight`
//! `[10, last hidden]`, `output.bias` `[10]`; all f32. That is what a PyTorch stack of
//! `nn.Linear` layers saved with `safetensors.torch.save_file` holds (Burn keeps `[in, out]`,
//! so weights are transposed on the way).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::module::Param;
use burn::optim::AdamConfig;
use burn::prelude::*;
use data::ArtifactDir;
use data::artifact::{save_config, save_model, write_atomic};
use model::{ExperimentConfig, MaskedMlp, MaskedMlpConfig};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::host::{host_vec, transpose};

fn host(t: Tensor<2>) -> Result<(Vec<f32>, [usize; 2])> {
    let dims = t.dims();
    Ok((host_vec(t, "weights")?, dims))
}

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Write the model's weights to `path` (PyTorch layout, f32), atomically.
pub fn export(model: &MaskedMlp, path: &Path) -> Result<()> {
    let mut named: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
    let layers = model
        .hidden
        .iter()
        .enumerate()
        .map(|(l, lin)| (format!("hidden.{l}"), lin))
        .chain(std::iter::once(("output".to_string(), &model.output)));
    for (name, linear) in layers {
        let (w, [d_in, d_out]) = host(linear.weight.val())?;
        named.push((
            format!("{name}.weight"),
            le_bytes(&transpose(&w, [d_in, d_out])),
            vec![d_out, d_in],
        ));
        let bias = match &linear.bias {
            Some(b) => host_vec(b.val(), "bias")?,
            None => vec![0.0; d_out],
        };
        named.push((format!("{name}.bias"), le_bytes(&bias), vec![d_out]));
    }
    let views = named
        .iter()
        .map(|(n, bytes, shape)| {
            Ok((
                n.clone(),
                TensorView::new(Dtype::F32, shape.clone(), bytes)?,
            ))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let meta = HashMap::from([("producer".to_string(), "neuromask".to_string())]);
    let bytes = safetensors::serialize(views, Some(meta))?;
    write_atomic(path, &bytes)?;
    Ok(())
}

fn tensor_f32(st: &SafeTensors, name: &str, shape: &[usize], origin: &Path) -> Result<Vec<f32>> {
    let view = st.tensor(name).map_err(|_| {
        anyhow::anyhow!(
            "{}: no tensor `{name}`; expected it with shape {shape:?}",
            origin.display()
        )
    })?;
    if view.dtype() != Dtype::F32 {
        bail!(
            "{}: tensor `{name}` is {:?}; expected F32",
            origin.display(),
            view.dtype()
        );
    }
    if view.shape() != shape {
        bail!(
            "{}: tensor `{name}` has shape {:?}; expected {shape:?}",
            origin.display(),
            view.shape()
        );
    }
    Ok(view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Read a safetensors file in PyTorch layout and rebuild the network it describes (sizes come
/// from the shapes).
pub fn import(path: &Path, device: &Device) -> Result<(MaskedMlpConfig, MaskedMlp)> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", path.display()))?;
    let shape_of = |name: &str| st.tensor(name).ok().map(|t| t.shape().to_vec());
    let mut hidden = Vec::new();
    let mut input_size = None;
    while let Some(shape) = shape_of(&format!("hidden.{}.weight", hidden.len())) {
        let [out, inp] = shape[..] else {
            bail!(
                "{}: tensor `hidden.{}.weight` has shape {shape:?}; expected [out, in]",
                path.display(),
                hidden.len()
            );
        };
        input_size.get_or_insert(inp);
        hidden.push(out);
    }
    if hidden.is_empty() {
        bail!(
            "{}: no tensor `hidden.0.weight`; expected hidden.0.weight [out, in], ..., output.weight, output.bias",
            path.display()
        );
    }
    let classes = shape_of("output.weight").map(|s| s[0]).unwrap_or(10);
    let config = MaskedMlpConfig::new()
        .with_input_size(input_size.unwrap_or(784))
        .with_hidden(hidden.clone())
        .with_num_classes(classes);
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut model = config.init(device);
    let mut width = config.input_size;
    let names: Vec<String> = (0..hidden.len()).map(|l| format!("hidden.{l}")).collect();
    let fill =
        |linear: &mut burn::nn::Linear, name: &str, d_in: usize, d_out: usize| -> Result<()> {
            let w = tensor_f32(&st, &format!("{name}.weight"), &[d_out, d_in], path)?;
            let b = tensor_f32(&st, &format!("{name}.bias"), &[d_out], path)?;
            let w = transpose(&w, [d_out, d_in]);
            linear.weight =
                Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device));
            linear.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(b, [d_out]),
                device,
            )));
            Ok(())
        };
    for (l, linear) in model.hidden.iter_mut().enumerate() {
        fill(linear, &names[l], width, hidden[l])?;
        width = hidden[l];
    }
    fill(&mut model.output, "output", width, classes)?;
    let known: Vec<String> = names
        .iter()
        .chain(std::iter::once(&"output".to_string()))
        .flat_map(|n| [format!("{n}.weight"), format!("{n}.bias")])
        .collect();
    if let Some(extra) = st
        .names()
        .into_iter()
        .find(|n| !known.contains(&n.to_string()))
    {
        bail!(
            "{}: unexpected tensor `{extra}`; expected only {}",
            path.display(),
            known.join(", ")
        );
    }
    Ok((config, model))
}

/// Turn an imported network into an artifact directory `infer` (and `train --resume`-free
/// tools) can load: config.json + model.bpk.
pub fn write_artifact_dir(dir: &Path, config: MaskedMlpConfig, model: &MaskedMlp) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let artifacts = ArtifactDir::new(dir);
    let experiment = ExperimentConfig::new(config, AdamConfig::new()).with_epochs(1);
    save_model(model, &artifacts.model())?;
    save_config(&experiment, &artifacts.config())?;
    Ok(())
}
