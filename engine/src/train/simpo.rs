//! SimPO (Meng et al. 2024): a reference-free preference loss on length-normalised log-probs.
//! `L = −log σ(β/|y_w| · log π(y_w|x) − β/|y_l| · log π(y_l|x) − γ)`

use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Int, Tensor};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimpoParams {
    pub beta: f64,
    /// The target reward margin γ (not γ/β).
    pub gamma: f64,
}

impl Default for SimpoParams {
    /// β = 2, γ/β = 0.5.
    fn default() -> Self {
        Self { beta: 2.0, gamma: 1.0 }
    }
}

/// `Σⱼ maskᵢⱼ · log softmax(logitsᵢⱼ)[targetsᵢⱼ] / Σⱼ maskᵢⱼ` per row: the mean log-probability of
/// the tokens the mask selects. `logits: [b, s, vocab]`, `targets: [b, s]`, `mask: [b, s]` of
/// 0/1, at least one 1 per row → `[b]`.
pub fn masked_mean_log_prob(logits: Tensor<3>, targets: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<1> {
    let [b, s, _] = logits.dims();
    let picked = log_softmax(logits, 2).gather(2, targets.reshape([b, s, 1])).reshape([b, s]);
    let total = (picked * mask.clone()).sum_dim(1).reshape([b]);
    total / mask.sum_dim(1).reshape([b])
}

/// Per-pair loss from the mean log-probs of the chosen and rejected solutions (`[pairs]` each).
pub fn simpo_loss(chosen: Tensor<1>, rejected: Tensor<1>, params: SimpoParams) -> Tensor<1> {
    log_sigmoid((chosen - rejected) * params.beta - params.gamma).neg()
}
