//! `cotnpot eval`: the pipeline over a benchmark file, one JSON record per problem, resumable;
//! `cotnpot report`: the accuracy table rebuilt from such a file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cotnpot_engine::LanguageModel;
use cotnpot_pipeline::decide::decide;
use cotnpot_pipeline::record::{Provenance, Record};
use cotnpot_pipeline::report::{Comparison, Report};
use cotnpot_pipeline::strategy::HEADLINE_STRATEGY;
use cotnpot_pipeline::sandbox::{BubblewrapRunner, SandboxLimits};
use cotnpot_pipeline::task::{Problem, Task};
use cotnpot_pipeline::{Models, Pipeline, Settings};
use indicatif::{ProgressBar, ProgressStyle};

use crate::generate::load;

#[derive(clap::Args)]
pub struct Args {
    /// gsm8k, math or mbpp.
    #[arg(long)]
    task: String,
    /// JSONL benchmark file.
    #[arg(long)]
    data: PathBuf,
    /// GGUF of the model that samples the solutions.
    #[arg(long)]
    reasoner: PathBuf,
    /// GGUF of the model that writes the programs (default: the reasoner).
    #[arg(long)]
    coder: Option<PathBuf>,
    /// GGUF of the model that scores the solutions (default: the reasoner scoring itself).
    #[arg(long)]
    verifier: Option<PathBuf>,
    /// A trained verifier adapter (`train-verifier`) for the verifier model; when the verifier
    /// is the reasoner, the adapted copy shares the reasoner's weights.
    #[arg(long)]
    verifier_adapter: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    n: usize,
    /// Problems from the start of the file (default: all).
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
    #[arg(long, default_value_t = 384)]
    max_program_tokens: usize,
    /// The reasoner's system prompt for maths problems, where its model card asks for its own
    /// (Qwen2.5-Math: "Please reason step by step, and put your final answer within \boxed{}.").
    #[arg(long)]
    maths_system: Option<String>,
    /// Seconds each Python program may run.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Records are appended here; problems already in it are skipped.
    #[arg(long)]
    out: PathBuf,
    /// Only sample and judge the solutions (no programs, filter or verifier): training data for
    /// `build-pairs`.
    #[arg(long)]
    sample_only: bool,
    /// Problems to skip at the start of the file (with --limit: a window of the file).
    #[arg(long, default_value_t = 0)]
    skip: usize,
    /// Reuse the solutions of this earlier `eval` results file: only the stages after sampling run
    /// again (programs, Python, filter, picks), on the problems it holds; solutions, their
    /// verdicts and scores are copied. Compares two coders or translation prompts with
    /// `report A B` on exactly the same solutions.
    #[arg(long, conflicts_with = "sample_only")]
    solutions_from: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Some(task) = Task::parse(&args.task) else { bail!("--task must be gsm8k, math or mbpp, not {:?}", args.task) };
    let text = std::fs::read_to_string(&args.data).with_context(|| format!("reading {}", args.data.display()))?;
    let mut problems = Problem::parse_file(task, &text)?;
    problems.drain(..args.skip.min(problems.len()));
    problems.truncate(args.limit.unwrap_or(problems.len()));

    let existing = read_records(&args.out).unwrap_or_default();
    let done: BTreeSet<usize> = existing.iter().map(|r| r.index).collect();
    let earlier: BTreeMap<usize, Record> = match &args.solutions_from {
        Some(path) => read_records(path).with_context(|| format!("reading {}", path.display()))?.into_iter().filter(|r| r.task == task && !r.picks.is_empty()).map(|r| (r.index, r)).collect(),
        None => BTreeMap::new(),
    };
    if args.solutions_from.is_some() {
        problems.retain(|p| earlier.contains_key(&p.index));
    }
    let todo: Vec<&Problem> = problems.iter().filter(|p| !done.contains(&p.index)).collect();
    eprintln!("{} problems, {} already in {}, {} to run", problems.len(), problems.len() - todo.len(), args.out.display(), todo.len());

