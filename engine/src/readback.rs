//! Device → host copies. Always async: browsers cannot block on the GPU.

use burn::tensor::Tensor;

use crate::EngineError;

pub async fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, EngineError> {
    let data = t.into_data_async().await.map_err(|e| EngineError::Device(e.to_string()))?;
    data.try_into_vec::<f32>().map_err(|e| EngineError::Device(format!("{e:?}")))
}
