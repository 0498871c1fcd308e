#!/usr/bin/env node
// run-wasm.mjs - runs the C test suite compiled to WebAssembly (build/wasm/fxtests.wasm, an Emscripten
// -sSTANDALONE_WASM command module) in this Node process and exits with the module's exit code.
//
//   node tests/run-wasm.mjs <file.wasm> [args...]          e.g. node tests/run-wasm.mjs build/wasm/fxtests.wasm tests/golden
//
// The module sees argv = [file.wasm, args...] and this process's environment, through node:wasi (preview1).
// Emscripten 3.1.6 standalone modules cannot open real files through WASI, so the suite reads its golden
// files through two host functions in the import module "fxtest" (tests/c/fxtest.c):
//   file_size(path: i32) -> i64        size in bytes (a BigInt), or -1 when the file is missing
//   file_read(path: i32, dst: i32, n: i64) -> i32     copies the first n bytes to dst; 0 ok, -1 on failure
// Paths are NUL-terminated UTF-8 strings in the module's memory, relative to the current directory.
// env.emscripten_notify_memory_growth is a no-op (every host function re-reads memory.buffer). Any other
// import (a symbol left undefined at link time) gets a stub that stops the run with a message naming it.
// node:wasi prints an ExperimentalWarning in Node 20; this script hides that one warning (only it).
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import process from 'node:process';

// Hide node:wasi's ExperimentalWarning but keep printing every other warning; node:wasi is imported below,
// after this listener swap, because static imports would run first.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name === 'ExperimentalWarning' && /WASI/i.test(w.message)) return;
  process.stderr.write(`${w.name}: ${w.message}\n`);
});
const { WASI } = await import('node:wasi');

const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node tests/run-wasm.mjs <file.wasm> [args...]\n');
  process.exit(2);
}

let module;
try {
  module = await WebAssembly.compile(readFileSync(file));
} catch (e) {
  process.stderr.write(`run-wasm: cannot load ${file}: ${e.message}\n`);
  process.exit(2);
}

let memory = null; // set once instantiated
const bytes = () => new Uint8Array(memory.buffer);

/** The NUL-terminated UTF-8 string at ptr in the module's memory. */
function cString(ptr) {
  const u8 = bytes();
  let end = ptr;
  while (end < u8.length && u8[end] !== 0) end++;
  return new TextDecoder().decode(u8.subarray(ptr, end));
}

const fxtest = {
  file_size(pathPtr) {
    try {
      const st = statSync(resolve(cString(pathPtr)));
      return st.isFile() ? BigInt(st.size) : -1n;
    } catch {
      return -1n;
    }
  },
  file_read(pathPtr, dst, n) {
    try {
      const len = Number(n);
      const data = readFileSync(resolve(cString(pathPtr)));
      if (len < 0 || data.length < len || dst + len > memory.buffer.byteLength) return -1;
      bytes().set(data.subarray(0, len), dst);
      return 0;
    } catch {
      return -1;
    }
  },
};

const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: { ...process.env }, returnOnExit: true });
const imports = wasi.getImportObject();
imports.fxtest = fxtest;
imports.env = { emscripten_notify_memory_growth() {} };

for (const imp of WebAssembly.Module.imports(module)) {
  const mod = (imports[imp.module] ??= {});
  if (imp.name in mod) continue;
  if (imp.kind !== 'function') {
    process.stderr.write(`run-wasm: ${file} imports ${imp.kind} ${imp.module}.${imp.name}, which this runner cannot provide\n`);
    process.exit(2);
  }
  process.stderr.write(`run-wasm: warning: ${file} imports ${imp.module}.${imp.name} (undefined at link time); calling it stops the run\n`);
  mod[imp.name] = () => {
    throw new Error(`${imp.module}.${imp.name} was called but is not defined (a symbol missing when ${file} was linked)`);
  };
}

const instance = await WebAssembly.instantiate(module, imports);
memory = instance.exports.memory;
if (!(memory instanceof WebAssembly.Memory)) {
  process.stderr.write(`run-wasm: ${file} exports no memory\n`);
  process.exit(2);
}
if (typeof instance.exports._start !== 'function') {
  process.stderr.write(`run-wasm: ${file} has no _start (not a command module)\n`);
  process.exit(2);
}
let code;
try {
  code = wasi.start(instance);
} catch (e) {
  process.stderr.write(`run-wasm: ${file} trapped: ${e && e.stack ? e.stack : e}\n`);
  code = 134;
}
process.exitCode = code ?? 0;
