//! The adapter file: safetensors with the matrices as `blk.{layer}.{target}.lora_a|lora_b` (f32,
//! `[rank, in]` and `[out, rank]`) and, in the header's `__metadata__`, the format tag, rank,
//! alpha, targets and the base model's identity (Hub repo, file name, sha256, architecture).

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use thiserror::Error;

use super::{Adapter, LoraConfig, LoraTarget, LoraWeights};
use crate::EngineError;
use crate::readback::to_vec;

pub const FORMAT: &str = "cotnpot-lora/1";

#[derive(Debug, Error)]
pub enum AdapterError {
    #[error("not an adapter file: {0}")]
    Format(String),
    #[error("adapter file lacks {0}")]
    Missing(String),
    #[error("unknown LoRA target {0:?} (q, k, v, o, gate, up, down)")]
    UnknownTarget(String),
    #[error("the adapter does not fit this model: {0}")]
    BaseMismatch(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Which model an adapter belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseModel {
    /// Hugging Face Hub repository, e.g. `HuggingFaceTB/SmolLM2-135M-Instruct` (may be empty
    /// when the file came from elsewhere).
    pub repo: String,
    pub file: String,
    pub sha256: String,
    /// `llama` or `qwen2`.
    pub arch: String,
}

fn tensor_name(w: &LoraWeights, part: &str) -> String {
    format!("blk.{}.{}.{part}", w.layer, w.target.name())
}

impl Adapter {
    /// The adapter as safetensors bytes (reads the matrices back from their device).
    pub async fn to_safetensors(&self) -> Result<Vec<u8>, AdapterError> {
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for w in &self.weights {
            for (part, t) in [("lora_a", &w.a), ("lora_b", &w.b)] {
                let values = to_vec(t.clone()).await?;
                let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                tensors.push((tensor_name(w, part), t.dims().to_vec(), bytes));
            }
        }
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| Ok((name.as_str(), TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(|e| AdapterError::Format(e.to_string()))?)))
            .collect::<Result<Vec<_>, AdapterError>>()?;
        let targets: Vec<&str> = self.config.targets.iter().map(|t| t.name()).collect();
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("rank".to_string(), self.config.rank.to_string()),
            ("alpha".to_string(), self.config.alpha.to_string()),
            ("targets".to_string(), targets.join(",")),
            ("base_repo".to_string(), self.base.repo.clone()),
            ("base_file".to_string(), self.base.file.clone()),
            ("base_sha256".to_string(), self.base.sha256.clone()),
            ("base_arch".to_string(), self.base.arch.clone()),
        ]);
        safetensors::serialize(views, Some(metadata)).map_err(|e| AdapterError::Format(e.to_string()))
    }

    /// Reads an adapter file; its matrices go to `device`. Shapes are checked against a model by
    /// [`Adapter::attach`].
    pub fn from_safetensors(bytes: &[u8], device: &Device) -> Result<Self, AdapterError> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| AdapterError::Format(e.to_string()))?;
        let meta = header.metadata().clone().ok_or_else(|| AdapterError::Missing("its __metadata__".into()))?;
        let get = |key: &str| meta.get(key).cloned().ok_or_else(|| AdapterError::Missing(format!("metadata {key:?}")));
        if get("format")? != FORMAT {
            return Err(AdapterError::Format(format!("format {:?}, expected {FORMAT:?}", get("format")?)));
        }
        let rank: usize = get("rank")?.parse().map_err(|_| AdapterError::Format("rank is not a number".into()))?;
        let alpha: f64 = get("alpha")?.parse().map_err(|_| AdapterError::Format("alpha is not a number".into()))?;
        if rank == 0 || !alpha.is_finite() {
            return Err(AdapterError::Format(format!("rank {rank}, alpha {alpha}")));
        }
        let targets = LoraTarget::parse_list(&get("targets")?)?;
        let base = BaseModel { repo: get("base_repo")?, file: get("base_file")?, sha256: get("base_sha256")?, arch: get("base_arch")? };
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| AdapterError::Format(e.to_string()))?;
        let mut layers: Vec<usize> = Vec::new();
        for name in tensors.names() {
            let layer = name.strip_prefix("blk.").and_then(|r| r.split('.').next()).and_then(|l| l.parse().ok());
            match layer {
                Some(l) => layers.push(l),
                None => return Err(AdapterError::Format(format!("unexpected tensor {name:?}"))),
            }
        }
        layers.sort_unstable();
        layers.dedup();
        let matrix = |name: String| -> Result<Tensor<2>, AdapterError> {
            let view = tensors.tensor(&name).map_err(|_| AdapterError::Missing(name.clone()))?;
            if view.dtype() != Dtype::F32 || view.shape().len() != 2 {
                return Err(AdapterError::Format(format!("{name}: {:?} {:?}, expected a 2-d F32 matrix", view.dtype(), view.shape())));
            }
            let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if values.iter().any(|v| !v.is_finite()) {
                return Err(AdapterError::Format(format!("{name} holds a non-finite value")));
            }
            Ok(Tensor::from_data(TensorData::new(values, [view.shape()[0], view.shape()[1]]), device))
        };
        let mut weights = Vec::new();
        for &layer in &layers {
            for &target in &targets {
                let w = LoraWeights { layer, target, a: Tensor::zeros([1, 1], device), b: Tensor::zeros([1, 1], device) };
                weights.push(LoraWeights { a: matrix(tensor_name(&w, "lora_a"))?, b: matrix(tensor_name(&w, "lora_b"))?, ..w });
            }
        }
        if weights.len() * 2 != tensors.len() {
            return Err(AdapterError::Format(format!("{} tensors, but {} layers × {} targets", tensors.len(), layers.len(), targets.len())));
        }
        Ok(Self { config: LoraConfig { rank, alpha, targets }, base, weights })
    }
}
