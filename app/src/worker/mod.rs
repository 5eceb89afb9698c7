//! The engine worker: owns the device (WebGPU, or the CPU where there is none), the loaded models
//! and the Python runner, and answers the page's messages. It runs the very pipeline the native
//! CLI runs.

mod adapter;
pub mod fetch;
mod python;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use cotnpot_engine::generate::{GenerateOptions, SamplingParams, generate};
use cotnpot_engine::gguf::{ChunkedBytes, GgufFile};
use cotnpot_engine::{Device, EngineError, LanguageModel};
use cotnpot_pipeline::task::Problem;
use cotnpot_pipeline::runner::PythonRunner;
use cotnpot_pipeline::{Models, Pipeline, PipelineError, Settings};
use js_sys::{ArrayBuffer, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::protocol::{DeviceChoice, ErrorKind, FitEstimate, FromEngine, ModelSource, Role, RunsOn, ToEngine};
use cotnpot_engine::lora::Adapter;
use fetch::fetch_bytes;
use sha2::{Digest, Sha256};
use python::PyodideRunner;

/// Each Python program's wall-clock limit.
const PYTHON_TIMEOUT_MS: u32 = 10_000;
/// Progress messages are sent at most this often (a 1 GB download has ~16k chunks).
const PROGRESS_EVERY_MS: f64 = 100.0;

struct Loaded {
    /// Shared, not copied, by a role that is the same as another: the pipeline tells a verifier
    /// that is the reasoner itself by identity, and then reuses sampling's log-probs.
    model: Rc<LanguageModel>,
    name: String,
    /// Of the GGUF file: an adapter names the base it was trained on by this.
    sha256: String,
    /// The role whose weights this one shares (`SameAs`, or an adapter on top of it).
    rides_on: Option<Role>,
}

fn sha256_of(bytes: &ChunkedBytes) -> String {
    let mut hasher = Sha256::new();
    let step = 8 << 20;
    let mut at = 0;
    while at < bytes.len() {
        let n = step.min(bytes.len() - at);
        if let Ok(part) = bytes.range(at, n) {
            hasher.update(&part);
        }
        at += n;
    }
    format!("{:x}", hasher.finalize())
}

struct Engine {
    device: RefCell<Option<Device>>,
    models: RefCell<HashMap<Role, Rc<Loaded>>>,
    runner: PyodideRunner,
    cancelled: Cell<bool>,
    /// Messages wait here and are handled one at a time (a Load must not race the Init before
    /// it); only Stop bypasses the queue.
    queue: RefCell<VecDeque<(ToEngine, Option<ArrayBuffer>)>>,
    draining: Cell<bool>,
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn now() -> f64 {
    scope().performance().map(|p| p.now() / 1000.0).unwrap_or(0.0)
}

fn send(message: &FromEngine) {
    let json = serde_json::to_string(message).expect("messages serialise");
    let _ = scope().post_message(&JsValue::from_str(&json));
}

fn fail(kind: ErrorKind, role: Option<Role>, message: impl std::fmt::Display) {
    send(&FromEngine::Error { kind, role, message: message.to_string() });
}

/// Started by public/engine-worker.js once the wasm module is instantiated in the worker.
#[wasm_bindgen]
pub fn engine_worker_main() {
    std::panic::set_hook(Box::new(|info| {
        // A panic aborts the wasm instance; tell the page first so it can offer a reload.
        fail(ErrorKind::Gpu, None, format!("the engine stopped: {info}"));
    }));
    let location = scope().location().href();
    let python_script = web_sys::Url::new_with_base("python-worker.js", &location).map(|u| u.href()).unwrap_or_else(|_| "python-worker.js".into());
    let engine = Rc::new(Engine {
        device: RefCell::new(None),
        models: RefCell::new(HashMap::new()),
        runner: PyodideRunner::new(python_script, PYTHON_TIMEOUT_MS),
        cancelled: Cell::new(false),
        queue: RefCell::new(VecDeque::new()),
        draining: Cell::new(false),
    });
    // Warm Python up while the user picks models; a failure shows on the first program's card.
    let warm = engine.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let _ = warm.runner.ready().await;
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let data = event.data();
        let json = Reflect::get(&data, &"json".into()).ok().and_then(|j| j.as_string());
        let Some(message) = json.and_then(|j| serde_json::from_str::<ToEngine>(&j).ok()) else {
            fail(ErrorKind::Run, None, "the engine received a message it does not understand");
            return;
        };
        let bytes = Reflect::get(&data, &"bytes".into()).ok().and_then(|b| b.dyn_into::<ArrayBuffer>().ok());
        if let ToEngine::Stop = message {
            engine.cancelled.set(true);
            return;
        }
        engine.queue.borrow_mut().push_back((message, bytes));
        if !engine.draining.replace(true) {
            let engine = engine.clone();
            wasm_bindgen_futures::spawn_local(async move {
                loop {
                    let next = engine.queue.borrow_mut().pop_front();
                    let Some((message, bytes)) = next else { break };
                    engine.handle(message, bytes).await;
                }
                engine.draining.set(false);
            });
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
}

impl Engine {
    async fn handle(&self, message: ToEngine, bytes: Option<ArrayBuffer>) {
        match message {
            ToEngine::Init { device } => self.init(device).await,
            ToEngine::Load { role, source } => self.load(role, source, bytes).await,
            ToEngine::Solve { run, problem, settings } => self.solve(run, problem, settings).await,
            ToEngine::Generate { prompt, max_tokens } => self.generate(prompt, max_tokens).await,
            // Beside the queue: a slow or hanging header request must not hold up a load.
            ToEngine::Inspect { role, url, rows, new_tokens } => wasm_bindgen_futures::spawn_local(async move {
                send(&FromEngine::Fit { role, estimate: inspect(&url, rows, new_tokens).await });
            }),
            ToEngine::RunPython { code } => {
                let started = now();
                let outcome = self.runner.run(&code).await;
                send(&FromEngine::PythonRan { outcome, seconds: now() - started });
            }
            ToEngine::ListCache => send(&FromEngine::Cache { entries: fetch::list().await }),
            ToEngine::ClearCache => {
                fetch::clear().await;
                send(&FromEngine::Cache { entries: fetch::list().await });
            }
            ToEngine::Stop => {}
        }
    }

    async fn init(&self, choice: DeviceChoice) {
        let probed = match choice {
            DeviceChoice::Cpu => Err("chosen on this page".to_string()),
            DeviceChoice::Gpu | DeviceChoice::Auto => adapter::probe().await,
        };
        let gpu = match probed {
            Ok(a) if a.fallback && choice == DeviceChoice::Auto => Err(format!("the browser's only WebGPU adapter, {}, is a software one", a.description)),
            Ok(a) => self.open_gpu().await.map(|()| a),
            Err(reason) => Err(reason),
        };
        let runs_on = match gpu {
            Ok(adapter) => RunsOn::Gpu { adapter },
            Err(reason) if choice == DeviceChoice::Gpu => return fail(ErrorKind::NoWebGpu, None, reason),
            Err(why) => {
                *self.device.borrow_mut() = Some(cotnpot_engine::backend::cpu());
                RunsOn::Cpu { why }
            }
        };
        send(&FromEngine::Ready { runs_on });
    }

    /// A wgpu device on the browser's adapter, once.
    async fn open_gpu(&self) -> Result<(), String> {
        if self.device.borrow().is_none() {
            *self.device.borrow_mut() = Some(cotnpot_engine::backend::wgpu().await.map_err(|e| e.to_string())?);
        }
        Ok(())
    }

    async fn load(&self, role: Role, source: ModelSource, local: Option<ArrayBuffer>) {
        let started = now();
        let Some(device) = self.device.borrow().clone() else {
            return fail(ErrorKind::NoWebGpu, Some(role), "the engine has no device yet");
        };
        // What a refused file is dropped from the cache under (see `forget`).
        let (cached_url, tokenizer_url) = match &source {
            ModelSource::Url { gguf, tokenizer, .. } => (Some(gguf.clone()), tokenizer.clone()),
            _ => (None, None),
        };
        let expected_sha256 = match &source {
            ModelSource::Url { sha256, .. } => sha256.clone(),
            _ => None,
        };
        let (name, bytes, tokenizer) = match source {
            ModelSource::SameAs { role: other } => {
                let Some(loaded) = self.models.borrow().get(&other).cloned() else {
                    return fail(ErrorKind::Model, Some(role), format!("no {} model is loaded to share", other.label()));
                };
                let name = loaded.name.clone();
                let weights_mb = loaded.model.model.device_bytes() as f64 / 1e6;
                let architecture = architecture(&loaded.model);
                let shared = Loaded { model: loaded.model.clone(), name: loaded.name.clone(), sha256: loaded.sha256.clone(), rides_on: Some(other) };
                self.models.borrow_mut().insert(role, Rc::new(shared));
                return send(&FromEngine::Loaded { role, name, bytes: 0.0, seconds: now() - started, weights_mb, architecture });
            }
            ModelSource::Adapter { base, name, url } => return self.load_adapter(role, base, name, url, local, started).await,
            ModelSource::LocalFile { name } => {
                let Some(buffer) = local else { return fail(ErrorKind::Model, Some(role), "the file's bytes did not arrive") };
                let mut bytes = ChunkedBytes::new();
                bytes.push(Uint8Array::new(&buffer).to_vec());
                (name, bytes, None)
            }
            ModelSource::Url { gguf, tokenizer, .. } => {
                let mut last = 0.0;
                let mut report = |p: fetch::Progress| {
                    let t = now() * 1000.0;
                    if t - last >= PROGRESS_EVERY_MS || Some(p.loaded) == p.total {
                        last = t;
                        send(&FromEngine::Progress { role, url: gguf.clone(), loaded: p.loaded, total: p.total, from_cache: p.from_cache });
                    }
                };
                let bytes = match fetch_bytes(&gguf, &mut report).await {
                    Ok(bytes) => bytes,
                    Err(e) => return fail(ErrorKind::Download, Some(role), e),
                };
                let tokenizer = match tokenizer {
                    Some(url) => match fetch_bytes(&url, &mut |_| {}).await {
                        Ok(json) => Some(json.range(0, json.len()).map(|b| b.into_owned()).unwrap_or_default()),
                        Err(e) => return fail(ErrorKind::Download, Some(role), e),
                    },
                    None => None,
                };
                (gguf.rsplit('/').next().unwrap_or(&gguf).to_string(), bytes, tokenizer)
            }
        };
        let size = bytes.len() as f64;
        let sha256 = sha256_of(&bytes);
        if let Some(expected) = expected_sha256
            && expected != sha256
        {
            forget(cached_url.as_deref()).await;
            return fail(ErrorKind::Download, Some(role), format!("{name} is not the file this preset names (sha256 {}…, expected {}…): the download was cut short or the Hub repository changed it", &sha256[..12], &expected[..12.min(expected.len())]));
        }
        let file = match GgufFile::from_chunks(bytes) {
            Ok(file) => file,
            Err(e) => {
                forget(cached_url.as_deref()).await;
                return fail(ErrorKind::Model, Some(role), format!("{name} is not a usable GGUF file: {e}"));
            }
        };
        // Drop this role's previous model first so two do not sit on the GPU at once, with every
        // role that rode on it.
        self.models.borrow_mut().remove(&role);
        self.drop_riders(role);
        let model = match LanguageModel::load(&file, tokenizer.as_deref(), &device) {
            Ok(model) => model,
            Err(e) => {
                // Only the file at fault leaves the cache: a bad tokenizer.json keeps a good GGUF.
                match &e {
                    EngineError::Tokenizer(_) if tokenizer_url.is_some() => forget(tokenizer_url.as_deref()).await,
                    EngineError::Device(_) => {}
                    _ => forget(cached_url.as_deref()).await,
                }
                return fail(ErrorKind::Model, Some(role), format!("{name}: {e}"));
            }
        };
        drop(file);
        let weights_mb = model.model.device_bytes() as f64 / 1e6;
        let architecture = architecture(&model);
        self.models.borrow_mut().insert(role, Rc::new(Loaded { model: Rc::new(model), name: name.clone(), sha256, rides_on: None }));
        send(&FromEngine::Loaded { role, name, bytes: size, seconds: now() - started, weights_mb, architecture });
    }

    /// The verifier as `base`'s model plus a trained adapter: the weights are shared, only the
    /// adapter's matrices are new on the GPU.
    async fn load_adapter(&self, role: Role, base: Role, name: String, url: Option<String>, local: Option<ArrayBuffer>, started: f64) {
        let Some(device) = self.device.borrow().clone() else {
            return fail(ErrorKind::NoWebGpu, Some(role), "the engine has no device yet");
        };
        let Some(loaded) = self.models.borrow().get(&base).cloned() else {
            return fail(ErrorKind::Model, Some(role), format!("load the {} model first: the adapter goes on top of it", base.label().to_lowercase()));
        };
        let bytes = match (&url, local) {
            (Some(url), _) => match fetch_bytes(url, &mut |_| {}).await {
                Ok(b) => b.range(0, b.len()).map(|b| b.into_owned()).unwrap_or_default(),
                Err(e) => return fail(ErrorKind::Download, Some(role), e),
            },
            (None, Some(buffer)) => Uint8Array::new(&buffer).to_vec(),
            (None, None) => return fail(ErrorKind::Model, Some(role), "the adapter's bytes did not arrive"),
        };
        let adapter = match Adapter::from_safetensors(&bytes, &device) {
            Ok(a) => a,
            Err(e) => {
                forget(url.as_deref()).await;
                return fail(ErrorKind::Model, Some(role), format!("{name}: {e}"));
            }
        };
        if adapter.base.sha256 != loaded.sha256 {
            return fail(
                ErrorKind::Model,
                Some(role),
                format!("{name} was trained on {} (sha256 {}…), but the {} is {} (sha256 {}…)", adapter.base.file, &adapter.base.sha256.get(..12).unwrap_or(""), base.label().to_lowercase(), loaded.name, &loaded.sha256[..12]),
            );
        }
        let mut model = LanguageModel::clone(&loaded.model);
        if let Err(e) = adapter.attach(&mut model.model) {
            return fail(ErrorKind::Model, Some(role), format!("{name}: {e}"));
        }
        let weights_mb = model.model.device_bytes() as f64 / 1e6;
        let architecture = architecture(&model);
        let label = format!("{} + trained verifier {name}", loaded.name);
        self.models.borrow_mut().insert(role, Rc::new(Loaded { model: Rc::new(model), name: label.clone(), sha256: loaded.sha256.clone(), rides_on: Some(base) }));
        send(&FromEngine::Loaded { role, name: label, bytes: bytes.len() as f64, seconds: now() - started, weights_mb, architecture });
    }

    fn drop_riders(&self, base: Role) {
        let riders: Vec<Role> = self.models.borrow().iter().filter(|(_, l)| l.rides_on == Some(base)).map(|(r, _)| *r).collect();
        for role in riders {
            self.models.borrow_mut().remove(&role);
            send(&FromEngine::Unloaded { role });
        }
    }

    fn model(&self, role: Role) -> Option<Rc<Loaded>> {
        let models = self.models.borrow();
        models.get(&role).or_else(|| models.get(&Role::Reasoner)).cloned()
    }

    async fn solve(&self, run: u64, problem: Problem, settings: Settings) {
        let (Some(reasoner), Some(coder), Some(verifier)) = (self.model(Role::Reasoner), self.model(Role::Coder), self.model(Role::Verifier)) else {
            return fail(ErrorKind::Run, None, "load a reasoner model first");
        };
        self.cancelled.set(false);
        let models = Models { reasoner: &reasoner.model, coder: &coder.model, verifier: &verifier.model };
        let clock = now;
        let pipeline = Pipeline { models, runner: &self.runner, settings, now: &clock };
        let result = pipeline.run(&problem, &mut |event| send(&FromEngine::Event { run, event }), &|| self.cancelled.get()).await;
        match result {
            Ok(record) => send(&FromEngine::Done { run, record }),
            Err(PipelineError::Cancelled) => send(&FromEngine::Stopped { run: Some(run) }),
            Err(PipelineError::Engine(e @ EngineError::Device(_))) => fail(ErrorKind::Gpu, None, e),
            Err(e) => fail(ErrorKind::Run, None, e),
        }
    }

    async fn generate(&self, prompt: String, max_tokens: usize) {
        let Some(reasoner) = self.model(Role::Reasoner) else { return fail(ErrorKind::Run, None, "load a reasoner model first") };
        self.cancelled.set(false);
        let lm = &reasoner.model;
        let ids = match lm.tokenizer.encode(&prompt) {
            Ok(ids) => ids,
            Err(e) => return fail(ErrorKind::Run, None, e),
        };
        let options = GenerateOptions { max_tokens, sampling: SamplingParams::greedy(), stop_strings: vec![], ignore_eos: false, log_probs: false };
        let started = now();
        let mut first = None;
        let result = generate(&lm.model, &lm.tokenizer, &ids, 1, &options, &mut |_| {
            first.get_or_insert_with(now);
        }, &|| self.cancelled.get())
        .await;
        let ended = now();
        match result {
            Ok(mut out) => {
                let out = out.remove(0);
                let first = first.unwrap_or(ended);
                let rest = out.tokens.len().saturating_sub(1) as f64;
                let tokens_per_second = if ended > first && rest > 0.0 { rest / (ended - first) } else { 0.0 };
                send(&FromEngine::Generated { tokens: out.tokens, text: out.text, first_token_seconds: first - started, tokens_per_second });
            }
            Err(EngineError::Device(e)) => fail(ErrorKind::Gpu, None, e),
            Err(e) => fail(ErrorKind::Run, None, e),
        }
    }
}

/// How much of a file's start is read to find its header: the first read holds the vocabulary of
/// the small models people pick (Gemma's 262k pieces take ~6 MB); a larger header is read again.
const HEADER_READS: [usize; 2] = [16 << 20, 64 << 20];

/// The prompt a fit estimate assumes: a word problem inside its chat template.
const FIT_PROMPT_TOKENS: usize = 256;

/// What the model at `url` would need on the GPU, from its header alone.
async fn inspect(url: &str, rows: usize, new_tokens: usize) -> Result<FitEstimate, String> {
    let mut short = String::new();
    for limit in HEADER_READS {
        let (prefix, total) = fetch::fetch_prefix(url, limit).await.map_err(|e| e.to_string())?;
        match cotnpot_engine::gguf::GgufHeader::parse_prefix(&prefix, total) {
            Ok(header) => {
                let e = cotnpot_engine::fit::estimate(&header, rows, FIT_PROMPT_TOKENS, new_tokens).map_err(|e| format!("{url}: {e}"))?;
                let architecture = header.get("general.architecture").and_then(|v| v.as_str()).unwrap_or("unknown").to_string();
                return Ok(FitEstimate {
                    url: url.to_string(),
                    architecture,
                    rows,
                    new_tokens,
                    weights: e.weights as f64,
                    kv_cache: e.kv_cache as f64,
                    activations: e.activations as f64,
                    largest_buffer: e.largest_buffer as f64,
                });
            }
            Err(e) if (prefix.len() as u64) < total => short = e.to_string(),
            Err(e) => return Err(format!("{url} is not a GGUF file this engine reads: {e}")),
        }
    }
    Err(format!("{url}: its header is longer than {} MB ({short})", HEADER_READS[1] >> 20))
}

/// A downloaded file the engine refused leaves the cache, so a retry fetches it again.
async fn forget(url: Option<&str>) {
    if let Some(url) = url {
        fetch::forget(url).await;
    }
}

fn architecture(model: &LanguageModel) -> String {
    let c = &model.model.config;
    format!("{}, {} layers, d={}, vocab {}", c.family_name(), c.layers, c.d_model, c.vocab)
}
