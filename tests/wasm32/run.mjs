// Runs a MicroPython script on the official WebAssembly port under Node: a 32-bit MicroPython
// (small ints hold 31 bits, as on ESP32 and RP2040) for the firmware's pure-logic tests.
//
// Usage: node tests/wasm32/run.mjs [-X heapsize=256K] script.py [arg ...]
//        node tests/wasm32/run.mjs [-X heapsize=256K] -c CODE [arg ...]
//
// The port has no host filesystem (its only filesystem is Emscripten's in-memory one), so the
// folders named in MICROPYPATH are copied into it at their own absolute paths: the .py files at
// their top level and, below them, every package (a folder with __init__.py). The script's folder
// is copied the same way and comes first on sys.path; sys.argv is [script, arg ...]. Files the
// script writes stay in memory and vanish at exit. The port's os has no getenv; the MP_*
// environment variables are readable through the module `wasm32env` (getenv) instead. Exit status: 0 when the script ran to the
// end, 1 when it raised (the traceback goes to stderr).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const PACKAGE = "@micropython/micropython-webassembly-pyscript";

function parseSize(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text);
  if (!m) throw new Error(`bad heapsize ${text}: want a number with an optional K or M`);
  const scale = { "": 1, k: 1024, m: 1024 * 1024 }[m[2].toLowerCase()];
  return parseInt(m[1], 10) * scale;
}

function parseArgs(argv) {
  let heapsize = 1024 * 1024;
  let i = 0;
  while (i < argv.length && argv[i] === "-X") {
    const [key, value] = argv[i + 1].split("=");
    if (key !== "heapsize") throw new Error(`unknown option -X ${argv[i + 1]}`);
    heapsize = parseSize(value);
    i += 2;
  }
  if (i >= argv.length) throw new Error("usage: run.mjs [-X heapsize=N] script.py|-c CODE [arg ...]");
  if (argv[i] === "-c") {
    if (i + 1 >= argv.length) throw new Error("-c needs the code to run");
    return { heapsize, script: null, code: argv[i + 1], args: argv.slice(i + 2) };
  }
  const script = path.resolve(argv[i]);
  return { heapsize, script, code: fs.readFileSync(script, "utf8"), args: argv.slice(i + 1) };
}

function mkdirs(FS, dir) {
  let cur = "";
  for (const part of dir.split("/").filter(Boolean)) {
    cur += "/" + part;
    if (!FS.analyzePath(cur).exists) FS.mkdir(cur);
  }
}

// Copy the .py files of `dir`, and every package below it, into the in-memory filesystem.
function copyTree(FS, dir, packagesOnly) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // a MICROPYPATH entry that does not exist is skipped, as MicroPython does
  }
  if (packagesOnly && !entries.some((e) => e.isFile() && e.name === "__init__.py")) return;
  mkdirs(FS, dir);
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isFile() && e.name.endsWith(".py")) FS.writeFile(full, fs.readFileSync(full));
    else if (e.isDirectory() && !e.name.startsWith(".") && e.name !== "__pycache__")
      copyTree(FS, full, true);
  }
}

async function main() {
  const { heapsize, script, code, args } = parseArgs(process.argv.slice(2));
  // The package is installed by `make venv` into .venv/wasm32 (see the Makefile); a copy in
  // node_modules beside this file (npm ci here) works too.
  const here = path.dirname(new URL(import.meta.url).pathname);
  const roots = [path.resolve(here, "../../.venv/wasm32"), here];
  let entry = null;
  for (const root of roots) {
    try {
      entry = createRequire(path.join(root, "package.json")).resolve(PACKAGE);
      break;
    } catch {
      // try the next place
    }
  }
  if (entry === null) {
    process.stderr.write(`${PACKAGE} is not installed: run \`make venv\`\n`);
    process.exit(2);
  }
  const { loadMicroPython } = await import(entry);
  const mp = await loadMicroPython({
    heapsize,
    stdout: (line) => process.stdout.write(line + "\n"),
    stderr: (line) => process.stderr.write(line + "\n"),
  });
  const searchPath = (process.env.MICROPYPATH || "").split(":").filter((p) => p.startsWith("/"));
  const scriptDir = script === null ? process.cwd() : path.dirname(script);
  for (const dir of [scriptDir, ...searchPath]) copyTree(mp.FS, dir, false);
  // The simulated environment reads its weather traces from ../shared/data relative to the
  // working folder (this port's os has no getenv for STATION_SHARED_DATA).
  const cwd = process.cwd();
  mkdirs(mp.FS, cwd);
  const shared = process.env.STATION_SHARED_DATA;
  if (shared && fs.existsSync(shared)) {
    const into = path.resolve(cwd, "../shared/data");
    mkdirs(mp.FS, into);
    for (const e of fs.readdirSync(shared, { withFileTypes: true }))
      if (e.isFile()) mp.FS.writeFile(path.join(into, e.name), fs.readFileSync(path.join(shared, e.name)));
  }
  mkdirs(mp.FS, "/tmp");
  mp.FS.chdir(cwd);
  // This port's os has no getenv: the test harness's own variables (MP_*) are written down in
  // a module, wasm32env.getenv (tests/mpkit/mptest.py uses it); MP_TMP is made in memory.
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith("MP_")) env[k] = v;
  if (env.MP_TMP) mkdirs(mp.FS, env.MP_TMP);
  mkdirs(mp.FS, "/.wasm32");
  mp.FS.writeFile(
    "/.wasm32/wasm32env.py",
    `ENV = ${JSON.stringify(env)}\n\n\ndef getenv(name, default=None):\n    return ENV.get(name, default)\n`,
  );
  searchPath.push("/.wasm32");
  mp.globals.set("_wasm32_argv", [script === null ? "-c" : script, ...args]);
  mp.globals.set("_wasm32_path", [scriptDir, ...searchPath]);
  try {
    mp.runPython(
      "import sys\n" +
        "sys.argv[:] = list(_wasm32_argv)\n" +
        "sys.path[:] = list(_wasm32_path) + ['.frozen']\n" +
        "del _wasm32_argv, _wasm32_path\n",
    );
    mp.runPython(code);
  } catch (error) {
    if (error.name !== "PythonError") throw error;
    if (error.type === "SystemExit") return;
    process.stderr.write(error.message + "\n");
    process.exitCode = 1;
  }
}

await main();
