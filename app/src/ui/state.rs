//! Everything the page shows, as signals, and how each engine message changes it.

use std::collections::BTreeMap;

use cotnpot_pipeline::record::Record;
use cotnpot_pipeline::runner::PotOutcome;
use cotnpot_pipeline::task::Problem;
use cotnpot_pipeline::{Event, Settings, Stage};
use leptos::prelude::*;

use super::engine;
use crate::protocol::{CacheEntry, DeviceChoice, ErrorKind, FitEstimate, FromEngine, ModelSource, Role, RunsOn, ToEngine};

pub fn now() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map(|p| p.now() / 1000.0).unwrap_or(0.0)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    pub url: String,
    pub loaded: f64,
    pub total: Option<f64>,
    pub from_cache: bool,
    pub started: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadedModel {
    pub name: String,
    pub bytes: f64,
    pub seconds: f64,
    pub weights_mb: f64,
    pub architecture: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub role: Option<Role>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidateView {
    pub text: String,
    pub tokens: usize,
    /// `None` until extracted; then the answer, if any.
    pub answer: Option<Option<String>>,
    pub code: Option<Option<String>>,
    pub outcome: Option<PotOutcome>,
    pub kept: Option<bool>,
    pub score: Option<Option<f64>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunView {
    pub problem: Option<Problem>,
    pub candidates: Vec<CandidateView>,
    pub greedy: String,
    pub stage: Option<Stage>,
    pub record: Option<Record>,
    pub running: bool,
    pub stopped: bool,
    pub started: f64,
    pub first_token: Option<f64>,
    pub last_token: Option<f64>,
    pub sample_tokens: usize,
    /// This run's id; messages of other runs are dropped.
    pub id: u64,
    /// Seconds from Stop to the engine's confirmation (it stops at the next decode step).
    pub stop_confirmed: Option<f64>,
    pub stop_pressed: Option<f64>,
}

impl RunView {
    /// Decode speed of the sampling stage, over all N sequences.
    pub fn sample_tokens_per_second(&self) -> Option<f64> {
        let (first, last) = (self.first_token?, self.last_token?);
        (last > first && self.sample_tokens > self.candidates.len()).then(|| (self.sample_tokens - self.candidates.len()) as f64 / (last - first))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub tokens: Vec<u32>,
    pub text: String,
    pub first_token_seconds: f64,
    pub tokens_per_second: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchView {
    pub queue: Vec<Problem>,
    pub total: usize,
    pub records: Vec<Record>,
    pub running: bool,
}

#[derive(Clone, Copy)]
pub struct AppState {
    /// The device the engine reported when it started; `None` until then.
    pub runs_on: RwSignal<Option<RunsOn>>,
    /// Where the page asked the engine to run (`?device=auto|gpu|cpu` in the page's address).
    pub device_choice: RwSignal<DeviceChoice>,
    pub failure: RwSignal<Option<Failure>>,
    pub downloads: RwSignal<BTreeMap<Role, Download>>,
    pub loaded: RwSignal<BTreeMap<Role, LoadedModel>>,
    /// The source each role was last asked to load, for retry and reload.
    pub sources: RwSignal<BTreeMap<Role, ModelSource>>,
    pub loading: RwSignal<Option<Role>>,
    pub cache: RwSignal<Vec<CacheEntry>>,
    pub run: RwSignal<RunView>,
    pub check: RwSignal<Option<CheckResult>>,
    pub checking: RwSignal<bool>,
    pub bench: RwSignal<BenchView>,
    /// The Python check's last outcome and its seconds; `running_python` while one runs.
    pub python: RwSignal<Option<(PotOutcome, f64)>>,
    pub running_python: RwSignal<bool>,
    pub settings: RwSignal<Settings>,
    /// Per role, what the model picked would need on the GPU (or why that is unknown).
    pub fits: RwSignal<BTreeMap<Role, Result<FitEstimate, String>>>,
}

impl AppState {
    pub fn new() -> Self {
        let settings = Settings { n: 4, max_solution_tokens: 256, max_program_tokens: 256, ..Settings::default() };
        Self {
            runs_on: RwSignal::new(None),
            device_choice: RwSignal::new(device_from_address()),
            failure: RwSignal::new(None),
            downloads: RwSignal::new(BTreeMap::new()),
            loaded: RwSignal::new(BTreeMap::new()),
            sources: RwSignal::new(BTreeMap::new()),
            loading: RwSignal::new(None),
            cache: RwSignal::new(Vec::new()),
            run: RwSignal::new(RunView::default()),
            check: RwSignal::new(None),
            checking: RwSignal::new(false),
            bench: RwSignal::new(BenchView::default()),
            python: RwSignal::new(None),
            running_python: RwSignal::new(false),
            settings: RwSignal::new(settings),
            fits: RwSignal::new(BTreeMap::new()),
        }
    }

    pub fn fail(&self, kind: ErrorKind, role: Option<Role>, message: String) {
        // A lost GPU reports itself and also fails whatever the engine was doing, in either
        // order: the banner keeps every such message, so that the cause stays in view.
        let message = match self.failure.get_untracked() {
            Some(shown) if shown.kind == ErrorKind::Gpu && kind == ErrorKind::Gpu && !shown.message.contains(&message) => format!("{}\n{message}", shown.message),
            _ => message,
        };
        self.failure.set(Some(Failure { kind, role, message }));
        self.loading.set(None);
        self.checking.set(false);
        self.running_python.set(false);
        self.run.update(|r| r.running = false);
        self.bench.update(|b| b.running = false);
    }

    pub fn load(&self, role: Role, source: ModelSource, bytes: Option<js_sys::ArrayBuffer>) {
        self.failure.set(None);
        self.loading.set(Some(role));
        self.sources.update(|s| {
            s.insert(role, source.clone());
        });
        self.downloads.update(|d| {
            d.remove(&role);
        });
        engine::send_with_bytes(&ToEngine::Load { role, source }, bytes);
    }

    /// Asks what the model at `url` would need for the current settings (N samples plus the
    /// greedy row, the longest of the solution and program budgets).
    pub fn inspect(&self, role: Role, url: String) {
        let settings = self.settings.get_untracked();
        self.fits.update(|f| {
            f.remove(&role);
        });
        let new_tokens = settings.max_solution_tokens.max(settings.max_program_tokens);
        engine::send(&ToEngine::Inspect { role, url, rows: settings.n + 1, new_tokens });
    }

    pub fn solve(&self, problem: Problem) {
        let settings = self.settings.get_untracked();
        let run = self.run.with_untracked(|r| r.id) + 1;
        self.failure.set(None);
        self.run.set(RunView {
            id: run,
            problem: Some(problem.clone()),
            candidates: vec![CandidateView::default(); settings.n],
            running: true,
            started: now(),
            ..RunView::default()
        });
        engine::send(&ToEngine::Solve { run, problem, settings });
    }

    /// Stop takes effect on the page at once: the run is marked stopped and its later messages
    /// are dropped; the engine ends it at its next decode step and confirms.
    pub fn stop(&self) {
        engine::send(&ToEngine::Stop);
        self.run.update(|r| {
            if r.running {
                r.running = false;
                r.stopped = true;
                r.stop_pressed = Some(now());
            }
        });
        self.bench.update(|b| b.running = false);
    }

    fn next_bench_problem(&self) {
        let next = self.bench.try_update(|b| if b.running && !b.queue.is_empty() { Some(b.queue.remove(0)) } else { None }).flatten();
        match next {
            Some(problem) => self.solve(problem),
            None => self.bench.update(|b| b.running = false),
        }
    }

    pub fn start_bench(&self, problems: Vec<Problem>) {
        self.bench.set(BenchView { total: problems.len(), queue: problems, records: Vec::new(), running: true });
        self.next_bench_problem();
    }

    pub fn apply(&self, message: FromEngine) {
        match message {
            FromEngine::Ready { runs_on } => {
                self.runs_on.set(Some(runs_on));
                engine::send(&ToEngine::ListCache);
            }
            FromEngine::Progress { role, url, loaded, total, from_cache } => self.downloads.update(|d| {
                let started = d.get(&role).filter(|x| x.url == url).map_or_else(now, |x| x.started);
                d.insert(role, Download { url, loaded, total, from_cache, started });
            }),
            FromEngine::Loaded { role, name, bytes, seconds, weights_mb, architecture } => {
                self.loaded.update(|l| {
                    l.insert(role, LoadedModel { name, bytes, seconds, weights_mb, architecture });
                });
                self.loading.set(None);
                engine::send(&ToEngine::ListCache);
            }
            FromEngine::Fit { role, estimate } => self.fits.update(|f| {
                f.insert(role, estimate);
            }),
            FromEngine::Unloaded { role } => self.loaded.update(|l| {
                l.remove(&role);
            }),
            FromEngine::Event { run, event } => {
                if self.run.with_untracked(|r| r.id == run && !r.stopped) {
                    self.on_event(event);
                }
            }
            FromEngine::Done { run, record } => {
                if self.run.with_untracked(|r| r.id != run || r.stopped) {
                    return;
                }
                self.run.update(|r| {
                    r.record = Some(record.clone());
                    r.running = false;
                });
                if self.bench.with_untracked(|b| b.running) {
                    self.bench.update(|b| b.records.push(record));
                    self.next_bench_problem();
                }
            }
            FromEngine::Stopped { run } => {
                self.checking.set(false);
                if let Some(run) = run {
                    self.run.update(|r| {
                        if r.id == run {
                            r.stop_confirmed = r.stop_pressed.map(|t| now() - t);
                        }
                    });
                }
            }
            FromEngine::Generated { tokens, text, first_token_seconds, tokens_per_second } => {
                self.checking.set(false);
                self.check.set(Some(CheckResult { tokens, text, first_token_seconds, tokens_per_second }));
            }
            FromEngine::PythonRan { outcome, seconds } => {
                self.running_python.set(false);
                self.python.set(Some((outcome, seconds)));
            }
            FromEngine::Cache { entries } => self.cache.set(entries),
            FromEngine::Error { kind, role, message } => self.fail(kind, role, message),
        }
    }

    fn on_event(&self, event: Event) {
        let t = now();
        self.run.update(|r| {
            fn cand(r: &mut RunView, i: usize) -> &mut CandidateView {
                if r.candidates.len() <= i {
                    r.candidates.resize(i + 1, CandidateView::default());
                }
                &mut r.candidates[i]
            }
            match event {
                Event::Stage { stage } => r.stage = Some(stage),
                Event::Token { cand: i, text } => {
                    r.first_token.get_or_insert(t - r.started);
                    r.last_token = Some(t - r.started);
                    r.sample_tokens += 1;
                    let c = cand(r, i);
                    c.text.push_str(&text);
                    c.tokens += 1;
                }
                Event::GreedyToken { text } => r.greedy.push_str(&text),
                Event::Answer { cand: i, answer } => cand(r, i).answer = Some(answer),
                Event::Program { cand: i, code } => cand(r, i).code = Some(code),
                Event::Ran { cand: i, outcome } => cand(r, i).outcome = Some(outcome),
                Event::Verdict { cand: i, kept } => cand(r, i).kept = Some(kept),
                Event::Score { cand: i, score } => cand(r, i).score = Some(score),
            }
        });
    }
}

/// The device named by the page's address (`?device=cpu`), else `Auto`.
fn device_from_address() -> DeviceChoice {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    search.trim_start_matches('?').split('&').find_map(|pair| pair.strip_prefix("device=")).and_then(DeviceChoice::from_name).unwrap_or_default()
}
