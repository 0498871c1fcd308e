// tfjs.mjs - the TensorFlow.js peer (@tensorflow/tfjs-core + @tensorflow/tfjs-backend-wasm 4.22) in its best form:
//  - inference: the spec graph in NHWC with BN folded into the conv weights and fused conv+bias+ReLU
//    (tf.fused.conv2d), the option-A shortcut as a 1x1 stride-2 average pool + channel pad (StridedSlice is
//    ~100x slower in this backend), fused dense + bias;
//  - training (LeNet-5): the wasm backend does not register Conv2DBackpropFilter, so the conv layers are
//    tf.customGrad ops whose filter gradient is computed outside the missing kernel (see FILTER_GRAD below);
//    the input gradient uses the registered Conv2DBackpropInput (tf.conv2dTranspose), the rest is autodiff;
//  - gradients: Node resolves tfjs-core to its CommonJS bundle, which has no gradient registrations (the
//    @tensorflow/tfjs union package normally adds them); the ESM dist/register_all_gradients.js is loaded
//    through module hooks (tfjs-esm-hooks.mjs), so autodiff works as it does for a browser user;
//  - threads: 1 = the SIMD non-threaded binary that Node gets by default; 2 = the threaded SIMD binary, which
//    Node cannot load stock (ERR_WORKER_PATH: the pthread worker is a blob: URL). initTfjs(2) works around it:
//    the worker script and the module factory are written to bench/out/ as CommonJS files and handed to
//    worker_threads by path, and os.cpus() is widened because the backend caps its pool at cores/2.
import os from 'node:os';
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { outPath, loadSpec, param, oihwToHwio, hwioToOihw, denseToTf, denseFromTf, nchwToNhwc, readF32, readI32,
  rng } from './common.mjs';

let tf = null;
let threadsUsed = 0;

