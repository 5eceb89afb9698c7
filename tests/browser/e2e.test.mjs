// The page in headless Chromium (Debian's, WebGPU on SwiftShader), checked by what it shows.
// Run by tests/run-all.sh on the site build (DIST=target/site, scripts/build-site.sh); by hand,
// `node --test tests/browser/` serves trunk's dist/.
// Screenshots of the main states go to tests/browser/artifacts/.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { launchBrowser, startServer } from "./server.mjs";

const root = resolve(new URL("../..", import.meta.url).pathname);
const artifacts = join(root, "tests/browser/artifacts");
const llamaCpp = JSON.parse(readFileSync(join(root, "tests/fixtures/smollm2.json"), "utf8"));
// The engine's golden fixture: an exact f32 forward pass (tests/reference/numpy_forward.py) on
// the same prompts; engine/tests/all/parity.rs holds every backend to it.
const exactF32 = JSON.parse(readFileSync(join(root, "tests/fixtures/smollm2_f32.json"), "utf8"));
// llama.cpp on the F32 expansion of the same weights (tests/reference/expand_f32.py): it rounds
// no activation, so its greedy tokens are the ones the page must produce.
const llamaCppF32 = JSON.parse(readFileSync(join(root, "tests/fixtures/smollm2_llama_f32.json"), "utf8"));
const MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf";
const MINUTE = 60_000;
// SwiftShader runs the engine on the CPU: the solving tests keep their generations short.
const samples = JSON.parse(readFileSync(join(root, "public/samples.json"), "utf8"));
// The option for a bundled sample (option 0 is the picker's placeholder).
function sampleOption(task, question) {
  const index = samples.findIndex((s) => s.task === task && JSON.parse(s.row).problem === question);
  assert.ok(index >= 0, `no bundled ${task} sample ${question}`);
  return index + 1;
}
// A MATH-500 problem with a number for an answer, 57 prompt tokens in SmolLM2's chat template.
const SHORT_MATHS = "Evaluate $\\log_264$.";
// The GSM8K word problem the maths test solves (bundled; 114 prompt tokens).
const WORD_PROBLEM = /^Janet’s ducks lay 16 eggs per day/;

let served, browser, context, page;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  served = await startServer({ dist: resolve(process.env.DIST || join(root, "dist")), models: join(root, ".cache/models") });
  browser = await launchBrowser({ viewport: { width: 1280, height: 1400 } });
  context = browser.context;
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") console.log(`[page] ${m.text()}`); });
  page.on("pageerror", (e) => console.log(`[page error] ${e}`));
});

after(async () => {
  await browser?.close();
  served?.server.close();
});

const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const byTest = (id) => page.locator(`[data-testid="${id}"]`);

// `?device=gpu`: WebGPU even on a software adapter (SwiftShader here), which the page would
// otherwise pass over for its CPU path (site.test.mjs tests that one).
async function openPage() {
  await page.goto(`${served.url}/?device=gpu`);
  await byTest("adapter").filter({ hasText: "GPU:" }).waitFor({ timeout: MINUTE });
}

async function loadReasoner(url) {
  await byTest("role-reasoner").locator("select").selectOption("url");
  await byTest("url-reasoner").fill(url);
  await byTest("load-reasoner").click();
}

async function waitLoaded() {
  await byTest("status-reasoner").filter({ hasText: "weights on the GPU" }).waitFor({ timeout: 5 * MINUTE });
}

const modelRequests = () => served.log.filter((p) => p === `/test-models/${MODEL}`).length;

test("the page finds WebGPU and loads the test model with download progress", { timeout: 6 * MINUTE }, async () => {
  await openPage();
  assert.match(await byTest("adapter").innerText(), /shader-f16: (yes|no)/);
  await loadReasoner(`/test-models/${MODEL}`);
  await waitLoaded();
  assert.equal(modelRequests(), 1);
  const download = byTest("download");
  assert.equal(await download.getAttribute("data-from-cache"), "false");
  assert.match(await download.innerText(), /MB of .* MB/);
  assert.match(await byTest("status-reasoner").innerText(), /llama, 30 layers/);
  await shot("1-loaded");
});

