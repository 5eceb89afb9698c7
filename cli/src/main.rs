//! `cotnpot`: the engine and pipeline from the command line.

mod bench;
mod eval;
mod generate;
mod rescore;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cotnpot", about = "LLM reasoning with verification: CoT + PoT + SimPO verifier")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from a GGUF model; prints only the generated text on stdout.
    Generate(generate::Args),
    /// Measure load, prefill, decode (batch 1 and 8) and scoring speed.
    Bench(bench::Args),
    /// Run the pipeline over a benchmark file; appends one JSON record per problem.
    Eval(eval::Args),
    /// Rebuild the accuracy table from an `eval` results file.
    Report(eval::ReportArgs),
    /// Preference pairs (correct vs incorrect solution) from `eval --sample-only` results.
    BuildPairs(train::BuildPairsArgs),
    /// Train a SimPO verifier: a LoRA adapter on a frozen quantized base model.
    TrainVerifier(train::TrainArgs),
    /// Pairwise accuracy of a verifier (base or base + adapter) on preference pairs.
    Pairwise(train::PairwiseArgs),
    /// Score an `eval` results file's candidates with another verifier and judge its picks again.
    Rescore(rescore::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Report(args) => eval::report(args),
        Command::BuildPairs(args) => train::build(args),
        Command::TrainVerifier(args) => train::train(args),
        Command::Pairwise(args) => train::pairwise(args),
        Command::Rescore(args) => rescore::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