export async function initTfjs(threads = 1) {
  if (tf) return { tf, threads: threadsUsed };
  if (threads > 1) patchThreadedLoader(threads);
  tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // The CommonJS build of tfjs-core that Node loads has no gradients; load the ESM ones (see tfjs-esm-hooks.mjs).
  register('./tfjs-esm-hooks.mjs', import.meta.url);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  if (threads > 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialise');
  await tf.ready();
  threadsUsed = wasm.getThreadsCount();
  return { tf, threads: threadsUsed };
}

function patchThreadedLoader(threads) {
  const mainPath = outPath('tfjs-threaded-main.cjs'), workerPath = outPath('tfjs-threaded-worker.cjs');
  // The module factory refers to the bundle's CommonJS helpers by their rollup names.
  const prelude = 'var require$$0=require("fs"),require$$1=require("path"),require$$2=require("worker_threads"),' +
    'require$$3=require("perf_hooks"),require$$4=require("os"),commonjsGlobal=globalThis;\n';
  const RealBlob = globalThis.Blob;
  const parts = new WeakMap();
  globalThis.Blob = class extends RealBlob {
    constructor(p, o) {
      super(p, o);
      parts.set(this, p);
      if (p && typeof p[0] === 'string' && p[0].startsWith('var WasmBackendModuleThreadedSimd')) writeFileSync(mainPath, prelude + p.join(''));
    }
  };
  const realCreate = URL.createObjectURL;
  URL.createObjectURL = (b) => {
    const p = parts.get(b);
    if (p && typeof p[0] === 'string' && p[0].includes('ENVIRONMENT_IS_PTHREAD')) {
      const src = p.join('').replace('if(typeof e.data.urlOrBlob=="string")', 'if(true)')
        .replace('importScripts(e.data.urlOrBlob)', `importScripts(${JSON.stringify(mainPath)})`);
      writeFileSync(workerPath, src);
      return workerPath;
    }
    return realCreate(b);
  };
  // tfjs-backend-wasm: capped = min(requested, emscripten_num_logical_cores() / 2) ("2 threads per core").
  const realCpus = os.cpus;
  os.cpus = () => { const c = realCpus.call(os); while (c.length < 2 * threads) c.push(c[0]); return c; };
}

function padArg(k, stride, pad) {
  if (stride === 1 && 2 * pad === k - 1) return 'same';
  if (pad === 0) return 'valid';
  return [[0, 0], [pad, pad], [pad, pad], [0, 0]];
}

// ---- inference --------------------------------------------------------------------------------------------

/** Compiles a spec into (x NHWC tensor) -> logits tensor, with its weights as tensors (kept). */
export function compileInference(spec) {
  const nodes = spec.nodes;
  const consumers = new Map(nodes.map((n) => [n.id, []]));
  for (const n of nodes) for (const i of n.inputs) consumers.get(i).push(n);
  const only = (n, kind) => { const c = consumers.get(n.id); return c.length === 1 && c[0].kind === kind ? c[0] : null; };
  const keep = [];
  const T = (arr, shape) => { const t = tf.tensor(arr, shape, 'float32'); keep.push(t); return t; };
  const ops = []; // (env) => void, env: Map id -> tensor
  const alias = new Map(); // node id -> node id whose tensor it is (fused away)
  for (const n of nodes) {
    const src = n.inputs.map((i) => alias.get(i) ?? i);
    if (n.kind === 'input') continue;
    if (alias.has(n.id)) continue;
    if (n.kind === 'conv') {
      const [cin] = nodes[n.inputs[0]].shape;
      const o = n.cOut, k = n.k;
      let w = Float32Array.from(param(spec, n, 'w'));
      let b = n.bias ? Float32Array.from(param(spec, n, 'b')) : new Float32Array(o);
      let out = n.id;
      const bn = only(n, 'bn');
      if (bn) { // fold BN into the conv: w' = w*s, b' = (b - mean)*s + beta, s = gamma/sqrt(var+eps)
        const g = param(spec, bn, 'gamma'), be = param(spec, bn, 'beta'), mu = param(spec, bn, 'rmean'), va = param(spec, bn, 'rvar');
        for (let c = 0; c < o; c++) {
          const s = g[c] / Math.sqrt(va[c] + spec.bnEps);
          for (let i = 0; i < cin * k * k; i++) w[c * cin * k * k + i] *= s;
          b[c] = (b[c] - mu[c]) * s + be[c];
        }
        alias.set(bn.id, n.id);
        out = bn.id;
      }
      const relu = only(nodes[out], 'relu');
      if (relu) alias.set(relu.id, n.id);
      const filter = T(oihwToHwio(w, o, cin, k), [k, k, cin, o]), bias = T(b, [o]);
      const pad = padArg(k, n.stride, n.pad), strides = n.stride, activation = relu ? 'relu' : 'linear';
      ops.push((env) => env.set(n.id, tf.fused.conv2d({ x: env.get(src[0]), filter, strides, pad, bias, activation })));
    } else if (n.kind === 'bn') {
      const o = n.shape[0], g = param(spec, n, 'gamma'), be = param(spec, n, 'beta'), mu = param(spec, n, 'rmean'), va = param(spec, n, 'rvar');
      const s = new Float32Array(o), t = new Float32Array(o);
      for (let c = 0; c < o; c++) { s[c] = g[c] / Math.sqrt(va[c] + spec.bnEps); t[c] = be[c] - mu[c] * s[c]; }
      const st = T(s, [o]), tt = T(t, [o]);
      ops.push((env) => env.set(n.id, tf.add(tf.mul(env.get(src[0]), st), tt)));
    } else if (n.kind === 'relu') {
      ops.push((env) => env.set(n.id, tf.relu(env.get(src[0]))));
    } else if (n.kind === 'maxpool') {
      ops.push((env) => env.set(n.id, tf.maxPool(env.get(src[0]), n.k, n.stride, 'valid')));
    } else if (n.kind === 'gap') {
      ops.push((env) => env.set(n.id, tf.mean(env.get(src[0]), [1, 2])));
    } else if (n.kind === 'shortcut') {
      const cin = nodes[n.inputs[0]].shape[0], lo = (n.cOut - cin) >> 1, hi = n.cOut - cin - lo;
      ops.push((env) => {
        let x = env.get(src[0]);
        if (n.stride > 1) x = tf.avgPool(x, 1, n.stride, 'valid');
        env.set(n.id, lo || hi ? tf.pad(x, [[0, 0], [0, 0], [0, 0], [lo, hi]]) : x);
      });
    } else if (n.kind === 'add') {
      ops.push((env) => env.set(n.id, tf.add(env.get(src[0]), env.get(src[1]))));
    } else if (n.kind === 'dense') {
      const [c, h, w] = nodes[n.inputs[0]].shape, inn = c * h * w, o = n.shape[0];
      const wt = T(denseToTf(param(spec, n, 'w'), o, c, h, w), [inn, o]);
      const bias = n.bias ? T(Float32Array.from(param(spec, n, 'b')), [o]) : undefined;
      const relu = only(n, 'relu');
      if (relu) alias.set(relu.id, n.id);
      ops.push((env) => env.set(n.id, tf.fused.matMul({ a: tf.reshape(env.get(src[0]), [-1, inn]), b: wt, bias, activation: relu ? 'relu' : 'linear' })));
    } else {
      throw new Error(`tfjs: unsupported node kind ${n.kind}`);
    }
  }
  const last = nodes[nodes.length - 1].id;
  const outId = [...alias.entries()].find(([a]) => a === last)?.[1] ?? last;
  const predict = (x) => tf.tidy(() => {
    const env = new Map([[0, x]]);
    for (const op of ops) op(env);
    return env.get(outId);
  });
  return { predict, dispose: () => keep.forEach((t) => t.dispose()) };
}

/** W2: ResNet-20 inference on `batch` images. */
export async function resnetTask({ spec: specName, checkSpec, batch, inputFile }) {
  const x0 = readF32(outPath(inputFile)).slice(0, batch * 3 * 32 * 32);
  const x = tf.tensor(nchwToNhwc(x0, batch, 3, 32, 32), [batch, 32, 32, 3]);
  const m = compileInference(loadSpec(specName));
  const check = { logits: Array.from(tidyData(() => m.predict(x))) };
  if (checkSpec) { const m2 = compileInference(loadSpec(checkSpec)); check.logits2 = Array.from(tidyData(() => m2.predict(x))); m2.dispose(); }
  return { run: () => { const y = m.predict(x); y.dataSync(); y.dispose(); }, check, dispose: () => { m.dispose(); x.dispose(); } };
}

function tidyData(f) { const y = f(); const d = y.dataSync(); y.dispose(); return d; }

// ---- training: conv with an external filter gradient ------------------------------------------------------

/**
 * dW (HWIO [k, k, cin, cout]) of a stride-1 'same' conv from x (NHWC) and dy (NHWC), using registered ops only.
 * All three match our runtime's gradients to ~1e-6 relative (bench/run.mjs validates the one it times).
 *  'corr':   dW as a convolution of x (channels as batch) with dy as the filter (XNNPACK conv) - the default:
 *            the fastest here (LeNet conv2, batch 64: ~100 ms; whole step ~0.65 s on the loaded 2-core box);
 *  'im2col': pad x, build the patch matrix from k*k slices + concat, dW = patches^T dy (one MatMul); ~12x
 *            slower for conv2 (the 25 slices and the 40 MB concat dominate), step ~1.9 s;
 *  'conv3d': the registered Conv3DBackpropFilterV2 kernel on a depth-1 view (a plain loop nest), step ~5 s.
 */
export const FILTER_GRAD = {
  im2col(x, dy, k) {
    const [n, h, w, cin] = x.shape, cout = dy.shape[3], p = (k - 1) >> 1;
    const xp = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);
    const cols = [];
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) cols.push(tf.slice(xp, [0, i, j, 0], [n, h, w, cin]));
    const patches = tf.reshape(tf.concat(cols, 3), [n * h * w, k * k * cin]);
    return tf.reshape(tf.matMul(patches, tf.reshape(dy, [n * h * w, cout]), true, false), [k, k, cin, cout]);
  },
  corr(x, dy, k) {
    const [n, h, w, cin] = x.shape, cout = dy.shape[3], p = (k - 1) >> 1;
    const xt = tf.transpose(x, [3, 1, 2, 0]); // [cin, h, w, n]: channels become the batch
    const f = tf.transpose(dy, [1, 2, 0, 3]); // [h, w, n, cout]: dy becomes the filter
    const r = tf.conv2d(xt, f, 1, [[0, 0], [p, p], [p, p], [0, 0]]); // [cin, k, k, cout]
    return tf.transpose(r, [1, 2, 0, 3]);
  },
  conv3d(x, dy, k) {
    const [n, h, w, cin] = x.shape, cout = dy.shape[3];
    const r = tf.engine().runKernel('Conv3DBackpropFilterV2', { x: tf.reshape(x, [n, 1, h, w, cin]), dy: tf.reshape(dy, [n, 1, h, w, cout]) },
      { strides: [1, 1, 1], pad: 'same', filterShape: [1, k, k, cin, cout] });
    return tf.reshape(r, [k, k, cin, cout]);
  },
};

