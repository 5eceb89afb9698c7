// wllama (llama.cpp compiled to wasm, with its WebGPU backend) on the same GGUF in the same
// headless Chromium as the page's own figures: load, time to first token, decode tokens/s for
// N=1 and N=4. Usage: node tests/browser/wllama-bench.mjs  (after scripts/setup.sh)
import { join, resolve } from "node:path";
import { launchBrowser, startServer } from "./server.mjs";

const root = resolve(new URL("../..", import.meta.url).pathname);
const served = await startServer({ dist: join(root, "dist"), models: join(root, ".cache/models") });
const browser = await launchBrowser();
const context = browser.context;
const page = await context.newPage();
page.on("console", (m) => { if (m.type() === "error") console.error(`[page] ${m.text()}`); });
await page.goto(`${served.url}/bench/wllama.html`);
await page.waitForFunction(() => window.benchReady === true);
const model = "/test-models/SmolLM2-135M-Instruct.Q4_1.gguf";
for (const [label, gpuLayers, parallel] of [["WebGPU", 99, 1], ["WebGPU", 99, 4], ["wasm CPU", 0, 1], ["wasm CPU", 0, 4]]) {
  const result = await page.evaluate((args) => window.runBench(args), { model, gpuLayers, prompt: "The capital of France is", tokens: 32, parallel });
  const runs = result.runs;
  const mean = (k) => runs.reduce((s, r) => s + r[k], 0) / runs.length;
  console.log(JSON.stringify({ backend: label, n: parallel, load_s: +result.load_s.toFixed(2), first_token_s: +mean("first_token_s").toFixed(2),
    decode_tok_s_per_sequence: +mean("decode_tok_s").toFixed(2), decode_tok_s_total: +(mean("decode_tok_s") * parallel).toFixed(2), text: runs[0].text.slice(0, 60) }));
}
await browser.close();
served.server.close();
