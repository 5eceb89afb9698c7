use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    model: PathBuf,
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Decode steps timed per batch size.
    #[arg(long, default_value_t = 16)]
    steps: usize,
    /// Measure the decode steps only (no prefill of 512 tokens, no scoring).
    #[arg(long)]
    decode_only: bool,
    /// One JSON object on one line instead of the table.
    #[arg(long)]
    json: bool,
    /// A trained verifier adapter (`train-verifier`) for the model, run as an extra low-rank term.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Fold the adapter into dense f32 copies of the projections it adapts instead.
    #[arg(long, requires = "adapter")]
    merge_adapter: bool,
}

#[derive(Serialize)]
struct Report {
    load_s: f64,
    prefill_tok_s: Option<f64>,
    decode_tok_s_batch1: f64,
    decode_tok_s_batch8: f64,
    score_8x256_s: Option<f64>,
    dispatches_per_token_batch1: Option<f64>,
    host_ms_per_token_batch1: Option<f64>,
    host_ms_per_step_batch8: Option<f64>,
    peak_mem_mb: f64,
    backend: String,
    model: String,
}

/// The device-memory estimate for `rows` sequences of `positions`, from the file's header read
/// as a prefix (as the page reads it before a download).
fn estimated_gpu_mb(path: &std::path::Path, rows: usize, prompt: usize, new_tokens: usize) -> Option<f64> {
    use std::io::Read;
    const HEADER_READ: u64 = 64 << 20;
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut prefix = Vec::new();
    file.take(HEADER_READ).read_to_end(&mut prefix).ok()?;
    let header = cotnpot_engine::gguf::GgufHeader::parse_prefix(&prefix, len).ok()?;
    Some(cotnpot_engine::fit::estimate(&header, rows, prompt, new_tokens).ok()?.total() as f64 / 1e6)
}

/// CPU seconds the calling thread has used (Linux: the first field of its `schedstat`, in ns).
fn thread_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(stat.split_whitespace().next()?.parse::<f64>().ok()? / 1e9)
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_mem_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

pub fn run(args: Args) -> Result<()> {
    let origin = Instant::now();
    let mut lm = crate::generate::load(&args.model, None, &args.backend)?;
    if let Some(path) = &args.adapter {
        let adapter = crate::train::load_adapter(path, &args.model, &lm)?;
        if args.merge_adapter { adapter.merge_into(&mut lm.model)? } else { adapter.attach(&mut lm.model)? }
    }
    let load_s = origin.elapsed().as_secs_f64();
    let now = || origin.elapsed().as_secs_f64();
    let thread_cpu = || thread_cpu_s().unwrap_or(f64::NAN);
    let thread_cpu = thread_cpu_s().is_some().then_some(&thread_cpu as &dyn Fn() -> f64);
    let speeds = pollster::block_on(cotnpot_engine::bench::measure(&lm.model, args.steps, args.decode_only, &now, thread_cpu))?;
    let report = Report {
        load_s,
        prefill_tok_s: speeds.prefill_tok_s,
        decode_tok_s_batch1: speeds.decode_tok_s_batch1,
        decode_tok_s_batch8: speeds.decode_tok_s_batch8,
        score_8x256_s: speeds.score_8x256_s,
        dispatches_per_token_batch1: speeds.dispatches_per_token_batch1,
        host_ms_per_token_batch1: speeds.host_ms_per_token_batch1,
        host_ms_per_step_batch8: speeds.host_ms_per_step_batch8,
        peak_mem_mb: peak_mem_mb(),
        backend: args.backend.clone(),
        model: args.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let adapter = match (&args.adapter, args.merge_adapter) {
        (None, _) => "none",
        (Some(_), false) => "low-rank",
        (Some(_), true) => "merged",
    };
    let weights_mib = lm.model.device_bytes() as f64 / (1 << 20) as f64;
    // What a GPU needs for the batch-8 run (weights, KV cache, activations), from the header alone.
    let estimate = estimated_gpu_mb(&args.model, 8, cotnpot_engine::bench::PREFILL_TOKENS, args.steps).map_or("n/a".to_string(), |mb| format!("{mb:.1} MB"));
    if args.json {
        // Other tools read exactly the fields on stdout; the rest is a diagnostic.
        println!("{}", serde_json::to_string(&report)?);
        eprintln!("adapter: {adapter}; weights on device: {weights_mib:.1} MiB; GPU memory estimate: {estimate}");
    } else {
        println!("model               {}", report.model);
        println!("backend             {}", report.backend);
        println!("load                {:.2} s", report.load_s);
        let shown = |v: Option<f64>, unit: &str| v.map_or("n/a".to_string(), |v| format!("{v:.1}{unit}"));
        println!("prefill (512 tok)   {}", shown(report.prefill_tok_s, " tok/s"));
        println!("decode batch 1      {:.2} tok/s", report.decode_tok_s_batch1);
        println!("decode batch 8      {:.2} tok/s (summed, sampled)", report.decode_tok_s_batch8);
        println!("score 8×256         {}", shown(report.score_8x256_s, " s"));
        println!("launches, batch 1   {} a token", shown(report.dispatches_per_token_batch1, ""));
        println!("host, batch 1       {} a token (this thread's CPU: issue, sampling)", shown(report.host_ms_per_token_batch1, " ms"));
        println!("host, batch 8       {} a step, sampled", shown(report.host_ms_per_step_batch8, " ms"));
        println!("peak memory         {:.0} MiB", report.peak_mem_mb);
        println!("GPU memory estimate {estimate} (from the header: weights, KV cache and activations of the batch-8 run)");
        println!("adapter             {adapter}");
        println!("weights on device   {weights_mib:.1} MiB");
    }
    Ok(())
}
