//! GGUF tensors → device weights; quantized tensors stay quantized.

use burn::tensor::{Device, Tensor, TensorData};
use thiserror::Error;

use super::config::ModelConfig;
use super::layers::{Attention, Linear, RmsNorm, GatedFfn};
use super::llama::{Block, Transformer};
use crate::gguf::{GgufError, GgufFile, TensorInfo};
use std::sync::Arc;

use crate::quant::{CpuActivations, HostQuant, QuantTensor, Weight, code_bits, decode_blocks, dequantize};

#[derive(Debug, Error)]
pub enum LoadError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("tensor {name}: shape {shape:?}, expected {expected:?}")]
    Shape { name: String, shape: Vec<u64>, expected: Vec<u64> },
}

struct Loader<'a> {
    file: &'a GgufFile,
    device: &'a Device,
    /// On the CPU backend quantized weights live in host memory with fused kernels.
    host_kernels: bool,
}

impl Loader<'_> {
    fn info(&self, name: &str, expected: &[usize]) -> Result<&TensorInfo, LoadError> {
        let info = self.file.header.tensor(name)?;
        let expected: Vec<u64> = expected.iter().map(|&d| d as u64).collect();
        if info.shape != expected {
            return Err(LoadError::Shape { name: name.to_string(), shape: info.shape.clone(), expected });
        }
        Ok(info)
    }

    fn vector(&self, name: &str, len: usize) -> Result<Tensor<1>, LoadError> {
        let info = self.info(name, &[len])?;
        let values = dequantize(info.ty, &self.file.tensor_bytes(info)?);
        Ok(Tensor::from_data(TensorData::new(values, [len]), self.device))
    }

    /// A matrix stored in ggml order `[cols, rows]` (cols contiguous), i.e. `[out=rows, in=cols]`.
    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Weight, LoadError> {
        let info = self.info(name, &[cols, rows])?;
        let bytes = self.file.tensor_bytes(info)?;
        Ok(if info.ty.is_quantized() && self.host_kernels {
            let decoded = decode_blocks(info.ty, &bytes);
            Weight::Host {
                weight: Arc::new(HostQuant::new(&decoded, code_bits(info.ty), rows, cols)),
                device: self.device.clone(),
                activations: CpuActivations::default(),
            }
        } else if info.ty.is_quantized() {
            Weight::Quant(QuantTensor::new(info.ty, &decode_blocks(info.ty, &bytes), rows, cols, self.device))
        } else {
            let values = dequantize(info.ty, &bytes);
            Weight::Dense(Tensor::from_data(TensorData::new(values, [rows, cols]), self.device))
        })
    }

    fn norm(&self, name: &str, config: &ModelConfig) -> Result<RmsNorm, LoadError> {
        self.norm_of(name, config.d_model, config)
    }

    fn norm_of(&self, name: &str, len: usize, config: &ModelConfig) -> Result<RmsNorm, LoadError> {
        Ok(RmsNorm { gain: self.vector(name, len)?, eps: config.rms_eps })
    }

    /// A norm the family may have (Qwen3's and Gemma 3's extra ones): loaded where the file
    /// holds it.
    fn optional_norm(&self, name: &str, len: usize, config: &ModelConfig) -> Result<Option<RmsNorm>, LoadError> {
        if self.file.header.has_tensor(name) { self.norm_of(name, len, config).map(Some) } else { Ok(None) }
    }
}

pub fn load_model(file: &GgufFile, device: &Device) -> Result<Transformer, LoadError> {
    let mut config = ModelConfig::from_gguf(&file.header)?;
    if file.header.has_tensor("rope_freqs.weight") {
        let info = file.header.tensor("rope_freqs.weight")?;
        let expected = vec![(config.rope_dims / 2) as u64];
        if info.shape != expected {
            return Err(LoadError::Shape { name: "rope_freqs.weight".into(), shape: info.shape.clone(), expected });
        }
        config.rope_freq_factors = Some(dequantize(info.ty, &file.tensor_bytes(info)?));
    }
    let loader = Loader { file, device, host_kernels: crate::backend::is_cpu(device) };
    let (d, ff, hd) = (config.d_model, config.d_ff, config.head_dim);
    let (q_out, kv_out) = (config.heads * hd, config.kv_heads * hd);

    let mut blocks = Vec::with_capacity(config.layers);
    for i in 0..config.layers {
        let name = |n: &str| format!("blk.{i}.{n}");
        let bias = |n: &str, len: usize| -> Result<Option<Tensor<1>>, LoadError> {
            if config.qkv_bias { loader.vector(&name(n), len).map(Some) } else { Ok(None) }
        };
        blocks.push(Block {
            attn_norm: loader.norm(&name("attn_norm.weight"), &config)?,
            attn: Attention {
                q: Linear::new(loader.matrix(&name("attn_q.weight"), q_out, d)?),
                k: Linear::new(loader.matrix(&name("attn_k.weight"), kv_out, d)?),
                v: Linear::new(loader.matrix(&name("attn_v.weight"), kv_out, d)?),
                o: Linear::new(loader.matrix(&name("attn_output.weight"), d, q_out)?),
                q_bias: bias("attn_q.bias", q_out)?,
                k_bias: bias("attn_k.bias", kv_out)?,
                v_bias: bias("attn_v.bias", kv_out)?,
                q_norm: loader.optional_norm(&name("attn_q_norm.weight"), hd, &config)?,
                k_norm: loader.optional_norm(&name("attn_k_norm.weight"), hd, &config)?,
            },
            post_attn_norm: loader.optional_norm(&name("post_attention_norm.weight"), d, &config)?,
            ffn_norm: loader.norm(&name("ffn_norm.weight"), &config)?,
            ffn: GatedFfn {
                gate: Linear::new(loader.matrix(&name("ffn_gate.weight"), ff, d)?),
                up: Linear::new(loader.matrix(&name("ffn_up.weight"), ff, d)?),
                down: Linear::new(loader.matrix(&name("ffn_down.weight"), d, ff)?),
                activation: config.activation,
            },
            post_ffn_norm: loader.optional_norm(&name("post_ffw_norm.weight"), d, &config)?,
        });
    }
    let embedding = loader.matrix("token_embd.weight", config.vocab, d)?;
    let head = if file.header.has_tensor("output.weight") {
        Some(loader.matrix("output.weight", config.vocab, d)?)
    } else {
        None
    };
    Ok(Transformer {
        final_norm: loader.norm("output_norm.weight", &config)?,
        config,
        embedding,
        blocks,
        head,
        device: device.clone(),
    })
}
