// The site's service worker (written into the site by scripts/build-site.sh, which fills in the
// build's version and file list). Two jobs:
// 1. Cross-origin isolation where the host cannot set headers: every same-origin response gets
//    COOP/COEP/CORP, so the page gets SharedArrayBuffer and a runaway program can be interrupted.
// 2. Offline after the first visit: the app shell, Pyodide and the sympy bundle are cached when
//    the worker activates, in a cache named after the build; an update fills a new cache, then
//    drops the old.
//    Models are cached by the page itself (Cache API, "cotnpot-models-*"), never touched here.
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const PREFIX = "cotnpot-site-";
const CACHE = PREFIX + VERSION;

const scoped = (path) => new URL(path, self.registration.scope).href;

// Take over at once: on a host without COOP/COEP headers the page is isolated only from its
// next load (site/register.js reloads it when this worker takes control), and that reload must
// not wait for the offline copy's 50 MB.
self.addEventListener("install", (event) => event.waitUntil(self.skipWaiting()));

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      await self.clients.claim();
      // The offline copy, in the background. `reload`: this build's files, not what the HTTP
      // cache kept from the last one. `addAll` stores all of them or none; the previous build's
      // copy goes only once this one is complete.
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL.map((path) => new Request(scoped(path), { cache: "reload" })));
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
      }
    })(),
  );
});

function isolated(response) {
  // Opaque and error responses cannot be rewritten.
  if (response.status === 0) return response;
  const headers = new Headers(response.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  headers.set("Cross-Origin-Resource-Policy", "same-origin");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// This build's copy first; while an update fills its copy, the previous build's still answers
// (each copy is complete: `addAll` stores all of a build's files or none).
async function cached(request) {
  const names = (await caches.keys()).filter((name) => name.startsWith(PREFIX)).sort((a, b) => (b === CACHE) - (a === CACHE));
  for (const name of names) {
    const hit = await (await caches.open(name)).match(request, { ignoreSearch: true });
    if (hit) return hit;
  }
  return undefined;
}

async function respond(request) {
  if (request.mode === "navigate") {
    // The page itself: the network's copy when there is one, so that a new build shows up on the
    // next visit; the cached one offline.
    try {
      return isolated(await fetch(request));
    } catch (error) {
      const page = await cached(new Request(scoped("index.html")));
      if (page) return isolated(page);
      throw error;
    }
  }
  // The shell (hashed names, or files versioned with this worker): cache first. Queries (the
  // engine worker's `?module=`) do not change these files.
  const hit = await cached(request);
  return isolated(hit ?? (await fetch(request)));
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  // Cross-origin downloads (the Hub) carry CORS headers and need nothing from here; requests
  // other than GET (and Chrome's only-if-cached probes) go to the network untouched.
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  if (request.cache === "only-if-cached" && request.mode !== "same-origin") return;
  event.respondWith(respond(request));
});
