//! One problem through every stage: sample N solutions, extract answers, translate each into a
//! program, run it, filter (CoTnPoT), score with the verifier, judge, pick with every strategy.

use std::collections::BTreeMap;

use cotnpot_engine::generate::{GenerateOptions, Generated, SamplingParams, StopReason, TokenEvent, generate, generate_each, generate_with_greedy};
use cotnpot_engine::score::score;
use cotnpot_engine::{EngineError, LanguageModel};
use serde::{Deserialize, Serialize};

use crate::answer::{Answer, extract, printed_answer};
use crate::compare::{compare, compare_lenient, equal};
use crate::decide::decide;
use crate::prompts;
use crate::record::{CandidateRecord, Record, Timings};
use crate::runner::{PotOutcome, PythonRunner, extract_code};
use crate::task::{Gold, Problem};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Candidates sampled per problem.
    pub n: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub max_solution_tokens: usize,
    pub max_program_tokens: usize,
    pub seed: u64,
    /// SimPO's β: scales the reported reward; it does not change any ranking.
    pub beta: f64,
    /// The reasoner's system prompt for maths problems where its model asks for its own (e.g.
    /// Qwen2.5-Math's); `None`: `prompts::COT_SYSTEM`.
    #[serde(default)]
    pub maths_system: Option<String>,
}

impl Settings {
    /// The system prompt the reasoner solves `problem` under: the model's own for maths where it
    /// has one, the standard one otherwise (code problems always).
    pub fn reasoner_system(&self, problem: &Problem) -> &str {
        match &self.maths_system {
            Some(system) if !problem.task.is_code() => system,
            _ => prompts::solve_system(problem),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self { n: 8, temperature: 0.7, top_p: 0.95, max_solution_tokens: 512, max_program_tokens: 384, seed: 0, beta: 2.0, maths_system: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The N samples and, as one more row of their batch, the greedy continuation.
    Sample,
    Translate,
    Run,
    Filter,
    Score,
    Judge,
}

/// What the pipeline reports while it works; the page draws cards from these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Stage { stage: Stage },
    Token { cand: usize, text: String },
    GreedyToken { text: String },
    Answer { cand: usize, answer: Option<String> },
    Program { cand: usize, code: Option<String> },
    Ran { cand: usize, outcome: PotOutcome },
    Verdict { cand: usize, kept: bool },
    Score { cand: usize, score: Option<f64> },
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] cotnpot_engine::tokenizer::TokenizerError),
    #[error("cancelled")]
    Cancelled,
}

/// The models in their roles; the same model may fill several.
#[derive(Clone, Copy)]
pub struct Models<'a> {
    pub reasoner: &'a LanguageModel,
    pub coder: &'a LanguageModel,
    pub verifier: &'a LanguageModel,
}

pub struct Pipeline<'a, R: PythonRunner> {
    pub models: Models<'a>,
    pub runner: &'a R,
    pub settings: Settings,
    /// Seconds since some fixed moment (the engine has no clock of its own on wasm).
    pub now: &'a dyn Fn() -> f64,
}

