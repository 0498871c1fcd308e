// page.test.mjs - the FleXOR page (web/) as a product, end to end in headless Chromium (playwright-core): it
// loads cleanly and is keyboard accessible; training in the worker raises accuracy while the main thread keeps
// responding; the bit-decision views change as training runs; the drawn digit is classified by the model being
// trained; the CIFAR-10 panel's predictions on bundled test images equal the headless runtime's (Node,
// Model.load of the same models/*.fxm, same pixels, same preprocessing); a reload restores the training state
// from IndexedDB and resume continues from the saved step; a model file loads into the views and "Try it".
// Screenshots of every panel go to test-output/ui-*.png.
//
// Needs /usr/bin/chromium, MNIST and CIFAR-10 in the data cache (tools/fetch-data.mjs fetches them), and a
// CIFAR-10 model: the models of models/index.json, or, when there is none, a tiny one this test trains with
// build/native/flexor (./build.sh native) and serves through startServer({modelsRoot}) (also forced with
// FLEXOR_PAGE_TEST_OWN_MODEL=1).
// Run: node --test tests/page.test.mjs
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tools/serve.mjs';
import { ensureMnist, ensureCifar10, dataDir } from '../tools/fetch-data.mjs';
import { encodePng } from '../tools/png.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'test-output');
const CHROMIUM = process.env.FLEXOR_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const QUERY = '?trainLimit=1024&testLimit=500&saveEvery=2&viewEvery=400';
const CIFAR_IMAGES = [0, 1, 2, 7, 150, 299];

/** The CIFAR-10 models the page will list: the repository's, or a tiny one trained here. */
async function cifarModels(tmp) {
  const repoDir = path.join(ROOT, 'models');
  const idx = path.join(repoDir, 'index.json');
  if (!process.env.FLEXOR_PAGE_TEST_OWN_MODEL && fs.existsSync(idx)) {
    const list = JSON.parse(await fsp.readFile(idx, 'utf8')).models ?? [];
    const cifar = list.filter((m) => (m.dataset ?? 'cifar10') === 'cifar10' && fs.existsSync(path.join(repoDir, m.file)));
    if (cifar.length) return { dir: repoDir, files: cifar.map((m) => m.file), trained: false };
  }
  const bin = path.join(ROOT, 'build/native/flexor');
  if (!fs.existsSync(bin)) {
    throw new Error('models/ has no CIFAR-10 model and build/native/flexor is missing to train a tiny one; run ./build.sh native');
  }
  const dir = path.join(tmp, 'models');
  await fsp.mkdir(dir, { recursive: true });
  execFileSync(bin, ['train', 'cifar10', '--train-limit', '256', '--test-limit', '100', '--epochs', '1', '--batch', '32',
    '--bits', '0.8', '--out', path.join(dir, 'm.fxm')], { stdio: 'pipe' });
  await fsp.writeFile(path.join(dir, 'index.json'), JSON.stringify({ models: [{ file: 'm.fxm', dataset: 'cifar10', model: 'resnet20' }] }));
  return { dir, files: ['m.fxm'], trained: true };
}

