// browser.test.mjs - the static server (tools/serve.mjs) and the training page (web/) end to end in headless
// Chromium through playwright-core: the page loads cleanly and cross-origin isolated, trains LeNet-5 on an
// MNIST subset in its Web Worker while the main thread stays responsive, pauses and resumes, and the model it
// downloads, loaded by the headless runtime (wasm/flexor.js in Node), scores exactly what the page reported.
// Screenshots go to test-output/. Needs /usr/bin/chromium (Debian: `apt-get install -y chromium`) and the
// MNIST files (fetched on first use with tools/fetch-data.mjs). Run: node --test tests/browser.test.mjs
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tools/serve.mjs';
import { ensureMnist, dataDir } from '../tools/fetch-data.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'test-output');
const CHROMIUM = process.env.FLEXOR_CHROMIUM || '/usr/bin/chromium'; // the override is for testing this check
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const TRAIN_LIMIT = 4096; // one epoch of 64 steps: ~93 % test accuracy natively at 0.8 bit/weight
const TEST_LIMIT = 1000;
const ACCURACY_BAR = 0.8;

/** GET/HEAD with the path sent exactly as given (fetch() would normalise '..' away). */
function rawRequest(url, pathStr, method = 'GET', headers = {}) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: pathStr, method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------

describe('tools/serve.mjs', () => {
  let srv;
  let emptyData;
  before(async () => {
    srv = await startServer({ port: 0 });
    emptyData = await fsp.mkdtemp(path.join(os.tmpdir(), 'flexor-serve-test-'));
  });
  after(async () => {
    await srv?.close();
    if (emptyData) await fsp.rm(emptyData, { recursive: true, force: true });
  });

  test('binds to 127.0.0.1 and reports the URL it uses', () => {
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(srv.server.address().address, '127.0.0.1');
  });

  test('MIME types, cross-origin isolation and cache headers', async () => {
    const want = {
      '/': 'text/html; charset=utf-8',
      '/index.html': 'text/html; charset=utf-8',
      '/app.js': 'text/javascript; charset=utf-8',
      '/train-worker.js': 'text/javascript; charset=utf-8',
      '/style.css': 'text/css; charset=utf-8',
      '/wasm/flexor.js': 'text/javascript; charset=utf-8',
      '/wasm/flexor.wasm': 'application/wasm',
    };
    for (const [p, type] of Object.entries(want)) {
      const res = await fetch(new URL(p, srv.url));
      assert.equal(res.status, 200, p);
      assert.equal(res.headers.get('content-type'), type, p);
      assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin', p);
      assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp', p);
      assert.equal(res.headers.get('cache-control'), 'no-cache', p);
      assert.ok(res.headers.get('etag'), `${p}: ETag`);
      await res.arrayBuffer();
    }
    const wasm = await fetch(new URL('/wasm/flexor.wasm', srv.url));
    const bytes = new Uint8Array(await wasm.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 4)], [0, 0x61, 0x73, 0x6d], 'a wasm module');
    const again = await rawRequest(srv.url, '/app.js', 'GET', { 'If-None-Match': wasm.headers.get('etag') });
    assert.equal(again.status, 200, 'another file\'s ETag does not match');
    const etag = (await fetch(new URL('/app.js', srv.url))).headers.get('etag');
    assert.equal((await rawRequest(srv.url, '/app.js', 'GET', { 'If-None-Match': etag })).status, 304);
    const head = await rawRequest(srv.url, '/wasm/flexor.wasm', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), bytes.length);
    assert.equal(head.body.length, 0);
  });

  test('refuses traversal, absolute paths, dotfiles and other methods', async () => {
    for (const p of ['/../package.json', '/wasm/../package.json', '/%2e%2e/package.json', '/wasm/%2e%2e/package.json',
      '/wasm/..%2fpackage.json', '/..%5cpackage.json', '//etc/passwd', '/%2fetc%2fpasswd', '/data/mnist/..%2f..%2f.bashrc',
      '/web/%00', '/%E0%A4%A']) {
      const res = await rawRequest(srv.url, p);
      assert.equal(res.status, 400, `${p} -> ${res.status} ${res.body}`);
      assert.doesNotMatch(res.body.toString(), /"name": "flexor-wasm"|root:/, p);
    }
    for (const p of ['/.gitignore', '/nope.html', '/wasm/nope.wasm', '/data/other/x', '/data/mnist/package.json']) {
      assert.equal((await rawRequest(srv.url, p)).status, 404, p);
    }
    const post = await rawRequest(srv.url, '/', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('dataset files: 404 naming the fetch command when not fetched', async () => {
    const empty = await startServer({ port: 0, dataRoot: emptyData });
    try {
      const res = await rawRequest(empty.url, '/data/mnist/t10k-labels-idx1-ubyte');
      assert.equal(res.status, 404);
      assert.match(res.body.toString(), /mnist is not fetched .*node tools\/fetch-data\.mjs mnist/);
      const cifar = await rawRequest(empty.url, '/data/cifar10/test_batch.bin', 'HEAD');
      assert.equal(cifar.status, 404);
    } finally {
      await empty.close();
    }
    assert.deepEqual(fs.readdirSync(emptyData), [], 'the server never fetches anything itself');
  });

  test('a taken port moves on to the next one', async () => {
    const port = srv.port;
    const other = await startServer({ port, log: () => {} });
    try {
      assert.ok(other.port > port && other.port <= port + 20, `got ${other.port} after ${port}`);
      assert.equal(other.url, `http://127.0.0.1:${other.port}/`);
    } finally {
      await other.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// The page in Chromium
// ---------------------------------------------------------------------------------------------------------

describe('training page in headless Chromium', { timeout: 15 * 60_000 }, () => {
  let srv, browser, context, page, mnist;
  const errors = [];   // console errors and uncaught page errors
  const requests = []; // every URL the page or its worker asked for
  let reported = null; // {correct, total, accuracy} the page showed after the last epoch
  let trainingStarted = false; // the training test got through pause/resume (later tests need that run)

  const shot = (name) => page.screenshot({ path: path.join(OUT, name), fullPage: true });
  const state = () => page.$eval('#state', (e) => e.dataset.state);
  const stepValue = () => page.$eval('#step', (e) => Number(e.dataset.value));
  const waitState = (s, timeout = 30_000) =>
    page.waitForFunction((want) => [].concat(want).includes(document.getElementById('state').dataset.state), s, { timeout });
  const buttons = () => page.$$eval('.buttons button', (bs) => Object.fromEntries(bs.map((b) => [b.id, !b.disabled])));

  function assertClean() {
    assert.deepEqual(errors, [], 'no console errors or page errors');
    const foreign = requests.filter((u) => !u.startsWith(srv.url) && !/^(blob|data):/.test(u));
    assert.deepEqual(foreign, [], 'no request leaves this machine');
  }

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing (${CHROMIUM}); these tests need it: apt-get install -y chromium`);
    }
    let chromium;
    try {
      ({ chromium } = await import('playwright-core'));
    } catch (e) {
      throw new Error(`playwright-core is not installed (${e.message}); run npm ci`);
    }
    try {
      mnist = await ensureMnist(dataDir());
    } catch (e) {
      throw new Error(`MNIST is needed for the browser tests and could not be fetched: ${e.message}; ` +
        'run `node tools/fetch-data.mjs mnist`');
    }
    await fsp.mkdir(OUT, { recursive: true });
    srv = await startServer({ port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
    context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 860 } });
    page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    page.on('worker', (w) => requests.push(w.url()));
  });

  after(async () => {
    await browser?.close();
    await srv?.close();
  });

  test('the page loads without errors, cross-origin isolated, controls in their idle state', async () => {
    await page.goto(`${srv.url}?trainLimit=${TRAIN_LIMIT}&testLimit=${TEST_LIMIT}`);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Ready.');
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true, 'COOP/COEP make the page isolated');
    assert.deepEqual(await buttons(), { start: true, pause: false, resume: false, stop: false, download: false });
    assert.match(await page.textContent('#data-note'), /first 4,096 of 60,000 .*first 1,000 test images/);
    assert.equal(await page.isHidden('#error'), true);
    // Every control has an accessible name.
    const unnamed = await page.$$eval('select, input, button', (els) =>
      els.filter((e) => !(e.labels?.length || e.textContent.trim() || e.getAttribute('aria-label'))).map((e) => e.id));
    assert.deepEqual(unnamed, []);
    await shot('page-idle.png');
    await page.setViewportSize({ width: 400, height: 860 });
    await shot('page-idle-narrow.png');
    await page.setViewportSize({ width: 1200, height: 860 });
    assertClean();
  });

  test('training runs in the worker; the page stays responsive; pause freezes and resume continues', async () => {
    await page.selectOption('#bits', '0.8');
    await page.selectOption('#ntap', '2');
    await page.selectOption('#mode', 'flexor');
    await page.fill('#epochs', '1');
    await page.fill('#lr', '0.001');
    assert.equal(await page.textContent('#nin'), '16');
    // Start from the keyboard.
    await page.focus('#start');
    await page.keyboard.press('Enter');
    await waitState('running', 60_000);
    await page.waitForFunction(() => Number(document.getElementById('step').dataset.value) >= 2, null, { timeout: 60_000 });
    assert.deepEqual(await buttons(), { start: false, pause: true, resume: false, stop: true, download: false });
    assert.equal(await page.$eval('#settings-fields', (f) => f.disabled), true, 'settings locked while training');

    // The main thread keeps painting frames and handling events while the worker trains.
    const frames = await page.evaluate(() => new Promise((resolve) => {
      let n = 0;
      const tick = () => { n++; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      setTimeout(() => resolve(n), 500);
    }));
    assert.ok(frames > 0, 'requestAnimationFrame callbacks ran during training');
    assert.equal(await state(), 'running');
    const before = await stepValue();

    // A click on Pause is handled at once (the state changes before the worker answers) ...
    await page.click('#pause', { timeout: 1000 });
    await waitState(['pausing', 'paused'], 1000);
    // ... and the worker pauses at its next chunk boundary.
    await waitState('paused', 10_000);
    assert.deepEqual(await buttons(), { start: false, pause: false, resume: true, stop: true, download: true });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'resume', 'focus moves to Resume');
    const frozen = await stepValue();
    assert.ok(frozen >= before, `step ${frozen} >= ${before}`);
    await page.waitForTimeout(1500);
    assert.equal(await stepValue(), frozen, 'the step counter stands still while paused');
    assert.equal(await state(), 'paused');
    await shot('page-paused.png');

    // Resume from the keyboard (focus is on Resume).
    await page.keyboard.press('Enter');
    await waitState('running', 1000);
    await page.waitForFunction((s) => Number(document.getElementById('step').dataset.value) > s, frozen, { timeout: 60_000 });
    trainingStarted = true;
    assertClean();
  });

  test(`one epoch on ${TRAIN_LIMIT} images reaches >= ${100 * ACCURACY_BAR} % on ${TEST_LIMIT} test images`, async () => {
    assert.ok(trainingStarted, 'needs the run of the previous test');
    await waitState(['done', 'error'], 10 * 60_000);
    assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
    reported = await page.$eval('#test-acc', (e) => ({
      correct: Number(e.dataset.correct), total: Number(e.dataset.total), accuracy: Number(e.dataset.value),
      text: e.textContent,
    }));
    assert.equal(reported.total, TEST_LIMIT);
    assert.ok(reported.accuracy >= ACCURACY_BAR, `test accuracy ${reported.text} >= ${100 * ACCURACY_BAR} %`);
    assert.equal(await page.$$eval('#history tbody tr', (rows) => rows.length), 1);
    assert.equal(await stepValue(), TRAIN_LIMIT / 64);
    assert.equal(await page.$eval('#progress', (p) => p.value), 1);
    const speed = Number((await page.textContent('#speed')).replace(/,/g, ''));
    assert.ok(speed > 0, `images/s shown (${speed})`);
    assert.deepEqual(await buttons(), { start: true, pause: false, resume: false, stop: false, download: true });
    await shot('page-done.png');
    assertClean();
  });

  test('the downloaded model loads in Node and scores what the page reported', async () => {
    assert.ok(reported, 'needs the training test');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.match(download.suggestedFilename(), /^flexor-lenet5-mnist-0\.8bit-ntap2-flexor\.fxm$/);
    const file = path.join(OUT, download.suggestedFilename());
    await download.saveAs(file);
    await page.waitForFunction(() => /^Saved /.test(document.getElementById('status').textContent));
    const bytes = new Uint8Array(await fsp.readFile(file));

    const { init, Model, Dataset } = await import('../wasm/flexor.js');
    await init();
    const model = Model.load(bytes, { maxBatch: 100 });
    const meta = JSON.parse(model.metadata);
    assert.equal(meta.model, 'lenet5');
    assert.equal(meta.nIn, 16);
    assert.equal(meta.test.correct, reported.correct);
    const all = Dataset.fromIdx(await fsp.readFile(mnist['t10k-images-idx3-ubyte']),
      await fsp.readFile(mnist['t10k-labels-idx1-ubyte']), { mean: [0.1307], std: [0.3081] });
    const test1000 = all.subset(TEST_LIMIT);
    try {
      const ev = model.evaluate(test1000);
      assert.equal(ev.total, TEST_LIMIT);
      assert.equal(ev.correct, reported.correct, `Node: ${ev.correct}/${ev.total}, page: ${reported.text}`);
      assert.equal(ev.accuracy, reported.accuracy);
    } finally {
      model.dispose();
      test1000.dispose?.();
      all.dispose?.();
    }
    assertClean();
  });

  test('stop ends a run early and keeps the model downloadable', async () => {
    await page.fill('#epochs', '3');
    await page.click('#start');
    await waitState('running', 60_000);
    assert.equal(await page.$$eval('#history tbody tr', (rows) => rows.length), 0, 'a new run starts afresh');
    await page.waitForFunction(() => Number(document.getElementById('step').dataset.value) >= 1, null, { timeout: 60_000 });
    await page.click('#stop');
    await waitState('stopped', 10_000);
    assert.deepEqual(await buttons(), { start: true, pause: false, resume: false, stop: false, download: true });
    assert.equal(await page.$eval('#settings-fields', (f) => f.disabled), false);
    assertClean();
  });

  test('an error in the worker is shown in the page', async () => {
    await page.goto(`${srv.url}?trainLimit=${TRAIN_LIMIT}&dataUrl=/data/nothing-here/`);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Ready.');
    errors.length = 0;
    await page.click('#start');
    await waitState('error', 30_000);
    assert.equal(await page.isVisible('#error'), true);
    assert.match(await page.textContent('#error'), /\/data\/nothing-here\/.* HTTP 404/);
    assert.deepEqual(await buttons(), { start: true, pause: false, resume: false, stop: false, download: false });
    await shot('page-error.png');
    // The failed fetches and the worker error are logged to the console; nothing else is.
    const unexpected = errors.filter((e) => !/404|training worker: /.test(e));
    assert.deepEqual(unexpected, []);
  });
});