impl<R: PythonRunner> Pipeline<'_, R> {
    fn reasoner_system(&self, problem: &Problem) -> &str {
        self.settings.reasoner_system(problem)
    }

    pub async fn run(&self, problem: &Problem, on_event: &mut dyn FnMut(Event), cancelled: &dyn Fn() -> bool) -> Result<Record, PipelineError> {
        let start = (self.now)();
        let mut timings = Timings::default();
        let s = &self.settings;
        let reasoner = self.models.reasoner;
        let prompt = reasoner.tokenizer.encode(&reasoner.chat_prompt(Some(self.reasoner_system(problem)), &prompts::solve(problem))?)?;

        // The greedy baseline is one more row of the sampling batch: one prefill, one decoding loop.
        on_event(Event::Stage { stage: Stage::Sample });
        let sampling = SamplingParams { temperature: s.temperature, top_p: s.top_p, top_k: 0, min_p: 0.0, seed: s.seed, ..SamplingParams::default() };
        let log_probs = self.verifier_is_reasoner();
        let options = GenerateOptions { max_tokens: s.max_solution_tokens, sampling, stop_strings: vec![], ignore_eos: false, log_probs };
        let mut on_token = |e: TokenEvent| {
            let text = e.text.to_string();
            on_event(if e.seq < s.n { Event::Token { cand: e.seq, text } } else { Event::GreedyToken { text } })
        };
        let (solutions, greedy) = generate_with_greedy(&reasoner.model, &reasoner.tokenizer, &prompt, s.n, &options, &mut on_token, cancelled).await?;
        check(cancelled)?;
        timings.sample = (self.now)() - start;

        let texts: Vec<&str> = solutions.iter().map(|g| g.text.as_str()).collect();
        let checked = self.check_by_programs(problem, &texts, &mut timings, on_event, cancelled).await?;

        on_event(Event::Stage { stage: Stage::Score });
        let clock = (self.now)();
        let scores = self.scores(problem, &solutions).await?;
        for (cand, &score) in scores.iter().enumerate() {
            on_event(Event::Score { cand, score });
        }
        timings.score = (self.now)() - clock;

        on_event(Event::Stage { stage: Stage::Judge });
        let clock = (self.now)();
        let mut judged: Vec<Option<bool>> = Vec::with_capacity(s.n);
        for a in &checked.answers {
            judged.push(self.judge(problem, a.as_ref()).await);
        }
        let greedy_answer = self.answer_of(problem, &greedy.text);
        let greedy_record = CandidateRecord {
            cot: greedy.text.clone(),
            tokens: greedy.tokens.len(),
            answer: greedy_answer.as_ref().map(|a| a.raw.clone()),
            pot_code: None,
            pot_outcome: None,
            pot_result: None,
            kept: false,
            score: None,
            correct: self.judge(problem, greedy_answer.as_ref()).await,
        };
        let token_counts: Vec<usize> = solutions.iter().map(|g| g.tokens.len()).collect();
        let candidates = checked.records(&texts, &token_counts, &scores, &judged);
        let tokens = token_counts.iter().sum::<usize>() + greedy.tokens.len() + checked.program_tokens;
        Ok(self.finish(problem, candidates, greedy_record, tokens, start, clock, timings).await)
    }

    /// The stages after sampling, again, on the solutions an earlier record holds: the coder
    /// writes new programs, they run, the filter and every strategy decide. The solutions, the
    /// verdicts on their answers and their scores stay as recorded, so two coders (or two
    /// translation prompts) are compared on the very same solutions.
    pub async fn recode(&self, problem: &Problem, old: &Record, on_event: &mut dyn FnMut(Event), cancelled: &dyn Fn() -> bool) -> Result<Record, PipelineError> {
        let start = (self.now)();
        let mut timings = Timings::default();
        let texts: Vec<&str> = old.candidates.iter().map(|c| c.cot.as_str()).collect();
        let checked = self.check_by_programs(problem, &texts, &mut timings, on_event, cancelled).await?;
        let clock = (self.now)();
        let token_counts: Vec<usize> = old.candidates.iter().map(|c| c.tokens).collect();
        let scores: Vec<Option<f64>> = old.candidates.iter().map(|c| c.score).collect();
        let judged: Vec<Option<bool>> = old.candidates.iter().map(|c| c.correct).collect();
        let candidates = checked.records(&texts, &token_counts, &scores, &judged);
        let tokens = token_counts.iter().sum::<usize>() + old.greedy.tokens + checked.program_tokens;
        Ok(self.finish(problem, candidates, old.greedy.clone(), tokens, start, clock, timings).await)
    }

    /// The solutions' answers checked by their programs: the Translate, Run and Filter stages.
    async fn check_by_programs(
        &self,
        problem: &Problem,
        solutions: &[&str],
        timings: &mut Timings,
        on_event: &mut dyn FnMut(Event),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Checked, PipelineError> {
        let answers: Vec<Option<Answer>> = solutions.iter().map(|text| self.answer_of(problem, text)).collect();
        for (cand, a) in answers.iter().enumerate() {
            on_event(Event::Answer { cand, answer: a.as_ref().map(|a| a.raw.clone()) });
        }

        on_event(Event::Stage { stage: Stage::Translate });
        let clock = (self.now)();
        let (programs, program_tokens) = self.programs(problem, solutions, &answers, on_event, cancelled).await?;
        check(cancelled)?;
        timings.pot = (self.now)() - clock;

        on_event(Event::Stage { stage: Stage::Run });
        let clock = (self.now)();
        let runnable: Vec<(usize, String)> = programs.iter().enumerate().filter_map(|(i, p)| p.clone().map(|p| (i, p))).collect();
        let ran = self.runner.run_all(&runnable.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>()).await;
        let mut outcomes: Vec<Option<PotOutcome>> = vec![None; solutions.len()];
        for ((cand, _), outcome) in runnable.iter().zip(ran) {
            on_event(Event::Ran { cand: *cand, outcome: outcome.clone() });
            outcomes[*cand] = Some(outcome);
        }
        timings.run = (self.now)() - clock;

        on_event(Event::Stage { stage: Stage::Filter });
        let clock = (self.now)();
        let kept = self.filter(problem, &answers, &outcomes).await;
        for (cand, &k) in kept.iter().enumerate() {
            on_event(Event::Verdict { cand, kept: k });
        }
        timings.filter = (self.now)() - clock;
        Ok(Checked { answers, programs, program_tokens, outcomes, kept })
    }

    /// The record, with every strategy's pick; `judge_start` is when the Judge stage began.
    #[allow(clippy::too_many_arguments)]
    async fn finish(&self, problem: &Problem, candidates: Vec<CandidateRecord>, greedy: CandidateRecord, tokens: usize, start: f64, judge_start: f64, mut timings: Timings) -> Record {
        let gold = gold_text(problem);
        let decision = decide(problem.task, gold.as_deref(), &candidates, &greedy, self.runner).await;
        timings.judge = (self.now)() - judge_start;
        Record {
            index: problem.index,
            task: problem.task,
            question: problem.question.clone(),
            gold,
            candidates,
            greedy,
            picks: decision.picks,
            correct: decision.correct,
            picked_candidate: decision.picked_candidate,
            filter_emptied: decision.filter_emptied,
            tokens,
            seconds: (self.now)() - start,
            timings,
            provenance: None,
        }
    }

    /// Only the sampling and judging stages: N solutions with their answers judged against the
    /// gold one. This is what a verifier's training data is made of; the record's strategy
    /// fields stay empty.
    pub async fn sample_and_judge(&self, problem: &Problem, cancelled: &dyn Fn() -> bool) -> Result<Record, PipelineError> {
        let start = (self.now)();
        let s = &self.settings;
        let reasoner = self.models.reasoner;
        let prompt = reasoner.tokenizer.encode(&reasoner.chat_prompt(Some(self.reasoner_system(problem)), &prompts::solve(problem))?)?;
        let sampling = SamplingParams { temperature: s.temperature, top_p: s.top_p, top_k: 0, min_p: 0.0, seed: s.seed, ..SamplingParams::default() };
        let options = GenerateOptions { max_tokens: s.max_solution_tokens, sampling, stop_strings: vec![], ignore_eos: false, log_probs: false };
        let solutions = generate(&reasoner.model, &reasoner.tokenizer, &prompt, s.n, &options, &mut |_| {}, cancelled).await?;
        check(cancelled)?;
        let sample_seconds = (self.now)() - start;
        let mut candidates = Vec::with_capacity(solutions.len());
        for g in &solutions {
            let answer = self.answer_of(problem, &g.text);
            let correct = self.judge(problem, answer.as_ref()).await;
            candidates.push(CandidateRecord {
                cot: g.text.clone(),
                tokens: g.tokens.len(),
                answer: answer.map(|a| a.raw),
                pot_code: None,
                pot_outcome: None,
                pot_result: None,
                kept: false,
                score: None,
                correct,
            });
        }
        let empty = CandidateRecord { cot: String::new(), tokens: 0, answer: None, pot_code: None, pot_outcome: None, pot_result: None, kept: false, score: None, correct: None };
        let seconds = (self.now)() - start;
        Ok(Record {
            index: problem.index,
            task: problem.task,
            question: problem.question.clone(),
            gold: gold_text(problem),
            tokens: solutions.iter().map(|g| g.tokens.len()).sum(),
            candidates,
            greedy: empty,
            picks: BTreeMap::new(),
            correct: BTreeMap::new(),
            picked_candidate: BTreeMap::new(),
            filter_emptied: false,
            seconds,
            timings: Timings { sample: sample_seconds, judge: seconds - sample_seconds, ..Timings::default() },
            provenance: None,
        })
    }

    /// A maths solution's final answer; for code, the program in the reply (compared as text).
    fn answer_of(&self, problem: &Problem, text: &str) -> Option<Answer> {
        if problem.task.is_code() {
            extract_code(text).map(|code| Answer { normalized: code_key(&code), raw: code, value: None })
        } else {
            extract(text)
        }
    }

    /// The program run for each candidate: for maths the coder's translation of the solution
    /// (only for solutions with an answer), for code the candidate's own function plus the
    /// visible test. Returns the programs and the tokens the coder generated.
    async fn programs(
        &self,
        problem: &Problem,
        solutions: &[&str],
        answers: &[Option<Answer>],
        on_event: &mut dyn FnMut(Event),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(Vec<Option<String>>, usize), PipelineError> {
        if problem.task.is_code() {
            let setup = match &problem.gold {
                Gold::Tests { setup, .. } => setup.as_str(),
                _ => "",
            };
            let programs: Vec<Option<String>> = answers
                .iter()
                .map(|a| a.as_ref().map(|a| format!("{}\n\n{setup}\n{}\n", a.raw, problem.visible_test().unwrap_or(""))))
                .collect();
            for (cand, p) in programs.iter().enumerate() {
                on_event(Event::Program { cand, code: p.clone() });
            }
            return Ok((programs, 0));
        }
        let coder = self.models.coder;
        let wanted: Vec<usize> = (0..solutions.len()).filter(|&i| answers[i].is_some()).collect();
        let mut prompts = Vec::with_capacity(wanted.len());
        for &i in &wanted {
            let text = coder.chat_prompt(Some(prompts::POT_SYSTEM), &prompts::cot_to_pot(&problem.question, solutions[i]))?;
            prompts.push(coder.tokenizer.encode(&text)?);
        }
        let options = GenerateOptions {
            max_tokens: self.settings.max_program_tokens,
            sampling: SamplingParams::greedy(),
            stop_strings: vec![],
            ignore_eos: false,
            log_probs: false,
        };
        let replies = generate_each(&coder.model, &coder.tokenizer, &prompts, &options, &mut |_| {}, cancelled).await?;
        let mut programs = vec![None; solutions.len()];
        let mut tokens = 0;
        for (&i, reply) in wanted.iter().zip(&replies) {
            tokens += reply.tokens.len();
            programs[i] = extract_code(&reply.text);
        }
        for (cand, p) in programs.iter().enumerate() {
            on_event(Event::Program { cand, code: p.clone() });
        }
        Ok((programs, tokens))
    }

    /// CoTnPoT: a maths candidate is kept when its answer equals its program's printed answer;
    /// a code candidate when its program passed the visible test.
    async fn filter(&self, problem: &Problem, answers: &[Option<Answer>], outcomes: &[Option<PotOutcome>]) -> Vec<bool> {
        let mut kept = Vec::with_capacity(answers.len());
        for (answer, outcome) in answers.iter().zip(outcomes) {
            let verdict = match (answer, outcome) {
                (Some(_), Some(o)) if problem.task.is_code() => o.finished(),
                (Some(a), Some(o)) => match o.result().and_then(printed_answer) {
                    Some(printed) => equal(self.runner, a, &printed, compare_lenient).await,
                    None => false,
                },
                _ => false,
            };
            kept.push(verdict);
        }
        kept
    }

    /// Whether the verifier slot holds the reasoner itself (no trained verifier loaded).
    fn verifier_is_reasoner(&self) -> bool {
        std::ptr::eq(self.models.verifier, self.models.reasoner)
    }

    /// The verifier's mean log-probability of each solution's tokens given the question. When
    /// the verifier is the reasoner, sampling already computed them (same model, same prompt,
    /// the very tokens drawn), so they are read from the samples instead of a second forward pass.
    async fn scores(&self, problem: &Problem, solutions: &[Generated]) -> Result<Vec<Option<f64>>, PipelineError> {
        if self.verifier_is_reasoner()
            && let Some(scores) = solutions.iter().map(recorded_score).collect::<Option<Vec<_>>>()
        {
            return Ok(scores);
        }
        let verifier = self.models.verifier;
        // A separate verifier (or an adapter) was trained under the standard prompt; the reasoner
        // scores its solutions under the prompt it wrote them with.
        let system = if self.verifier_is_reasoner() { self.reasoner_system(problem) } else { prompts::solve_system(problem) };
        let prompt = verifier.tokenizer.encode(&verifier.chat_prompt(Some(system), &prompts::solve(problem))?)?;
        let continuations: Vec<Vec<u32>> = solutions.iter().map(|g| verifier.tokenizer.encode_plain(&g.text)).collect::<Result<_, _>>()?;
        let log_probs = score(&verifier.model, &prompt, &continuations).await?;
        Ok(log_probs.iter().map(|lp| (!lp.is_empty()).then(|| lp.iter().map(|&x| x as f64).sum::<f64>() / lp.len() as f64)).collect())
    }

    /// Whether an answer is right: maths against the gold answer, code against all the tests.
    async fn judge(&self, problem: &Problem, answer: Option<&Answer>) -> Option<bool> {
        match (&problem.gold, answer) {
            (Gold::Unknown, _) => None,
            (_, None) => Some(false),
            (Gold::Answer { answer: gold }, Some(a)) => Some(equal(self.runner, a, &Answer::new(gold), compare).await),
            (Gold::Tests { setup, tests }, Some(a)) => {
                let program = format!("{}\n\n{setup}\n{}\n", a.raw, tests.join("\n"));
                Some(self.runner.run(&program).await.finished())
            }
        }
    }
}

/// What the Translate, Run and Filter stages made of N solutions.
struct Checked {
    answers: Vec<Option<Answer>>,
    programs: Vec<Option<String>>,
    program_tokens: usize,
    outcomes: Vec<Option<PotOutcome>>,
    kept: Vec<bool>,
}

impl Checked {
    fn records(&self, texts: &[&str], tokens: &[usize], scores: &[Option<f64>], judged: &[Option<bool>]) -> Vec<CandidateRecord> {
        (0..texts.len())
            .map(|i| CandidateRecord {
                cot: texts[i].to_string(),
                tokens: tokens[i],
                answer: self.answers[i].as_ref().map(|a| a.raw.clone()),
                pot_code: self.programs[i].clone(),
                pot_outcome: self.outcomes[i].clone(),
                pot_result: self.outcomes[i].as_ref().and_then(|o| o.result()).map(str::to_string),
                kept: self.kept[i],
                score: scores[i],
                correct: judged[i],
            })
            .collect()
    }
}

/// A sample's mean token log-probability as recorded while it was drawn (`Some(None)` for an
/// empty solution), over the tokens its text is made of: not a closing end-of-sequence token.
/// `None` when it has no record, or when a stop string cut its text short of its tokens.
fn recorded_score(g: &Generated) -> Option<Option<f64>> {
    if g.log_probs.len() != g.tokens.len() || g.stop == StopReason::StopString {
        return None;
    }
    let text_tokens = if g.stop == StopReason::EndOfSequence { g.tokens.len() - 1 } else { g.tokens.len() };
    let log_probs = &g.log_probs[..text_tokens];
    Some((!log_probs.is_empty()).then(|| log_probs.iter().map(|&x| x as f64).sum::<f64>() / log_probs.len() as f64))
}

/// The gold answer as a record holds it: the answer, or for code problems the tests.
fn gold_text(problem: &Problem) -> Option<String> {
    match &problem.gold {
        Gold::Answer { answer } => Some(answer.clone()),
        Gold::Tests { tests, .. } => Some(tests.join("\n")),
        Gold::Unknown => None,
    }
}

fn check(cancelled: &dyn Fn() -> bool) -> Result<(), PipelineError> {
    if cancelled() { Err(PipelineError::Cancelled) } else { Ok(()) }
}

/// Programs compared for voting: comments, blank lines and indentation-insensitive spacing dropped.
pub fn code_key(code: &str) -> String {
    code.lines()
        .map(|l| l.split('#').next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
