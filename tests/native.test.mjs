// native.test.mjs - runs the C test suite (tests/c) three ways and fails on any failed check:
// the native build, the native build under AddressSanitizer + UndefinedBehaviorSanitizer, and the
// WebAssembly SIMD build in this Node process's WASI (tests/run-wasm.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function runSuite(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  const out = (r.stdout || '') + (r.stderr || '');
  const summary = out.match(/^(\d+) passed, (\d+) failed$/m);
  assert.ok(summary, `no summary line from ${cmd}:\n${out.slice(-4000)}`);
  assert.equal(Number(summary[2]), 0, `failed checks in ${cmd}:\n${out.split('\n').filter((l) => /FAIL/.test(l)).join('\n')}`);
  assert.ok(Number(summary[1]) > 1000, `suspiciously few checks (${summary[1]})`);
  assert.equal(r.status, 0, `${cmd} exited ${r.status}:\n${out.slice(-2000)}`);
  return out;
}

test('C core tests, native build', () => {
  runSuite(join(root, 'build/native/fxtests'), ['tests/golden']);
});

test('C core tests, native build under ASan + UBSan', () => {
  runSuite(join(root, 'build/native/fxtests-san'), ['tests/golden'], {
    ASAN_OPTIONS: 'allocator_may_return_null=1:detect_leaks=1',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  });
});

test('C core tests, WebAssembly SIMD build in Node', () => {
  const out = runSuite(process.execPath, ['--no-warnings', 'tests/run-wasm.mjs', 'build/wasm/fxtests.wasm', 'tests/golden']);
  assert.match(out, /gemm variant wasmsimd\s+available/, 'the wasm test build must exercise the SIMD kernels');
});
