//! A decode step: one token for each row of a batch at the next position, from the cache a
//! prefill left. On a CubeCL device with a quantized model it runs as fused kernels over
//! buffers kept for the whole generation (`fused`); elsewhere (the CPU, adapters, dense
//! weights) it is the model's layered forward pass.

#[cfg(feature = "wgpu")]
mod fused;
#[cfg(feature = "wgpu")]
mod kernels;
#[cfg(feature = "wgpu")]
pub mod shortlist;

#[cfg(feature = "wgpu")]
pub use fused::DecodeStep;

use burn::tensor::Tensor;

use crate::model::{KvCache, Transformer};

/// Whether `device` is a GPU with plane operations rather than a CPU adapter (lavapipe,
/// SwiftShader), as far as the engine's kernels tell them apart.
pub(crate) fn on_gpu(device: &burn::tensor::Device) -> bool {
    #[cfg(feature = "wgpu")]
    if crate::backend::runs_device_kernels(device) {
        let probe = Tensor::<1>::zeros([1], device).try_into_primitive::<burn_cubecl::CubeBackend>().expect("a CubeCL device");
        return crate::quant::device_kernel::fixed_plane_size(&probe.client).is_some();
    }
    let _ = device;
    false
}

/// How a generation runs its decode steps.
pub enum Stepper {
    #[cfg(feature = "wgpu")]
    Fused(Box<DecodeStep>),
    Layered(KvCache),
}

/// Whether the fused step may run: `COTNPOT_FUSED_STEP=0` turns it off (natively at run time,
/// for wasm at build time), to compare the two.
fn fused_allowed() -> bool {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOWED.get_or_init(|| std::env::var("COTNPOT_FUSED_STEP").ok().or(option_env!("COTNPOT_FUSED_STEP").map(String::from)).as_deref() != Some("0"))
}

impl Stepper {
    /// Steps continuing `cache`, expecting about `positions` positions in all (the fused step
    /// grows its cache past that if needed).
    pub fn new(model: &Transformer, cache: KvCache, positions: usize) -> Self {
        #[cfg(feature = "wgpu")]
        if fused_allowed()
            && DecodeStep::preferred(model, cache.layer(0).map_or(0, |(k, _)| k.dims()[0]))
            && let Some(step) = DecodeStep::new(model, &cache, positions)
        {
            return Self::Fused(Box::new(step));
        }
        let _ = (model, positions);
        Self::Layered(cache)
    }

    /// Logits `[rows, vocab]` after one more token per row (ids checked by the caller).
    pub fn forward(&mut self, model: &Transformer, tokens: &[u32]) -> Tensor<2> {
        match self {
            #[cfg(feature = "wgpu")]
            Self::Fused(step) => step.forward(tokens),
            Self::Layered(cache) => model.last_logits(tokens, tokens.len(), cache),
        }
    }

    /// Whether the next step replays a recording (the fused step).
    pub fn replays(&self) -> bool {
        match self {
            #[cfg(feature = "wgpu")]
            Self::Fused(step) => step.replays(),
            Self::Layered(_) => false,
        }
    }

    /// Kernel launches a step issues, where that is fixed (the fused step).
    pub fn launches(&self) -> Option<usize> {
        match self {
            #[cfg(feature = "wgpu")]
            Self::Fused(step) => Some(step.launches()),
            Self::Layered(_) => None,
        }
    }
}
