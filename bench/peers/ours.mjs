// ours.mjs - our runtime (wasm/flexor.wasm through wasm/flexor.js) in the benchmark: the model builders (the
// same graphs as fx_model_resnet_cifar / fx_model_lenet5 in src/zoo.c, node for node, so parameter order and
// shapes match the native zoo), the export of specs/parameters for the other engines, and the timed tasks.
import { readFileSync } from 'node:fs';
import { FX, BN_EPS, outPath, writeF32, readF32, readI32, rng, CONV_LAYERS, convOut } from './common.mjs';

let apiPromise = null;
export function flexorApi() {
  apiPromise ??= import('../../wasm/flexor.js').then((m) => m.init());
  return apiPromise;
}

/** He et al. CIFAR ResNet-(6n+2), option-A shortcuts (src/zoo.c, through Model.resnetCifar when the API has
 * it, else the same graph from the builder API); fx = null: full precision. Parameters are set by the caller. */
export function buildResnet(api, { depth = 20, fx = null, maxBatch, training = false }) {
  if (typeof api.Model.resnetCifar === 'function')
    return api.Model.resnetCifar({ depth, fp: !fx, ...(fx ?? {}), maxBatch, training });
  return buildResnetGraph(api, { depth, fx, maxBatch, training });
}

export function buildResnetGraph(api, { depth = 20, fx = null, maxBatch, training = false }) {
  const m = api.Model.create({ input: [3, 32, 32] });
  let id = m.conv(0, { cOut: 16, k: 3, stride: 1, pad: 1 });
  id = m.relu(m.bn(id));
  const nb = (depth - 2) / 6;
  let c = 16;
  for (let st = 0; st < 3; st++) {
    const planes = 16 << st;
    for (let b = 0; b < nb; b++) {
      const stride = st > 0 && b === 0 ? 2 : 1;
      let a = m.conv(id, { cOut: planes, k: 3, stride, pad: 1, flexor: fx });
      a = m.relu(m.bn(a));
      a = m.bn(m.conv(a, { cOut: planes, k: 3, stride: 1, pad: 1, flexor: fx }));
      const s = stride !== 1 || c !== planes ? m.shortcut(id, { cOut: planes, stride }) : id;
      id = m.relu(m.add(a, s));
      c = planes;
    }
  }
  m.dense(m.gap(id), { out: 10, bias: true });
  return m.build({ maxBatch, training });
}

/** The paper's LeNet-5: 32C5-MP2-64C5-MP2-512FC-10, 'same' padding, ReLU, biases (src/zoo.c; Model.lenet5
 * when the API has it, else the builder API). Parameters are set by the caller. */
export function buildLenet(api, { fx = null, maxBatch, training = true }) {
  if (typeof api.Model.lenet5 === 'function') {
    const m = api.Model.lenet5({ fp: !fx, ...(fx ?? {}), maxBatch, training });
    if (fx) m.setFlexor({ mode: 'flexor', sTanh: 10 });
    return m;
  }
  return buildLenetGraph(api, { fx, maxBatch, training });
}

export function buildLenetGraph(api, { fx = null, maxBatch, training = true }) {
  const m = api.Model.create({ input: [1, 28, 28] });
  let id = m.conv(0, { cOut: 32, k: 5, stride: 1, pad: 2, bias: true, flexor: fx });
  id = m.maxpool(m.relu(id), { k: 2, s: 2 });
  id = m.conv(id, { cOut: 64, k: 5, stride: 1, pad: 2, bias: true, flexor: fx });
  id = m.maxpool(m.relu(id), { k: 2, s: 2 });
  id = m.relu(m.dense(id, { out: 512, bias: true, flexor: fx }));
  m.dense(id, { out: 10, bias: true, flexor: fx });
  m.build({ maxBatch, training });
  if (fx) m.setFlexor({ mode: 'flexor', sTanh: 10 });
  return m;
}

/** Random but well-conditioned BN affine parameters and running statistics (so BN folding is exercised). */
export function randomizeBn(m, seed) {
  const r = rng(seed);
  for (const p of m.params()) {
    if (!['gamma', 'beta', 'rmean', 'rvar'].includes(p.kind)) continue;
    const v = new Float32Array(p.length);
    for (let i = 0; i < v.length; i++) {
      if (p.kind === 'gamma') v[i] = 0.5 + r.u();
      else if (p.kind === 'beta') v[i] = 0.1 * r.normal();
      else if (p.kind === 'rmean') v[i] = 0.1 * r.normal();
      else v[i] = 0.5 + r.u();
    }
    m.setParam(p.name, v);
  }
}

