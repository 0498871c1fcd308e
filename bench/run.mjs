#!/usr/bin/env node
// run.mjs - our runtime against its peers, on the same workloads in the same run (issue #6):
//
//   node bench/run.mjs [--quick] [--json out.json] [--workloads W1,W2,W3,W4] [--reps N] [--no-native] [--no-2t]
//
//   W1  training step of the paper's LeNet-5 (32C5-MP2-64C5-MP2-512FC-10, 'same', batch 64, Adam)
//   W2  ResNet-20 inference (option-A shortcuts), batch 1 and 64
//   W3  per-layer conv micro-benchmarks on the ResNet-20 and LeNet-5 shapes (GFLOP/s), plus bench/gemm_bench.c
//       natively and under wasm (GEMM GFLOP/s and the measured peaks)
//   W4  native trainer: ResNet-20 training step (batch 128, SGD) on 1 and 2 threads beside Debian's PyTorch
//       (tools/flexor_ref.py's FleXOR ResNet-20 and the plain one) on the same threads
//
// Engines: ours = wasm/flexor.wasm through wasm/flexor.js in Node (FleXOR 0.8 bit: q 1, n_out 20, n_in 16,
// n_tap 2; and full precision for reference), tfjs = @tensorflow/tfjs-core + tfjs-backend-wasm, ort =
// onnxruntime-web (wasm EP), native = build/native/libflexor.a through bench/native_bench.c (extra column).
// Every engine lives in its own process (tfjs and ort fix their thread count per process); the coordinator
// interleaves their timed repetitions round-robin (rotating the order each round) so machine load hits all
// alike, and reports medians. Before timing, every engine's outputs are checked against ours on identical
// weights and inputs (W2 logits; W1 loss and gradients).
// Outputs go to bench/out/ (git-ignored): specs, parameter files, ONNX models, binaries, results.json.
import { fork, spawn, execFileSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import os from 'node:os';
import process from 'node:process';
import { join } from 'node:path';
import { ROOT, BENCH_DIR, OUT, outPath, CONV_LAYERS, convFlops, median, maxAbsDiff, maxAbs, readF32, writeF32 } from './peers/common.mjs';
import { prepare, B } from './peers/prepare.mjs';

// ---- options ----------------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = { quick: false, json: null, workloads: new Set(['W1', 'W2', 'W3', 'W4']), reps: 0, native: true, twoThreads: true };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--quick') opt.quick = true;
  else if (a === '--json') opt.json = argv[++i];
  else if (a === '--workloads') opt.workloads = new Set(argv[++i].split(',').map((s) => s.trim().toUpperCase()));
  else if (a === '--reps') opt.reps = Number(argv[++i]);
  else if (a === '--no-native') opt.native = false;
  else if (a === '--no-2t') opt.twoThreads = false;
  else if (a === '-h' || a === '--help') {
    const lines = readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1);
    console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    process.exit(0);
  } else { console.error(`run.mjs: unknown argument ${a} (see --help)`); process.exit(2); }
}
for (const w of opt.workloads) if (!['W1', 'W2', 'W3', 'W4'].includes(w)) { console.error(`run.mjs: unknown workload ${w}`); process.exit(2); }
const REPS = opt.reps > 0 ? opt.reps : opt.quick ? 3 : 11;
const TARGET = opt.quick ? 0.12 : 0.3;   // seconds per timed repetition (at least one iteration)
const WARM = opt.quick ? 0.25 : 0.6;     // seconds of warm-up per case (at least two iterations)
const W3_REPS = opt.reps > 0 ? opt.reps : opt.quick ? 3 : 5;
const W3_TARGET = opt.quick ? 0.05 : 0.12;
const GEMM_SECONDS = opt.quick ? 0.03 : 0.15;
const W3_BATCHES = opt.quick ? [64] : [1, 64];
const log = (...a) => console.error('[bench]', ...a);
const t00 = performance.now();

// ---- machine ----------------------------------------------------------------------------------------------
function machine() {
  let model = os.cpus()[0]?.model ?? 'unknown';
  try { model = execFileSync('lscpu', { encoding: 'utf8' }).match(/Model name:\s*(.*)/)?.[1]?.trim() ?? model; } catch { /* no lscpu */ }
  let busy = [];
  try {
    busy = execFileSync('ps', ['-eo', 'pcpu,ni,comm', '--sort=-pcpu', '--no-headers'], { encoding: 'utf8' }).split('\n')
      .map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 3 && Number(f[0]) >= 5).slice(0, 6).map(([cpu, ni, comm]) => `${comm} ${cpu}% nice ${ni}`);
  } catch { /* no ps */ }
  return { cpu: model, logicalCpus: os.cpus().length, otherLoad: busy, node: process.version, platform: `${os.platform()} ${os.release()}`,
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), loadavgStart: os.loadavg().map((x) => +x.toFixed(2)), date: new Date().toISOString() };
}

