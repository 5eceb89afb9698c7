use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use cotnpot_engine::generate::{GenerateOptions, SamplingParams, generate};
use cotnpot_engine::gguf::GgufFile;
use cotnpot_engine::{LanguageModel, backend};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    model: PathBuf,
    /// A Hugging Face tokenizer.json; by default the GGUF's own vocabulary is used.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt in the model's chat template as a single user turn.
    #[arg(long)]
    chat: bool,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    #[arg(long, conflicts_with = "greedy")]
    temperature: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    greedy: bool,
    /// flex (burn's CPU backend; `ndarray` is accepted as its old name) or wgpu.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Generate this many times in one process and print each run's timing to stderr (the
    /// first wgpu run includes compiling the device kernels).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

pub fn load(model: &PathBuf, tokenizer: Option<&PathBuf>, backend_name: &str) -> Result<LanguageModel> {
    if backend_name == "ndarray" {
        eprintln!("note: burn 0.22 deprecates ndarray; running on its successor, the flex CPU backend");
    }
    let device = pollster::block_on(backend::by_name(backend_name))?;
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let file = GgufFile::from_bytes(bytes).with_context(|| format!("parsing {}", model.display()))?;
    let json = tokenizer.map(std::fs::read).transpose().context("reading the tokenizer")?;
    Ok(LanguageModel::load(&file, json.as_deref(), &device)?)
}

pub fn run(args: Args) -> Result<()> {
    let lm = load(&args.model, args.tokenizer.as_ref(), &args.backend)?;
    let text = if args.chat { lm.chat_prompt(None, &args.prompt)? } else { args.prompt.clone() };
    let ids = lm.tokenizer.encode(&text)?;
    let sampling = match (args.greedy, args.temperature) {
        (true, _) | (false, None) => SamplingParams::greedy(),
        (false, Some(t)) => SamplingParams { temperature: t, seed: args.seed, ..SamplingParams::default() },
    };
    let options = GenerateOptions { max_tokens: args.max_tokens, sampling, stop_strings: Vec::new(), ignore_eos: false, log_probs: false };
    let mut stdout = std::io::stdout();
    let mut on_token = |event: cotnpot_engine::generate::TokenEvent| {
        let _ = stdout.write_all(event.text.as_bytes());
        let _ = stdout.flush();
    };
    for run in 1..=args.repeat.max(1) {
        let start = std::time::Instant::now();
        let mut first = None;
        let mut on_token = |event: cotnpot_engine::generate::TokenEvent| {
            first.get_or_insert_with(|| start.elapsed().as_secs_f64());
            on_token(event);
        };
        let out = pollster::block_on(generate(&lm.model, &lm.tokenizer, &ids, 1, &options, &mut on_token, &|| false))?;
        println!();
        let total = start.elapsed().as_secs_f64();
        let first = first.unwrap_or(total);
        let rest = out[0].tokens.len().saturating_sub(1);
        eprintln!("run {run}: first token after {first:.2} s, then {rest} tokens at {:.2} tokens/s", rest as f64 / (total - first).max(1e-9));
    }
    Ok(())
}