test("the page tells what a model needs on the GPU before downloading it", { timeout: 2 * MINUTE }, async () => {
  const gemma = "/test-models/gemma-3-270m-q4_k_m.gguf";
  await byTest("role-coder").locator("select").selectOption("url");
  await byTest("url-coder").fill(gemma);
  await byTest("url-coder").press("Tab");
  const fit = byTest("fit-coder");
  await fit.filter({ hasText: "needs about" }).waitFor({ timeout: MINUTE });
  // Gemma 3 270M's weights as the engine stores them on a GPU (engine/tests/all/fit.rs checks
  // the byte count against the loaded model): 326 429 184 bytes.
  assert.match(await fit.innerText(), /^gemma3: needs about .* weights 326\.4 MB, KV cache/);
  assert.ok(served.log.includes(`${gemma} (bytes=0-16777215)`), "the header came by a range request");
  assert.ok(!served.log.includes(gemma), "the model itself was not downloaded");
  await byTest("url-coder").fill("/index.html");
  await byTest("url-coder").press("Tab");
  await fit.filter({ hasText: "not a GGUF file" }).waitFor({ timeout: MINUTE });
  await byTest("role-coder").locator("select").selectOption("same");
});

test("greedy tokens in the page equal llama.cpp's on the same weights", { timeout: 10 * MINUTE }, async () => {
  const { text, ids: promptIds } = llamaCpp.prompts[0];
  assert.deepEqual(llamaCppF32.prompts[0].ids, promptIds);
  assert.deepEqual(exactF32.prompts[0].ids, promptIds);
  const greedy = llamaCppF32.prompts[0].greedy;
  assert.deepEqual(exactF32.prompts[0].greedy, greedy.slice(0, exactF32.prompts[0].greedy.length));
  // (llama.cpp on the quantized file, with 8-bit activations, takes the other side of a near-tie
  // at the sixth token; engine/tests/all/parity.rs shows it is one. 16 tokens keep the test
  // short on SwiftShader.)
  const n = 16;
  await byTest("check").locator("summary").click();
  await byTest("check-prompt").fill(text);
  await byTest("check-tokens").fill(String(n));
  await byTest("check-tokens").dispatchEvent("change");
  await byTest("check-run").click();
  const result = byTest("check-result");
  await result.waitFor({ timeout: 9 * MINUTE });
  const ids = (await result.getAttribute("data-tokens")).split(" ").map(Number);
  assert.deepEqual(ids, greedy.slice(0, n));
});

test("Python runs in Pyodide: output, and a program that never ends times out", { timeout: 3 * MINUTE }, async () => {
  await byTest("python").locator("summary").click();
  await byTest("python-code").fill("import sympy\nprint(sympy.Rational(1, 3) + sympy.Rational(1, 6))");
  await byTest("python-run").click();
  await byTest("python-outcome").waitFor({ timeout: 2 * MINUTE });
  assert.equal(await byTest("python-outcome").getAttribute("data-kind"), "ok");
  assert.equal((await byTest("python-stdout").innerText()).trim(), "1/2");

  await byTest("python-code").fill("while True:\n    pass");
  await byTest("python-run").click();
  await byTest("python-outcome").waitFor({ timeout: MINUTE });
  assert.equal(await byTest("python-outcome").getAttribute("data-kind"), "timeout");
  await shot("2-python-timeout");

  // The worker survived (or was replaced): the next program still runs.
  await byTest("python-code").fill("print(6 * 7)");
  await byTest("python-run").click();
  await byTest("python-outcome").waitFor({ timeout: MINUTE });
  assert.equal((await byTest("python-stdout").innerText()).trim(), "42");
});

async function solve({ n, maxTokens, programTokens }) {
  await byTest("n").fill(String(n));
  await byTest("n").dispatchEvent("change");
  await byTest("max-tokens").fill(String(maxTokens));
  await byTest("max-tokens").dispatchEvent("change");
  await byTest("max-program-tokens").fill(String(programTokens));
  await byTest("max-program-tokens").dispatchEvent("change");
  await byTest("solve").click();
}

