// api.test.mjs - tests of the JavaScript API (wasm/flexor.js) on the real wasm/flexor.wasm: loading and
// init, XOR networks against the golden masks, FleXOR conv layers and the 3-step tiny network against the
// PyTorch goldens (tests/golden, docs/CORE.md), errors surfacing as FlexorError, and memory that neither
// leaks nor grows over create/dispose cycles. Run: node --test tests/api.test.mjs (after ./build.sh wasm).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, version, memoryStats, xorNetwork, Model, FlexorError, Status } from '../wasm/flexor.js';
import { readFxg, tensor, scalar, seed64 } from './fxg.mjs';

const golden = (name) => readFxg(new URL(`./golden/${name}`, import.meta.url));
const wasmUrl = new URL('../wasm/flexor.wasm', import.meta.url);
let freshCount = 0;
/** A separate copy of flexor.js (its own module state), for tests of init itself. */
const freshCopy = () => import(new URL(`../wasm/flexor.js?copy=${++freshCount}`, import.meta.url).href);

/** |a - b| <= atol + rtol*|b| element-wise, reporting the worst element. */
function assertClose(actual, expected, { atol, rtol }, what) {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let worst = -1, worstExcess = 0, maxdiff = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    maxdiff = Math.max(maxdiff, d);
    const excess = d - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess)) { worst = i; worstExcess = excess; }
  }
  assert.ok(worst < 0, `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
    `(atol ${atol}, rtol ${rtol}, maxdiff ${maxdiff})`);
}

/** Asserts fn throws a FlexorError with the given code and a message matching re. */
function assertFlexorError(fn, code, re) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof FlexorError, `expected a FlexorError, got ${e && e.stack}`);
    assert.ok(e instanceof Error);
    assert.equal(e.code, code, `code of "${e.message}"`);
    assert.equal(e.status, Status[code.slice(3)]);
    assert.match(e.message, re);
    return true;
  });
}

const popParity = (v) => {
  v >>>= 0;
  let p = 0;
  while (v) { p ^= 1; v &= v - 1; }
  return p;
};

// A deterministic xorshift32 for test inputs.
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

// ---------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------

test('init is idempotent: concurrent and repeated calls share one API object', async () => {
  const [a, b] = await Promise.all([init(), init()]);
  assert.equal(a, b);
  assert.equal(await init({ wasmUrl: 'ignored-after-the-first-init.wasm' }), a);
  assert.equal(a.Model, Model);
  assert.equal(a.xorNetwork, xorNetwork);
  assert.match(version(), /^\d+\.\d+\.\d+$/);
  assert.equal(a.version(), version());
});

test('init loads from wasmBytes, wasmModule, a file: URL and a relative path', async () => {
  const bytes = await readFile(wasmUrl);
  const relPath = relative(process.cwd(), fileURLToPath(wasmUrl)); // a relative path is read from the cwd
  for (const opts of [{ wasmBytes: bytes }, { wasmModule: await WebAssembly.compile(bytes) }, { wasmUrl },
    { wasmUrl: wasmUrl.href }, { wasmUrl: relPath }]) {
    const copy = await freshCopy();
    const api = await copy.init(opts);
    assert.equal(api.version(), version(), JSON.stringify(Object.keys(opts)));
    const net = api.xorNetwork({ nOut: 20, nIn: 8, nTap: 2, seed: 1 });
    assert.deepEqual([...net.masks], [...xorNetwork({ nOut: 20, nIn: 8, nTap: 2, seed: 1 }).masks]);
  }
});

test('init failures are clear, and init can be retried after one', async () => {
  const copy = await freshCopy();
  await assert.rejects(copy.init({ wasmUrl: new URL('./no-such.wasm', wasmUrl) }), /cannot read .*no-such\.wasm.*wasmUrl/);
  assert.throws(() => copy.version(), (e) => e.code === 'FX_ESTATE' && /call `await init\(\)` first/.test(e.message));
  assert.throws(() => copy.Model.create({ input: [1, 1, 1] }), /not initialised/);
  const api = await copy.init({ wasmUrl });
  assert.equal(api.version(), version());
});

test('init refuses a runtime without WebAssembly SIMD with a clear error', async () => {
  const copy = await freshCopy();
  const validate = WebAssembly.validate;
  WebAssembly.validate = () => false;
  try {
    await assert.rejects(copy.init(), (e) => e instanceof copy.FlexorError && e.code === 'FX_EUNSUPPORTED' &&
      /SIMD/.test(e.message));
  } finally {
    WebAssembly.validate = validate;
  }
});

// ---------------------------------------------------------------------------------------------------------
// XOR networks
// ---------------------------------------------------------------------------------------------------------

test('xorNetwork masks equal the golden masks (tests/golden/rng_xor.fxg)', async () => {
  await init();
  const g = await golden('rng_xor.fxg');
  const cases = scalar(g, 'cases');
  assert.ok(cases >= 9);
  for (let k = 0; k < cases; k++) {
    const p = `xor${k}.`;
    const cfg = { nOut: scalar(g, p + 'n_out'), nIn: scalar(g, p + 'n_in'), nTap: scalar(g, p + 'n_tap'),
      plane: scalar(g, p + 'plane'), seed: seed64(g, p + 'seed') };
    const net = xorNetwork(cfg);
    assert.ok(net.masks instanceof Uint32Array);
    assert.deepEqual([...net.masks], [...tensor(g, p + 'masks')], `case ${k} ${JSON.stringify({ ...cfg, seed: String(cfg.seed) })}`);
  }
});

test('xorNetwork.decrypt is parity(popcount(enc & mask[r])) per bit r, on random words', async () => {
  await init();
  const next = rng(7);
  for (const cfg of [{ nOut: 20, nIn: 8, nTap: 2, seed: 1 }, { nOut: 32, nIn: 32, nTap: 0, seed: 4 },
    { nOut: 10, nIn: 1, nTap: 1, seed: 3 }, { nOut: 20, nIn: 12, nTap: 2, seed: 2n ** 64n - 1n, plane: 3 }]) {
    const net = xorNetwork(cfg);
    const enc = new Uint32Array(257).map(() => next());
    const dec = net.decrypt(enc);
    assert.equal(dec.length, enc.length);
    for (let j = 0; j < enc.length; j++) {
      let want = 0;
      for (let r = 0; r < cfg.nOut; r++) want |= popParity(enc[j] & net.masks[r]) << r;
      assert.equal(dec[j], want >>> 0, `word ${j} of ${JSON.stringify({ ...cfg, seed: String(cfg.seed) })}`);
    }
    assert.equal(net.decrypt([]).length, 0);
  }
});

// ---------------------------------------------------------------------------------------------------------
// FleXOR conv layers (tests/golden/layers.fxg, fconv{k})
// ---------------------------------------------------------------------------------------------------------

/** Plain NCHW conv (no bias) in float64, for checking Model.weights. */
function conv2d(x, w, n, cIn, h, wd, cOut, k, stride, pad) {
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1, wo = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const y = new Float64Array(n * cOut * ho * wo);
  for (let b = 0; b < n; b++) for (let o = 0; o < cOut; o++) for (let i = 0; i < ho; i++) for (let j = 0; j < wo; j++) {
    let s = 0;
    for (let c = 0; c < cIn; c++) for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) {
      const yy = i * stride - pad + u, xx = j * stride - pad + v;
      if (yy >= 0 && yy < h && xx >= 0 && xx < wd) s += x[((b * cIn + c) * h + yy) * wd + xx] * w[((o * cIn + c) * k + u) * k + v];
    }
    y[((b * cOut + o) * ho + i) * wo + j] = s;
  }
  return y;
}

function fconvCase(g, k) {
  const p = `fconv${k}.`;
  const s = (n) => scalar(g, p + n);
  return {
    N: s('N'), cIn: s('C_in'), H: s('H'), W: s('W'), cOut: s('C_out'), K: s('K'), stride: s('stride'), pad: s('pad'),
    flexor: { q: s('q'), nOut: s('n_out'), nIn: s('n_in'), nTap: s('n_tap'), seed: seed64(g, p + 'seed') },
    mode: ['flexor', 'ste', 'analog'][s('mode')], S: s('S'),
    x: tensor(g, p + 'x'), lat: tensor(g, p + 'lat'), alpha: tensor(g, p + 'alpha'), y: tensor(g, p + 'y'),
    dy: tensor(g, p + 'dy'), dlat: tensor(g, p + 'dlat'), dalpha: tensor(g, p + 'dalpha'),
  };
}

test('a FleXOR conv model reproduces golden fconv{k}.y, and weights() is what the forward used', async () => {
  await init();
  const g = await golden('layers.fxg');
  const cases = scalar(g, 'fconv.cases');
  assert.ok(cases >= 1);
  for (let k = 0; k < cases; k++) {
    const c = fconvCase(g, k);
    const m = Model.create({ input: [c.cIn, c.H, c.W] });
    try {
      const id = m.conv(0, { cOut: c.cOut, k: c.K, stride: c.stride, pad: c.pad, bias: false, flexor: c.flexor });
      m.build({ maxBatch: c.N, training: false });
      m.setParam(`${id}.lat`, c.lat).setParam(`${id}.alpha`, c.alpha);
      const y = m.forward(c.x, c.N, { train: false });
      assertClose(y, c.y, { atol: 1e-5, rtol: 1e-4 }, `fconv${k}.y`);
      assertClose(m.activation(id), c.y, { atol: 1e-5, rtol: 1e-4 }, `fconv${k} activation`);
      const w = m.weights(id);
      assert.equal(w.length, c.cOut * c.cIn * c.K * c.K);
      // Every weight is sum_p alpha[p][co] * (+-1).
      for (let i = 0; i < w.length; i++) {
        const co = Math.floor(i / (w.length / c.cOut));
        const cands = c.flexor.q === 1 ? [c.alpha[co], -c.alpha[co]]
          : [1, -1].flatMap((s0) => [1, -1].map((s1) => s0 * c.alpha[co] + s1 * c.alpha[c.cOut + co]));
        assert.ok(cands.some((v) => Math.abs(v - w[i]) <= 1e-6), `fconv${k} weight ${i} = ${w[i]} is not a binary code`);
      }
      assertClose(conv2d(c.x, w, c.N, c.cIn, c.H, c.W, c.cOut, c.K, c.stride, c.pad), c.y, { atol: 1e-5, rtol: 1e-4 },
        `fconv${k}: conv(x, weights())`);
      const net = xorNetwork({ ...c.flexor, plane: c.flexor.q - 1 });
      assert.deepEqual([...m.masks(id, c.flexor.q - 1)], [...net.masks]);
      assert.deepEqual(m.nodes()[id].flexor, c.flexor);
    } finally {
      m.dispose();
    }
  }
});

// The model's only loss is cross-entropy, so the golden upstream gradient dy is injected through a
// full-precision dense head with 2 classes, row 0 = 0 and row 1 = s*dy[b] (one sample b at a time), and
// label 0: then dL/dy = p1*s*dy[b] with p1 = softmax(z)[1]. The XOR backward is linear in dy, so the
// golden dlat/dalpha = sum over b of (model gradient of sample b) / (p1*s).
test('FleXOR conv gradients through the model match golden fconv{k}.dlat and .dalpha', async () => {
  await init();
  const g = await golden('layers.fxg');
  for (let k = 0; k < scalar(g, 'fconv.cases'); k++) {
    const c = fconvCase(g, k);
    const m = Model.create({ input: [c.cIn, c.H, c.W] });
    try {
      const conv = m.conv(0, { cOut: c.cOut, k: c.K, stride: c.stride, pad: c.pad, flexor: c.flexor });
      const head = m.dense(conv, { out: 2, bias: false });
      m.build({ maxBatch: 1 }).setFlexor({ mode: c.mode, sTanh: c.S });
      m.setParam(`${conv}.lat`, c.lat).setParam(`${conv}.alpha`, c.alpha);
      const per = c.dy.length / c.N, inPer = c.x.length / c.N;
      const dlat = new Float64Array(c.dlat.length), dalpha = new Float64Array(c.dalpha.length);
      for (let b = 0; b < c.N; b++) {
        const dyb = c.dy.subarray(b * per, (b + 1) * per), yb = c.y.subarray(b * per, (b + 1) * per);
        let dot = 0;
        for (let i = 0; i < per; i++) dot += dyb[i] * yb[i];
        const s = 1 / (1 + Math.abs(dot)); // keeps |z1| < 1, so p1 is far from 0 and 1
        const hw = new Float32Array(2 * per);
        for (let i = 0; i < per; i++) hw[per + i] = s * dyb[i];
        m.setParam(`${head}.w`, hw);
        const z = m.forward(c.x.subarray(b * inPer, (b + 1) * inPer), 1, { train: true });
        const p1 = 1 / (1 + Math.exp(z[0] - z[1]));
        m.backward(new Int32Array([0]));
        const gl = m.getGrad(`${conv}.lat`), ga = m.getGrad(`${conv}.alpha`);
        for (let i = 0; i < dlat.length; i++) dlat[i] += gl[i] / (p1 * s);
        for (let i = 0; i < dalpha.length; i++) dalpha[i] += ga[i] / (p1 * s);
      }
      // rtol 1e-4 (observed < 1e-6): float32 gradients rescaled by 1/(p1*s), with p1 from float32 logits.
      assertClose(dlat, c.dlat, { atol: 1e-5, rtol: 1e-4 }, `fconv${k}.dlat (${c.mode})`);
      assertClose(dalpha, c.dalpha, { atol: 1e-5, rtol: 1e-4 }, `fconv${k}.dalpha (${c.mode})`);
    } finally {
      m.dispose();
    }
  }
});

// ---------------------------------------------------------------------------------------------------------
// The tiny network, 3 SGD steps (tests/golden/train_{flexor,ste,analog}.fxg)
// ---------------------------------------------------------------------------------------------------------

const TRAIN_PARAMS = { '1.lat': 'conv.lat', '1.alpha': 'conv.alpha', '2.gamma': 'bn.gamma', '2.beta': 'bn.beta',
  '2.rmean': 'bn.rm', '2.rvar': 'bn.rv', '5.lat': 'fc.lat', '5.alpha': 'fc.alpha', '5.b': 'fc.b' };

function tinyNet() {
  const m = Model.create({ input: [3, 6, 6] });
  const conv = m.conv(0, { cOut: 8, k: 3, stride: 1, pad: 1, bias: false,
    flexor: { q: 1, nOut: 20, nIn: 12, nTap: 2, seed: 11 } });
  const bn = m.bn(conv);
  const gap = m.gap(m.relu(bn));
  const fc = m.dense(gap, { out: 10, bias: true, flexor: { q: 1, nOut: 20, nIn: 8, nTap: 2, seed: 12 } });
  assert.deepEqual([conv, bn, gap, fc], [1, 2, 4, 5]);
  return m;
}

for (const mode of ['flexor', 'ste', 'analog']) {
  test(`tiny FleXOR network, 3 SGD steps, ${mode} backward: loss and every parameter match train_${mode}.fxg`, async () => {
    await init();
    const g = await golden(`train_${mode}.fxg`);
    assert.equal(scalar(g, 'mode'), ['flexor', 'ste', 'analog'].indexOf(mode));
    const m = tinyNet();
    try {
      m.build({ maxBatch: 4, training: true }).setFlexor({ mode, sTanh: 10 });
      assert.deepEqual(m.params().map((p) => p.name).sort(), Object.keys(TRAIN_PARAMS).sort());
      for (const [name, gname] of Object.entries(TRAIN_PARAMS)) m.setParam(name, tensor(g, gname));
      const x = tensor(g, 'x'), labels = tensor(g, 'labels');
      for (let s = 0; s < scalar(g, 'steps'); s++) {
        const logits = m.forward(x, 4, { train: true });
        assert.equal(logits.length, 40);
        const loss = m.backward(labels);
        m.step({ optimizer: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
        assertClose([loss], tensor(g, `step${s}.loss`), { atol: 1e-5, rtol: 1e-3 }, `step ${s} loss`);
        for (const [name, gname] of Object.entries(TRAIN_PARAMS))
          assertClose(m.getParam(name), tensor(g, `step${s}.${gname}`), { atol: 1e-5, rtol: 1e-3 }, `step ${s} ${name} (${gname})`);
      }
    } finally {
      m.dispose();
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

test('errors from C surface as FlexorError with the status code and the C message', async () => {
  await init();
  // XOR network constraints (module-level context).
  assertFlexorError(() => xorNetwork({ nOut: 8, nIn: 12, nTap: 2 }), 'FX_EINVAL', /^xorNetwork: fx_xornet_init: n_in must be in 1\.\.n_out=8 \(got n_in=12\)/);
  assertFlexorError(() => xorNetwork({ nOut: 20, nIn: 8, nTap: 9 }), 'FX_EINVAL', /n_tap must be in 0\.\.n_in=8 \(got n_tap=9/);
  assertFlexorError(() => xorNetwork({ nOut: 20, nIn: 8, seed: -1 }), 'FX_EINVAL', /seed must be in 0\.\.2\^64-1/);
  assert.equal(xorNetwork({ nOut: 20, nIn: 8, nTap: 2 }).masks.length, 20, 'a failure leaves the context usable');

  const m = Model.create({ input: [3, 6, 6] });
  try {
    assertFlexorError(() => m.conv(0, { cOut: 4, k: 3, flexor: { nOut: 8, nIn: 12, nTap: 2 } }), 'FX_EINVAL', /^Model\.conv: .*n_in must be in 1\.\.n_out/);
    assertFlexorError(() => m.conv(0, { cOut: 4, k: 3, flexor: { nOut: 20, nIn: 8, nTap: 12 } }), 'FX_EINVAL', /n_tap must be in 0\.\.n_in/);
    assertFlexorError(() => m.conv(7, { cOut: 4, k: 3 }), 'FX_EINVAL', /input node 7 does not exist/);
    assertFlexorError(() => m.conv(0, { k: 3 }), 'FX_EINVAL', /^Model\.conv: cOut must be an integer \(got undefined\)/);
    assertFlexorError(() => m.forward(new Float32Array(108), 1), 'FX_ESTATE', /not built yet/);
    const conv = m.conv(0, { cOut: 4, k: 3, pad: 1, flexor: { nOut: 20, nIn: 8, nTap: 2, seed: 3 } });
    const out = m.dense(m.gap(m.relu(m.bn(conv))), { out: 5 });
    assert.equal(out, 5);
    m.build({ maxBatch: 4 }).initParams({ seed: 1 });
    assertFlexorError(() => m.relu(out), 'FX_ESTATE', /already built/);
    const x = new Float32Array(2 * 108).map((_, i) => Math.sin(i));
    assertFlexorError(() => m.forward(x.subarray(0, 10), 2), 'FX_ESHAPE', /^Model\.forward: x has 10 values; 2 samples of 3x6x6 need 216$/);
    assertFlexorError(() => m.forward(new Float32Array(5 * 108), 5), 'FX_ESHAPE', /^Model\.forward: fx_model_forward: batch of 5 samples; this model was built for 1\.\.4/);
    assertFlexorError(() => m.backward(new Int32Array([0, 1])), 'FX_ESTATE', /no train-mode forward/);
    m.forward(x, 2); // eval mode: still nothing to differentiate
    assertFlexorError(() => m.backward(new Int32Array([0, 1])), 'FX_ESTATE', /no train-mode forward/);
    const bad = x.slice();
    bad[111] = NaN;
    assertFlexorError(() => m.forward(bad, 2, { train: true }), 'FX_ENUMERIC', /fx_model_forward: input value 111 \(sample 1\) is nan/i);
    m.forward(x, 2, { train: true });
    assertFlexorError(() => m.backward(new Int32Array([0])), 'FX_ESHAPE', /1 labels for a batch of 2 samples/);
    m.forward(x, 2, { train: true });
    assertFlexorError(() => m.backward(new Int32Array([0, 9])), 'FX_EINVAL', /label 9 of sample 1 is outside 0\.\.4/);
    m.forward(x, 2, { train: true });
    assert.ok(Number.isFinite(m.backward(new Int32Array([0, 4]))), 'the model works after errors');
    assertFlexorError(() => m.setParam('1.lat', new Float32Array(3)), 'FX_ESHAPE', /^Model\.setParam: 1\.lat has \d+ values; got 3$/);
    assertFlexorError(() => m.setParam('9.w', new Float32Array(3)), 'FX_EINVAL', /no parameter '9\.w'/);
    assertFlexorError(() => m.setParam('1.alpha', new Float32Array(4).fill(NaN)), 'FX_ENUMERIC', /1\.alpha\[0\] is NaN/);
    assertFlexorError(() => m.setFlexor({ mode: 'fuzzy' }), 'FX_EINVAL', /mode must be/);
    assertFlexorError(() => m.setFlexor({ sTanh: -1 }), 'FX_EINVAL', /S_tanh must be a finite number > 0/);
    assertFlexorError(() => m.step({ lr: -1 }), 'FX_EINVAL', /learning rate must be finite and >= 0/);
    assertFlexorError(() => m.weights(2), 'FX_EINVAL', /node 2 is not a conv or dense layer/);
    assertFlexorError(() => m.masks(out), 'FX_EINVAL', /node 5 is not a FleXOR layer/);
    assertFlexorError(() => m.masks(conv, 1), 'FX_EINVAL', /plane 1 of 1/);
    assertFlexorError(() => m.getGrad('2.rmean'), 'FX_ESTATE', /no gradient/);
  } finally {
    m.dispose();
  }
  for (const use of [() => m.forward(new Float32Array(108), 1), () => m.backward([0]), () => m.step({ lr: 1 }),
    () => m.getParam('1.lat'), () => m.nodes(), () => m.relu(1), () => m.weights(1)])
    assertFlexorError(use, 'FX_ESTATE', /: the model was disposed$/);
  m.dispose(); // a second dispose is harmless
  assert.equal(m.disposed, true);
});

test('inference-only models refuse training calls', async () => {
  await init();
  const m = Model.create({ input: [4, 1, 1] });
  try {
    m.dense(0, { out: 3 });
    m.build({ maxBatch: 2, training: false }).initParams({ seed: 2 });
    assert.equal(m.forward([1, 2, 3, 4], 1).length, 3);
    assertFlexorError(() => m.forward([1, 2, 3, 4], 1, { train: true }), 'FX_ESTATE', /inference only/);
    assertFlexorError(() => m.backward([0]), 'FX_ESTATE', /inference only/);
    assertFlexorError(() => m.getGrad('1.w'), 'FX_ESTATE', /no gradient/);
  } finally {
    m.dispose();
  }
});

// ---------------------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------------------

test('1000 create/build/forward/dispose cycles: no leak, and the wasm memory stops growing', async () => {
  await init();
  const before = memoryStats();
  let afterTen = null;
  const x = new Float32Array(2 * 3 * 8 * 8).fill(0.5);
  for (let i = 0; i < 1000; i++) {
    const m = Model.create({ input: [3, 8, 8] });
    const c = m.conv(0, { cOut: 4, k: 3, pad: 1, flexor: { nOut: 20, nIn: 8, nTap: 2, seed: i } });
    m.dense(m.gap(m.relu(m.bn(c))), { out: 10 });
    m.build({ maxBatch: 2 }).initParams({ seed: i });
    m.forward(x, 2, { train: true });
    m.backward([1, 2]);
    m.step({ lr: 0.1, momentum: 0.9 });
    const use = m.memoryUsage();
    assert.ok(use.bytes > 0 && use.blocks === 2, JSON.stringify(use)); // the model struct and its arena
    m.dispose();
    if (i === 9) afterTen = memoryStats();
  }
  const after = memoryStats();
  assert.equal(after.wasmBytes, afterTen.wasmBytes, 'the wasm memory grew after the first 10 models');
  assert.deepEqual({ ...after, wasmBytes: 0 }, { ...before, wasmBytes: 0 });
  assert.equal(after.liveModels, 0);
  assert.equal(after.ctxBytes, 0);
  assert.equal(after.ctxBlocks, 0);
  assert.equal(after.leakedBytes, 0);
  assert.equal(after.leakedBlocks, 0);
});

test('results stay correct when a model grows the wasm memory (views are refreshed)', async () => {
  await init();
  const small = Model.create({ input: [8, 1, 1] });
  small.dense(0, { out: 4 });
  small.build({ maxBatch: 1 }).initParams({ seed: 5 });
  const x = new Float32Array(8).map((_, i) => i - 3.5);
  const before = small.forward(x, 1);
  const w0 = small.getParam('1.w');
  const mem0 = memoryStats().wasmBytes;
  const big = Model.create({ input: [1024, 1, 1] });
  try {
    big.dense(0, { out: 4096 }); // 4M weights, x4 with gradient and optimiser state: 64 MiB
    big.build({ maxBatch: 1 });
    assert.ok(memoryStats().wasmBytes > mem0, 'expected the build to grow the wasm memory');
    big.initParams({ seed: 1 });
    assert.equal(big.forward(new Float32Array(1024).fill(1), 1).length, 4096);
    assert.deepEqual([...small.getParam('1.w')], [...w0]);
    assert.deepEqual([...small.forward(x, 1)], [...before]);
  } finally {
    big.dispose();
    small.dispose();
  }
});
