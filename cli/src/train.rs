//! Verifier training from the command line: `build-pairs` (eval records → preference pairs),
//! `train-verifier` (SimPO on a LoRA adapter) and `pairwise` (held-out pairwise accuracy).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cotnpot_engine::LanguageModel;
use cotnpot_engine::generate::Rng;
use cotnpot_engine::lora::{Adapter, BaseModel, LoraConfig, LoraTarget};
use cotnpot_engine::score::score;
use cotnpot_engine::train::{AdamW, AdamWConfig, PairTokens, SimpoParams, VerifierTrainer, cosine_with_warmup};
use cotnpot_pipeline::pairs::{Pair, PairOptions, build_pairs};
use cotnpot_pipeline::prompts;
use cotnpot_pipeline::task::{Gold, Problem, Task};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::eval::read_records;
use crate::generate::load;

#[derive(clap::Args)]
pub struct BuildPairsArgs {
    /// `eval` results files (one per reasoner or temperature).
    #[arg(long = "results", required = true)]
    results: Vec<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    /// Most pairs per problem.
    #[arg(long, default_value_t = 4)]
    cap: usize,
    /// Share of problems held out for evaluation.
    #[arg(long, default_value_t = 0.2)]
    held_out: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn build(args: BuildPairsArgs) -> Result<()> {
    let mut records = Vec::new();
    for path in &args.results {
        records.extend(read_records(path).with_context(|| format!("reading {}", path.display()))?);
    }
    let (pairs, counts) = build_pairs(&records, PairOptions { cap: args.cap, held_out: args.held_out, seed: args.seed })?;
    let mut out = std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    for p in &pairs {
        writeln!(out, "{}", serde_json::to_string(p)?)?;
    }
    print!("{}", counts.table());
    Ok(())
}

pub fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), i + 1)))
        .collect()
}

/// A problem rebuilt from what a record or pair keeps of it.
pub fn problem_of(task: Task, index: usize, question: &str, gold: Option<&str>) -> Problem {
    let gold = match (gold, task.is_code()) {
        (Some(tests), true) => Gold::Tests { setup: String::new(), tests: tests.lines().map(str::to_string).collect() },
        (Some(answer), false) => Gold::Answer { answer: answer.to_string() },
        (None, _) => Gold::Unknown,
    };
    Problem { task, index, question: question.to_string(), gold }
}

/// The verifier's prompt for a problem: exactly what the pipeline scores with.
pub fn verifier_prompt(lm: &LanguageModel, problem: &Problem) -> Result<Vec<u32>> {
    Ok(lm.tokenizer.encode(&lm.chat_prompt(Some(prompts::solve_system(problem)), &prompts::solve(problem))?)?)
}

fn pair_tokens(lm: &LanguageModel, pair: &Pair, max_tokens: usize) -> Result<PairTokens> {
    let problem = problem_of(pair.task, pair.index, &pair.question, pair.gold.as_deref());
    let prompt = verifier_prompt(lm, &problem)?;
    let solution = |text: &str| -> Result<Vec<u32>> {
        let mut ids = lm.tokenizer.encode_plain(text)?;
        ids.truncate(max_tokens);
        Ok(ids)
    };
    Ok(PairTokens { prompt, chosen: solution(&pair.chosen.text)?, rejected: solution(&pair.rejected.text)? })
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Loads an adapter file and checks that it belongs to the model file at `model_path`.
pub fn load_adapter(path: &Path, model_path: &Path, lm: &LanguageModel) -> Result<Adapter> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let adapter = Adapter::from_safetensors(&bytes, &lm.model.device).with_context(|| format!("loading {}", path.display()))?;
    let sha = sha256_file(model_path)?;
    if adapter.base.sha256 != sha {
        bail!("{} was trained on {} (sha256 {}), not on {} (sha256 {sha})", path.display(), adapter.base.file, adapter.base.sha256, model_path.display());
    }
    Ok(adapter)
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The base model (GGUF); its weights stay frozen and quantized.
    #[arg(long)]
    model: PathBuf,
    /// Hugging Face Hub repository of the base model, recorded in the adapter.
    #[arg(long, default_value = "")]
    base_repo: String,
    /// Pairs from `build-pairs`; held-out pairs are not trained on.
    #[arg(long)]
    pairs: PathBuf,
    /// Directory for the adapter, checkpoints and the training log.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 8)]
    rank: usize,
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    /// Adapted projections: any of q, k, v, o, gate, up, down.
    #[arg(long, default_value = "q,v")]
    targets: String,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-5)]
    lr: f64,
    /// Share of the steps spent warming up.
    #[arg(long, default_value_t = 0.1)]
    warmup: f64,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// SimPO's β.
    #[arg(long, default_value_t = 2.0)]
    beta: f64,
    /// SimPO's γ/β.
    #[arg(long, default_value_t = 0.5)]
    gamma_ratio: f64,
    /// Pairs per optimizer step (gradients are accumulated one pair at a time).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Stop after this many optimizer steps (the schedule still spans all epochs).
    #[arg(long)]
    max_steps: Option<usize>,
    /// Solution tokens beyond this are cut off.
    #[arg(long, default_value_t = 512)]
    max_solution_tokens: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value = "flex")]
    backend: String,
}