/** Every parameter in order, concatenated (the native bench and the wasm runner load this). */
export function dumpParams(m, path) {
  const ps = m.params();
  const total = ps.reduce((s, p) => s + p.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const p of ps) { all.set(m.getParam(p.name), o); o += p.length; }
  writeF32(path, all);
}
export function loadParams(m, path) {
  const all = readF32(path);
  let o = 0;
  for (const p of m.params()) { m.setParam(p.name, all.subarray(o, o + p.length)); o += p.length; }
  if (o !== all.length) throw new Error(`${path}: ${all.length} floats for ${o} parameters`);
}

/** The spec of a built model (after one forward, so FleXOR weights are decoded): see common.mjs. */
export function exportSpec(m, name, extraByNode = () => null) {
  const chunks = [];
  let off = 0;
  const put = (arr) => { chunks.push(Float32Array.from(arr)); const r = [off, arr.length]; off += arr.length; return r; };
  const byNode = new Map();
  for (const p of m.params()) { if (!byNode.has(p.node)) byNode.set(p.node, {}); byNode.get(p.node)[p.kind] = p.name; }
  const nodes = m.nodes().map((n) => {
    const params = {};
    const pn = byNode.get(n.id) || {};
    if (n.kind === 'conv' || n.kind === 'dense') {
      params.w = put(m.weights(n.id));
      if (pn.b) params.b = put(m.getParam(pn.b));
    } else if (n.kind === 'bn') {
      for (const k of ['gamma', 'beta', 'rmean', 'rvar']) params[k] = put(m.getParam(pn[k]));
    }
    const extra = extraByNode(n);
    if (extra) for (const [k, v] of Object.entries(extra)) params[k] = put(v);
    return { id: n.id, kind: n.kind, inputs: n.inputs, shape: n.shape, cOut: n.cOut, k: n.k, stride: n.stride, pad: n.pad,
      bias: n.bias, flexor: n.flexor ? { ...n.flexor, seed: Number(n.flexor.seed) } : null, params };
  });
  const all = new Float32Array(off);
  let o = 0;
  for (const c of chunks) { all.set(c, o); o += c.length; }
  writeF32(outPath(`${name}.f32`), all);
  const spec = { name, input: m.inputShape, classes: m.classes, bnEps: BN_EPS, nodes };
  return { spec, json: JSON.stringify(spec) };
}

// ---- timed tasks (run inside a runner process) --------------------------------------------------------------

/** W2: eval-mode forward of `batch` images; returns { run(), check }. */
export async function resnetTask({ fx, batch, paramsFile, inputFile }) {
  const api = await flexorApi();
  const m = buildResnet(api, { fx: fx ? FX : null, maxBatch: batch, training: false });
  loadParams(m, outPath(paramsFile));
  const x = readF32(outPath(inputFile)).slice(0, batch * 3 * 32 * 32);
  const logits = m.forward(x, batch);
  return { run: () => { m.forward(x, batch); }, check: { logits: Array.from(logits) }, dispose: () => m.dispose() };
}

/** W2 on several workers: the same model saved and loaded into a ModelPool (wasm/pool.js), batch split. */
export async function resnetPoolTask({ fx, batch, paramsFile, inputFile, workers }) {
  const api = await flexorApi();
  const m = buildResnet(api, { fx: fx ? FX : null, maxBatch: batch, training: false });
  loadParams(m, outPath(paramsFile));
  const bytes = m.save({ kind: 'inference' });
  m.dispose();
  const { ModelPool } = await import('../../wasm/pool.js');
  const pool = await ModelPool.create(bytes, { workers, maxBatch: batch });
  const x = readF32(outPath(inputFile)).slice(0, batch * 3 * 32 * 32);
  const logits = await pool.forward(x.slice(), batch);
  return { run: async () => { await pool.forward(x.slice(), batch); }, check: { logits: Array.from(logits) }, dispose: () => pool.terminate() };
}

/** W1: one training step (forward train, backward, Adam) of LeNet-5 on a fixed batch. */
export async function lenetTask({ fx, batch, paramsFile, inputFile, labelsFile }) {
  const api = await flexorApi();
  const m = buildLenet(api, { fx: fx ? FX : null, maxBatch: batch, training: true });
  loadParams(m, outPath(paramsFile));
  const x = readF32(outPath(inputFile)).slice(0, batch * 28 * 28);
  const labels = readI32(outPath(labelsFile)).slice(0, batch);
  const step = () => { m.forward(x, batch, { train: true }); const l = m.backward(labels); m.step({ optimizer: 'adam', lr: 1e-3 }); return l; };
  const loss = step();
  return { run: () => { step(); }, check: { loss }, dispose: () => m.dispose() };
}