// ---- engines ----------------------------------------------------------------------------------------------
class Child {
  constructor(engine, threads) {
    this.name = `${engine}-${threads}t`;
    this.engine = engine;
    this.threads = threads;
    this.proc = fork(join(BENCH_DIR, 'peers', 'runner.mjs'), [engine, String(threads)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.pending = new Map();
    this.nextId = 1;
    this.ready = new Promise((res, rej) => {
      this.proc.on('message', (m) => {
        if (m.ready) { this.info = m.info; res(this); return; }
        const p = this.pending.get(m.id);
        if (p) { this.pending.delete(m.id); m.ok ? p.res(m) : p.rej(new Error(`${this.name}: ${m.error}`)); }
      });
      this.proc.on('exit', (code) => {
        const e = new Error(`${this.name}: runner exited (${code})`);
        rej(e);
        for (const p of this.pending.values()) p.rej(e);
        this.pending.clear();
      });
    });
  }
  send(msg) {
    const id = this.nextId++;
    return new Promise((res, rej) => { this.pending.set(id, { res, rej }); this.proc.send({ id, ...msg }); });
  }
  async close() { try { await this.send({ cmd: 'exit' }); } catch { /* gone */ } }
}

class Native {
  constructor(args, cmd = outPath('native_bench')) { this.args = args; this.cmd = cmd; }
  async start() {
    this.proc = spawn(this.cmd, this.args.map(String), { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT });
    this.lines = [];
    this.waiters = [];
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      const w = this.waiters.shift();
      w ? w.res(l) : this.lines.push(l);
    });
    this.proc.on('exit', (code) => { for (const w of this.waiters.splice(0)) w.rej(new Error(`native_bench exited (${code})`)); });
    const first = await this.line();
    if (!first.startsWith('ready')) throw new Error(`native_bench: ${first}`);
    return first.slice(6).trim();
  }
  line() { return this.lines.length ? Promise.resolve(this.lines.shift()) : new Promise((res, rej) => this.waiters.push({ res, rej })); }
  async run(iters) {
    this.proc.stdin.write(`run ${iters}\n`);
    const l = await this.line();
    if (!l.startsWith('t ')) throw new Error(`native_bench: ${l}`);
    return Number(l.slice(2));
  }
  close() { try { this.proc.stdin.write('quit\n'); this.proc.stdin.end(); } catch { /* gone */ } }
}

/** A timed case: { label, engine, threads, setup() -> check, run(iters) -> seconds, dispose() }. */
let keySeq = 0;
function childCase(child, label, task, args, extra = {}) {
  const key = `k${++keySeq}`;
  return { label, engine: child.engine, threads: child.threads, ...extra,
    setup: async () => (await child.send({ cmd: 'setup', key, task, args })).check,
    run: async (iters) => (await child.send({ cmd: 'run', key, iters })).t,
    dispose: () => child.send({ cmd: 'dispose', key }).catch(() => {}) };
}
function nativeCase(label, threads, args, extra = {}, cmd = undefined) {
  const n = new Native(args, cmd);
  return { label, engine: 'native', threads, ...extra, setup: () => n.start(), run: (iters) => n.run(iters), dispose: () => n.close() };
}

/** Warm-up, iteration calibration, then REPS rounds over all cases in rotating order; median seconds/iteration. */
async function measure(cases, { reps, target, warm }) {
  const live = [];
  for (const c of cases) {
    try {
      let t = 0, n = 0, last = 0;
      while (n < 2 || (t < warm && n < 200)) { last = await c.run(1); t += last; n++; }
      c.iters = Math.max(1, Math.min(5000, Math.round(target / Math.max(last, 1e-6))));
      c.samples = [];
      live.push(c);
    } catch (e) { c.error = String(e.message || e); log(`${c.label}: ${c.error}`); }
  }
  for (let r = 0; r < reps; r++) {
    for (let j = 0; j < live.length; j++) {
      const c = live[(j + r) % live.length];
      if (c.error) continue;
      try { c.samples.push((await c.run(c.iters)) / c.iters); } catch (e) { c.error = String(e.message || e); log(`${c.label}: ${c.error}`); }
    }
  }
  for (const c of live) if (!c.error) {
    c.sec = median(c.samples);
    c.spread = c.samples.length > 1 ? (Math.max(...c.samples) - Math.min(...c.samples)) / c.sec : 0;
  }
}

async function setupAll(cases) {
  for (const c of cases) {
    try { c.check = await c.setup(); } catch (e) { c.error = String(e.message || e); log(`${c.label}: setup failed: ${c.error}`); }
  }
}