describe('the FleXOR page in headless Chromium', { timeout: 6 * 60_000 }, () => {
  let srv, browser, context, page, tmp, models, cifarBin, downloaded;
  const errors = [];
  const requests = [];

  const shot = (name, target = page) => target.screenshot({ path: path.join(OUT, name) });
  const panelShot = (id, name) => page.locator(`#${id}`).screenshot({ path: path.join(OUT, name) });
  const state = () => page.$eval('#state', (e) => e.dataset.state);
  const stepValue = () => page.$eval('#step', (e) => Number(e.dataset.value));
  const waitState = (s, timeout = 30_000) =>
    page.waitForFunction((want) => [].concat(want).includes(document.getElementById('state').dataset.state), s, { timeout });
  const waitStep = (n, timeout = 90_000) =>
    page.waitForFunction((k) => Number(document.getElementById('step').dataset.value) >= k, n, { timeout });

  /** What the views show now: flips points, histogram checksum, weight-map pixels, the bits' step. */
  const viewSnapshot = () => page.evaluate(() => {
    const wmap = document.getElementById('wmap');
    const px = wmap.getContext('2d').getImageData(0, 0, wmap.width, wmap.height).data;
    let h = 0;
    for (let i = 0; i < px.length; i += 4) h = (Math.imul(h, 31) + px[i] * 3 + px[i + 1] * 5 + px[i + 2] * 7) | 0;
    return {
      flips: Number(document.getElementById('flips').dataset.points || 0),
      hist: document.getElementById('hist').dataset.sum,
      wmap: h,
      step: Number(document.getElementById('decisions').dataset.drawnStep ?? -1),
      lossPoints: Number(document.getElementById('loss-chart').dataset.points || 0),
    };
  });

  function assertClean() {
    assert.deepEqual(errors, [], 'no console errors or page errors');
    const foreign = requests.filter((u) => !u.startsWith(srv.url) && !/^(blob|data):/.test(u));
    assert.deepEqual(foreign, [], 'no request leaves this machine');
  }

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is missing (${CHROMIUM}); apt-get install -y chromium`);
    const { chromium } = await import('playwright-core');
    await ensureMnist(dataDir());
    const cifar = await ensureCifar10(dataDir());
    cifarBin = await fsp.readFile(cifar['test_batch.bin']);
    await fsp.mkdir(OUT, { recursive: true });
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'flexor-page-test-'));
    models = await cifarModels(tmp);
    srv = await startServer({ port: 0, log: () => {}, ...(models.trained ? { modelsRoot: models.dir } : {}) });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
    context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 }, deviceScaleFactor: 2 });
    page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    context.on('request', (r) => requests.push(r.url()));
    page.on('worker', (w) => requests.push(w.url()));
  });

  after(async () => {
    await browser?.close();
    await srv?.close();
    if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
  });

  test('loads without console errors; every panel renders; labelled, keyboard-reachable controls', async () => {
    await page.goto(srv.url + QUERY);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Ready.');
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
    // the CIFAR panel lists the served models and classifies image 0
    await page.waitForFunction((n) => document.getElementById('cifar').dataset.models === String(n), models.files.length,
      { timeout: 60_000 });
    await page.waitForFunction(() => document.querySelector('#cifar-table tbody tr[data-probs]'), null, { timeout: 30_000 });
    // every control has an accessible name
    const unnamed = await page.$$eval('select, input, button, [tabindex="0"]', (els) => els.filter((e) =>
      !(e.labels?.length || e.textContent.trim() || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby'))).map((e) => e.id || e.outerHTML.slice(0, 60)));
    assert.deepEqual(unnamed, []);
    // Tab order follows the form, and focus is visible
    await page.focus('#bits');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'nout');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'nin-conv1');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused control shows a focus ring');
    // the live regions are there
    assert.equal(await page.getAttribute('#status', 'aria-live'), 'polite');
    assert.equal(await page.getAttribute('#draw-result', 'aria-live'), 'polite');
    // the explainer cites the paper
    assert.match(await page.textContent('#about'), /Lee, Kwon, Kim, Jeon, Park, Yun, “FleXOR: Trainable Fractional Quantization”.*NeurIPS 2020/s);
    // presets fill the per-layer n_in; editing one makes the preset 'custom'
    await page.selectOption('#bits', '0.4');
    assert.equal(await page.inputValue('#nin-fc1'), '8');
    await page.fill('#nin-fc2', '12');
    assert.equal(await page.inputValue('#bits'), 'custom');
    await page.selectOption('#bits', '0.8');
    assert.equal(await page.textContent('#nin'), '16');
    // with q = 2 bit planes the preset halves n_in, so the bits per weight stay what the preset says
    await page.selectOption('#q', '2');
    assert.equal(await page.textContent('#nin'), '8');
    assert.match(await page.textContent('#plan'), /at 0\.80\d bits\/weight/);
    await page.selectOption('#q', '1');
    assert.equal(await page.textContent('#nin'), '16');
    await shot('ui-1280-idle.png', page);
    await page.screenshot({ path: path.join(OUT, 'ui-1280-idle-full.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 390 px (${overflow} px too wide)`);
    await page.screenshot({ path: path.join(OUT, 'ui-390-idle-full.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    assertClean();
  });

  test('training in the worker raises accuracy while the UI responds; the bit views change as it trains', async () => {
    await page.selectOption('#batch', '32');
    await page.fill('#epochs', '2');
    await page.click('#start');
    await waitState('running', 60_000);
    await waitStep(6);
    await page.waitForFunction(() => document.getElementById('decisions').dataset.ready === 'true');
    // the views redraw while on screen (off-screen ones catch up when scrolled to)
    await page.locator('#decisions .views').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => Number(document.getElementById('decisions').dataset.drawnStep) >= 6, null, { timeout: 10_000 });
    const a = await viewSnapshot();

    // the main thread keeps painting and answering input while the worker trains
    const frames = await page.evaluate(() => new Promise((resolve) => {
      let n = 0;
      const tick = () => { n++; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      setTimeout(() => resolve(n), 1000);
    }));
    assert.ok(frames >= 10, `${frames} frames painted in 1 s of training`);
    const t0 = Date.now();
    await page.fill('#slice', '7');
    await page.waitForFunction(() => /^Slice 7, weight bit/.test(document.getElementById('xor-readout').textContent), null, { timeout: 2000 });
    await page.locator('#xor-gates').focus();
    await page.keyboard.press('ArrowRight');
    assert.match(await page.textContent('#xor-readout'), /weight bit y₁ = /);
    assert.ok(Date.now() - t0 < 2000, 'input handled at once');
    assert.equal(await state(), 'running');
    await panelShot('decisions', 'ui-decisions-training.png');

    await waitStep(44);
    await page.locator('#decisions .views').scrollIntoViewIfNeeded();
    await page.waitForFunction((s) => Number(document.getElementById('decisions').dataset.drawnStep) > s + 20, a.step, { timeout: 30_000 });
    const b = await viewSnapshot();
    assert.ok(b.flips > a.flips, `the flips chart grew (${a.flips} -> ${b.flips} points)`);
    assert.notEqual(b.hist, a.hist, 'the latent histogram changed');
    assert.notEqual(b.wmap, a.wmap, 'the decrypted-weight map changed');
    assert.ok(b.lossPoints > a.lossPoints, 'the loss curve grew');

    // switch the views to another layer while training
    await page.selectOption('#layer', '4');
    await page.waitForFunction(() => /^conv2: conv 64×32×5×5/.test(document.getElementById('layer-summary').textContent), null, { timeout: 10_000 });
    await panelShot('train', 'ui-train-running.png');

    await waitState(['done', 'error'], 3 * 60_000);
    assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
    const acc = await page.$eval('#acc-chart', (e) => ({ first: Number(e.dataset.first), last: Number(e.dataset.last) }));
    const test = Number(await page.$eval('#test-acc', (e) => e.dataset.value));
    assert.ok(acc.last > acc.first + 0.3, `train accuracy rose from ${acc.first} to ${acc.last}`);
    assert.ok(test >= 0.8, `test accuracy ${test} >= 0.8 after 2 epochs on 1024 images`);
    assert.equal(await page.$$eval('#history tbody tr', (r) => r.length), 2);
    assert.equal(await page.textContent('#eta'), 'done');
    await panelShot('train', 'ui-train-done.png');
    await panelShot('decisions', 'ui-decisions-done.png');
    // keep the model for the load test
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    downloaded = path.join(tmp, download.suggestedFilename());
    await download.saveAs(downloaded);
    assertClean();
  });

  test('a drawn digit is classified by the model being trained', async () => {
    await page.locator('#try').scrollIntoViewIfNeeded();
    const box = await page.locator('#draw').boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.72, box.y + box.height * 0.2, { steps: 6 });
    await page.mouse.move(box.x + box.width * 0.45, box.y + box.height * 0.85, { steps: 6 });
    await page.mouse.up();
    await page.waitForFunction(() => document.getElementById('draw-result').dataset.prediction != null, null, { timeout: 20_000 });
    const probs = await page.$$eval('#draw-probs .pval', (v) => v.map((e) => parseFloat(e.textContent)));
    assert.equal(probs.length, 10);
    assert.ok(Math.abs(probs.reduce((s, p) => s + p, 0) - 100) < 1, `probabilities sum to 100 % (${probs})`);
    assert.match(await page.textContent('#draw-result'), /^Prediction: \d \(/);
    // keyboard: Clear, then stamp a digit from the keyboard
    await page.focus('#draw-clear');
    await page.keyboard.press('Enter');
    assert.equal(await page.$eval('#draw-result', (e) => e.dataset.prediction ?? null), null);
    await page.focus('#draw');
    await page.keyboard.press('1');
    await page.waitForFunction(() => document.getElementById('draw-result').dataset.prediction != null, null, { timeout: 20_000 });
    await panelShot('try', 'ui-try.png');
    assertClean();
  });

  test('CIFAR-10 panel: predictions on bundled images equal the headless runtime\'s', async () => {
    const { init, loadModel, classify } = await import('../wasm/api.js');
    await init();
    const nodeModels = new Map();
    for (const f of models.files) nodeModels.set(f, await loadModel(await fsp.readFile(path.join(models.dir, f)), { maxBatch: 1 }));
    try {
      for (const i of CIFAR_IMAGES) {
        const before = Number(await page.$eval('#cifar', (e) => e.dataset.classified || 0));
        await page.fill('#cifar-index', String(i));
        await page.locator('#cifar-index').dispatchEvent('change');
        await page.waitForFunction((b) => Number(document.getElementById('cifar').dataset.classified || 0) > b, before, { timeout: 20_000 });
        assert.match(await page.textContent('#cifar-truth'), new RegExp(`^Test image #${i}: a `));
        const rows = await page.$$eval('#cifar-table tbody tr[data-file]', (trs) => trs.map((tr) => ({
          file: tr.dataset.file, top: tr.dataset.top, probs: tr.dataset.probs ? JSON.parse(tr.dataset.probs) : null,
        })));
        assert.equal(rows.length, models.files.length, 'one row per model');
        // the same pixels the page shows: record i of test_batch.bin, as RGBA
        const rec = cifarBin.subarray(i * 3073, (i + 1) * 3073);
        const rgba = new Uint8ClampedArray(32 * 32 * 4);
        for (let p = 0; p < 1024; p++) {
          for (let c = 0; c < 3; c++) rgba[p * 4 + c] = rec[1 + c * 1024 + p];
          rgba[p * 4 + 3] = 255;
        }
        for (const row of rows) {
          const r = classify(nodeModels.get(row.file), { data: rgba, width: 32, height: 32 }, { topK: 3 });
          const chw = classify(nodeModels.get(row.file), rec.subarray(1), { topK: 3 });
          assert.deepEqual(Array.from(r.probabilities), Array.from(chw.probabilities), 'ImageData and CHW bytes agree in Node');
          assert.equal(row.top, r.top.map((t) => t.index).join(','), `image ${i}, ${row.file}: top-3`);
          const diff = Math.max(...row.probs.map((p, k) => Math.abs(p - r.probabilities[k])));
          assert.ok(diff <= 1e-6, `image ${i}, ${row.file}: probabilities differ by ${diff}`);
        }
      }
    } finally {
      for (const m of nodeModels.values()) m.dispose();
    }
    // your own image: a PNG through the file input
    const w = 48, h = 40, px = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set([x * 5, y * 6, 128], (y * w + x) * 3);
    const before = Number(await page.$eval('#cifar', (e) => e.dataset.classified || 0));
    await page.setInputFiles('#cifar-file', { name: 'gradient.png', mimeType: 'image/png', buffer: encodePng(w, h, px) });
    await page.waitForFunction((b) => Number(document.getElementById('cifar').dataset.classified || 0) > b, before, { timeout: 20_000 });
    assert.match(await page.textContent('#cifar-truth'), /gradient\.png \(48×40/);
    assert.equal(await page.$$eval('#cifar-table tbody tr[data-probs]', (r) => r.length), models.files.length);
    await panelShot('cifar', 'ui-cifar.png');
    assertClean();
  });

  test('a reload keeps the training state; resume continues from the saved step', async () => {
    await page.goto(srv.url + QUERY);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Ready.');
    await page.selectOption('#batch', '32');
    await page.fill('#epochs', '3');
    await page.click('#start');
    await waitState('running', 60_000);
    await waitStep(40); // past epoch 1 (32 steps): a test accuracy and a history row exist
    await page.waitForFunction(() => Number(document.getElementById('autosave').dataset.step) > 0, null, { timeout: 20_000 });
    await page.click('#pause');
    await waitState('paused', 20_000);
    const step = await stepValue();
    // the pause writes a checkpoint at exactly this step
    await page.waitForFunction((s) => {
      const a = document.getElementById('autosave').dataset;
      return Number(a.step) === s && a.reason === 'pause';
    }, step, { timeout: 20_000 });
    const saved = await viewSnapshot();
    const rows = await page.$$eval('#history tbody tr', (r) => r.map((e) => e.textContent));
    const testAcc = await page.textContent('#test-acc');
    assert.ok(rows.length >= 1);

    await page.reload();
    await page.waitForFunction(() => !document.getElementById('restore').hidden, null, { timeout: 10_000 });
    assert.match(await page.textContent('#restore-text'), new RegExp(`step ${step} of 96`));
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot('ui-restore-offer.png');
    await page.click('#restore-run');
    await waitState('paused', 60_000);
    // progress, curves, history and the flips chart are back, at the saved step
    assert.equal(await stepValue(), step);
    const back = await viewSnapshot();
    assert.equal(back.lossPoints, saved.lossPoints, 'loss curve restored');
    assert.equal(back.flips, saved.flips, 'flips chart restored');
    assert.deepEqual(await page.$$eval('#history tbody tr', (r) => r.map((e) => e.textContent)), rows);
    assert.equal(await page.textContent('#test-acc'), testAcc);
    assert.equal(await page.inputValue('#epochs'), '3');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'resume', 'focus on Resume');
    await panelShot('train', 'ui-train-restored.png');

    // resume: the step counter goes on from the saved step (never back to 0)
    const seen = [];
    await page.exposeFunction('__seenStep', (v) => seen.push(v));
    await page.evaluate(() => new MutationObserver(() => globalThis.__seenStep(Number(document.getElementById('step').dataset.value)))
      .observe(document.getElementById('step'), { attributes: true }));
    await page.keyboard.press('Enter');
    await waitState('running', 5000);
    await waitStep(step + 4);
    assert.ok(seen.length > 0 && Math.min(...seen) > step, `steps after resume ${seen.slice(0, 5)} continue past ${step}`);
    assert.ok((await viewSnapshot()).lossPoints > saved.lossPoints, 'the curve continues');
    await page.click('#stop');
    await waitState('stopped', 20_000);
    assertClean();
  });

  test('a model file loads into the views and "Try it"', async () => {
    assert.ok(downloaded, 'needs the model downloaded by the training test');
    if (['running', 'paused', 'restoring', 'loading'].includes(await state())) {
      await page.click('#stop');
      await waitState('stopped', 20_000);
    }
    await page.setInputFiles('#model-file', downloaded);
    await waitState('loaded', 30_000);
    assert.match(await page.textContent('#status'), /Loaded flexor-lenet5-mnist-0\.8bit-ntap2-flexor\.fxm/);
    await page.waitForFunction(() => document.getElementById('decisions').dataset.ready === 'true');
    assert.match(await page.textContent('#layer-summary'), /^conv1: conv 32×1×5×5/);
    await page.locator('#decisions .views').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => /came from a file/.test(document.getElementById('hist-caption').textContent), null, { timeout: 5000 });
    assert.match(await page.textContent('#draw-note'), /loaded model flexor-lenet5/);
    await page.focus('#draw');
    await page.keyboard.press('4');
    await page.waitForFunction(() => document.getElementById('draw-result').dataset.prediction != null, null, { timeout: 20_000 });
    // a CIFAR-10 model file joins the CIFAR table
    await page.setInputFiles('#model-file', path.join(models.dir, models.files[0]));
    await waitState('loaded', 30_000);
    await page.waitForFunction(() => document.querySelector('#cifar-table tbody tr[data-key="user"][data-probs]'), null, { timeout: 30_000 });
    assert.match(await page.textContent('#draw-note'), /CIFAR-10 panel/);
    await page.screenshot({ path: path.join(OUT, 'ui-1280-loaded-full.png'), fullPage: true });
    assertClean();
  });
});
