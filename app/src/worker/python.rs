//! The browser's `PythonRunner`: Pyodide in its own worker (public/python-worker.js). A program
//! that outlives its time limit is first interrupted (KeyboardInterrupt through a shared
//! interrupt buffer); if Python does not yield, the worker is terminated and a fresh one started,
//! so the next program still runs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use cotnpot_pipeline::runner::{PotOutcome, PythonRunner, exception_line};
use futures::channel::oneshot;
use futures::future::{Either, select};
use gloo_timers::future::TimeoutFuture;
use js_sys::{Reflect, SharedArrayBuffer, Uint8Array};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

/// Output beyond this is cut and reported (a flood must not exhaust the page's memory).
const OUTPUT_LIMIT: usize = 1 << 20;
/// Time Python gets to honour the interrupt before its worker is terminated.
const INTERRUPT_GRACE_MS: u32 = 1500;
/// Loading Pyodide (and the sympy wheels) on a slow machine.
const LOAD_LIMIT_MS: u32 = 120_000;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Reply {
    Ready,
    Failed { message: String },
    Result { id: u32, kind: String, stdout: String, error: Option<String> },
}

enum State {
    Loading(Vec<oneshot::Sender<Result<(), String>>>),
    Ready,
    Failed(String),
}

struct Live {
    worker: Worker,
    state: State,
    pending: HashMap<u32, oneshot::Sender<Reply>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

pub struct PyodideRunner {
    script: String,
    timeout_ms: u32,
    interrupt: Option<Uint8Array>,
    live: Rc<RefCell<Option<Live>>>,
    next_id: RefCell<u32>,
}

impl PyodideRunner {
    /// `script` is the URL of python-worker.js.
    pub fn new(script: String, timeout_ms: u32) -> Self {
        // Interrupting needs a SharedArrayBuffer, which exists only on a cross-origin-isolated page.
        let isolated = Reflect::get(&js_sys::global(), &"crossOriginIsolated".into()).map(|v| v.is_truthy()).unwrap_or(false);
        let interrupt = isolated.then(|| Uint8Array::new(&SharedArrayBuffer::new(1)));
        Self { script, timeout_ms, interrupt, live: Rc::new(RefCell::new(None)), next_id: RefCell::new(0) }
    }

    fn spawn(&self) -> Result<(), String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(&self.script, &options).map_err(|e| format!("{e:?}"))?;
        let live = Rc::downgrade(&self.live);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(live) = live.upgrade() else { return };
            let Some(text) = event.data().as_string() else { return };
            let Ok(reply) = serde_json::from_str::<Reply>(&text) else { return };
            let mut guard = live.borrow_mut();
            let Some(live) = guard.as_mut() else { return };
            match reply {
                Reply::Ready | Reply::Failed { .. } => {
                    let outcome = match &reply {
                        Reply::Failed { message } => Err(message.clone()),
                        _ => Ok(()),
                    };
                    let state = match &outcome {
                        Ok(()) => State::Ready,
                        Err(m) => State::Failed(m.clone()),
                    };
                    if let State::Loading(waiters) = std::mem::replace(&mut live.state, state) {
                        for w in waiters {
                            let _ = w.send(outcome.clone());
                        }
                    }
                }
                Reply::Result { id, .. } => {
                    if let Some(tx) = live.pending.remove(&id) {
                        let _ = tx.send(reply);
                    }
                }
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let init = js_sys::Object::new();
        let _ = Reflect::set(&init, &"type".into(), &"init".into());
        if let Some(buffer) = &self.interrupt {
            let _ = Reflect::set(&init, &"interrupt".into(), buffer);
        }
        worker.post_message(&init).map_err(|e| format!("{e:?}"))?;
        *self.live.borrow_mut() = Some(Live { worker, state: State::Loading(Vec::new()), pending: HashMap::new(), _on_message: on_message });
        Ok(())
    }

    fn terminate(&self) {
        if let Some(live) = self.live.borrow_mut().take() {
            live.worker.terminate();
        }
    }

    /// Starts the worker if needed and waits until Pyodide has loaded.
    pub async fn ready(&self) -> Result<(), String> {
        if self.live.borrow().is_none() {
            self.spawn()?;
        }
        let waiter = {
            let mut guard = self.live.borrow_mut();
            let live = guard.as_mut().expect("spawned above");
            match &mut live.state {
                State::Ready => return Ok(()),
                State::Failed(m) => {
                    let message = m.clone();
                    drop(guard);
                    // The next program tries a fresh worker.
                    self.terminate();
                    return Err(message);
                }
                State::Loading(waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    rx
                }
            }
        };
        match select(waiter, TimeoutFuture::new(LOAD_LIMIT_MS)).await {
            Either::Left((Ok(result), _)) => result,
            Either::Left((Err(_), _)) => Err("the Python worker stopped while loading".into()),
            Either::Right(_) => {
                self.terminate();
                Err(format!("Pyodide did not load within {} s", LOAD_LIMIT_MS / 1000))
            }
        }
    }

    fn submit(&self, program: &str) -> Result<oneshot::Receiver<Reply>, String> {
        let id = {
            let mut next = self.next_id.borrow_mut();
            *next += 1;
            *next
        };
        let (tx, rx) = oneshot::channel();
        let mut guard = self.live.borrow_mut();
        let live = guard.as_mut().ok_or("no Python worker")?;
        live.pending.insert(id, tx);
        let message = serde_json::json!({ "type": "run", "id": id, "code": program, "max_output": OUTPUT_LIMIT });
        live.worker.post_message(&JsValue::from_str(&message.to_string())).map_err(|e| format!("{e:?}"))?;
        Ok(rx)
    }
}

fn outcome(reply: Reply, timed_out: bool) -> PotOutcome {
    let Reply::Result { kind, stdout, error, .. } = reply else { unreachable!("only results are routed to runs") };
    match kind.as_str() {
        "finished" => PotOutcome::Finished { stdout },
        "output_too_large" => PotOutcome::OutputTooLarge { limit_bytes: OUTPUT_LIMIT },
        "interrupted" if timed_out => PotOutcome::Timeout { stdout },
        _ => PotOutcome::Error { stdout, error: exception_line(error.as_deref().unwrap_or("")) },
    }
}

impl PythonRunner for PyodideRunner {
    async fn run(&self, program: &str) -> PotOutcome {
        if let Err(reason) = self.ready().await {
            return PotOutcome::Unavailable { reason };
        }
        let reply = match self.submit(program) {
            Ok(rx) => rx,
            Err(reason) => return PotOutcome::Unavailable { reason },
        };
        let reply = match select(reply, TimeoutFuture::new(self.timeout_ms)).await {
            Either::Left((Ok(reply), _)) => return outcome(reply, false),
            Either::Left((Err(_), _)) => return PotOutcome::Unavailable { reason: "the Python worker went away".into() },
            Either::Right((_, reply)) => reply,
        };
        if let Some(buffer) = &self.interrupt {
            // SIGINT: Pyodide raises KeyboardInterrupt at its next check.
            buffer.set_index(0, 2);
            if let Either::Left((Ok(reply), _)) = select(reply, TimeoutFuture::new(INTERRUPT_GRACE_MS)).await {
                return outcome(reply, true);
            }
        }
        // Python did not yield (or cannot be interrupted here): start over with a fresh worker.
        self.terminate();
        PotOutcome::Timeout { stdout: String::new() }
    }
}
