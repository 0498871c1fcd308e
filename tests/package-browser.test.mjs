// package-browser.test.mjs - the packed npm package in headless Chromium (playwright-core): `npm pack`, install
// the tarball offline into an empty project, serve that project with a small static server of this file's own
// (the .wasm as application/wasm), and in the browser
//   - run docs/API.md's page.html verbatim (import map -> the bare specifier 'flexor-wasm', loadModel of a URL,
//     classify of a canvas's ImageData of a PNG),
//   - drive docs/API.md's classify-worker.js (a module Web Worker) with an ImageData,
//   - run one scenario (build a FleXOR model layer by layer, forward, train() with progress, bitDecisions, save,
//     loadModel + classify of an ImageData and of CHW bytes, 1-channel resize/invert/centre) on the page and in a
//     module worker whose init({wasmUrl}) points somewhere else,
// and assert that every result equals what Node computes with the same installed package, that flexor.wasm is
// found next to the module by default (and only at the override when one is given), that nothing outside the
// server is requested and nothing logs an error.
// Needs /usr/bin/chromium (Debian: apt-get install -y chromium), playwright-core (a dev dependency) and
// CIFAR-10 (tools/fetch-data.mjs). Run: node --test tests/package-browser.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { wasmStale } from './helpers.mjs';
import { ensureCifar10, dataDir } from '../tools/fetch-data.mjs';
import { encodePng } from '../tools/png.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE = path.join(ROOT, 'build/native/flexor');
const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const API_PATH = '/node_modules/flexor-wasm/wasm/api.js';
const WASM_PATH = '/node_modules/flexor-wasm/wasm/flexor.wasm';
const RECORD = 7; // the CIFAR-10 test image used throughout

let tmp, site, installed, server, origin, browser, nodeApi;
let record;        // 3073 bytes: label + CHW pixels
let modelBytes;
const requests = []; // {path, status, type} served

