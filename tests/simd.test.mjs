// simd.test.mjs - the shipped wasm/flexor.wasm really contains WebAssembly SIMD and the GEMM kernel uses it:
// the module is disassembled with binaryen's wasm-dis (installed by ./build.sh) and the f32x4 arithmetic of
// the micro-kernels must be there; without -msimd128 it would not be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const wasm = fileURLToPath(new URL('../wasm/flexor.wasm', import.meta.url));

test('flexor.wasm contains SIMD f32x4 arithmetic and v128 loads/stores', () => {
  const r = spawnSync('wasm-dis', [wasm], { encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, `wasm-dis failed: ${r.stderr}`);
  const count = (re) => (r.stdout.match(re) || []).length;
  const mul = count(/f32x4\.mul/g), add = count(/f32x4\.add/g), load = count(/v128\.load/g), store = count(/v128\.store/g);
  assert.ok(mul >= 16 && add >= 16, `too few f32x4 mul/add (${mul}/${add}): the SIMD GEMM kernel is missing`);
  assert.ok(load > 0 && store > 0, `no v128 loads/stores (${load}/${store})`);
});