/**
 * conv (stride 1, 'same') + bias + ReLU with a custom gradient. The input gradient is a plain conv of the
 * gradient with the flipped, in/out-swapped filter (XNNPACK; ~10x faster here than the registered
 * Conv2DBackpropInput behind tf.conv2dTranspose), and is skipped (zeros) for the first layer, whose input is
 * data. The filter gradient comes from FILTER_GRAD[method].
 */
function convReluTrainable(k, method, needDx) {
  const fg = FILTER_GRAD[method];
  return tf.customGrad((x, filter, bias, save) => {
    const y = tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias, activation: 'relu' });
    save([x, filter, y]);
    return {
      value: y,
      gradFunc: (dy, [xs, ws, ys]) => {
        const g = tf.mul(dy, tf.step(ys));
        const dx = needDx ? tf.conv2d(g, tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]), 1, 'same') : tf.zerosLike(xs);
        return [dx, fg(xs, g, k), tf.sum(g, [0, 1, 2])];
      },
    };
  });
}

/** W1: LeNet-5 training step (forward, backward, Adam) from the spec's weights. */
export async function lenetTask({ spec: specName, batch, inputFile, labelsFile, method = 'corr' }) {
  const spec = loadSpec(specName);
  const convs = spec.nodes.filter((n) => n.kind === 'conv'), denses = spec.nodes.filter((n) => n.kind === 'dense');
  const vars = [];
  const V = (arr, shape) => { const v = tf.variable(tf.tensor(arr, shape, 'float32')); vars.push(v); return v; };
  const layers = [];
  for (const n of convs) {
    const cin = spec.nodes[n.inputs[0]].shape[0];
    layers.push({ n, cin, w: V(oihwToHwio(param(spec, n, 'w'), n.cOut, cin, n.k), [n.k, n.k, cin, n.cOut]),
      b: V(Float32Array.from(param(spec, n, 'b')), [n.cOut]), f: convReluTrainable(n.k, method, layers.length > 0) });
  }
  const dl = denses.map((n) => {
    const [c, h, w] = spec.nodes[n.inputs[0]].shape;
    return { n, chw: [c, h, w], w: V(denseToTf(param(spec, n, 'w'), n.shape[0], c, h, w), [c * h * w, n.shape[0]]),
      b: V(Float32Array.from(param(spec, n, 'b')), [n.shape[0]]) };
  });
  const x = tf.tensor(nchwToNhwc(readF32(outPath(inputFile)).slice(0, batch * 784), batch, 1, 28, 28), [batch, 28, 28, 1]);
  const labels = readI32(outPath(labelsFile)).slice(0, batch);
  const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
  const lossFn = () => {
    let h = x;
    for (const l of layers) h = tf.maxPool(l.f(h, l.w, l.b), 2, 2, 'valid');
    h = tf.reshape(h, [batch, -1]);
    h = tf.fused.matMul({ a: h, b: dl[0].w, bias: dl[0].b, activation: 'relu' });
    const z = tf.add(tf.matMul(h, dl[1].w), dl[1].b);
    return tf.losses.softmaxCrossEntropy(onehot, z);
  };
  const opt = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
  // check: loss and gradients of the first step, in our layouts, against the reference from our runtime
  const check = {};
  if (convs[0].params.gw) { // reference gradients of the first step from our runtime, stored in the spec
    const ref = spec.floats;
    const { value, grads } = tf.variableGrads(lossFn, vars);
    check.loss = value.dataSync()[0];
    const diffs = {};
    let gi = 0;
    const cmp = (name, ours, off) => {
      const r = ref.subarray(off, off + ours.length);
      let d = 0, m = 0;
      for (let i = 0; i < ours.length; i++) { d = Math.max(d, Math.abs(ours[i] - r[i])); m = Math.max(m, Math.abs(r[i])); }
      diffs[name] = { maxAbsDiff: d, maxAbsRef: m };
    };
    for (const l of layers) {
      const gw = grads[vars[gi++].name].dataSync(), gb = grads[vars[gi++].name].dataSync();
      cmp(`${l.n.id}.w`, hwioToOihw(gw, l.n.cOut, l.cin, l.n.k), l.n.params.gw[0]);
      cmp(`${l.n.id}.b`, gb, l.n.params.gb[0]);
    }
    for (const l of dl) {
      const gw = grads[vars[gi++].name].dataSync(), gb = grads[vars[gi++].name].dataSync();
      cmp(`${l.n.id}.w`, denseFromTf(gw, l.n.shape[0], ...l.chw), l.n.params.gw[0]);
      cmp(`${l.n.id}.b`, gb, l.n.params.gb[0]);
    }
    check.grads = diffs;
    value.dispose();
    Object.values(grads).forEach((g) => g.dispose());
  }
  const step = () => tf.tidy(() => { opt.minimize(lossFn, false, vars); });
  step();
  return { run: step, check, dispose: () => { vars.forEach((v) => v.dispose()); x.dispose(); onehot.dispose(); opt.dispose(); } };
}

/** W3: one conv layer (tf.conv2d) on a batch. */
export async function convTask({ layer, batch }) {
  const [, cin, h, w, cout, k, s, p] = layer;
  const r = rng(7);
  const xa = new Float32Array(batch * h * w * cin).map(() => r.normal());
  const wa = new Float32Array(k * k * cin * cout).map(() => 0.1 * r.normal());
  const x = tf.tensor(xa, [batch, h, w, cin]), f = tf.tensor(wa, [k, k, cin, cout]);
  const pad = padArg(k, s, p);
  // the wasm backend runs ops synchronously: no read-back needed (and none is timed for our kernel either)
  const run = () => { tf.conv2d(x, f, s, pad).dispose(); };
  run();
  return { run, check: {}, dispose: () => { x.dispose(); f.dispose(); } };
}
