//! Low-rank adapters (LoRA): `y = x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ` beside a frozen, still-quantized `W`.
//! A trained verifier is a base model plus one of these; the same base may serve as reasoner.

mod file;

use burn::tensor::{Device, Tensor, TensorData};

pub use file::{AdapterError, BaseModel};

use crate::generate::Rng;
use crate::model::{Block, Linear, ModelConfig, Transformer};
use crate::quant::Weight;

/// The extra low-rank path of one projection.
#[derive(Debug, Clone)]
pub struct Lora {
    /// `[rank, in]`
    pub a: Tensor<2>,
    /// `[out, rank]`
    pub b: Tensor<2>,
    /// `α / rank`
    pub scale: f64,
}

impl Lora {
    /// `scale · (x·Aᵀ)·Bᵀ` for `x: [n, in]` → `[n, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.a.clone().transpose()).matmul(self.b.clone().transpose()) * self.scale
    }
}

/// A projection inside a transformer block that may carry an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoraTarget {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl LoraTarget {
    pub const ALL: [LoraTarget; 7] = [Self::Q, Self::K, Self::V, Self::O, Self::Gate, Self::Up, Self::Down];

    /// The short name used on the command line and in adapter files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Q => "q",
            Self::K => "k",
            Self::V => "v",
            Self::O => "o",
            Self::Gate => "gate",
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name.trim())
    }

    /// Parses a comma-separated list such as `q,v`.
    pub fn parse_list(names: &str) -> Result<Vec<Self>, AdapterError> {
        let mut targets: Vec<Self> = names.split(',').map(|n| Self::parse(n).ok_or_else(|| AdapterError::UnknownTarget(n.to_string()))).collect::<Result<_, _>>()?;
        targets.sort();
        targets.dedup();
        Ok(targets)
    }

    /// `(out, in)` of this projection in a model.
    pub fn shape(self, config: &ModelConfig) -> (usize, usize) {
        let (d, ff) = (config.d_model, config.d_ff);
        let (q_out, kv_out) = (config.heads * config.head_dim, config.kv_heads * config.head_dim);
        match self {
            Self::Q => (q_out, d),
            Self::K | Self::V => (kv_out, d),
            Self::O => (d, q_out),
            Self::Gate | Self::Up => (ff, d),
            Self::Down => (d, ff),
        }
    }

    pub(crate) fn linear(self, block: &mut Block) -> &mut Linear {
        match self {
            Self::Q => &mut block.attn.q,
            Self::K => &mut block.attn.k,
            Self::V => &mut block.attn.v,
            Self::O => &mut block.attn.o,
            Self::Gate => &mut block.ffn.gate,
            Self::Up => &mut block.ffn.up,
            Self::Down => &mut block.ffn.down,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub targets: Vec<LoraTarget>,
}

impl LoraConfig {
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

/// One adapted projection's matrices.
#[derive(Debug, Clone)]
pub struct LoraWeights {
    pub layer: usize,
    pub target: LoraTarget,
    /// `[rank, in]`
    pub a: Tensor<2>,
    /// `[out, rank]`
    pub b: Tensor<2>,
}

/// A complete adapter: its configuration, the base model it was trained on, and its matrices.
#[derive(Debug, Clone)]
pub struct Adapter {
    pub config: LoraConfig,
    pub base: BaseModel,
    pub weights: Vec<LoraWeights>,
}

impl Adapter {
    /// A fresh adapter for every layer and target: `A` uniform in ±1/√in (seeded), `B = 0`, so
    /// the adapted model starts out identical to its base.
    pub fn init(mut config: LoraConfig, base: BaseModel, model: &ModelConfig, seed: u64, device: &Device) -> Self {
        // The file lists matrices layer by layer in this order; a checkpoint's optimizer state
        // relies on it.
        config.targets.sort();
        config.targets.dedup();
        let mut rng = Rng::new(seed, 0x10_4A);
        let mut weights = Vec::new();
        for layer in 0..model.layers {
            for &target in &config.targets {
                let (out, inp) = target.shape(model);
                let bound = 1.0 / (inp as f64).sqrt();
                let a: Vec<f32> = (0..config.rank * inp).map(|_| ((2.0 * rng.next_f64() - 1.0) * bound) as f32).collect();
                weights.push(LoraWeights {
                    layer,
                    target,
                    a: Tensor::from_data(TensorData::new(a, [config.rank, inp]), device),
                    b: Tensor::zeros([out, config.rank], device),
                });
            }
        }
        Self { config, base, weights }
    }

    /// Checks every matrix against the model's shapes.
    pub fn check(&self, model: &ModelConfig) -> Result<(), AdapterError> {
        if model.family_name() != self.base.arch {
            return Err(AdapterError::BaseMismatch(format!("adapter is for a {} model, this one is {}", self.base.arch, model.family_name())));
        }
        for w in &self.weights {
            if w.layer >= model.layers {
                return Err(AdapterError::BaseMismatch(format!("layer {} of a {}-layer model", w.layer, model.layers)));
            }
            let (out, inp) = w.target.shape(model);
            let expected = ([self.config.rank, inp], [out, self.config.rank]);
            if (w.a.dims(), w.b.dims()) != expected {
                return Err(AdapterError::BaseMismatch(format!(
                    "layer {} {}: A {:?} and B {:?}, the model needs {:?} and {:?}",
                    w.layer,
                    w.target.name(),
                    w.a.dims(),
                    w.b.dims(),
                    expected.0,
                    expected.1
                )));
            }
        }
        Ok(())
    }

    /// Puts the adapter's matrices into the model (replacing any adapter it had).
    pub fn attach(&self, model: &mut Transformer) -> Result<(), AdapterError> {
        self.check(&model.config)?;
        model.detach_adapter();
        let scale = self.config.scale();
        for w in &self.weights {
            w.target.linear(&mut model.blocks[w.layer]).lora = Some(Lora { a: w.a.clone(), b: w.b.clone(), scale });
        }
        Ok(())
    }

    /// Folds the adapter into the model's weights instead: each adapted projection becomes the
    /// dense f32 matrix `W + (α/r)·B·A`. No extra products per step, but those projections
    /// leave their quantized form (4 bytes per weight), and the model no longer serves as its
    /// own unadapted base. Call it on the base: a second merge would add the update again.
    pub fn merge_into(&self, model: &mut Transformer) -> Result<(), AdapterError> {
        self.check(&model.config)?;
        model.detach_adapter();
        let scale = self.config.scale();
        for w in &self.weights {
            let linear = w.target.linear(&mut model.blocks[w.layer]);
            let update = w.b.clone().matmul(w.a.clone()) * scale;
            linear.weight = Weight::Dense(linear.weight.to_dense() + update);
        }
        Ok(())
    }

    /// Number of trainable values.
    pub fn parameters(&self) -> usize {
        self.weights.iter().map(|w| w.a.shape().num_elements() + w.b.shape().num_elements()).sum()
    }
}
