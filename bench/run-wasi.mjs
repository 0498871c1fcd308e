#!/usr/bin/env node
// run-wasi.mjs - runs a WASI (preview1) command module under Node: instantiates it, calls _start, exits with
// its exit code. Generic: used for bench/gemm_bench.wasm and for the C test suite built for wasm.
//
//   node bench/run-wasi.mjs [--dir=HOST[:GUEST]]... [--env=NAME=VALUE]... module.wasm [args...]
//
// argv[0] seen by the module is the module's path. --dir preopens a host directory (GUEST defaults to HOST);
// the current directory is preopened as "." unless --no-cwd is given. The host environment is not passed
// (use --env). Note: Emscripten 3.1.6 -sSTANDALONE_WASM modules only support stdin/stdout/stderr; their open()
// of real files fails regardless of preopens (modules built with wasi-sdk do use them).
import { readFile } from 'node:fs/promises';
import process from 'node:process';

// node:wasi prints an ExperimentalWarning when loaded; keep stderr for the module's own output.
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  if (/WASI/.test(String(warning && warning.message ? warning.message : warning))) return;
  emitWarning.call(process, warning, ...rest);
};
const { WASI } = await import('node:wasi');

function usage(msg) {
  if (msg) process.stderr.write(`run-wasi: ${msg}\n`);
  process.stderr.write('usage: node run-wasi.mjs [--dir=HOST[:GUEST]]... [--env=NAME=VALUE]... [--no-cwd] module.wasm [args...]\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
const preopens = {};
const env = {};
let cwd = true;
while (argv.length && argv[0].startsWith('--')) {
  const opt = argv.shift();
  if (opt === '--') break;
  if (opt.startsWith('--dir=')) {
    const spec = opt.slice(6);
    const i = spec.indexOf(':');
    const host = i < 0 ? spec : spec.slice(0, i);
    preopens[i < 0 ? spec : spec.slice(i + 1)] = host;
  } else if (opt.startsWith('--env=')) {
    const kv = opt.slice(6);
    const i = kv.indexOf('=');
    if (i <= 0) usage(`bad ${opt}`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  } else if (opt === '--no-cwd') {
    cwd = false;
  } else {
    usage(`unknown option ${opt}`);
  }
}
if (!argv.length) usage('no module given');
if (cwd && !('.' in preopens)) preopens['.'] = process.cwd();

const file = argv[0];
const wasi = new WASI({ version: 'preview1', args: argv, env, preopens, returnOnExit: true });

let module;
try {
  module = await WebAssembly.compile(await readFile(file));
} catch (e) {
  usage(`cannot load ${file}: ${e.message}`);
}
// Satisfy the WASI imports, plus the one hook Emscripten -sSTANDALONE_WASM -sALLOW_MEMORY_GROWTH adds
// (a notification only: the memory itself is exported and grown by the module). Anything else is a build
// problem worth a clear message.
const imports = wasi.getImportObject();
imports.env = { emscripten_notify_memory_growth() {} };
const missing = WebAssembly.Module.imports(module).filter((imp) => !(imports[imp.module] && imp.name in imports[imp.module]));
if (missing.length) {
  process.stderr.write(`run-wasi: ${file} needs non-WASI imports: ${missing.map((m) => `${m.module}.${m.name}`).join(', ')}\n`);
  process.exit(2);
}
const instance = await WebAssembly.instantiate(module, imports);
let code;
try {
  code = instance.exports._start ? wasi.start(instance) : (wasi.initialize(instance), 0);
} catch (e) {
  process.stderr.write(`run-wasi: ${file} trapped: ${e && e.stack ? e.stack : e}\n`);
  process.exit(134);
}
process.exitCode = code ?? 0;