// ---- build helpers ----------------------------------------------------------------------------------------
function stale(out, inputs) {
  if (!existsSync(out)) return true;
  const t = statSync(out).mtimeMs;
  return inputs.some((f) => existsSync(f) && statSync(f).mtimeMs > t);
}
function sh(cmd, args, what) {
  try { execFileSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] }); return true; } catch (e) {
    log(`${what} failed: ${String(e.stderr || e.message).split('\n').slice(0, 6).join(' | ')}`);
    return false;
  }
}
function buildNative() {
  const lib = join(ROOT, 'build/native/libflexor.a');
  if (!existsSync(lib)) { log('build/native/libflexor.a is missing (run ./build.sh native): no native column'); return false; }
  const out = outPath('native_bench'), src = join(BENCH_DIR, 'native_bench.c');
  if (stale(out, [src, lib, join(ROOT, 'src/flexor.h')]))
    return sh('gcc', ['-std=c11', '-O3', '-Isrc', src, lib, '-lm', '-lpthread', '-o', out], 'compiling bench/native_bench.c');
  return true;
}
function kernelSources() { return ['gemm.c', 'gemm_avx2.c', 'gemm_wasmsimd.c'].map((f) => join(ROOT, 'src/kernels', f)).filter(existsSync); }
function buildGemm() {
  const src = join(BENCH_DIR, 'gemm_bench.c'), ks = kernelSources(), deps = [src, ...ks, join(ROOT, 'src/kernels/gemm.h')];
  const res = { native: outPath('gemm_bench'), wasm: outPath('gemm_bench.wasm') };
  if (stale(res.native, deps) && !sh('gcc', ['-std=c11', '-O3', '-o', res.native, src, ...ks, '-lm'], 'compiling gemm_bench (native)')) res.native = null;
  if (stale(res.wasm, deps) && !sh('emcc', ['-std=c11', '-O3', '-msimd128', '-sSTANDALONE_WASM', '-sALLOW_MEMORY_GROWTH=1', '-o', res.wasm, src, ...ks],
    'compiling gemm_bench (wasm, emcc)')) res.wasm = null;
  return res;
}
function parseGemm(text) {
  const lines = text.split('\n');
  const h = lines.findIndex((l) => l.startsWith('shape'));
  if (h < 0) return null;
  const variants = lines[h].trim().split(/\s+/).slice(7, -1);
  const rows = [];
  for (const l of lines.slice(h + 1)) {
    if (!l.trim()) break;
    const name = l.slice(0, 16).trim().replace(/\s+/g, ' '), f = l.slice(16).trim().split(/\s+/).map(Number);
    rows.push({ shape: name, ta: f[0], tb: f[1], M: f[2], N: f[3], K: f[4], mflop: f[5], gflops: Object.fromEntries(variants.map((v, i) => [v, f[6 + i]])) });
  }
  const peaks = {};
  const pl = lines.find((l) => l.startsWith('peak')) ?? '';
  for (const m of pl.split(':').slice(1).join(':').matchAll(/([a-z0-9+ ]+?)\s+([\d.]+) GFLOP\/s/g)) peaks[m[1].trim()] = Number(m[2]);
  return { variants, rows, peaks, validationFailed: /VALIDATION FAILED/.test(text) };
}
function runGemm(bin, wasm) {
  const args = wasm ? [join(BENCH_DIR, 'run-wasi.mjs'), bin, String(GEMM_SECONDS)] : [String(GEMM_SECONDS)];
  try {
    const text = execFileSync(wasm ? process.execPath : bin, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return parseGemm(text);
  } catch (e) { log(`gemm_bench (${wasm ? 'wasm' : 'native'}) failed: ${String(e.stdout || e.message).slice(0, 300)}`); return null; }
}

// ---- formatting -------------------------------------------------------------------------------------------
const fmt = (x, d = 1) => (x == null || !Number.isFinite(x) ? 'n/a' : x >= 1000 ? x.toFixed(0) : x >= 100 ? x.toFixed(d === 0 ? 0 : 1) : x.toFixed(d === 0 ? 1 : 2));
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
function table(head, rows) {
  const w = head.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (r) => r.map((c, i) => (i === 0 ? pad(c ?? '', w[i]) : lpad(c ?? '', w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}
const relDiff = (a, ref) => maxAbsDiff(a, ref) / Math.max(maxAbs(ref), 1e-12);
const TOL = 1e-4;

// ---- main -------------------------------------------------------------------------------------------------
const result = { meta: { ...machine(), args: argv, quick: opt.quick, reps: REPS, targetSecondsPerRep: TARGET }, validation: [], workloads: {} };
log(`${result.meta.cpu}, ${result.meta.logicalCpus} logical CPUs, Node ${result.meta.node}, load ${result.meta.loadavgStart.join(' ')}`);
if (result.meta.otherLoad.length) log(`busy processes at start: ${result.meta.otherLoad.join(', ')}`);
log(`workloads ${[...opt.workloads].join(',')}, ${REPS} interleaved reps${opt.quick ? ' (quick)' : ''}; outputs in ${OUT}`);

const { refs } = await prepare({ workloads: opt.workloads });
const nativeOk = opt.native && buildNative();

// ONNX models (W2: the two ResNet-20s; W3: one conv per layer and batch)
let onnxOk = false;
if (opt.workloads.has('W2') || opt.workloads.has('W3')) {
  const args = [join(BENCH_DIR, 'export_onnx.py'), '--out', OUT];
  if (opt.workloads.has('W2')) args.push('--model', 'resnet20_fp:1,64', '--model', 'resnet20_fx:1,64');
  if (opt.workloads.has('W3')) {
    const convs = [];
    for (const l of CONV_LAYERS) for (const b of l[0].startsWith('lenet') ? [64] : W3_BATCHES) convs.push([...l, b]);
    writeFileSync(outPath('convs.json'), JSON.stringify(convs));
    args.push('--convs', outPath('convs.json'));
  }
  onnxOk = sh('/usr/bin/python3', args, 'bench/export_onnx.py (onnxruntime peer disabled)');
}
log(`prepared in ${((performance.now() - t00) / 1000).toFixed(1)} s`);

const children = {};
const startChild = async (engine, threads) => {
  const c = new Child(engine, threads);
  try { await c.ready; children[c.name] = c; } catch (e) { log(`${c.name} did not start: ${e.message}`); }
};
await startChild('ours', 1);
await startChild('tfjs', 1);
if (onnxOk) await startChild('ort', 1);
if (opt.twoThreads && opt.workloads.has('W1') || opt.twoThreads && opt.workloads.has('W2')) {
  await startChild('tfjs', 2);
  if (onnxOk) await startChild('ort', 2);
}
const versions = Object.fromEntries(Object.values(children).map((c) => [c.name, c.info]));
result.meta.engines = versions;
const pkgVersion = (name) => { try { return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version; } catch { return '?'; } };
const tfVer = pkgVersion('@tensorflow/tfjs-backend-wasm'), ortVer = pkgVersion('onnxruntime-web');
if (children['tfjs-2t'] && children['tfjs-2t'].info.threadsUsed !== 2) log(`tfjs-2t: XNNPACK pool has ${children['tfjs-2t'].info.threadsUsed} threads`);
const ENG = {
  'ours-fx': 'ours wasm FleXOR 0.8b', 'ours-fp': 'ours wasm FP32', tfjs: `tfjs-wasm ${tfVer}`, ort: `onnxruntime-web ${ortVer}`,
  'native-fx': 'ours native FleXOR 0.8b', 'native-fp': 'ours native FP32',
};
const out = [];
const print = (s = '') => { out.push(s); console.log(s); };
const loadNow = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

// ---- W1 ---------------------------------------------------------------------------------------------------
if (opt.workloads.has('W1')) {
  const t0 = performance.now();
  const ours = children['ours-1t'];
  const common = { batch: B, inputFile: 'input_mnist.f32', labelsFile: 'labels_mnist.i32' };
  const cases = [];
  cases.push(childCase(ours, ENG['ours-fx'], 'lenet', { fx: true, paramsFile: 'lenet5_fx.params.bin', ...common }, { id: 'ours-fx' }));
  cases.push(childCase(ours, ENG['ours-fp'], 'lenet', { fx: false, paramsFile: 'lenet5_fp.params.bin', ...common }, { id: 'ours-fp' }));
  for (const t of [1, 2]) {
    const tf = children[`tfjs-${t}t`];
    if (tf) cases.push(childCase(tf, ENG.tfjs, 'lenet', { spec: 'lenet5_fp', ...common }, { id: 'tfjs' }));
    if (nativeOk) cases.push(nativeCase(ENG['native-fx'], t, ['lenet', 1, B, t, outPath('lenet5_fx.params.bin'), outPath('input_mnist.f32'), outPath('labels_mnist.i32')], { id: 'native-fx' }));
  }
  if (nativeOk) cases.push(nativeCase(ENG['native-fp'], 1, ['lenet', 0, B, 1, outPath('lenet5_fp.params.bin'), outPath('input_mnist.f32'), outPath('labels_mnist.i32')], { id: 'native-fp' }));
  log(`W1: setting up ${cases.length} cases`);
  await setupAll(cases);
  // validation: first-step loss (and, for tfjs, every gradient) against our runtime on the same weights and batch
  const fxLoss = cases.find((c) => c.id === 'ours-fx')?.check?.loss;
  for (const c of cases) {
    if (c.error) continue;
    const loss = c.engine === 'native' ? Number(c.check) : c.check.loss;
    const refLoss = c.id.endsWith('fx') ? fxLoss : refs.lenet5_fp.loss;
    const v = { workload: 'W1', batch: B, engine: c.label, threads: c.threads, model: c.id.endsWith('fx') ? 'lenet5_fx' : 'lenet5_fp', loss, refLoss,
      rel: Math.abs(loss - refLoss) / Math.abs(refLoss) };
    if (c.check?.grads) {
      v.grads = c.check.grads;
      v.rel = Math.max(v.rel, ...Object.values(c.check.grads).map((g) => g.maxAbsDiff / Math.max(g.maxAbsRef, 1e-12)));
    }
    v.ok = v.rel <= TOL;
    result.validation.push(v);
    if (!v.ok) log(`W1 VALIDATION FAILED: ${c.label} ${c.threads}t: rel diff ${v.rel}`);
  }
  log(`W1: timing (load ${loadNow()})`);
  await measure(cases, { reps: REPS, target: TARGET, warm: WARM });
  for (const c of cases) await c.dispose();
  const jcases = cases.map((c) => ({ engine: c.label, id: c.id, threads: c.threads, imagesPerSec: c.sec ? B / c.sec : null, msPerStep: c.sec ? c.sec * 1e3 : null,
    bestImagesPerSec: c.samples?.length ? B / Math.min(...c.samples) : null, spread: c.spread ?? null, iters: c.iters ?? null,
    reps: c.samples?.length ?? 0, samplesMs: c.samples?.map((t) => +(t * 1e3).toFixed(3)) ?? [], error: c.error ?? null }));
  const best = (threads) => jcases.filter((c) => c.id === 'tfjs' && threads.includes(c.threads) && c.imagesPerSec).sort((a, b) => b.imagesPerSec - a.imagesPerSec)[0];
  const me = (id) => jcases.find((c) => c.id === id && c.threads === 1)?.imagesPerSec;
  const r = (id, th) => { const b = best(th); return b && me(id) ? { ratio: me(id) / b.imagesPerSec, bestPeer: `${b.engine} ${b.threads}t` } : null; };
  const res = { batch: B, cases: jcases, target: 'ours FleXOR training >= 3x the best peer', ort: 'n/a (onnxruntime-web has no training API)',
    tfjsFilterGradient: 'Conv2DBackpropFilter is not registered for wasm: dW computed as a conv of x (channels as batch) with dy as the filter (tf.conv2d); dx as a conv with the flipped filter',
    ratios: {
      'ours wasm FleXOR / best 1-thread peer': r('ours-fx', [1]),
      'ours wasm FleXOR / best peer, any threads': r('ours-fx', [1, 2]),
      'ours wasm FP32 / best 1-thread peer': r('ours-fp', [1]),
      'ours native FleXOR 1t / best 1-thread peer': r('native-fx', [1]),
    } };
  result.workloads.W1 = res;
  print(`\nW1  LeNet-5 training step (forward + backward + Adam), batch ${B}, images/s, median of ${REPS} interleaved reps (load at end ${loadNow()})`);
  print(table(['engine', 'thr', 'images/s', 'per step', 'spread'], [
    ...jcases.map((c) => [c.engine, c.threads, c.error ? 'error' : fmt(c.imagesPerSec), c.msPerStep ? `${c.msPerStep.toFixed(1)} ms` : '', c.spread != null ? `${(100 * c.spread).toFixed(0)}%` : '']),
    [ENG.ort, '1/2', 'n/a', 'no training API', ''],
  ]));
  for (const [name, x] of Object.entries(res.ratios)) print(`  ${pad(name, 44)} ${x ? `${x.ratio.toFixed(2)}x (vs ${x.bestPeer})` : 'n/a'}`);
  print(`  target: ${res.target}; tfjs filter gradient supplied from outside (see docs/PERFORMANCE.md)`);
  log(`W1 done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// ---- W2 ---------------------------------------------------------------------------------------------------
if (opt.workloads.has('W2')) {
  const t0 = performance.now();
  const ours = children['ours-1t'];
  const flopsPerImage = 2 * refs.resnet20_fp.macs; // 2 FLOPs per multiply-add (conv + dense)
  const res = { batches: {}, target: 'ours wasm FleXOR >= 2x the best peer at batch 1 and 64' };
  const byBatch = {};
  for (const batch of [1, 64]) {
    const common = { batch, inputFile: 'input_cifar.f32' };
    const cases = [];
    cases.push(childCase(ours, ENG['ours-fx'], 'resnet', { fx: true, paramsFile: 'resnet20_fx.params.bin', ...common }, { id: 'ours-fx', ref: 'resnet20_fx' }));
    cases.push(childCase(ours, ENG['ours-fp'], 'resnet', { fx: false, paramsFile: 'resnet20_fp.params.bin', ...common }, { id: 'ours-fp', ref: 'resnet20_fp' }));
    if (opt.twoThreads) // 2 workers (ModelPool): the batch split over two wasm instances; batch 1 runs on one
      cases.push(childCase(ours, `${ENG['ours-fx']} (ModelPool)`, 'resnetPool', { fx: true, paramsFile: 'resnet20_fx.params.bin', workers: 2, ...common }, { id: 'ours-fx', ref: 'resnet20_fx', threads: 2 }));
    for (const t of [1, 2]) {
      const tf = children[`tfjs-${t}t`], ort = children[`ort-${t}t`];
      if (tf) cases.push(childCase(tf, ENG.tfjs, 'resnet', { spec: 'resnet20_fp', checkSpec: t === 1 ? 'resnet20_fx' : null, ...common }, { id: 'tfjs', ref: 'resnet20_fp', ref2: 'resnet20_fx' }));
      if (ort) cases.push(childCase(ort, ENG.ort, 'resnet', { model: 'resnet20_fp', checkModel: t === 1 ? 'resnet20_fx' : null, ...common }, { id: 'ort', ref: 'resnet20_fp', ref2: 'resnet20_fx' }));
      if (nativeOk) cases.push(nativeCase(ENG['native-fx'], t, ['resnet', 20, 1, batch, t, outPath('resnet20_fx.params.bin'), outPath('input_cifar.f32.b' + batch), outPath(`native_fx_b${batch}_t${t}.logits`)],
        { id: 'native-fx', ref: 'resnet20_fx', logitsFile: outPath(`native_fx_b${batch}_t${t}.logits`) }));
    }
    // the native program reads exactly `batch` images
    writeF32(outPath('input_cifar.f32.b' + batch), readF32(outPath('input_cifar.f32')).slice(0, batch * 3072));
    log(`W2 batch ${batch}: setting up ${cases.length} cases`);
    await setupAll(cases);
    for (const c of cases) {
      if (c.error) continue;
      const ref = refs[c.ref][`b${batch}`];
      const got = c.logitsFile ? Array.from(readF32(c.logitsFile)) : c.check.logits;
      const d = relDiff(got, ref);
      const v = { workload: 'W2', batch, engine: c.label, threads: c.threads, model: c.ref, maxAbsDiff: maxAbsDiff(got, ref), maxAbsRef: maxAbs(ref), rel: d, ok: d <= TOL };
      result.validation.push(v);
      if (c.check?.logits2) {
        const r2 = refs[c.ref2][`b${batch}`], d2 = relDiff(c.check.logits2, r2);
        result.validation.push({ ...v, model: c.ref2, maxAbsDiff: maxAbsDiff(c.check.logits2, r2), maxAbsRef: maxAbs(r2), rel: d2, ok: d2 <= TOL });
      }
      if (!v.ok) log(`W2 VALIDATION FAILED: ${c.label} ${c.threads}t batch ${batch}: rel diff ${d}`);
    }
    log(`W2 batch ${batch}: timing (load ${loadNow()})`);
    // batch 1: more, shorter reps (a rep is many ~5 ms forwards, so load bursts hit single reps; the median filters them)
    await measure(cases, batch === 1 ? { reps: 2 * REPS - 1, target: TARGET / 3, warm: WARM } : { reps: REPS, target: TARGET, warm: WARM });
    for (const c of cases) await c.dispose();
    byBatch[batch] = cases;
  }
  const rows = [], jcases = [];
  const keyOf = (c) => `${c.id}|${c.threads}`;
  const keys = [...new Map(byBatch[64].concat(byBatch[1]).map((c) => [keyOf(c), c])).values()];
  for (const k of keys) {
    const row = [k.label, k.threads];
    const jc = { engine: k.label, id: k.id, threads: k.threads };
    for (const b of [1, 64]) {
      const c = byBatch[b].find((x) => keyOf(x) === keyOf(k));
      const ips = c && c.sec ? b / c.sec : null;
      row.push(c?.error ? 'error' : fmt(ips), c?.sec ? `${(c.sec * 1e3).toFixed(b === 1 ? 2 : 1)} ms` : '', ips ? fmt(ips * flopsPerImage * 1e-9) : '');
      jc[`b${b}`] = { imagesPerSec: ips, gflops: ips ? ips * flopsPerImage * 1e-9 : null, msPerBatch: c?.sec ? c.sec * 1e3 : null,
        bestImagesPerSec: c?.samples?.length ? b / Math.min(...c.samples) : null, spread: c?.spread ?? null, iters: c?.iters ?? null,
        reps: c?.samples?.length ?? 0, samplesMs: c?.samples?.map((t) => +(t * 1e3).toFixed(3)) ?? [], error: c?.error ?? null };
    }
    rows.push(row);
    jcases.push(jc);
  }
  const ratio = (id, threadsPeers, myThreads = 1) => {
    const o = {};
    for (const b of [1, 64]) {
      const me = jcases.find((c) => c.id === id && c.threads === myThreads)?.[`b${b}`]?.imagesPerSec;
      const peers = jcases.filter((c) => (c.id === 'tfjs' || c.id === 'ort') && threadsPeers.includes(c.threads) && c[`b${b}`].imagesPerSec);
      const best = peers.sort((x, y) => y[`b${b}`].imagesPerSec - x[`b${b}`].imagesPerSec)[0];
      o[`b${b}`] = best && me ? { ratio: me / best[`b${b}`].imagesPerSec, bestPeer: `${best.engine} ${best.threads}t` } : null;
    }
    return o;
  };
  res.cases = jcases;
  res.mflopPerImage = flopsPerImage / 1e6;
  res.ratios = {
    'ours wasm FleXOR / best 1-thread peer': ratio('ours-fx', [1]),
    'ours wasm FleXOR / best peer, any threads': ratio('ours-fx', [1, 2]),
    'ours wasm FleXOR 2 workers / best peer, any threads': ratio('ours-fx', [1, 2], 2),
    'ours wasm FP32 / best 1-thread peer': ratio('ours-fp', [1]),
    'ours native FleXOR 1t / best 1-thread peer': ratio('native-fx', [1]),
  };
  result.workloads.W2 = res;
  print(`\nW2  ResNet-20 inference (CIFAR 3x32x32, option-A shortcuts), images/s, median of ${2 * REPS - 1} (batch 1) / ${REPS} (batch 64) interleaved reps (load at end ${loadNow()})`);
  print(table(['engine', 'thr', 'batch 1', 'latency', 'GFLOP/s', 'batch 64', 'per batch', 'GFLOP/s'], rows));
  print(`  (${(flopsPerImage / 1e6).toFixed(1)} MFLOP per image; GFLOP/s = nominal FP32-equivalent rate, the same FLOP count for every engine;`);
  print(`   spread (max-min)/median of the reps, batch 1 / 64: ${jcases.map((c) => `${c.id} ${c.threads}t ${c.b1.spread != null ? (100 * c.b1.spread).toFixed(0) : '-'}/${c.b64.spread != null ? (100 * c.b64.spread).toFixed(0) : '-'}%`).join(', ')})`);
  for (const [name, r] of Object.entries(res.ratios))
    print(`  ${pad(name, 44)} batch 1: ${r.b1 ? `${r.b1.ratio.toFixed(2)}x (vs ${r.b1.bestPeer})` : 'n/a'}   batch 64: ${r.b64 ? `${r.b64.ratio.toFixed(2)}x (vs ${r.b64.bestPeer})` : 'n/a'}`);
  print(`  target: ${res.target}`);
  log(`W2 done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// ---- W3 ---------------------------------------------------------------------------------------------------
if (opt.workloads.has('W3')) {
  const t0 = performance.now();
  const gemmBins = buildGemm();
  const layers = [];
  for (const l of CONV_LAYERS) for (const b of l[0].startsWith('lenet') ? [64] : W3_BATCHES) layers.push({ layer: l, batch: b, flops: convFlops(b, l) });
  const engines = [['ours', children['ours-1t'], 'ours wasm'], ['tfjs', children['tfjs-1t'], 'tfjs 1t'], ['ort', children['ort-1t'], 'ort 1t']];
  const all = [];
  for (const L of layers) {
    const cases = [];
    for (const [id, ch, label] of engines) if (ch) cases.push(childCase(ch, `${label} ${L.layer[0]} b${L.batch}`, 'conv', { layer: L.layer, batch: L.batch }, { id }));
    if (children['ours-1t'] && L.layer[0] !== 'res.conv1') // the first ResNet conv stays FP32 in every model
      cases.push(childCase(children['ours-1t'], `ours wasm LUT ${L.layer[0]} b${L.batch}`, 'convLut', { layer: L.layer, batch: L.batch }, { id: 'lut' }));
    if (nativeOk) cases.push(nativeCase(`native ${L.layer[0]}`, 1, ['conv', L.batch, ...L.layer.slice(1), 1], { id: 'native' }));
    await setupAll(cases);
    await measure(cases, { reps: W3_REPS, target: W3_TARGET, warm: W3_TARGET });
    for (const c of cases) await c.dispose();
    L.cases = cases;
    all.push(L);
  }
  log(`W3: gemm_bench natively and under wasm (${GEMM_SECONDS} s per case; not interleaved)`);
  const gemm = { native: gemmBins.native ? runGemm(gemmBins.native, false) : null, wasm: gemmBins.wasm ? runGemm(gemmBins.wasm, true) : null };
  const wasmPeak = gemm.wasm?.peaks['f32x4 mul+add'] ?? null, nativePeak = gemm.native?.peaks['avx2 fma'] ?? null;
  const gf = (L, id) => { const c = L.cases.find((x) => x.id === id); return c?.sec ? L.flops / c.sec * 1e-9 : null; };
  const rows = all.map((L) => {
    const o = gf(L, 'ours'), t = gf(L, 'tfjs'), r = gf(L, 'ort'), n = gf(L, 'native'), u = gf(L, 'lut');
    const best = Math.max(t ?? 0, r ?? 0);
    return [L.layer[0], L.batch, (L.flops / 1e6).toFixed(1), fmt(o), fmt(t), fmt(r), fmt(n), best ? `${(o / best).toFixed(2)}x` : 'n/a',
      wasmPeak && o ? `${(100 * o / wasmPeak).toFixed(0)}%` : 'n/a', u ? fmt(u) : 'n/a', u && best ? `${(u / best).toFixed(2)}x` : 'n/a'];
  });
  result.workloads.W3 = {
    conv: all.map((L) => ({ layer: L.layer[0], shape: { cIn: L.layer[1], h: L.layer[2], w: L.layer[3], cOut: L.layer[4], k: L.layer[5], stride: L.layer[6], pad: L.layer[7] }, batch: L.batch,
      mflop: L.flops / 1e6, gflops: { ours: gf(L, 'ours'), tfjs: gf(L, 'tfjs'), ort: gf(L, 'ort'), native: gf(L, 'native'), oursLut: gf(L, 'lut') },
      errors: Object.fromEntries(L.cases.filter((c) => c.error).map((c) => [c.id, c.error])) })),
    gemm, peaks: { wasmSimdMulAdd: wasmPeak, nativeAvx2Fma: nativePeak, wasmScalar: gemm.wasm?.peaks['scalar mul+add'] ?? null },
    note: 'ours = fx_conv2d_forward on a raw flexor.wasm instance (im2col + GEMM); oursLut = fx_conv2d_forward_bcq from packed +-1 bits (nominal FP32-equivalent GFLOP/s); tfjs = tf.conv2d (XNNPACK), ort = one-Conv session (input copy included); 1 thread each',
  };
  print(`\nW3  conv layers, GFLOP/s (2 per multiply-add), 1 thread, median of ${W3_REPS} interleaved reps (load at end ${loadNow()})`);
  print(table(['layer', 'batch', 'MFLOP', 'ours wasm', `tfjs ${tfVer}`, `ort ${ortVer}`, 'ours native', 'ours/best peer', 'of wasm peak', 'ours wasm LUT', 'LUT/best peer'], rows));
  const gl = (g, v) => g ? g.rows.map((r) => r.gflops[v]) : [];
  if (gemm.native || gemm.wasm) {
    const names = (gemm.wasm ?? gemm.native).rows.map((r) => r.shape);
    print(`\n    GEMM (bench/gemm_bench.c, best batch of ${GEMM_SECONDS} s per case), GFLOP/s`);
    print(table(['shape', 'M', 'N', 'K', 'wasm scalar', 'wasm simd128', 'native scalar', 'native avx2'], names.map((n, i) => {
      const r = (gemm.wasm ?? gemm.native).rows[i];
      return [n, r.M, r.N, r.K, fmt(gl(gemm.wasm, 'scalar')[i]), fmt(gl(gemm.wasm, 'wasmsimd')[i]), fmt(gl(gemm.native, 'scalar')[i]), fmt(gl(gemm.native, 'avx2')[i])];
    })));
    print(`    measured peak: wasm f32x4 mul+add ${fmt(wasmPeak)} GFLOP/s, wasm scalar ${fmt(gemm.wasm?.peaks['scalar mul+add'])}, native avx2 fma ${fmt(nativePeak)}` +
      `${gemm.wasm?.validationFailed || gemm.native?.validationFailed ? '  (gemm_bench reported VALIDATION FAILED)' : ''}`);
  }
  log(`W3 done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// ---- validation summary, JSON -----------------------------------------------------------------------------
// ---- W4 ---------------------------------------------------------------------------------------------------
if (opt.workloads.has('W4')) {
  const t0 = performance.now();
  const TB = 128, cases = [];
  const torchOk = existsSync('/usr/bin/python3') && (() => { try { execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }); return true; } catch { return false; } })();
  if (!torchOk) log('W4: /usr/bin/python3 with torch is missing; the PyTorch rows are dropped');
  for (const t of opt.twoThreads ? [1, 2] : [1]) {
    if (nativeOk) cases.push(nativeCase('ours native FleXOR 0.8b', t, ['resnet-train', 20, 1, TB, t], { id: 'native-fx' }));
    if (torchOk) cases.push(nativeCase('PyTorch FleXOR 0.8b (flexor_ref.py)', t, ['bench/torch_train_bench.py', 1, TB, t], { id: 'torch-fx' }, '/usr/bin/python3'));
  }
  const tt = opt.twoThreads ? 2 : 1;
  if (nativeOk) cases.push(nativeCase('ours native FP32', tt, ['resnet-train', 20, 0, TB, tt], { id: 'native-fp' }));
  if (torchOk) cases.push(nativeCase('PyTorch FP32', tt, ['bench/torch_train_bench.py', 0, TB, tt], { id: 'torch-fp' }, '/usr/bin/python3'));
  log(`W4: setting up ${cases.length} cases`);
  await setupAll(cases);
  const torchVer = cases.find((c) => c.id.startsWith('torch') && typeof c.check === 'string')?.check ?? 'torch';
  log(`W4: timing (load ${loadNow()})`);
  const W4_REPS = opt.reps > 0 ? Math.min(opt.reps, 5) : opt.quick ? 2 : 3;
  await measure(cases, { reps: W4_REPS, target: 0.5, warm: 0.5 });
  for (const c of cases) await c.dispose();
  const rows = cases.map((c) => [c.label, c.threads, c.error ? 'error' : fmt(TB / c.sec), c.sec ? `${(c.sec * 1e3).toFixed(0)} ms` : '', c.spread != null ? `${(100 * c.spread).toFixed(0)}%` : '']);
  const ips = (id, t) => { const c = cases.find((x) => x.id === id && x.threads === t); return c?.sec ? TB / c.sec : null; };
  const ratios = {};
  for (const t of opt.twoThreads ? [1, 2] : [1]) {
    const o = ips('native-fx', t), p = ips('torch-fx', t);
    if (o && p) ratios[`ours native FleXOR / PyTorch FleXOR, ${t} thread${t > 1 ? 's' : ''}`] = o / p;
  }
  { const o = ips('native-fp', tt), p = ips('torch-fp', tt); if (o && p) ratios[`ours native FP32 / PyTorch FP32, ${tt} threads`] = o / p; }
  result.workloads.W4 = { batch: TB, torch: torchVer, cases: cases.map((c) => ({ engine: c.label, id: c.id, threads: c.threads, imagesPerSec: c.sec ? TB / c.sec : null,
    msPerStep: c.sec ? c.sec * 1e3 : null, spread: c.spread ?? null, samplesMs: c.samples?.map((x) => +(x * 1e3).toFixed(1)) ?? [], error: c.error ?? null })), ratios };
  print(`\nW4  native trainer: ResNet-20 training step (forward + backward + SGD), batch ${TB}, images/s, median of ${W4_REPS} interleaved reps, ${torchVer} (load at end ${loadNow()})`);
  print(table(['engine', 'thr', 'images/s', 'per step', 'spread'], rows));
  for (const [k, v] of Object.entries(ratios)) print(`  ${pad(k, 52)} ${v.toFixed(2)}x`);
  log(`W4 done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

print(`\nValidation (before timing; rel = max|diff| / max|ref|, ok when <= ${TOL}):`);
if (!result.validation.length) print('  (none: W3 times kernels on random data; bench/gemm_bench.c checks its GEMMs itself)');
for (const v of result.validation) {
  const what = v.workload === 'W2' ? `logits b${v.batch}` : 'first-step loss' + (v.grads ? ' + all gradients' : '');
  print(`  ${v.ok ? 'ok  ' : 'FAIL'} ${v.workload} ${pad(`${v.engine} ${v.threads}t`, 32)} ${pad(v.model, 12)} ${pad(what, 32)} rel ${v.rel.toExponential(1)}`);
}
result.meta.loadavgEnd = os.loadavg().map((x) => +x.toFixed(2));
result.meta.seconds = +((performance.now() - t00) / 1000).toFixed(1);
print(`\n${result.meta.cpu}, ${result.meta.logicalCpus} CPUs, Node ${result.meta.node}; load avg start ${result.meta.loadavgStart.join(' ')}, end ${result.meta.loadavgEnd.join(' ')}; ${result.meta.seconds} s`);
if (result.meta.otherLoad.length) print(`other busy processes at start: ${result.meta.otherLoad.join(', ')}`);
result.text = out.join('\n');
writeFileSync(outPath('results.json'), JSON.stringify(result, null, 1));
if (opt.json) writeFileSync(opt.json, JSON.stringify(result, null, 1));
for (const c of Object.values(children)) await c.close();
process.exit(result.validation.every((v) => v.ok) ? 0 : 1);