// W3: the conv kernel itself (fx_conv2d_forward) on a raw instance of flexor.wasm, no wrapper copies.
let raw = null;
async function rawInstance() {
  if (raw) return raw;
  const bytes = readFileSync(new URL('../../wasm/flexor.wasm', import.meta.url));
  const mod = await WebAssembly.compile(bytes);
  const imports = {};
  for (const imp of WebAssembly.Module.imports(mod)) {
    (imports[imp.module] ??= {})[imp.name] = imp.module === 'env' ? () => {} : () => 52; // ENOSYS for WASI stubs
  }
  const inst = await WebAssembly.instantiate(mod, imports);
  const ex = inst.exports;
  if (ex._initialize) ex._initialize();
  const ctx = ex.fxw_ctx_new();
  raw = { ex, ctx };
  return raw;
}

/** Shape, buffers and random input of one conv layer on the raw instance (W3). */
async function convSetup(layer, batch) {
  const { ex, ctx } = await rawInstance();
  const [, cin, h, w, cout, k, s, p] = layer;
  const blocks = [];
  const alloc = (bytes) => { const q = ex.fxw_malloc(bytes + 64) >>> 0; if (!q) throw new Error('wasm malloc failed'); const b = { base: q, p: (q + 63) & ~63 }; blocks.push(b); return b; };
  const shp = alloc(64);
  const st = ex.fx_conv_shape_init(ctx, shp.p, batch, cin, h, w, cout, k, s, p);
  if (st) throw new Error(`fx_conv_shape_init: status ${st}`);
  const nx = batch * cin * h * w, ny = batch * cout * convOut(h, k, s, p) * convOut(w, k, s, p);
  const wsF = ex.fx_conv2d_ws_floats(shp.p) >>> 0;
  const bx = alloc(4 * nx), by = alloc(4 * ny), bws = alloc(4 * Math.max(wsF, 1));
  const r = rng(7);
  { const v = new Float32Array(ex.memory.buffer); for (let i = 0; i < nx; i++) v[(bx.p >>> 2) + i] = r.normal(); }
  return { ex, ctx, cin, cout, k, r, alloc, shp, bx, by, bws, dispose: () => { for (const b of blocks) ex.fxw_free(b.base); } };
}

export async function convTask({ layer, batch }) {
  const c = await convSetup(layer, batch);
  const { ex, ctx, shp, bx, by, bws } = c;
  const nw = c.cout * c.cin * c.k * c.k, bw = c.alloc(4 * nw);
  { const v = new Float32Array(ex.memory.buffer); for (let i = 0; i < nw; i++) v[(bw.p >>> 2) + i] = 0.1 * c.r.normal(); }
  const run = () => { const e = ex.fx_conv2d_forward(ctx, shp.p, by.p, bx.p, bw.p, 0, bws.p); if (e) throw new Error(`fx_conv2d_forward: status ${e}`); };
  run();
  return { run, check: {}, dispose: c.dispose };
}

// W3, the binary kernel: fx_conv2d_forward_bcq (direct LUT conv for c_in >= 4, im2col LUT below) from random
// packed +-1 bits (q = 1) on the same shapes; GFLOP/s is the nominal FP32-equivalent rate.
export async function convLutTask({ layer, batch }) {
  const c = await convSetup(layer, batch);
  const { ex, ctx, shp, bx, by, bws } = c;
  const nbits = c.cout * Math.ceil((c.cin * c.k * c.k) / 4), bb = c.alloc(nbits), ba = c.alloc(4 * c.cout);
  { const v = new Float32Array(ex.memory.buffer); for (let i = 0; i < c.cout; i++) v[(ba.p >>> 2) + i] = 0.1; }
  { const u = new Uint8Array(ex.memory.buffer); for (let i = 0; i < nbits; i++) u[bb.p + i] = Math.floor(c.r.u() * 16) & 15; }
  const run = () => { const e = ex.fx_conv2d_forward_bcq(ctx, shp.p, by.p, bx.p, 1, bb.p, ba.p, 0, 0, 0, bws.p); if (e) throw new Error(`fx_conv2d_forward_bcq: status ${e}`); };
  run();
  return { run, check: {}, dispose: c.dispose };
}