// The next test's Solve is the one that shows the engine works again after a Stop.
test("Stop cancels generation within a second", { timeout: 15 * MINUTE }, async () => {
  await byTest("samples").selectOption({ index: sampleOption("math", SHORT_MATHS) });
  await solve({ n: 1, maxTokens: 400, programTokens: 8 });
  await byTest("candidate").first().locator(".cot").filter({ hasText: /\S/ }).waitFor({ timeout: 5 * MINUTE });
  const clicked = Date.now();
  await byTest("stop").click();
  await byTest("run-state").filter({ hasText: "stopped" }).waitFor({ timeout: MINUTE });
  const seconds = (Date.now() - clicked) / 1000;
  await shot("5-stopped");
  assert.ok(seconds < 1.0, `stopped after ${seconds} s`);
  const tokens = await byTest("candidate").first().locator(".tokens").innerText();
  // The engine confirms at the end of its current decode step; nothing more reaches the card.
  await byTest("timings").filter({ hasText: "the engine stopped" }).waitFor({ timeout: 5 * MINUTE });
  console.log(`# ${await byTest("timings").innerText()}`);
  assert.equal(await byTest("candidate").first().locator(".tokens").innerText(), tokens);
});

test("the verifier slot takes the trained adapter on top of the reasoner; a broken one is refused", { timeout: 5 * MINUTE }, async () => {
  await byTest("role-verifier").locator("select").selectOption("adapter");
  await byTest("adapter-url-verifier").fill("/test-models/truncated.safetensors");
  await byTest("load-verifier").click();
  const error = byTest("error");
  await error.waitFor({ timeout: 2 * MINUTE });
  assert.equal(await error.getAttribute("data-kind"), "model");
  assert.match(await error.innerText(), /truncated\.safetensors: not an adapter file/);
  await byTest("adapter-url-verifier").fill("/adapters/smollm2-135m-gsm8k-simpo/adapter.safetensors");
  await byTest("load-verifier").click();
  const status = byTest("status-verifier").filter({ hasText: "trained verifier" });
  await status.waitFor({ timeout: 2 * MINUTE });
  assert.match(await status.innerText(), new RegExp(`${MODEL.replaceAll(".", "\\.")} \\+ trained verifier adapter\\.safetensors`));
  await shot("4a-trained-verifier");
  // A new reasoner takes the adapter (built on the old one) with it; the verifier falls back.
  await byTest("load-reasoner").click();
  await byTest("status-verifier").filter({ hasText: "using the reasoner" }).waitFor({ timeout: 2 * MINUTE });
  await waitLoaded();
  await byTest("load-verifier").click();
  await status.waitFor({ timeout: 2 * MINUTE });
});

