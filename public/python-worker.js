// The Python worker: runs each program-of-thought in Pyodide (served from ./pyodide/, no CDN),
// with sympy and mpmath from ./pyodide/python-packages.zip. The engine worker enforces the time
// limit: it sets the shared interrupt buffer (KeyboardInterrupt) and, if Python does not yield,
// terminates this worker and starts a new one.
import { loadPyodide } from "./pyodide/pyodide.mjs";

let interrupt = null;

const ready = (async () => {
  const base = new URL("./pyodide/", import.meta.url).href;
  const pyodide = await loadPyodide({ indexURL: base });
  const bundle = await fetch(new URL("python-packages.zip", base));
  if (!bundle.ok) throw new Error(`python-packages.zip: HTTP ${bundle.status}`);
  pyodide.unpackArchive(await bundle.arrayBuffer(), "zip", { extractDir: "/lib/python3.14/site-packages" });
  pyodide.setStdin({ error: true });
  return pyodide;
})();

function reply(message) {
  self.postMessage(JSON.stringify(message));
}

function run(pyodide, { id, code, max_output }) {
  const decoder = new TextDecoder();
  let stdout = "";
  let bytes = 0;
  let overflow = false;
  pyodide.setStdout({
    write(buffer) {
      if (!overflow) {
        bytes += buffer.length;
        if (bytes > max_output) {
          overflow = true;
          // Stop a flood at Python's next check rather than filling memory.
          if (interrupt) interrupt[0] = 2;
        } else {
          stdout += decoder.decode(buffer, { stream: true });
        }
      }
      return buffer.length;
    },
  });
  pyodide.setStderr({ write: (buffer) => buffer.length });
  if (interrupt) interrupt[0] = 0;
  const globals = pyodide.globals.get("dict")();
  try {
    pyodide.runPython(code, { globals, filename: "main.py" });
    return { type: "result", id, kind: overflow ? "output_too_large" : "finished", stdout };
  } catch (error) {
    if (overflow) return { type: "result", id, kind: "output_too_large", stdout: "" };
    const text = String(error && error.message ? error.message : error);
    const last = text.trim().split("\n").pop();
    // exit() / sys.exit(0) is a normal end, as it is for a native python3.
    if (error.type === "SystemExit" && /^SystemExit(: (0|None))?$/.test(last)) {
      return { type: "result", id, kind: "finished", stdout };
    }
    const kind = error.type === "KeyboardInterrupt" ? "interrupted" : "error";
    return { type: "result", id, kind, stdout, error: text };
  } finally {
    globals.destroy();
    if (interrupt) interrupt[0] = 0;
  }
}

self.onmessage = async (event) => {
  const message = typeof event.data === "string" ? JSON.parse(event.data) : event.data;
  if (message.type === "init") {
    interrupt = message.interrupt || null;
    try {
      const pyodide = await ready;
      if (interrupt) pyodide.setInterruptBuffer(interrupt);
      reply({ type: "ready" });
    } catch (error) {
      reply({ type: "failed", message: `Pyodide failed to load: ${error}` });
    }
  } else if (message.type === "run") {
    let pyodide;
    try {
      pyodide = await ready;
    } catch (error) {
      return reply({ type: "result", id: message.id, kind: "error", stdout: "", error: `Pyodide failed to load: ${error}` });
    }
    reply(run(pyodide, message));
  }
};
