//! `cotnpot rescore`: the candidates of an `eval` results file scored again by another verifier
//! (a base model, or a base plus a trained adapter), and the verifier-based picks judged again.
//! The candidates, their answers and their CoTnPoT verdicts stay as they were, so two verifiers
//! are compared on exactly the same solutions.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result};
use cotnpot_engine::score::score;
use cotnpot_pipeline::compare::{Equality, compare_lenient};
use cotnpot_pipeline::decide::ballot;
use cotnpot_pipeline::strategy::{Ballot, select};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::eval::read_records;
use crate::generate::load;
use crate::train::{load_adapter, problem_of, read_pairs, verifier_prompt};

#[derive(clap::Args)]
pub struct Args {
    /// An `eval` results file (full or --sample-only records).
    #[arg(long)]
    results: PathBuf,
    /// The verifier's base model.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Only the problems held out in this pairs file (so a verifier is never judged on the
    /// problems it was trained on).
    #[arg(long)]
    held_out_of: Option<PathBuf>,
    #[arg(long, default_value = "flex")]
    backend: String,
}

#[derive(Serialize)]
struct RescoreReport {
    problems: usize,
    candidates: usize,
    /// Best mean log-prob among all candidates.
    verifier: f64,
    /// Best mean log-prob among the candidates that survived the CoTnPoT filter (full records).
    cotnpot_verifier: Option<f64>,
    majority: f64,
    pass_at_n: f64,
    adapter: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let mut lm = load(&args.model, None, &args.backend)?;
    if let Some(path) = &args.adapter {
        load_adapter(path, &args.model, &lm)?.attach(&mut lm.model)?;
    }
    let mut records = read_records(&args.results).with_context(|| format!("reading {}", args.results.display()))?;
    if let Some(pairs) = &args.held_out_of {
        let held: BTreeSet<usize> = read_pairs(pairs)?.iter().filter(|p| p.held_out).map(|p| p.index).collect();
        records.retain(|r| held.contains(&r.index));
    }
    let full = records.iter().all(|r| !r.picks.is_empty());
    let bar = ProgressBar::new(records.len() as u64);
    let (mut verifier, mut cotnpot, mut majority, mut pass, mut candidates) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for r in &records {
        let problem = problem_of(r.task, r.index, &r.question, r.gold.as_deref());
        let prompt = verifier_prompt(&lm, &problem)?;
        let texts: Vec<Vec<u32>> = r.candidates.iter().map(|c| lm.tokenizer.encode_plain(&c.cot)).collect::<Result<_, _>>()?;
        let log_probs = pollster::block_on(score(&lm.model, &prompt, &texts))?;
        let ballots: Vec<Ballot> = r
            .candidates
            .iter()
            .zip(&log_probs)
            .map(|(c, lp)| Ballot {
                score: if lp.is_empty() { f64::NAN } else { lp.iter().map(|&x| x as f64).sum::<f64>() / lp.len() as f64 },
                ..ballot(r.task, c)
            })
            .collect();
        // The three picks reported here come from solutions only, so the filter's comparison
        // without sympy is enough (the joint votes are `report --recompute`'s).
        let picks = select(&ballots, &|a, b| compare_lenient(a, b) == Equality::Equal);
        let right = |strategy: &str| picks.candidate(strategy).and_then(|i| r.candidates[i].correct).unwrap_or(false);
        verifier += usize::from(right("verifier"));
        cotnpot += usize::from(right("cotnpot_verifier"));
        majority += usize::from(right("majority"));
        pass += usize::from(r.candidates.iter().any(|c| c.correct == Some(true)));
        candidates += r.candidates.len();
        bar.inc(1);
    }
    bar.finish_and_clear();
    let n = records.len().max(1) as f64;
    let report = RescoreReport {
        problems: records.len(),
        candidates,
        verifier: verifier as f64 / n,
        cotnpot_verifier: full.then(|| cotnpot as f64 / n),
        majority: majority as f64 / n,
        pass_at_n: pass as f64 / n,
        adapter: args.adapter.map(|p| p.display().to_string()),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