// The page's pipeline on an MBPP problem: every candidate's reply is its program, run in Pyodide
// against the visible test. (The maths test below adds the coder's CoT→PoT translation.)
// It runs with the trained verifier from the test above scoring the candidates.
test("a problem solved end to end with N=4", { timeout: 30 * MINUTE }, async () => {
  const mbpp = await byTest("samples").locator("option").evaluateAll((options) => options.findIndex((o) => o.textContent.startsWith("[MBPP]")));
  await byTest("samples").selectOption({ index: mbpp });
  assert.match(await byTest("gold").inputValue(), /^assert /);
  // SwiftShader runs the engine at seconds per decode step: short generations only.
  await solve({ n: 4, maxTokens: 4, programTokens: 2 });
  await byTest("candidate").first().locator(".cot").filter({ hasText: /\S/ }).waitFor({ timeout: 10 * MINUTE });
  await shot("3-streaming");
  await byTest("run-state").filter({ hasText: "finished" }).waitFor({ timeout: 28 * MINUTE });
  await shot("4-finished");
  console.log(`# ${await byTest("timings").innerText()}`);

  const cards = byTest("candidate");
  assert.equal(await cards.count(), 4);
  for (let i = 0; i < 4; i++) {
    const card = cards.nth(i);
    assert.ok((await card.locator(".cot").innerText()).trim().length > 0, `card ${i} has its solution`);
    assert.doesNotMatch(await card.locator('[data-testid="code"]').innerText(), /no program/);
    const outcome = card.locator('[data-testid="outcome"]');
    const kind = await outcome.getAttribute("data-kind");
    const shown = await outcome.innerText();
    // Pyodide ran it: it finished, or Python itself reported the error (a cut-off reply is a
    // SyntaxError; a wrong function fails the visible test's assert).
    assert.ok(kind === "ok" || (kind === "error" && /Error|Exception/.test(shown)), `card ${i}: ${kind}: ${shown}`);
    assert.doesNotMatch(shown, /could not run/);
    await card.locator('[data-testid="verdict"]').waitFor();
    await card.locator('[data-testid="score"]').waitFor();
    assert.match(await card.locator('[data-testid="score"]').innerText(), /mean log-prob/);
  }
  const strategies = ["greedy", "majority", "verifier", "cotnpot_majority", "cotnpot_verifier", "weighted", "joint_vote", "cotnpot_weighted", "joint_weighted"];
  for (const key of strategies) {
    assert.equal(await byTest("strategies").locator(`[data-strategy="${key}"]`).count(), 1);
  }
  assert.match(await byTest("strategies").innerText(), /Gold answer/);
  await headlineIs("cotnpot_weighted");
  assert.match(await byTest("timings").innerText(), /first token after .* total/);
  await byTest("chart").waitFor();
});

// The maths path on a word problem: the coder (here the reasoner itself) turns each solution into
// a program, which runs in Pyodide, and the filter compares its printed result with the
// solution's answer. The verifier
// slot goes back to the reasoner itself, whose scores are the log-probs recorded while sampling
// (the N=4 test above scored with the trained adapter's forward pass).
test("a maths problem: each solution gets a program from the coder, run in Pyodide and filtered", { timeout: 30 * MINUTE }, async () => {
  await byTest("role-verifier").locator("select").selectOption("same");
  await byTest("load-verifier").click();
  await byTest("status-verifier").filter({ hasText: MODEL }).filter({ hasNotText: "trained verifier" }).waitFor({ timeout: MINUTE });
  const janet = samples.findIndex((s) => s.task === "gsm8k" && WORD_PROBLEM.test(JSON.parse(s.row).question));
  assert.ok(janet >= 0, "the bundled GSM8K word problem");
  await byTest("samples").selectOption({ index: janet + 1 });
  assert.match(await byTest("question").inputValue(), WORD_PROBLEM);
  assert.equal(await byTest("gold").inputValue(), "18");
  // Enough tokens that each solution states a number: a solution without an answer gets no program.
  await solve({ n: 2, maxTokens: 24, programTokens: 32 });
  await byTest("run-state").filter({ hasText: "finished" }).waitFor({ timeout: 28 * MINUTE });
  await shot("4b-word-problem");
  const timings = await byTest("timings").innerText();
  console.log(`# ${timings}`);
  const programSeconds = Number(/programs ([\d.]+) s/.exec(timings)[1]);
  assert.ok(programSeconds > 0, `the coder ran: ${timings}`);
  const cards = byTest("candidate");
  assert.equal(await cards.count(), 2);
  for (let i = 0; i < 2; i++) {
    const card = cards.nth(i);
    assert.doesNotMatch(await card.locator('[data-testid="code"]').innerText(), /no program/);
    const outcome = card.locator('[data-testid="outcome"]');
    const kind = await outcome.getAttribute("data-kind");
    const shown = await outcome.innerText();
    assert.ok(kind === "ok" || (kind === "error" && /Error|Exception/.test(shown)), `card ${i}: ${kind}: ${shown}`);
    assert.match(await card.locator('[data-testid="verdict"]').innerText(), /kept|dropped/);
    assert.match(await card.locator('[data-testid="score"]').innerText(), /mean log-prob/);
  }
  await headlineIs("cotnpot_weighted");
});

