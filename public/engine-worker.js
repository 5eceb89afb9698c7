// The engine worker: the page's own wasm module, started in worker mode. The page and this
// worker share one build (see app/src/main.rs); `engine_worker_main` owns the GPU from here. The
// page names its module's glue in `?module=` (a site build hashes the file names); the wasm beside
// it follows wasm-bindgen's naming.

// A lost GPU device (a driver reset, the GPU taken back, `destroy()`) shows in the engine only as
// a failed read-back ("the staging buffer could not be mapped"), or not at all when the engine is
// idle; the device's `lost` promise says why. Every device this worker asks for reports its loss
// to the page, which offers to restart the engine. The device is kept on `self.cotnpotGpuDevice`
// so that the browser test (tests/browser/e2e.test.mjs) can lose it on purpose.
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    self.cotnpotGpuDevice = device;
    device.lost.then((info) => {
      const message = `the GPU device was lost (${info.reason ?? "unknown reason"}): ${info.message}`;
      self.postMessage(JSON.stringify({ type: "error", kind: "gpu", role: null, message }));
    });
    return device;
  };
}

// Messages can arrive while the module instantiates; keep them for the engine.
const early = [];
self.onmessage = (event) => early.push(event);

const glue = new URL(self.location.href).searchParams.get("module") ?? new URL("../cotnpot-app.js", import.meta.url).href;
const { default: init, engine_worker_main } = await import(glue);
await init({ module_or_path: glue.replace(/\.js$/, "_bg.wasm") });
engine_worker_main();
for (const event of early) self.onmessage(event);
