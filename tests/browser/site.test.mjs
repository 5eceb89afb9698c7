// The site build (scripts/build-site.sh) as a teacher publishes it: on a plain static host that
// sets no COOP/COEP headers, and again with the network gone after the first visit. Runs on the
// folder that DIST names (tests/run-all.sh builds target/site).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { launchBrowser, startServer } from "./server.mjs";

const root = resolve(new URL("../..", import.meta.url).pathname);
const site = resolve(process.env.DIST || join(root, "target/site"));
const MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf";
const MINUTE = 60_000;
// llama.cpp on the F32 expansion of the test model (tests/reference/expand_f32.py): the greedy
// tokens the CPU path must produce, as the GPU path does in e2e.test.mjs.
const llamaCppF32 = JSON.parse(readFileSync(join(root, "tests/fixtures/smollm2_llama_f32.json"), "utf8"));

let served, browser, page;

before(async () => {
  assert.ok(existsSync(join(site, "sw.js")), `${site} is not a site build: run bash scripts/build-site.sh ${site}`);
  served = await startServer({ dist: site, models: join(root, ".cache/models"), isolate: false });
  browser = await launchBrowser({ viewport: { width: 1280, height: 1400 } });
  page = await browser.context.newPage();
  page.on("console", (m) => { if (m.type() === "error") console.log(`[page] ${m.text()}`); });
  page.on("pageerror", (e) => console.log(`[page error] ${e}`));
});

after(async () => {
  await browser?.close();
  served?.server.close();
});

const byTest = (id) => page.locator(`[data-testid="${id}"]`);
const engineWorker = () => page.workers().find((w) => w.url().includes("/public/engine-worker.js"));

async function pageIsReady() {
  await byTest("adapter").filter({ hasText: /^(GPU|CPU): / }).waitFor({ timeout: MINUTE });
}

// The first load is not isolated; the service worker's reload makes it so. Polled, because the
// reload replaces the page's JavaScript context under an evaluation.
async function waitIsolated(tab = page) {
  const deadline = Date.now() + MINUTE;
  while (Date.now() < deadline) {
    const isolated = await tab.evaluate(() => self.crossOriginIsolated && !!navigator.serviceWorker.controller).catch(() => false);
    if (isolated) return;
    await tab.waitForTimeout(250);
  }
  assert.fail("the page did not become cross-origin isolated");
}

async function runPython(code) {
  await byTest("python-code").fill(code);
  await byTest("python-run").click();
  const outcome = byTest("python-outcome");
  await outcome.waitFor({ timeout: 2 * MINUTE });
  return { kind: await outcome.getAttribute("data-kind"), stdout: (await byTest("python-stdout").innerText().catch(() => "")).trim() };
}

