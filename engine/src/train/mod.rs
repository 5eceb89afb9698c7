//! Training a verifier: SimPO on preference pairs, LoRA adapters on a frozen quantized base,
//! AdamW with a cosine schedule. Native only (burn's autodiff).

mod adamw;
mod policy;
mod schedule;
mod simpo;
mod trainer;
#[cfg(test)]
mod tests;

pub use adamw::{AdamW, AdamWConfig};
pub use policy::solution_mean_log_probs;
pub use schedule::cosine_with_warmup;
pub use simpo::{SimpoParams, masked_mean_log_prob, simpo_loss};
pub use trainer::{PairStats, PairTokens, VerifierTrainer};