/** Runs a program; fails with its output unless it exits 0. */
function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Fenced blocks of docs/API.md whose info string has `file=NAME`. */
function docExamples() {
  const md = fs.readFileSync(path.join(ROOT, 'docs/API.md'), 'utf8');
  const out = new Map();
  for (const m of md.matchAll(/^```[\w-]*[ \t]+file=([\w.-]+)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm)) out.set(m[1], m[2]);
  return out;
}

/** A CIFAR-10 model: the first 3x32x32 model of the installed package's models/, else one trained by the native CLI. */
async function cifarModel() {
  const dir = path.join(installed, 'models');
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.fxm')).sort() : [];
  for (const n of names) {
    const bytes = fs.readFileSync(path.join(dir, n));
    const m = nodeApi.Model.load(bytes);
    const shape = m.inputShape.join('x');
    m.dispose();
    if (shape === '3x32x32') return bytes;
  }
  if (!fs.existsSync(NATIVE)) execFileSync(path.join(ROOT, 'build.sh'), ['native'], { cwd: ROOT, stdio: 'inherit' });
  const out = path.join(tmp, 'resnet20.fxm');
  console.log('# models/ has no CIFAR-10 model yet: training a small ResNet-20 with the native CLI for this test');
  execFileSync(NATIVE, ['train', 'cifar10', '--train-limit', '256', '--test-limit', '100', '--epochs', '1', '--batch', '32',
    '--bits', '0.8', '--out', out], { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'] });
  return fs.readFileSync(out);
}

// The scenario run on the page, in a worker and in Node. It gets the package's module namespace, the model (a URL
// or bytes) and the CIFAR-10 record, and returns plain JSON.
const PROBE = `
export async function probe(api, { model, record }) {
  const { Model, Dataset, loadModel, classify, preprocess, train, bitDecisions, memoryStats, version } = api;
  const arr = (a) => Array.from(a);
  const fnv = (bytes) => { let h = 0x811c9dc5; for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0; return h; };
  const image = (w, h, data) => (typeof ImageData === 'function' ? new ImageData(data, w, h) : { data, width: w, height: h });
  await api.init(); // a no-op where the caller already initialised (e.g. with a wasmUrl)
  const out = { version: version() };

  // A FleXOR network built layer by layer, trained on synthetic data.
  const net = Model.create({ input: [1, 12, 12] });
  const conv = net.conv(0, { cOut: 4, k: 3, pad: 1, flexor: { q: 2, nOut: 12, nIn: 8, nTap: 2, seed: 5 } });
  const pool = net.maxpool(net.relu(conv), { k: 2 });
  net.dense(pool, { out: 5, flexor: { nOut: 10, nIn: 6, seed: 9 } });
  net.build({ maxBatch: 8 }).initParams({ seed: 3 });
  const n = 40, px = new Uint8Array(n * 144), labels = new Uint8Array(n);
  let s = 12345;
  for (let i = 0; i < px.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; px[i] = s >>> 24; }
  for (let i = 0; i < n; i++) { labels[i] = i % 5; for (let k = 0; k < 20; k++) px[i * 144 + labels[i] * 20 + k] = 255; }
  const ds = Dataset.fromArrays(px, labels, { c: 1, h: 12, w: 12 });
  const { x } = ds.batch(0, 4);
  out.logits0 = arr(net.forward(x, 4));
  out.progress = [];
  out.train = await train(net, ds, { lr: 0.01, epochs: 2, batch: 8, seed: 7, chunkSteps: 3,
    onProgress: (p) => { out.progress.push([p.steps, p.totalSteps, p.loss, p.epoch, p.epochDone]); } });
  out.logits1 = arr(net.forward(x, 4));
  const bits = bitDecisions(net, conv);
  out.bits = { nSlices: bits.nSlices, planes: bits.planes.map((p) => ({ masks: arr(p.masks), enc: arr(p.encrypted),
    dec: arr(p.decrypted), alpha: arr(p.alpha), signs: fnv(new Uint8Array(p.signs.buffer)) })) };
  out.saved = fnv(net.save());
  // A 1-channel model fed a dark-on-light 30x30 RGBA image: gray, invert, crop, centre, normalise.
  const rgba = new Uint8ClampedArray(30 * 30 * 4).fill(255);
  for (let y = 6; y < 26; y++) for (let x2 = 12; x2 < 17; x2++) rgba.fill(20, (y * 30 + x2) * 4, (y * 30 + x2) * 4 + 3);
  out.digitInput = arr(preprocess(net, image(30, 30, rgba)));
  out.digit = classify(net, image(30, 30, rgba), { topK: 2 }).top;
  ds.dispose();
  net.dispose();

  // A CIFAR-10 model from a URL (bytes in Node): its CHW bytes, the same image as an ImageData, and upscaled.
  const m = await loadModel(model);
  const chw = record.subarray(1);
  const rgb = new Uint8ClampedArray(32 * 32 * 4), big = new Uint8ClampedArray(45 * 45 * 4);
  for (let i = 0; i < 1024; i++) rgb.set([chw[i], chw[1024 + i], chw[2048 + i], 255], 4 * i);
  for (let y = 0; y < 45; y++) for (let x2 = 0; x2 < 45; x2++) {
    const i = Math.floor(y * 32 / 45) * 32 + Math.floor(x2 * 32 / 45);
    big.set(rgb.subarray(4 * i, 4 * i + 4), (y * 45 + x2) * 4);
  }
  const pick = (r) => ({ index: r.index, label: r.label, probability: r.probability, top: r.top, all: arr(r.probabilities) });
  out.bytes = pick(classify(m, chw, { topK: 3 }));
  out.image = pick(classify(m, image(32, 32, rgb), { topK: 3 }));
  out.big = pick(classify(m, image(45, 45, big), { topK: 3 }));
  m.dispose();
  const st = memoryStats();
  out.live = [st.liveModels, st.liveDatasets, st.liveTrainers, st.leakedBytes];
  return out;
}
`;

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png', '.fxm': 'application/octet-stream',
  '.bin': 'application/octet-stream', '.ts': 'text/plain; charset=utf-8', '.md': 'text/markdown; charset=utf-8' };

/** Serves `dir` (GET/HEAD, no traversal), logging every request. */
function serve(dir) {
  const srv = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(dir, p);
    const log = (status, type = '') => requests.push({ path: p, status, type });
    if (p.includes('\0') || !file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      log(404);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    log(200, type);
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : fs.readFileSync(file));
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

before(async () => {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`Chromium is missing (${CHROMIUM}); the browser package tests need it: apt-get install -y chromium`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed (${e.message}); run npm ci`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flexor-package-browser-'));
  if (wasmStale(ROOT)) execFileSync(path.join(ROOT, 'build.sh'), ['wasm'], { cwd: ROOT, stdio: 'inherit' });
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], ROOT))[0];
  site = path.join(tmp, 'site');
  fs.mkdirSync(site);
  fs.writeFileSync(path.join(site, 'package.json'), JSON.stringify({ name: 'site', version: '1.0.0', private: true, type: 'module' }));
  run('npm', ['install', path.join(tmp, packed.filename), '--offline', '--no-audit', '--no-fund', `--cache=${path.join(tmp, 'npm-cache')}`], site);
  installed = path.join(site, 'node_modules/flexor-wasm');
  nodeApi = await import(pathToFileURL(path.join(installed, 'wasm/api.js')).href);
  await nodeApi.init();

  const cifar = await ensureCifar10(dataDir());
  const fd = fs.openSync(cifar['test_batch.bin'], 'r');
  record = Buffer.alloc(3073);
  fs.readSync(fd, record, 0, 3073, RECORD * 3073);
  fs.closeSync(fd);
  record = new Uint8Array(record);
  modelBytes = await cifarModel();

  // The site: the installed package, the docs' page and worker, this file's probe pages, the data.
  const ex = docExamples();
  for (const n of ['page.html', 'classify-worker.js']) assert.ok(ex.has(n), `docs/API.md has a block tagged file=${n}`);
  const put = (name, data) => {
    fs.mkdirSync(path.dirname(path.join(site, name)), { recursive: true });
    fs.writeFileSync(path.join(site, name), data);
  };
  put('page.html', ex.get('page.html'));
  // Import maps do not reach workers: the worker imports the package by its URL, as docs/API.md says.
  put('classify-worker.js', ex.get('classify-worker.js').replace(/from 'flexor-wasm'/g, `from '${API_PATH}'`));
  put('model.fxm', modelBytes);
  const rgb = new Uint8Array(32 * 32 * 3);
  for (let i = 0; i < 1024; i++) rgb.set([record[1 + i], record[1025 + i], record[2049 + i]], 3 * i);
  put('image.png', encodePng(32, 32, rgb));
  put('record.bin', record);
  put('favicon.ico', new Uint8Array(0)); // browsers ask for it; a 404 would log a console error
  put('custom/flexor.wasm', fs.readFileSync(path.join(installed, 'wasm/flexor.wasm')));
  put('probe.js', PROBE);
  put('probe.html', `<!doctype html><meta charset="utf-8"><title>probe</title>
<script type="importmap">{ "imports": { "flexor-wasm": "${API_PATH}" } }</script>
<script type="module">
import * as api from 'flexor-wasm';
import { probe } from '/probe.js';
try {
  const record = new Uint8Array(await (await fetch('/record.bin')).arrayBuffer());
  window.result = await probe(api, { model: '/model.fxm', record });
} catch (e) {
  window.result = { error: String(e && e.stack || e) };
}
</script>`);
  put('probe-worker.js', `import * as api from '${API_PATH}';
import { probe } from '/probe.js';
self.onmessage = async ({ data }) => {
  try {
    await api.init({ wasmUrl: data.wasmUrl });
    const record = new Uint8Array(await (await fetch('/record.bin')).arrayBuffer());
    self.postMessage(await probe(api, { model: '/model.fxm', record }));
  } catch (e) {
    self.postMessage({ error: String(e && e.stack || e) });
  }
};`);
  put('probe-worker.html', `<!doctype html><meta charset="utf-8"><title>probe worker</title>
<script type="module">
const w = new Worker('/probe-worker.js', { type: 'module' });
w.onmessage = (e) => { window.result = e.data; };
w.onerror = (e) => { window.result = { error: 'worker error: ' + e.message }; };
w.postMessage({ wasmUrl: '/custom/flexor.wasm' });
</script>`);
  put('doc-worker.html', `<!doctype html><meta charset="utf-8"><title>docs worker</title>
<script type="module">
const record = new Uint8Array(await (await fetch('/record.bin')).arrayBuffer());
const rgba = new Uint8ClampedArray(32 * 32 * 4);
for (let i = 0; i < 1024; i++) rgba.set([record[1 + i], record[1025 + i], record[2049 + i], 255], 4 * i);
const worker = new Worker(new URL('./classify-worker.js', import.meta.url), { type: 'module' });
worker.onerror = (e) => { window.result = { type: 'error', message: 'worker error: ' + e.message }; };
worker.onmessage = ({ data }) => {
  if (data.type === 'loaded') { window.loaded = data; worker.postMessage({ type: 'classify', image: new ImageData(rgba, 32, 32) }); }
  else window.result = data;
};
worker.postMessage({ type: 'load', url: '/model.fxm' });
</script>`);

  server = await serve(site);
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Opens `page` in a fresh context; returns window.result (and what was logged and requested meanwhile). */
async function openAndWait(pagePath, { timeout = 120_000, expr = 'window.result' } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [], urls = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  context.on('request', (r) => urls.push(r.url()));
  requests.length = 0;
  try {
    await page.goto(origin + pagePath);
    await page.waitForFunction(expr, null, { timeout });
    const result = await page.evaluate(expr);
    const text = await page.evaluate(() => document.getElementById('result')?.textContent ?? null);
    return { result, text, errors, urls, served: [...requests] };
  } finally {
    await context.close();
  }
}

