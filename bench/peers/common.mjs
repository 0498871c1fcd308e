// common.mjs - what every engine of the benchmark shares: the workload definitions, the exported graph format
// ("spec") that carries identical shapes and weights to tfjs, onnxruntime and the native build, a seeded PRNG,
// layout conversions and small file helpers.
//
// Spec (bench/out/<name>.json + <name>.f32): the graph of one of our models in node order, as our runtime
// computes it, with the float weights the forward uses (FleXOR layers decoded to +-alpha):
//   { name, input: [c, h, w], classes, nodes: [{ id, kind, inputs, shape, cOut, k, stride, pad, bias,
//     params: { w: [offset, length], b, gamma, beta, rmean, rvar } }] }
// conv w is OIHW, dense w is [out][in] with `in` flattened in NCHW order; offsets index the .f32 file.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT = dirname(BENCH_DIR);
export const OUT = join(BENCH_DIR, 'out');
export function outPath(name) { mkdirSync(OUT, { recursive: true }); return join(OUT, name); }

/** The FleXOR configuration of every quantized layer: 0.8 bit/weight (q 1, n_out 20, n_in 16, n_tap 2). */
export const FX = Object.freeze({ q: 1, nOut: 20, nIn: 16, nTap: 2, seed: 1 });
export const BN_EPS = 1e-5;

/** W3 conv layers: [name, c_in, h, w, c_out, k, stride, pad]. */
export const CONV_LAYERS = [
  ['res.conv1', 3, 32, 32, 16, 3, 1, 1],
  ['res.s1', 16, 32, 32, 16, 3, 1, 1],
  ['res.s2.down', 16, 32, 32, 32, 3, 2, 1],
  ['res.s2', 32, 16, 16, 32, 3, 1, 1],
  ['res.s3.down', 32, 16, 16, 64, 3, 2, 1],
  ['res.s3', 64, 8, 8, 64, 3, 1, 1],
  ['lenet.conv1', 1, 28, 28, 32, 5, 1, 2],
  ['lenet.conv2', 32, 14, 14, 64, 5, 1, 2],
];

export function convOut(h, k, s, p) { return Math.floor((h + 2 * p - k) / s) + 1; }
/** Floating-point operations (2 per multiply-add) of one conv layer over a batch of n. */
export function convFlops(n, [, cin, h, w, cout, k, s, p]) {
  return 2 * n * cout * convOut(h, k, s, p) * convOut(w, k, s, p) * cin * k * k;
}

/** Mulberry32: a small seeded PRNG; normal() by Box-Muller. */
export function rng(seed) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return { u, normal };
}

export function randn(n, seed, scale = 1) {
  const r = rng(seed), a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * r.normal();
  return a;
}

export function writeF32(path, arr) { writeFileSync(path, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength)); }
export function readF32(path) { const b = readFileSync(path); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); }
export function readI32(path) { const b = readFileSync(path); return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4); }

export function loadSpec(name) {
  const spec = JSON.parse(readFileSync(outPath(`${name}.json`), 'utf8'));
  spec.floats = readF32(outPath(`${name}.f32`));
  return spec;
}
export function param(spec, node, key) {
  const p = node.params[key];
  return p ? spec.floats.subarray(p[0], p[0] + p[1]) : null;
}

// ---- layouts ----------------------------------------------------------------------------------------------

/** NCHW -> NHWC. */
export function nchwToNhwc(x, n, c, h, w) {
  const y = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) y[(b * h * w + i) * c + ch] = x[(b * c + ch) * h * w + i];
  return y;
}
/** Conv weight OIHW -> HWIO (tfjs). */
export function oihwToHwio(wt, o, i, k) {
  const y = new Float32Array(wt.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let r = 0; r < k * k; r++) y[(r * i + b) * o + a] = wt[(a * i + b) * k * k + r];
  return y;
}
export function hwioToOihw(wt, o, i, k) {
  const y = new Float32Array(wt.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let r = 0; r < k * k; r++) y[(a * i + b) * k * k + r] = wt[(r * i + b) * o + a];
  return y;
}
/** Dense weight [out][in], in flattened as (c, h, w) -> [in'][out] with in' flattened as (h, w, c) (NHWC flatten). */
export function denseToTf(wt, out, c, h, w) {
  const inn = c * h * w, y = new Float32Array(wt.length);
  for (let o = 0; o < out; o++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) y[(i * c + ch) * out + o] = wt[o * inn + ch * h * w + i];
  return y;
}
export function denseFromTf(g, out, c, h, w) {
  const inn = c * h * w, y = new Float32Array(g.length);
  for (let o = 0; o < out; o++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) y[o * inn + ch * h * w + i] = g[(i * c + ch) * out + o];
  return y;
}

export function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) { const e = Math.abs(a[i] - b[i]); if (!(e <= d)) d = e; }
  return d;
}
export function maxAbs(a) { let m = 0; for (const v of a) m = Math.max(m, Math.abs(v)); return m; }

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b), n = s.length;
  return n ? (n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2])) : NaN;
}
