//! One SimPO step at a time: forward a pair through the adapted model, backpropagate into the
//! adapter, accumulate gradients, and let AdamW update the adapter.

use burn::tensor::Tensor;

use super::adamw::{AdamW, AdamWConfig};
use super::policy::solution_mean_log_probs;
use super::simpo::{SimpoParams, simpo_loss};
use crate::EngineError;
use crate::lora::{Adapter, AdapterError};
use crate::model::Transformer;
use crate::readback::to_vec;

/// A preference pair as token ids: the verifier's prompt, a correct and an incorrect solution.
#[derive(Debug, Clone)]
pub struct PairTokens {
    pub prompt: Vec<u32>,
    pub chosen: Vec<u32>,
    pub rejected: Vec<u32>,
}

/// What one pair's forward pass measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairStats {
    pub loss: f64,
    /// Mean log-probability of the chosen solution's tokens.
    pub chosen: f64,
    pub rejected: f64,
}

impl PairStats {
    /// The reward margin `β·(chosen − rejected)`.
    pub fn margin(&self, beta: f64) -> f64 {
        beta * (self.chosen - self.rejected)
    }

    /// Whether the verifier ranks the correct solution first.
    pub fn ranked_right(&self) -> bool {
        self.chosen > self.rejected
    }
}

pub struct VerifierTrainer {
    model: Transformer,
    /// Its matrices are autodiff leaves that retain their gradients.
    adapter: Adapter,
    pub optimizer: AdamW,
    pub simpo: SimpoParams,
    grad_sums: Vec<Option<Tensor<2>>>,
    pending: usize,
}

fn leaves(mut adapter: Adapter) -> Adapter {
    for w in &mut adapter.weights {
        w.a = w.a.clone().without_autodiff().autodiff().require_grad();
        w.b = w.b.clone().without_autodiff().autodiff().require_grad();
    }
    adapter
}

fn matrices(adapter: &Adapter) -> Vec<Tensor<2>> {
    adapter.weights.iter().flat_map(|w| [w.a.clone(), w.b.clone()]).collect()
}

impl VerifierTrainer {
    /// Trains `adapter` on top of `base` (whose own weights stay frozen).
    pub fn new(base: &Transformer, adapter: Adapter, optimizer: AdamWConfig, simpo: SimpoParams) -> Result<Self, AdapterError> {
        let adapter = leaves(adapter);
        let mut model = base.clone();
        adapter.attach(&mut model)?;
        let plain: Vec<Tensor<2>> = matrices(&adapter).into_iter().map(|t| t.without_autodiff()).collect();
        let optimizer = AdamW::new(optimizer, &plain);
        let grad_sums = vec![None; plain.len()];
        Ok(Self { model, adapter, optimizer, simpo, grad_sums, pending: 0 })
    }

    /// Continues from a checkpoint: its adapter and optimizer state.
    pub fn restore(&mut self, adapter: Adapter, optimizer: AdamW) -> Result<(), AdapterError> {
        let adapter = leaves(adapter);
        adapter.attach(&mut self.model)?;
        if optimizer.moments.len() != self.grad_sums.len() {
            return Err(AdapterError::BaseMismatch(format!("optimizer state for {} matrices, adapter has {}", optimizer.moments.len(), self.grad_sums.len())));
        }
        self.adapter = adapter;
        self.optimizer = optimizer;
        Ok(())
    }

    /// Loss of one pair; its gradient is added to the pending sum.
    pub async fn accumulate(&mut self, pair: &PairTokens) -> Result<PairStats, EngineError> {
        let means = solution_mean_log_probs(&self.model, &pair.prompt, &[&pair.chosen, &pair.rejected])?;
        let loss = simpo_loss(means.clone().narrow(0, 0, 1), means.clone().narrow(0, 1, 1), self.simpo);
        let grads = loss.backward();
        for (sum, param) in self.grad_sums.iter_mut().zip(matrices(&self.adapter)) {
            let grad = param.grad(&grads).unwrap_or_else(|| param.clone().without_autodiff().zeros_like());
            *sum = Some(match sum.take() {
                Some(s) => s + grad,
                None => grad,
            });
        }
        self.pending += 1;
        let means = to_vec(means.without_autodiff()).await?;
        let loss = to_vec(loss.without_autodiff()).await?;
        Ok(PairStats { loss: loss[0] as f64, chosen: means[0] as f64, rejected: means[1] as f64 })
    }

    /// The mean gradient of the pending pairs, one per matrix (A then B of each adapted projection).
    pub fn gradients(&self) -> Vec<Tensor<2>> {
        let n = self.pending.max(1) as f64;
        self.grad_sums.iter().flatten().map(|g| g.clone() / n).collect()
    }

    /// Pairs accumulated since the last update.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// One AdamW update with the mean gradient of the pending pairs.
    pub fn step(&mut self, lr: f64) -> Result<(), AdapterError> {
        if self.pending == 0 {
            return Ok(());
        }
        let grads = self.gradients();
        self.grad_sums.iter_mut().for_each(|s| *s = None);
        let params: Vec<Tensor<2>> = matrices(&self.adapter).into_iter().map(|t| t.without_autodiff()).collect();
        let mut updated = self.optimizer.step(params, grads, lr).into_iter();
        for w in &mut self.adapter.weights {
            w.a = updated.next().expect("one update per matrix");
            w.b = updated.next().expect("one update per matrix");
        }
        self.adapter = leaves(self.adapter.clone());
        self.adapter.attach(&mut self.model)?;
        self.pending = 0;
        Ok(())
    }

    /// The adapter as trained so far, outside the autodiff graph.
    pub fn adapter(&self) -> Adapter {
        let mut adapter = self.adapter.clone();
        for w in &mut adapter.weights {
            w.a = w.a.clone().without_autodiff();
            w.b = w.b.clone().without_autodiff();
        }
        adapter
    }
}