/** No errors logged, nothing requested outside the server, every request answered 200. */
function assertClean({ errors, urls, served }) {
  assert.deepEqual(errors, [], 'no console errors or page errors');
  assert.deepEqual(urls.filter((u) => !u.startsWith(origin) && !/^(data|blob):/.test(u)), [], 'no request leaves the server');
  assert.deepEqual(served.filter((r) => r.status !== 200), [], 'every file was found');
}

const rgbaOf = (w, h) => {
  const d = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < 1024; i++) d.set([record[1 + i], record[1025 + i], record[2049 + i], 255], 4 * i);
  return { data: d, width: w, height: h };
};

test('docs/API.md page.html: import map + loadModel(URL) + classify(canvas ImageData) = Node', async () => {
  const r = await openAndWait('/page.html', { expr: "document.getElementById('result').textContent !== 'loading…'" });
  assertClean(r);
  const m = nodeApi.Model.load(modelBytes);
  const want = nodeApi.classify(m, rgbaOf(32, 32));
  m.dispose();
  assert.equal(r.text, `${want.label} (${(100 * want.probability).toFixed(1)} %)`);
  const wasm = r.served.filter((q) => q.path.endsWith('.wasm'));
  assert.deepEqual(wasm, [{ path: WASM_PATH, status: 200, type: 'application/wasm' }], 'flexor.wasm found next to flexor.js');
  assert.ok(r.served.some((q) => q.path === API_PATH), 'the page imported the package through the import map');
});

