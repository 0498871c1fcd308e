// pool.test.mjs - ModelPool (wasm/pool.js): one model on several workers. In Node (worker_threads) and in
// headless Chromium (module Web Workers), its logits equal one Model.forward on the whole batch bit for bit,
// for even and uneven splits and batches smaller than the pool; bad input is rejected with the reason.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model, ModelPool, FlexorError } from '../wasm/api.js';
import { startServer } from '../tools/serve.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = path.join(ROOT, 'models', 'resnet20-0.8bit.fxm');
const CHROMIUM = process.env.FLEXOR_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

function inputs(n) {
  const x = new Float32Array(n * 3 * 32 * 32);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.013) * 1.7 + Math.cos(i * 0.0007);
  return x;
}

describe('ModelPool in Node (worker_threads)', () => {
  let bytes, model, pool3;
  before(async () => {
    await init();
    bytes = fs.readFileSync(MODEL);
    model = Model.load(bytes, { maxBatch: 32 });
    pool3 = await ModelPool.create(bytes, { workers: 3, maxBatch: 32 });
  });
  after(async () => {
    await pool3?.terminate();
    model?.dispose();
  });

  test('the same logits as one Model.forward, bit for bit: even, uneven and tiny batches', async () => {
    assert.equal(pool3.size, 3);
    assert.equal(pool3.classes, 10);
    assert.deepEqual(pool3.inputShape, [3, 32, 32]);
    for (const n of [32, 7, 2, 1]) {
      const x = inputs(n);
      const want = model.forward(x, n), got = await pool3.forward(x, n);
      assert.equal(got.length, n * 10);
      const diff = [...got].findIndex((v, i) => !Object.is(v, want[i]));
      assert.equal(diff, -1, `batch ${n}: logit ${diff} differs (${got[diff]} vs ${want[diff]})`);
    }
  });

  test('concurrent calls keep their own results', async () => {
    const a = inputs(9), b = inputs(9).map((v) => -v);
    const [ra, rb] = await Promise.all([pool3.forward(a, 9), pool3.forward(b, 9)]);
    assert.deepEqual(ra, model.forward(a, 9));
    assert.deepEqual(rb, model.forward(b, 9));
  });

  test('bad input: wrong batch, wrong length, damaged model file, bad options, a terminated pool', async () => {
    await assert.rejects(pool3.forward(inputs(33), 33), /batch of 33 samples; this pool was created for 1\.\.32/);
    await assert.rejects(pool3.forward(new Float32Array(10), 1), /x must be a Float32Array of 3072 values/);
    const nan = inputs(3);
    nan[5000] = NaN;
    await assert.rejects(pool3.forward(nan, 3), (e) => e instanceof FlexorError && /input value 1928 \(sample 0\) is nan .*in samples 1\.\.1 of this batch, worker 1/i.test(e.message),
      'a NaN in the second worker\'s part is reported by that worker with the core message');
    const bad = Uint8Array.from(bytes);
    bad[bad.length - 100] ^= 0xff;
    await assert.rejects(ModelPool.create(bad, { workers: 2 }), (e) => e instanceof FlexorError && /checksum|CRC/i.test(e.message));
    await assert.rejects(ModelPool.create(bytes, { workers: 0 }), /workers must be an integer in 1\.\.64/);
    await assert.rejects(ModelPool.create('nope'), /bytes must be a Uint8Array or an ArrayBuffer/);
    const p = await ModelPool.create(bytes, { workers: 1, maxBatch: 4 });
    await p.terminate();
    await assert.rejects(p.forward(inputs(1), 1), /the pool was terminated/);
  });
});

describe('ModelPool in headless Chromium (module Web Workers)', { timeout: 120_000 }, () => {
  let srv, browser;
  before(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is missing (${CHROMIUM}); apt-get install -y chromium`);
    const { chromium } = await import('playwright-core');
    srv = await startServer({ port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
  });
  after(async () => {
    await browser?.close();
    await srv?.close();
  });

  test('2 workers in the page: logits equal the page\'s own Model.forward', async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(srv.url);
    const r = await page.evaluate(async () => {
      const api = await import('/wasm/api.js');
      await api.init();
      const bytes = new Uint8Array(await (await fetch('/models/resnet20-0.8bit.fxm')).arrayBuffer());
      const m = api.Model.load(bytes, { maxBatch: 16 });
      const x = new Float32Array(16 * 3072);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.013) * 1.7 + Math.cos(i * 0.0007);
      const want = m.forward(x, 16);
      const pool = await api.ModelPool.create(bytes, { workers: 2, maxBatch: 16 });
      const got = await pool.forward(x, 16);
      await pool.terminate();
      return { same: got.every((v, i) => Object.is(v, want[i])), n: got.length, isolated: globalThis.crossOriginIsolated };
    });
    assert.equal(r.n, 160);
    assert.equal(r.same, true, 'the pool in the browser gives the page\'s own logits');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
