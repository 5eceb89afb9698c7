//! AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, over plain 2-d tensors.

use burn::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 0.01 }
    }
}

#[derive(Debug, Clone)]
pub struct AdamW {
    pub config: AdamWConfig,
    /// Updates taken so far.
    pub steps: u64,
    /// First and second moment of each parameter.
    pub moments: Vec<(Tensor<2>, Tensor<2>)>,
}

impl AdamW {
    pub fn new(config: AdamWConfig, params: &[Tensor<2>]) -> Self {
        let moments = params.iter().map(|p| (p.zeros_like(), p.zeros_like())).collect();
        Self { config, steps: 0, moments }
    }

    /// One update: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
    /// `p ← p − lr·(m̂/(√v̂ + ε) + λp)` with bias-corrected `m̂, v̂`.
    pub fn step(&mut self, params: Vec<Tensor<2>>, grads: Vec<Tensor<2>>, lr: f64) -> Vec<Tensor<2>> {
        let c = self.config;
        self.steps += 1;
        let correct1 = 1.0 - c.beta1.powi(self.steps as i32);
        let correct2 = 1.0 - c.beta2.powi(self.steps as i32);
        params
            .into_iter()
            .zip(grads)
            .zip(self.moments.iter_mut())
            .map(|((p, g), (m, v))| {
                *m = m.clone() * c.beta1 + g.clone() * (1.0 - c.beta1);
                *v = v.clone() * c.beta2 + g.powf_scalar(2.0) * (1.0 - c.beta2);
                let update = (m.clone() / correct1) / ((v.clone() / correct2).sqrt() + c.epsilon);
                p.clone() - (update + p * c.weight_decay) * lr
            })
            .collect()
    }
}

impl AdamW {
    /// The optimizer state as safetensors (`m.{i}`, `v.{i}`; the step count in the metadata).
    pub async fn to_safetensors(&self) -> Result<Vec<u8>, crate::EngineError> {
        let mut tensors = Vec::new();
        for (i, (m, v)) in self.moments.iter().enumerate() {
            for (name, t) in [("m", m), ("v", v)] {
                let bytes: Vec<u8> = crate::readback::to_vec(t.clone()).await?.iter().flat_map(|x| x.to_le_bytes()).collect();
                tensors.push((format!("{name}.{i:05}"), t.dims().to_vec(), bytes));
            }
        }
        let views = tensors.iter().map(|(n, shape, bytes)| {
            (n.as_str(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).expect("shape matches data"))
        });
        let metadata = std::collections::HashMap::from([("steps".to_string(), self.steps.to_string())]);
        safetensors::serialize(views, Some(metadata)).map_err(|e| crate::EngineError::Device(e.to_string()))
    }

    pub fn from_safetensors(config: AdamWConfig, bytes: &[u8], device: &burn::tensor::Device) -> Result<Self, crate::lora::AdapterError> {
        use crate::lora::AdapterError;
        let format = |e: safetensors::SafeTensorError| AdapterError::Format(e.to_string());
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(format)?;
        let steps = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("steps"))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| AdapterError::Missing("optimizer step count".into()))?;
        let tensors = safetensors::SafeTensors::deserialize(bytes).map_err(format)?;
        let matrix = |name: String| -> Result<Tensor<2>, AdapterError> {
            let view = tensors.tensor(&name).map_err(|_| AdapterError::Missing(name.clone()))?;
            if view.dtype() != safetensors::Dtype::F32 || view.shape().len() != 2 {
                return Err(AdapterError::Format(format!("{name} is not a 2-d F32 matrix")));
            }
            let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            Ok(Tensor::from_data(burn::tensor::TensorData::new(values, [view.shape()[0], view.shape()[1]]), device))
        };
        let moments = (0..tensors.len() / 2).map(|i| Ok((matrix(format!("m.{i:05}"))?, matrix(format!("v.{i:05}"))?))).collect::<Result<_, AdapterError>>()?;
        Ok(Self { config, steps, moments })
    }
}