    let reasoner = load(&args.reasoner, None, &args.backend)?;
    let load_other = |path: &Option<PathBuf>| -> Result<Option<LanguageModel>> {
        match path {
            Some(p) if p != &args.reasoner => Ok(Some(load(p, None, &args.backend)?)),
            _ => Ok(None),
        }
    };
    let coder = if args.sample_only { None } else { load_other(&args.coder)? };
    let verifier = if args.sample_only { None } else { load_other(&args.verifier)? };
    let verifier = match &args.verifier_adapter {
        Some(path) if !args.sample_only => {
            let mut adapted = verifier.unwrap_or_else(|| reasoner.clone());
            let base_path = args.verifier.as_ref().unwrap_or(&args.reasoner);
            crate::train::load_adapter(path, base_path, &adapted)?.attach(&mut adapted.model)?;
            eprintln!("verifier: {} with the adapter {}", base_path.display(), path.display());
            Some(adapted)
        }
        _ => verifier,
    };
    let models = Models { reasoner: &reasoner, coder: coder.as_ref().unwrap_or(&reasoner), verifier: verifier.as_ref().unwrap_or(&reasoner) };
    if args.verifier.is_none() && args.verifier_adapter.is_none() && !args.sample_only {
        eprintln!("verifier: the reasoner scoring its own solutions (no trained verifier given)");
    }
    let runner = BubblewrapRunner::with_limits(SandboxLimits { timeout: Duration::from_secs(args.timeout), ..SandboxLimits::default() });
    let clock = Instant::now();
    let now = move || clock.elapsed().as_secs_f64();

    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(&args.out).with_context(|| format!("opening {}", args.out.display()))?;
    let bar = ProgressBar::new(todo.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} problems · {elapsed} · eta {eta} · {msg}").expect("a valid template"));
    let mut records = existing;
    for problem in todo {
        let settings = Settings {
            n: args.n,
            temperature: args.temperature,
            top_p: args.top_p,
            max_solution_tokens: args.max_tokens,
            max_program_tokens: args.max_program_tokens,
            maths_system: args.maths_system.clone(),
            // Per problem, so a resumed run samples what an uninterrupted one would.
            seed: args.seed.wrapping_add(problem.index as u64),
            ..Settings::default()
        };
        let provenance = Provenance {
            reasoner: args.reasoner.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            temperature: settings.temperature,
            top_p: settings.top_p,
            seed: settings.seed,
            maths_system: settings.maths_system.clone(),
        };
        let pipeline = Pipeline { models, runner: &runner, settings, now: &now };
        let run = async {
            if args.sample_only {
                pipeline.sample_and_judge(problem, &|| false).await
            } else if let Some(old) = earlier.get(&problem.index) {
                pipeline.recode(problem, old, &mut |_| {}, &|| false).await
            } else {
                pipeline.run(problem, &mut |_| {}, &|| false).await
            }
        };
        let mut record = pollster::block_on(run).with_context(|| format!("problem {}", problem.index))?;
        // Reused solutions keep the provenance of the run that sampled them.
        record.provenance = earlier.get(&problem.index).map_or(Some(provenance), |old| old.provenance.clone());
        writeln!(out, "{}", serde_json::to_string(&record)?)?;
        out.flush()?;
        records.push(record);
        let report = Report::from_records(&records);
        if args.sample_only {
            bar.set_message(format!("{:.0}% of solutions correct", 100.0 * correct_share(&records)));
            bar.inc(1);
            continue;
        }
        bar.set_message(format!(
            "{HEADLINE_STRATEGY} {:.0}% · majority {:.0}% · greedy {:.0}%",
            100.0 * report.accuracy(HEADLINE_STRATEGY),
            100.0 * report.accuracy("majority"),
            100.0 * report.accuracy("greedy")
        ));
        bar.inc(1);
    }
    bar.finish();
    let wanted: BTreeSet<usize> = problems.iter().map(|p| p.index).collect();
    records.retain(|r| wanted.contains(&r.index));
    if args.sample_only {
        let solutions: usize = records.iter().map(|r| r.candidates.len()).sum();
        println!("{} problems · {solutions} solutions · {:.1}% correct", records.len(), 100.0 * correct_share(&records));
        return Ok(());
    }
    print!("{}", Report::from_records(&records).table());
    Ok(())
}

fn correct_share(records: &[Record]) -> f64 {
    let (right, all) = records.iter().flat_map(|r| &r.candidates).fold((0, 0), |(r, a), c| (r + usize::from(c.correct == Some(true)), a + 1));
    if all == 0 { 0.0 } else { right as f64 / all as f64 }
}

pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), i + 1)))
        .collect()
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// A results file written by `cotnpot eval`; with a second one, the two runs are compared on
    /// the problems both hold (B against A).
    #[arg(required = true, num_args = 1..=2)]
    files: Vec<PathBuf>,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Make every strategy's pick again from the stored candidates (answers, program results,
    /// verdicts, scores), so strategies added since the run apply to its records. No model runs;
    /// symbolic answers are compared by sympy in the Python sandbox, as `eval` does.
    #[arg(long)]
    recompute: bool,
}

pub fn report(args: ReportArgs) -> Result<()> {
    let runner = BubblewrapRunner::with_limits(SandboxLimits::default());
    let mut runs = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let mut records = read_records(file).with_context(|| format!("reading {}", file.display()))?;
        if args.recompute {
            for r in records.iter_mut().filter(|r| !r.picks.is_empty()) {
                let decision = pollster::block_on(decide(r.task, r.gold.as_deref(), &r.candidates, &r.greedy, &runner));
                decision.apply(r);
            }
        }
        runs.push(records);
    }
    let reports: Vec<Report> = runs.iter().map(|r| Report::from_records(r)).collect();
    match (&runs[..], args.json) {
        ([_], true) => println!("{}", serde_json::to_string(&reports[0])?),
        ([_], false) => print!("{}", reports[0].table()),
        ([a, b], json) => {
            let comparison = Comparison::between(a, b);
            if json {
                println!("{}", serde_json::json!({ "a": reports[0], "b": reports[1], "comparison": comparison }));
            } else {
                println!("A: {}\nB: {}\n", args.files[0].display(), args.files[1].display());
                print!("{}", comparison.table());
            }
        }
        _ => unreachable!("clap takes one or two files"),
    }
    Ok(())
}
