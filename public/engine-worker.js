// The engine worker: the page's own wasm module, started in worker mode. The page and this
// worker share one build (see app/src/main.rs); `engine_worker_main` owns the GPU from here.
import init, { engine_worker_main } from "../cotnpot-app.js";

// Messages can arrive while the module instantiates; keep them for the engine.
const early = [];
self.onmessage = (event) => early.push(event);

await init({ module_or_path: new URL("../cotnpot-app_bg.wasm", import.meta.url) });
engine_worker_main();
for (const event of early) self.onmessage(event);
