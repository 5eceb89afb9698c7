// Builds python-packages.zip for the page's Python worker: the given wheels unpacked, compiled
// to .pyc by Pyodide's own Python (the same 3.14 the browser runs, so the bytecode matches), the
// sources dropped. `import sympy` in the browser then reads bytecode instead of compiling ~900
// modules. Usage: node scripts/python-packages.mjs OUT.zip WHEEL...
import { readFileSync, writeFileSync } from "node:fs";
import { loadPyodide } from "pyodide";

const [out, ...wheels] = process.argv.slice(2);
const pyodide = await loadPyodide();
pyodide.FS.mkdirTree("/build/site");
for (const wheel of wheels) {
  pyodide.unpackArchive(new Uint8Array(readFileSync(wheel)), "zip", { extractDir: "/build/site" });
}
pyodide.runPython(`
import compileall, os, shutil, sys
site = "/build/site"
ok = compileall.compile_dir(site, quiet=1, legacy=True, optimize=0)
if not ok:
    raise SystemExit("compileall failed")
for root, dirs, files in os.walk(site):
    for name in files:
        if name.endswith(".py"):
            os.remove(os.path.join(root, name))
    for d in dirs:
        if d == "__pycache__":
            shutil.rmtree(os.path.join(root, d))
shutil.make_archive("/build/packages", "zip", site)
print(sys.version)
`);
writeFileSync(out, pyodide.FS.readFile("/build/packages.zip"));
console.log(`wrote ${out}`);
