// The page's own figures in headless Chromium (WebGPU on SwiftShader here) for BENCHMARKS.md:
// model load, then N=1 (the model check: raw greedy continuation) and N=4 (the sampling stage of
// a Solve, stopped once sampling ends) — time to first token and decode tokens/s, as the page
// itself reports them. Usage: node tests/browser/page-bench.mjs [TOKENS]  (after trunk build;
// DIST=folder serves another build, e.g. the site from `scripts/build-site.sh folder`;
// DEVICE=cpu runs the engine on the page's CPU path, WebAssembly, instead of WebGPU, which
// it otherwise uses even on a software adapter)
import { join, resolve } from "node:path";
import { launchBrowser, startServer } from "./server.mjs";

const tokens = Number(process.argv[2] || 8);
const root = resolve(new URL("../..", import.meta.url).pathname);
const served = await startServer({ dist: resolve(process.env.DIST || join(root, "dist")), models: join(root, ".cache/models") });
const browser = await launchBrowser();
const context = browser.context;
const page = await context.newPage();
const byTest = (id) => page.locator(`[data-testid="${id}"]`);
const HOUR = 3_600_000;
const cpu = process.env.DEVICE === "cpu";
await page.goto(`${served.url}/?device=${cpu ? "cpu" : "gpu"}`);
await byTest("adapter").filter({ hasText: cpu ? "CPU:" : "GPU:" }).waitFor({ timeout: HOUR });
await byTest("role-reasoner").locator("select").selectOption("url");
await byTest("url-reasoner").fill("/test-models/SmolLM2-135M-Instruct.Q4_1.gguf");
await byTest("load-reasoner").click();
await byTest("status-reasoner").filter({ hasText: "weights " }).waitFor({ timeout: HOUR });
console.log(`load: ${await byTest("status-reasoner").innerText()}`);

await byTest("check").locator("summary").click();
await byTest("check-prompt").fill("The capital of France is");
await byTest("check-tokens").fill(String(tokens));
await byTest("check-tokens").dispatchEvent("change");
await byTest("check-run").click();
await byTest("check-result").waitFor({ timeout: HOUR });
console.log(`N=1, ${tokens} tokens: ${await byTest("check-speed").innerText()}`);

for (const [id, value] of [["n", 4], ["max-tokens", tokens], ["max-program-tokens", 1]]) {
  await byTest(id).fill(String(value));
  await byTest(id).dispatchEvent("change");
}
await byTest("samples").selectOption({ index: 1 });
await byTest("solve").click();
await page.locator(".stages li.done").first().waitFor({ timeout: HOUR });
console.log(`N=4, ${tokens} tokens each: ${await byTest("timings").innerText()}`);
await byTest("stop").click();
await browser.close();
served.server.close();