test('docs/API.md classify-worker.js in a module Web Worker: ImageData in, the same classification as Node', async () => {
  const r = await openAndWait('/doc-worker.html');
  assertClean(r);
  assert.equal(r.result.type, 'result', JSON.stringify(r.result));
  const m = nodeApi.Model.load(modelBytes);
  const want = nodeApi.classify(m, rgbaOf(32, 32), { topK: 3 });
  m.dispose();
  const { index, label, probability, top } = want;
  assert.deepEqual(r.result, { type: 'result', index, label, probability, top });
  assert.ok(r.served.some((q) => q.path === WASM_PATH && q.type === 'application/wasm'));
});

let nodeProbe = null;
async function expected() {
  if (!nodeProbe) {
    const { probe } = await import(`data:text/javascript;base64,${Buffer.from(PROBE).toString('base64')}`);
    nodeProbe = await probe(nodeApi, { model: modelBytes, record });
    assert.equal(nodeProbe.error, undefined);
  }
  return nodeProbe;
}

test('the package on a page (bare specifier via an import map): build, train, bits, save, classify = Node', async () => {
  const r = await openAndWait('/probe.html');
  assertClean(r);
  assert.equal(r.result.error, undefined, r.result.error);
  const want = await expected();
  assert.deepEqual(r.result, want);
  // Sanity of the scenario itself: training moved the logits; the 32x32 ImageData is the CHW bytes exactly.
  assert.notDeepEqual(want.logits0, want.logits1);
  assert.equal(want.train.steps, 10);
  assert.deepEqual(want.image, want.bytes);
  assert.deepEqual(want.live, [0, 0, 0, 0]);
  assert.deepEqual(r.served.filter((q) => q.path.endsWith('.wasm')).map((q) => q.path), [WASM_PATH]);
});

test('the package in a module Web Worker with init({wasmUrl}) pointing elsewhere: same results, only that .wasm', async () => {
  const r = await openAndWait('/probe-worker.html');
  assertClean(r);
  assert.equal(r.result.error, undefined, r.result.error);
  assert.deepEqual(r.result, await expected());
  const wasm = r.served.filter((q) => q.path.endsWith('.wasm'));
  assert.deepEqual(wasm, [{ path: '/custom/flexor.wasm', status: 200, type: 'application/wasm' }]);
});