/// What `train-verifier` needs to resume: written after every optimizer step.
#[derive(Debug, Serialize, Deserialize)]
struct TrainState {
    step: usize,
    total_steps: usize,
    pairs_file_sha256: String,
    base_sha256: String,
}

#[derive(Serialize)]
struct StepLog {
    step: usize,
    lr: f64,
    loss: f64,
    margin: f64,
    pairwise_accuracy: f64,
    pairs: usize,
    seconds: f64,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub fn train(args: TrainArgs) -> Result<()> {
    let lm = load(&args.model, None, &args.backend)?;
    let pairs: Vec<Pair> = read_pairs(&args.pairs)?.into_iter().filter(|p| !p.held_out).collect();
    if pairs.is_empty() {
        bail!("{} has no training pairs", args.pairs.display());
    }
    let tokens: Vec<PairTokens> = pairs.iter().map(|p| pair_tokens(&lm, p, args.max_solution_tokens)).collect::<Result<_>>()?;
    std::fs::create_dir_all(&args.out)?;
    let base = BaseModel {
        repo: args.base_repo.clone(),
        file: args.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        sha256: sha256_file(&args.model)?,
        arch: lm.model.config.family_name().to_string(),
    };
    let config = LoraConfig { rank: args.rank, alpha: args.alpha, targets: LoraTarget::parse_list(&args.targets)? };
    if config.rank == 0 || args.batch == 0 {
        bail!("--rank and --batch must be positive");
    }
    let adapter = Adapter::init(config, base.clone(), &lm.model.config, args.seed, &lm.model.device);
    let optimizer_config = AdamWConfig { weight_decay: args.weight_decay, ..AdamWConfig::default() };
    let simpo = SimpoParams { beta: args.beta, gamma: args.gamma_ratio * args.beta };
    let parameters = adapter.parameters();
    let mut trainer = VerifierTrainer::new(&lm.model, adapter, optimizer_config, simpo)?;

    let steps_per_epoch = pairs.len().div_ceil(args.batch);
    let total_steps = steps_per_epoch * args.epochs.max(1);
    let warmup_steps = ((total_steps as f64 * args.warmup).round() as usize).max(1);
    let pairs_sha = format!("{:x}", Sha256::digest(std::fs::read(&args.pairs)?));
    let (state_path, adapter_path, optimizer_path) = (args.out.join("state.json"), args.out.join("adapter.safetensors"), args.out.join("optimizer.safetensors"));
    let mut start_step = 0;
    if args.resume && state_path.exists() {
        let state: TrainState = serde_json::from_str(&std::fs::read_to_string(&state_path)?)?;
        if state.pairs_file_sha256 != pairs_sha || state.base_sha256 != base.sha256 || state.total_steps != total_steps {
            bail!("the checkpoint in {} was made with other pairs, another base model or another schedule", args.out.display());
        }
        let adapter = Adapter::from_safetensors(&std::fs::read(&adapter_path)?, &lm.model.device)?;
        let optimizer = AdamW::from_safetensors(optimizer_config, &std::fs::read(&optimizer_path)?, &lm.model.device)?;
        trainer.restore(adapter, optimizer)?;
        start_step = state.step;
        eprintln!("resuming at step {start_step} of {total_steps}");
    }
    let stop_at = args.max_steps.map_or(total_steps, |m| m.min(total_steps));
    eprintln!(
        "{} training pairs · batch {} · {} steps ({} per epoch, {} warm-up) · LoRA rank {} on {} ({} values) · β {} γ {}",
        pairs.len(),
        args.batch,
        total_steps,
        steps_per_epoch,
        warmup_steps,
        args.rank,
        args.targets,
        parameters,
        simpo.beta,
        simpo.gamma
    );

    // A fresh seeded order per epoch; the position of every pair follows from the step alone,
    // so a resumed run sees the pairs an uninterrupted one would.
    let order = |epoch: usize| {
        let mut idx: Vec<usize> = (0..pairs.len()).collect();
        let mut rng = Rng::new(args.seed, 1000 + epoch as u64);
        for i in (1..idx.len()).rev() {
            idx.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        idx
    };
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(args.out.join("log.jsonl"))?;
    let bar = ProgressBar::new(((stop_at - start_step.min(stop_at)) * args.batch) as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} pairs · {elapsed} · eta {eta} · {msg}").expect("a valid template"));
    let clock = std::time::Instant::now();
    for step in start_step..stop_at {
        let lr = cosine_with_warmup(step, total_steps, warmup_steps, args.lr);
        let (mut loss, mut margin, mut right, mut seen) = (0.0, 0.0, 0usize, 0usize);
        for k in 0..args.batch {
            let global = step * args.batch + k;
            let epoch = global / pairs.len();
            if epoch >= args.epochs.max(1) {
                break;
            }
            let i = order(epoch)[global % pairs.len()];
            let stats = pollster::block_on(trainer.accumulate(&tokens[i])).with_context(|| format!("pair {} (problem {})", i, pairs[i].index))?;
            loss += stats.loss;
            margin += stats.margin(simpo.beta);
            right += usize::from(stats.ranked_right());
            seen += 1;
            bar.inc(1);
            bar.set_message(format!("step {} · loss {:.4} · margin {:.3} · acc {:.2}", step + 1, loss / seen as f64, margin / seen as f64, right as f64 / seen as f64));
        }
        trainer.step(lr)?;
        let entry = StepLog { step: step + 1, lr, loss: loss / seen as f64, margin: margin / seen as f64, pairwise_accuracy: right as f64 / seen as f64, pairs: seen, seconds: clock.elapsed().as_secs_f64() };
        writeln!(log, "{}", serde_json::to_string(&entry)?)?;
        eprintln!("step {}/{}: lr {:.2e} · loss {:.4} · margin {:.3} · pairwise acc {:.2}", step + 1, total_steps, lr, entry.loss, entry.margin, entry.pairwise_accuracy);
        write_atomic(&adapter_path, &pollster::block_on(trainer.adapter().to_safetensors())?)?;
        write_atomic(&optimizer_path, &pollster::block_on(trainer.optimizer.to_safetensors())?)?;
        let state = TrainState { step: step + 1, total_steps, pairs_file_sha256: pairs_sha.clone(), base_sha256: base.sha256.clone() };
        write_atomic(&state_path, serde_json::to_string_pretty(&state)?.as_bytes())?;
    }
    bar.finish();
    eprintln!("adapter: {}", adapter_path.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct PairwiseArgs {
    #[arg(long)]
    model: PathBuf,
    /// A trained adapter for the model (default: the base model's own log-probs).
    #[arg(long)]
    adapter: Option<PathBuf>,
    #[arg(long)]
    pairs: PathBuf,
    /// held-out, train or all.
    #[arg(long, default_value = "held-out")]
    split: String,
    #[arg(long, default_value_t = 512)]
    max_solution_tokens: usize,
    #[arg(long, default_value_t = 2.0)]
    beta: f64,
    #[arg(long, default_value = "flex")]
    backend: String,
}

#[derive(Serialize)]
struct PairwiseReport {
    pairs: usize,
    pairwise_accuracy: f64,
    mean_margin: f64,
    adapter: Option<String>,
}

pub fn pairwise(args: PairwiseArgs) -> Result<()> {
    let mut lm = load(&args.model, None, &args.backend)?;
    if let Some(path) = &args.adapter {
        load_adapter(path, &args.model, &lm)?.attach(&mut lm.model)?;
    }
    let keep = |p: &Pair| match args.split.as_str() {
        "held-out" => Ok(p.held_out),
        "train" => Ok(!p.held_out),
        "all" => Ok(true),
        other => bail!("--split must be held-out, train or all, not {other:?}"),
    };
    let mut pairs = Vec::new();
    for p in read_pairs(&args.pairs)? {
        if keep(&p)? {
            pairs.push(p);
        }
    }
    let bar = ProgressBar::new(pairs.len() as u64);
    let (mut right, mut margin) = (0usize, 0.0);
    for p in &pairs {
        let t = pair_tokens(&lm, p, args.max_solution_tokens)?;
        let lp = pollster::block_on(score(&lm.model, &t.prompt, &[t.chosen.clone(), t.rejected.clone()]))?;
        let mean = |v: &Vec<f32>| v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64;
        let (c, r) = (mean(&lp[0]), mean(&lp[1]));
        right += usize::from(c > r);
        margin += args.beta * (c - r);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let n = pairs.len().max(1) as f64;
    let report = PairwiseReport { pairs: pairs.len(), pairwise_accuracy: right as f64 / n, mean_margin: margin / n, adapter: args.adapter.map(|p| p.display().to_string()) };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
