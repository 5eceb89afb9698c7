//! Choosing a burn device by name. The engine itself never picks one; front ends call this.

use burn::tensor::Device;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BackendError {
    #[error("unknown backend {0:?} (flex, wgpu)")]
    Unknown(String),
    #[error("this build has no {0} backend")]
    NotBuilt(&'static str),
    #[error("WebGPU/wgpu initialisation failed: {0}")]
    Wgpu(String),
}

/// burn's CPU backend (flex, the successor of ndarray in burn 0.22).
#[cfg(feature = "flex")]
pub fn cpu() -> Device {
    Device::flex()
}

/// A wgpu device (Vulkan/Metal natively, WebGPU in the browser).
#[cfg(feature = "wgpu")]
pub async fn wgpu() -> Result<Device, BackendError> {
    Device::wgpu_options().init_async().await.map_err(|e| BackendError::Wgpu(e.to_string()))
}

pub async fn by_name(name: &str) -> Result<Device, BackendError> {
    match name {
        "flex" | "cpu" | "ndarray" => {
            #[cfg(feature = "flex")]
            return Ok(cpu());
            #[cfg(not(feature = "flex"))]
            return Err(BackendError::NotBuilt("flex"));
        }
        "wgpu" => {
            #[cfg(feature = "wgpu")]
            return wgpu().await;
            #[cfg(not(feature = "wgpu"))]
            return Err(BackendError::NotBuilt("wgpu"));
        }
        other => Err(BackendError::Unknown(other.to_string())),
    }
}

/// Whether `device` is burn's CPU backend (host memory is its memory).
pub fn is_cpu(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    return *device == Device::flex();
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// Whether `device` is a CubeCL device outside autodiff, where the engine's own kernels
/// (quantized products, layer operations) run instead of burn's generic operations.
pub(crate) fn runs_device_kernels(device: &Device) -> bool {
    cfg!(feature = "wgpu") && !device.is_autodiff() && !is_cpu(device)
}

/// The unit tests' wgpu device: burn initialises one wgpu runtime per process, and tests run on
/// parallel threads.
#[cfg(all(test, feature = "wgpu"))]
pub(crate) fn test_wgpu() -> Device {
    static DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
    DEVICE.get_or_init(|| pollster::block_on(wgpu()).expect("a wgpu adapter (CI installs Mesa's lavapipe)")).clone()
}
