// A static server for the built page (dist/) on 127.0.0.1 with the cross-origin-isolation
// headers, standing in for the Hub: /test-models/<file> serves the test models from
// .cache/models, /test-models/truncated.gguf the first 1 MiB of SmolLM2, /adapters/ the committed
// trained verifier adapters and /test-models/truncated.safetensors the first 4 KiB of one. It logs every request
// so tests can tell whether the weights were fetched over the network; a range request (the page
// reads a model's header that way) is logged with its range, and answered 206 as the Hub does.
import { createReadStream, statSync, openSync, readSync, closeSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { chromium } from "playwright-core";
import { extname, join, normalize, resolve } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json",
  ".zip": "application/zip", ".png": "image/png", ".gguf": "application/octet-stream",
  ".svg": "image/svg+xml", ".webmanifest": "application/manifest+json",
};

const here = resolve(new URL(".", import.meta.url).pathname);
const ADAPTER = join(here, "../../adapters/smollm2-135m-gsm8k-simpo/adapter.safetensors");
const ROUTES = [
  ["/adapters/", join(here, "../../adapters")],
  ["/wllama/", join(here, "../../node_modules/@wllama/wllama/esm")],
  ["/bench/", join(here, "bench")],
];

/// `isolate: false` makes it a plain static host that sets no COOP/COEP headers (the site build's
/// service worker has to make the page cross-origin isolated itself).
export function startServer({ dist, models, port = 0, isolate = true }) {
  const log = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || "");
    log.push(range ? `${path} (${req.headers.range})` : path);
    if (isolate) {
      res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
      res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
    }
    res.setHeader("Cache-Control", "no-store");
    if (path === "/test-models/truncated.safetensors") {
      const head = readFileSync(ADAPTER).subarray(0, 4096);
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": head.length });
      return res.end(head);
    }
    if (path === "/test-models/truncated.gguf") {
      const fd = openSync(join(models, "SmolLM2-135M-Instruct.Q4_1.gguf"), "r");
      const head = Buffer.alloc(1 << 20);
      readSync(fd, head, 0, head.length, 0);
      closeSync(fd);
      res.writeHead(200, { "Content-Type": TYPES[".gguf"], "Content-Length": head.length });
      return res.end(head);
    }
    const routes = [["/test-models/", models], ...ROUTES];
    const route = routes.find(([prefix]) => path.startsWith(prefix));
    const [base, rel] = route ? [route[1], path.slice(route[0].length)] : [dist, path === "/" ? "index.html" : path.slice(1)];
    const file = resolve(base, normalize(rel));
    let size;
    try {
      if (!file.startsWith(resolve(base))) throw new Error("outside");
      size = statSync(file).size;
    } catch {
      res.writeHead(404);
      return res.end("not found");
    }
    const type = TYPES[extname(file)] || "application/octet-stream";
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(range[2] ? Number(range[2]) : size - 1, size - 1);
      res.writeHead(206, { "Content-Type": type, "Content-Length": end - start + 1, "Content-Range": `bytes ${start}-${end}/${size}` });
      return createReadStream(file, { start, end }).pipe(res);
    }
    res.writeHead(200, { "Content-Type": type, "Content-Length": size });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(port, "127.0.0.1", () => ok({ server, log, url: `http://127.0.0.1:${server.address().port}` })));
}

/// Debian's Chromium with WebGPU (SwiftShader where there is no GPU) in a fresh profile, with the
/// flags that keep it off the network. `webgpu: false` leaves WebGPU off, as on a machine whose
/// browser offers no adapter. `close()` also removes the profile.
export async function launchBrowser({ webgpu = true, ...options } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "cotnpot-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless=new", ...(webgpu ? ["--enable-unsafe-webgpu"] : []), "--no-sandbox", "--disable-gpu-sandbox",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--no-first-run", "--disable-quic",
    ],
    ...options,
  });
  return { context, close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); } };
}

// `node tests/browser/server.mjs [PORT]` serves dist/ by hand for a look.
if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(new URL("../..", import.meta.url).pathname);
  const { url } = await startServer({ dist: join(root, "dist"), models: join(root, ".cache/models"), port: Number(process.argv[2] || 8090) });
  console.log(`serving dist/ at ${url}`);
}