// The headline shows the pick of the strategy measured best, and says why it leads.
async function headlineIs(strategy) {
  assert.equal(await byTest("headline").getAttribute("data-strategy"), strategy);
  // A program keeps its line breaks in the headline and not in the table: compare words.
  const words = (text) => text.replace(/\s+/g, " ").trim();
  const pick = words(await byTest("strategies").locator(`[data-strategy="${strategy}"] .pick`).innerText());
  const headline = words(await byTest("headline-answer").innerText());
  assert.equal(headline, pick === "—" ? "no answer found" : pick);
  assert.match(await byTest("headline").innerText(), /most accurate pick we measured/);
}

test("a second visit takes the model from the Cache API, with no network fetch of the weights", { timeout: 6 * MINUTE }, async () => {
  const before = modelRequests();
  await openPage();
  await loadReasoner(`/test-models/${MODEL}`);
  await waitLoaded();
  assert.equal(await byTest("download").getAttribute("data-from-cache"), "true");
  assert.equal(modelRequests(), before);
  await byTest("cache").locator("summary").click();
  // The model and the trained adapter are kept; the truncated adapter the engine refused is not.
  const cache = await byTest("cache").innerText();
  assert.match(cache, /Stored in this browser: 2 model files/);
  assert.match(cache, new RegExp(`/test-models/${MODEL.replaceAll(".", "\\.")}`));
  assert.match(cache, /\/adapters\/smollm2-135m-gsm8k-simpo\/adapter\.safetensors/);
  assert.doesNotMatch(cache, /truncated/);
});

test("a truncated model file gives a visible error, not a blank page", { timeout: 3 * MINUTE }, async () => {
  await openPage();
  await loadReasoner("/test-models/truncated.gguf");
  const error = byTest("error");
  await error.waitFor({ timeout: 2 * MINUTE });
  assert.equal(await error.getAttribute("data-kind"), "model");
  assert.match(await error.innerText(), /truncated\.gguf/);
  await shot("6-truncated-model");
});

test("a lost GPU device shows what happened, and Restart brings the engine back", { timeout: 15 * MINUTE }, async () => {
  await openPage();
  await loadReasoner(`/test-models/${MODEL}`);
  await waitLoaded();
  const engineWorker = page.workers().find((w) => w.url().includes("/engine-worker.js?"));
  assert.ok(engineWorker, `the engine worker among ${page.workers().map((w) => w.url())}`);
  // Lose the device in the middle of a generation.
  await byTest("check").locator("summary").click();
  await byTest("check-prompt").fill(llamaCpp.prompts[0].text);
  await byTest("check-tokens").fill("32");
  await byTest("check-tokens").dispatchEvent("change");
  await byTest("check-run").click();
  await engineWorker.evaluate(() => self.cotnpotGpuDevice.destroy());
  const error = byTest("error");
  await error.waitFor({ timeout: 2 * MINUTE });
  assert.equal(await error.getAttribute("data-kind"), "gpu");
  assert.match(await error.innerText(), /The GPU stopped/);
  // The worker reports the loss itself (whatever else failed with it shows too).
  await error.filter({ hasText: "the GPU device was lost (destroyed)" }).waitFor({ timeout: MINUTE });
  await shot("7-gpu-lost");
  // A fresh worker, the model again from the cache, and the right first token.
  await error.getByRole("button", { name: /Restart the engine/ }).click();
  await error.waitFor({ state: "detached", timeout: MINUTE });
  await waitLoaded();
  await byTest("check-tokens").fill("1");
  await byTest("check-tokens").dispatchEvent("change");
  await byTest("check-run").click();
  const result = byTest("check-result");
  await result.waitFor({ timeout: 9 * MINUTE });
  assert.deepEqual((await result.getAttribute("data-tokens")).split(" ").map(Number), exactF32.prompts[0].greedy.slice(0, 1));
});