test("on a host without COOP/COEP headers the service worker isolates the page, so a runaway program is interrupted", { timeout: 5 * MINUTE }, async () => {
  await page.goto(served.url);
  await waitIsolated();
  await pageIsReady();
  // Left to choose, the page takes a hardware adapter, and passes a software one over for its
  // CPU path (on this machine's SwiftShader the CPU path decodes about ten times faster).
  const software = await page.evaluate(async () => (await navigator.gpu.requestAdapter())?.info.isFallbackAdapter);
  assert.match(await byTest("adapter").innerText(), software ? /^CPU: .*is a software one/ : /^GPU: /);
  const headers = (await page.request.get(served.url)).headers();
  assert.equal(headers["cross-origin-embedder-policy"], undefined, "the host itself sets no COEP header");
  // The engine worker, which owns Python's interrupt buffer, is isolated too.
  assert.equal(await engineWorker().evaluate(() => self.crossOriginIsolated), true);
  const names = await page.evaluate(async () => (await fetch("./sw.js").then((r) => r.text())).match(/"[^"]+"/g));
  assert.ok(names.some((n) => /^"cotnpot-app-[0-9a-f]+_bg\.wasm"$/.test(n)), "the wasm's name is hashed and kept offline");
  // The browser would offer to install it as an app (manifest, icons, service worker).
  const cdp = await browser.context.newCDPSession(page);
  assert.deepEqual((await cdp.send("Page.getInstallabilityErrors")).installabilityErrors, []);

  await byTest("python").locator("summary").click();
  assert.deepEqual(await runPython("print(6 * 7)"), { kind: "ok", stdout: "42" });
  const python = page.workers().find((w) => w.url().includes("/python-worker.js"));
  assert.ok(python, "Python's worker is in view");
  assert.equal((await runPython("while True:\n    pass")).kind, "timeout");
  assert.deepEqual(await runPython("import sympy\nprint(sympy.Rational(1, 3) + sympy.Rational(1, 6))"), { kind: "ok", stdout: "1/2" });
  // Interrupted, not replaced: the same Python worker runs the next program.
  assert.ok(page.workers().includes(python), "the Python worker was not restarted");
});

test("a browser without WebGPU runs the engine on the CPU: greedy tokens equal llama.cpp's", { timeout: 10 * MINUTE }, async () => {
  const plain = await launchBrowser({ webgpu: false });
  try {
    const tab = await plain.context.newPage();
    const at = (id) => tab.locator(`[data-testid="${id}"]`);
    await tab.goto(served.url);
    await waitIsolated(tab);
    assert.equal(await tab.evaluate(async () => !!(await navigator.gpu?.requestAdapter())), false, "this browser offers no WebGPU adapter");
    await at("adapter").filter({ hasText: "CPU:" }).waitFor({ timeout: MINUTE });
    assert.match(await at("adapter").innerText(), /WebAssembly.*\(.*(WebGPU|adapter).*\)/);
    await at("role-reasoner").locator("select").selectOption("url");
    await at("url-reasoner").fill(`/test-models/${MODEL}`);
    await at("load-reasoner").click();
    await at("status-reasoner").filter({ hasText: "weights in memory (CPU)" }).waitFor({ timeout: 5 * MINUTE });
    const { text, greedy } = llamaCppF32.prompts[0];
    const n = 16;
    await at("check").locator("summary").click();
    await at("check-prompt").fill(text);
    await at("check-tokens").fill(String(n));
    await at("check-tokens").dispatchEvent("change");
    await at("check-run").click();
    await at("check-result").waitFor({ timeout: 5 * MINUTE });
    const ids = (await at("check-result").getAttribute("data-tokens")).split(" ").map(Number);
    assert.deepEqual(ids, greedy.slice(0, n));
    console.log(`# CPU path: ${await at("check-speed").innerText()}`);
    // Chosen by hand, the GPU is refused plainly here.
    await at("device").selectOption("gpu");
    await at("error").filter({ hasText: "WebGPU is not available" }).waitFor({ timeout: MINUTE });
  } finally {
    await plain.close();
  }
});

test("offline after the first visit: the page reloads from its cache and solves with the cached model", { timeout: 20 * MINUTE }, async () => {
  await byTest("role-reasoner").locator("select").selectOption("url");
  await byTest("url-reasoner").fill(`/test-models/${MODEL}`);
  await byTest("load-reasoner").click();
  await byTest("status-reasoner").filter({ hasText: "weights " }).waitFor({ timeout: 5 * MINUTE });
  // The service worker fills its offline copy in the background, all files at once.
  await page.waitForFunction(async () => {
    const names = (await caches.keys()).filter((name) => name.startsWith("cotnpot-site-"));
    return names.length === 1 && (await (await caches.open(names[0])).keys()).length > 0;
  }, null, { timeout: 2 * MINUTE, polling: 500 });

  served.server.closeAllConnections();
  await new Promise((done) => served.server.close(done));
  await browser.context.setOffline(true);

  await page.reload();
  await waitIsolated();
  await pageIsReady();
  await byTest("role-reasoner").locator("select").selectOption("url");
  await byTest("url-reasoner").fill(`/test-models/${MODEL}`);
  await byTest("load-reasoner").click();
  await byTest("status-reasoner").filter({ hasText: "weights " }).waitFor({ timeout: 5 * MINUTE });
  assert.equal(await byTest("download").getAttribute("data-from-cache"), "true");

  const mbpp = await byTest("samples").locator("option").evaluateAll((options) => options.findIndex((o) => o.textContent.startsWith("[MBPP]")));
  await byTest("samples").selectOption({ index: mbpp });
  for (const [id, value] of [["n", 2], ["max-tokens", 4], ["max-program-tokens", 2]]) {
    await byTest(id).fill(String(value));
    await byTest(id).dispatchEvent("change");
  }
  await byTest("solve").click();
  await byTest("run-state").filter({ hasText: "finished" }).waitFor({ timeout: 12 * MINUTE });
  const cards = byTest("candidate");
  assert.equal(await cards.count(), 2);
  for (let i = 0; i < 2; i++) {
    const outcome = cards.nth(i).locator('[data-testid="outcome"]');
    const kind = await outcome.getAttribute("data-kind");
    const shown = await outcome.innerText();
    // Pyodide, from the cache, ran each program: it finished or Python reported the error.
    assert.ok(kind === "ok" || (kind === "error" && /Error|Exception/.test(shown)), `card ${i}: ${kind}: ${shown}`);
  }
  assert.notEqual(await byTest("headline-answer").innerText(), "");
});
