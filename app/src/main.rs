//! cotnpot's page. The same wasm module runs twice: on the page, where `main` mounts the leptos
//! UI, and in the engine worker, where `main` finds no window and public/engine-worker.js calls
//! `worker::engine_worker_main` instead.

#[cfg(target_arch = "wasm32")]
mod protocol;
#[cfg(target_arch = "wasm32")]
mod ui;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// wasm-ld's runner of the static constructors (cubecl registers its IR dialects through
    /// `inventory`, thousands of them).
    fn __wasm_call_ctors();
}

fn main() {
    // Run the constructors once, here. A module that never calls this itself is linked by wasm-ld
    // as "command style": every exported function runs all constructors again first, i.e. on
    // each call from JavaScript, including every GPU callback of a decode step. That was most of
    // a step's time in the browser (perf: the worker in `__wasm_call_ctors` and
    // `inventory::Registry::submit`). inventory ignores a second registration, so the call the
    // start export may already have made is harmless.
    #[cfg(target_arch = "wasm32")]
    unsafe {
        __wasm_call_ctors()
    };
    #[cfg(target_arch = "wasm32")]
    if web_sys::window().is_some() {
        console_error_panic_hook::set_once();
        ui::mount();
    }
}
