// The last step of scripts/build-site.sh: turns trunk's release output into a site for any static
// host. Adds the service worker (site/sw.js, given this build's version and the list of files to
// keep offline), its registration, the web app manifest and icons; drops the test models that
// the development page serves; prints what the site weighs.
import { createHash } from "node:crypto";
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";

const out = resolve(process.argv[2] ?? "");
const here = resolve(new URL("..", import.meta.url).pathname);
const site = join(here, "site");

// Models are the user's download (the page caches them itself), never part of the site.
rmSync(join(out, "public/models"), { recursive: true, force: true });
for (const file of ["register.js", "manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png", "_headers"]) {
  copyFileSync(join(site, file), join(out, file));
}

const index = join(out, "index.html");
const head = [
  `<link rel="manifest" href="./manifest.webmanifest" />`,
  `<link rel="icon" href="./icon.svg" type="image/svg+xml" />`,
  `<meta name="theme-color" content="#2d6cdf" />`,
  `<script src="./register.js"></script>`,
].join("\n    ");
const page = readFileSync(index, "utf8").replace(/\s*<link rel="icon" href="data:," \/>/, "");
if (!page.includes("</head>")) throw new Error(`${index} has no </head>`);
writeFileSync(index, page.replace("</head>", `  ${head}\n  </head>`));

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? files(path) : [relative(out, path).split(sep).join("/")];
  });
}
// Everything but the worker itself and the host's header file is kept for offline use.
const shell = files(out).filter((path) => path !== "sw.js" && path !== "_headers").sort();
const digest = createHash("sha256");
for (const path of shell) digest.update(`${path}\0`).update(readFileSync(join(out, path)));
const version = digest.digest("hex").slice(0, 16);
const worker = readFileSync(join(site, "sw.js"), "utf8")
  .replace("__VERSION__", version)
  .replace("__SHELL__", JSON.stringify(shell, null, 2));
writeFileSync(join(out, "sw.js"), worker);

const size = (path) => statSync(join(out, path)).size;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const groups = [
  ["the app (wasm + JavaScript glue)", (p) => /^cotnpot-app.*\.(wasm|js)$/.test(p)],
  ["Pyodide runtime", (p) => p.startsWith("public/pyodide/") && !p.endsWith("python-packages.zip")],
  ["sympy + mpmath bundle", (p) => p.endsWith("python-packages.zip")],
];
const total = shell.reduce((sum, p) => sum + size(p), 0);
console.log(`site ${out}: version ${version}, ${shell.length} files, ${mb(total)} kept offline`);
for (const [name, test] of groups) console.log(`  ${name}: ${mb(shell.filter(test).reduce((sum, p) => sum + size(p), 0))}`);
const rest = shell.filter((p) => !groups.some(([, test]) => test(p)));
console.log(`  everything else (${rest.length} files): ${mb(rest.reduce((sum, p) => sum + size(p), 0))}`);
