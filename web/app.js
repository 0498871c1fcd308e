// app.js - the page's main thread: settings, buttons, progress and curves, the IndexedDB autosave and
// restore, model files, and the glue between the training worker (train-worker.js), the bit-decision views
// (views.js) and "Try it" (tryit.js). All heavy work happens in workers; this thread only draws.
//
// Query parameters (for tests and quick experiments):
//   trainLimit=N  train on the first N training images (default: the "Training images" setting)
//   testLimit=N   evaluate after each epoch on the first N test images (default 1000)
//   dataUrl=URL   where the four MNIST IDX files are (default /data/mnist/, same origin only)
//   saveEvery=S   autosave the run to IndexedDB every S seconds of training (default 10)
//   viewEvery=MS  refresh the bit views at most every MS milliseconds (default 700)
//   models=URL    the model list of the CIFAR-10 panel (default models/index.json, same origin only)

import { LineChart, palette } from './charts.js';
import { BitViews, decimate } from './views.js';
import { DrawPanel, CifarPanel } from './tryit.js';
import { loadRun, saveRun, clearRun } from './store.js';

const $ = (id) => document.getElementById(id);
const el = {
  form: $('settings'), fields: $('settings-fields'),
  bits: $('bits'), nout: $('nout'), noutEcho: $('nout-echo'), ntap: $('ntap'), q: $('q'), mode: $('mode'),
  optimizer: $('optimizer'), lr: $('lr'), lrHint: $('lr-hint'), schedule: $('schedule'), stanh: $('stanh'),
  stanh0: $('stanh0'), warmup: $('warmup'), epochs: $('epochs'), batch: $('batch'), trainSize: $('train-size'),
  nin: $('nin'), ninLayers: ['nin-conv1', 'nin-conv2', 'nin-fc1', 'nin-fc2'].map($), plan: $('plan'),
  start: $('start'), pause: $('pause'), resume: $('resume'), stop: $('stop'), download: $('download'),
  modelFile: $('model-file'),
  state: $('state'), autosave: $('autosave'), progress: $('progress'), epoch: $('epoch'), step: $('step'), loss: $('loss'),
  trainAcc: $('train-acc'), testAcc: $('test-acc'), speed: $('speed'), eta: $('eta'), stanhNow: $('stanh-now'),
  lrNow: $('lr-now'), history: $('history'), status: $('status'), error: $('error'), dataNote: $('data-note'),
  lossChart: $('loss-chart'), accChart: $('acc-chart'),
  restore: $('restore'), restoreText: $('restore-text'), restoreRun: $('restore-run'), restoreDiscard: $('restore-discard'),
};

const TRAIN_TOTAL = 60000;
const TEST_TOTAL = 10000;
const MAX_CURVE_POINTS = 1500;
// LeNet-5 (paper): weights of conv1, conv2, fc1, fc2; other values (biases + one alpha per output channel)
const LENET_WEIGHTS = [800, 51200, 1605632, 5120];
const LENET_COUT = [32, 64, 512, 10];

// ---------------------------------------------------------------------------------------------------------
// Query parameters

function positiveNumber(params, name, dflt, max, integer = true) {
  const raw = params.get(name);
  if (raw === null || raw === '') return dflt;
  const v = Number(raw);
  if (!(v > 0) || (integer && !Number.isInteger(v))) throw new Error(`?${name}= must be a positive ${integer ? 'integer' : 'number'} (got "${raw}")`);
  return Math.min(v, max);
}

function sameOrigin(raw, dflt, name, dir) {
  const u = new URL(raw || dflt, location.href);
  if (u.origin !== location.origin) throw new Error(`?${name}= must be on this server`);
  if (dir && !u.pathname.endsWith('/')) u.pathname += '/';
  return u.href;
}

function readQuery() {
  const params = new URLSearchParams(location.search);
  return {
    trainLimit: params.has('trainLimit') ? positiveNumber(params, 'trainLimit', TRAIN_TOTAL, TRAIN_TOTAL) : null,
    testLimit: positiveNumber(params, 'testLimit', 1000, TEST_TOTAL),
    dataUrl: sameOrigin(params.get('dataUrl'), '/data/mnist/', 'dataUrl', true),
    saveEveryMs: 1000 * positiveNumber(params, 'saveEvery', 10, 3600, false),
    viewEveryMs: positiveNumber(params, 'viewEvery', 700, 60000),
    modelsUrl: sameOrigin(params.get('models'), 'models/index.json', 'models', false),
  };
}

// ---------------------------------------------------------------------------------------------------------
// State and buttons

let query = { trainLimit: null, testLimit: 1000, dataUrl: '/data/mnist/', saveEveryMs: 10000, viewEveryMs: 700, modelsUrl: 'models/index.json' };
let worker = null;
let state = 'idle';
let hasModel = false;   // the worker holds a model that can be saved
let focusNext = null;   // the button to focus once it is enabled (keyboard users keep their place)
let runConfig = null;
let modelInfo = null;
let saved = null;       // the IndexedDB record found at start-up
let lastProgress = null;
let history = [];       // per-epoch rows
let persist = false;    // checkpoints of this worker go to IndexedDB
let saving = Promise.resolve();

const STATE_LABEL = {
  idle: 'idle', loading: 'loading', restoring: 'restoring', running: 'training', pausing: 'pausing…', paused: 'paused',
  stopping: 'stopping…', stopped: 'stopped', done: 'done', error: 'error', loaded: 'model loaded',
};
const ACTIVE = ['loading', 'restoring', 'running', 'pausing', 'paused', 'stopping'];

function setState(next) {
  state = next;
  document.body.dataset.state = next;
  el.state.dataset.state = next;
  el.state.textContent = STATE_LABEL[next] ?? next;
  const active = ACTIVE.includes(next);
  el.fields.disabled = active;
  el.start.disabled = active;
  el.pause.disabled = next !== 'running';
  el.resume.disabled = next !== 'paused';
  el.stop.disabled = !['loading', 'restoring', 'running', 'pausing', 'paused'].includes(next);
  el.download.disabled = !(hasModel && ['paused', 'stopped', 'done', 'error', 'loaded'].includes(next));
  el.modelFile.disabled = active;
  el.restoreRun.disabled = active;
  // Keyboard users keep their place: focus moves to the button that continues what they did (Pause ->
  // Resume, Resume -> Pause, Start -> Pause, Stop -> Start) once it is enabled, and never stays on a disabled
  // button otherwise.
  const cur = document.activeElement;
  const onControl = !cur || cur === document.body || cur.disabled || cur.closest?.('.buttons') || cur.closest?.('.banner');
  if (focusNext && !el[focusNext].disabled) {
    if (onControl) el[focusNext].focus();
    focusNext = null;
  } else if (!focusNext && cur?.disabled) {
    const fallback = [el.resume, el.pause, el.start, el.download, el.stop].find((b) => !b.disabled);
    fallback?.focus();
  }
}

function setStatus(text) {
  el.status.textContent = text;
}

function showError(message) {
  el.error.textContent = message;
  el.error.hidden = !message;
}

// ---------------------------------------------------------------------------------------------------------
// Formatting

const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(2)} %` : '–');
const fixed = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const kb = (bytes) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} KB`);

function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

// ---------------------------------------------------------------------------------------------------------
// Settings

function trainLimit() {
  return Number(el.trainSize.value);
}

/** Fills the per-layer n_in fields from the preset: bits/weight = q * n_in / n_out. */
function applyPreset() {
  const nOut = Number(el.nout.value), q = Number(el.q.value) || 1;
  if (el.bits.value !== 'custom' && Number.isInteger(nOut) && nOut >= 1 && nOut <= 32) {
    const nIn = Math.max(1, Math.min(nOut, Math.round((Number(el.bits.value) * nOut) / q)));
    for (const f of el.ninLayers) f.value = String(nIn);
  }
  updatePlan();
}

function updatePlan() {
  const nOut = Number(el.nout.value);
  el.noutEcho.textContent = String(el.nout.value || '–');
  const nins = el.ninLayers.map((f) => Number(f.value));
  const same = nins.every((v) => v === nins[0]);
  el.nin.textContent = same ? String(nins[0]) : nins.join(' / ');
  const q = Number(el.q.value);
  for (const f of el.ninLayers) {
    const v = Number(f.value);
    f.setAttribute('aria-invalid', String(!(Number.isInteger(v) && v >= 0 && v <= Math.min(32, nOut))));
  }
  if (!(Number.isInteger(nOut) && nOut >= 1 && nOut <= 32)) {
    el.plan.textContent = 'N_out must be a whole number from 1 to 32.';
    return;
  }
  let bits = 0, fp = 0, w = 0, other = 0;
  LENET_WEIGHTS.forEach((n, i) => {
    const nIn = nins[i];
    w += n;
    other += LENET_COUT[i] * (nIn > 0 ? 1 + q : 1);
    if (nIn > 0) bits += q * Math.ceil(n / nOut) * nIn; else fp += n;
  });
  const flexW = w - fp;
  const bpw = flexW ? bits / flexW : 32;
  const bytes = (bits + 32 * fp + 32 * other) / 8;
  const f32 = 4 * (w + LENET_COUT.reduce((a, b) => a + b, 0));
  el.plan.textContent = `LeNet-5: ${int(w)} weights at ${bpw.toFixed(3)} bits/weight${fp ? ` (${int(fp)} kept float32)` : ''} → ` +
    `about ${kb(bytes)} of weights instead of ${kb(f32)} in float32 (${(f32 / bytes).toFixed(1)}× smaller).`;
  el.lrHint.textContent = `${el.optimizer.value === 'adam' ? 'Adam' : 'SGD'}, ${el.schedule.value} schedule, batch ${el.batch.value}`;
}

function updateDataNote() {
  const n = trainLimit();
  const trainNote = n < TRAIN_TOTAL ? `the first ${int(n)} of ${int(TRAIN_TOTAL)}` : `all ${int(TRAIN_TOTAL)}`;
  el.dataNote.textContent = `Trains on ${trainNote} MNIST training images; tests on the first ${int(query.testLimit)} test images after each epoch.`;
}

function readSettings() {
  const num = (f) => Number(f.value);
  const nOut = num(el.nout), epochs = num(el.epochs), lr = num(el.lr), sTanh = num(el.stanh), sTanh0 = num(el.stanh0);
  const warmup = num(el.warmup), q = num(el.q), nTap = num(el.ntap);
  const nInPerLayer = el.ninLayers.map(num);
  if (!Number.isInteger(nOut) || nOut < 1 || nOut > 32) throw new Error('N_out must be a whole number from 1 to 32.');
  nInPerLayer.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > nOut) {
      throw new Error(`n_in of ${['conv1', 'conv2', 'fc1', 'fc2'][i]} must be a whole number from 0 (float32) to N_out = ${nOut}.`);
    }
  });
  const used = nInPerLayer.filter((v) => v > 0);
  if (nTap > 0 && used.some((v) => v < nTap)) throw new Error(`N_tap = ${nTap} needs n_in ≥ ${nTap} in every FleXOR layer.`);
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > 100) throw new Error('Epochs must be a whole number from 1 to 100.');
  if (!Number.isFinite(lr) || lr <= 0 || lr > 1) throw new Error('The learning rate must be a number in (0, 1].');
  if (!(sTanh > 0) || !(sTanh0 > 0)) throw new Error('S_tanh and S_0 must be positive.');
  if (!(warmup >= 0) || warmup >= epochs) throw new Error('Warm-up must be at least 0 and shorter than the run.');
  const same = nInPerLayer.every((v) => v === nInPerLayer[0]);
  return {
    bits: el.bits.value === 'custom' ? null : Number(el.bits.value), nOut, nIn: used[0] ?? 0,
    nInPerLayer: same ? null : nInPerLayer, q, nTap, mode: el.mode.value, optimizer: el.optimizer.value, lr,
    schedule: el.schedule.value, warmup, sTanh, sTanh0, epochs, batch: num(el.batch), seed: 1,
    trainLimit: trainLimit(), testLimit: query.testLimit, dataUrl: query.dataUrl,
  };
}

/** Puts a saved config back into the form. */
function writeSettings(c) {
  const set = (f, v) => { if (v != null) f.value = String(v); };
  set(el.nout, c.nOut);
  set(el.q, c.q);
  set(el.ntap, c.nTap);
  set(el.mode, c.mode);
  set(el.optimizer, c.optimizer);
  set(el.lr, c.lr);
  set(el.schedule, c.schedule);
  set(el.stanh, c.sTanh);
  set(el.stanh0, c.sTanh0);
  set(el.warmup, c.warmup);
  set(el.epochs, c.epochs);
  set(el.batch, c.batch);
  ensureTrainSize(c.trainLimit);
  el.bits.value = c.bits == null ? 'custom' : Number(c.bits).toFixed(1);
  const nins = c.nInPerLayer ?? [c.nIn, c.nIn, c.nIn, c.nIn];
  el.ninLayers.forEach((f, i) => { f.value = String(nins[i]); });
  updatePlan();
  updateDataNote();
}

function ensureTrainSize(n) {
  if (![...el.trainSize.options].some((o) => Number(o.value) === n)) {
    const o = document.createElement('option');
    o.value = String(n);
    o.textContent = `${int(n)} (from the link)`;
    el.trainSize.prepend(o);
  }
  el.trainSize.value = String(n);
}

// ---------------------------------------------------------------------------------------------------------
// Progress and curves

let curves = { loss: [], acc: [], test: [] };
let totalSteps = 0;

const lossChart = new LineChart(el.lossChart, { xLabel: 'step', yLabel: 'loss (log scale)', yLog: true, empty: 'the loss appears here' });
const accChart = new LineChart(el.accChart, {
  xLabel: 'step', yLabel: 'accuracy', yMin: 0, yMax: 1, yMaxFixed: true, yFormat: (v) => `${Math.round(100 * v)} %`,
  readoutFormat: (v) => `${(100 * v).toFixed(1)} %`, empty: 'accuracy appears here',
});

/** A centred moving average over about 1/30 of the points (at least 1 either side). */
function smooth(points) {
  const pts = points.filter(([, y]) => Number.isFinite(y));
  const k = Math.max(1, Math.round(pts.length / 60));
  const out = [];
  let sum = 0, lo = 0, hi = -1;
  for (let i = 0; i < pts.length; i++) {
    const a = Math.max(0, i - k), b = Math.min(pts.length - 1, i + k);
    while (hi < b) sum += pts[++hi][1];
    while (lo < a) sum -= pts[lo++][1];
    out.push([pts[i][0], sum / (hi - lo + 1)]);
  }
  return out;
}

let chartPending = false;
function drawCurves() {
  if (chartPending) return;
  chartPending = true;
  requestAnimationFrame(() => {
    chartPending = false;
    const pal = palette();
    const xMax = totalSteps || undefined;
    lossChart.opts.xMax = xMax;
    accChart.opts.xMax = xMax;
    lossChart.setSeries([
      { name: 'loss', color: pal.series[0], points: curves.loss, width: 1, alpha: 0.4, noReadout: true },
      { name: 'loss (smoothed)', color: pal.series[0], points: smooth(curves.loss), width: 2.2 },
    ]);
    accChart.setSeries([
      { name: 'train', color: pal.series[2], points: curves.acc, width: 1, alpha: 0.35, noReadout: true },
      { name: 'train (smoothed)', color: pal.series[2], points: smooth(curves.acc), width: 2.2 },
      { name: 'test', color: pal.series[1], points: curves.test, width: 1.5, markers: true },
    ]);
    const l = curves.loss, a = smooth(curves.acc);
    el.lossChart.dataset.points = String(l.length);
    el.accChart.dataset.first = a.length ? String(a[0][1]) : '';
    el.accChart.dataset.last = a.length ? String(a.at(-1)[1]) : '';
    el.lossChart.setAttribute('aria-label', l.length ? `Training loss over ${l.at(-1)[0]} steps: from ` +
      `${l[0][1].toFixed(3)} to ${l.at(-1)[1].toFixed(3)}.` : 'Training loss: no data yet.');
    el.accChart.setAttribute('aria-label', a.length ? `Train accuracy (smoothed) now ${(100 * a.at(-1)[1]).toFixed(1)} %` +
      (curves.test.length ? `; test accuracy after epoch ${curves.test.length}: ${(100 * curves.test.at(-1)[1]).toFixed(1)} %.` : '.')
      : 'Accuracy: no data yet.');
  });
}

function resetProgress() {
  for (const k of ['epoch', 'step', 'loss', 'trainAcc', 'testAcc', 'speed', 'eta', 'stanhNow', 'lrNow']) el[k].textContent = '–';
  el.step.dataset.value = '0';
  delete el.testAcc.dataset.correct;
  delete el.testAcc.dataset.total;
  delete el.testAcc.dataset.value;
  el.progress.value = 0;
  el.history.tBodies[0].replaceChildren();
  el.history.hidden = true;
  history = [];
  curves = { loss: [], acc: [], test: [] };
  totalSteps = 0;
  lastProgress = null;
  el.autosave.textContent = '';
  el.autosave.dataset.step = '';
  drawCurves();
}

function showProgress(p) {
  lastProgress = p;
  totalSteps = p.totalSteps;
  el.epoch.textContent = `${Math.min(p.epoch + 1, p.epochs)} / ${p.epochs}`;
  el.step.textContent = `${p.step} / ${p.stepsPerEpoch}`;
  el.step.dataset.value = String(p.globalStep);
  el.loss.textContent = fixed(p.loss, 4);
  el.trainAcc.textContent = pct(p.trainAcc);
  el.speed.textContent = int(p.imagesPerSec);
  el.progress.value = p.totalSteps ? p.globalStep / p.totalSteps : 0;
  el.stanhNow.textContent = Number.isFinite(p.sTanh) ? String(Number(p.sTanh.toPrecision(4))) : '–';
  el.lrNow.textContent = Number.isFinite(p.lr) ? p.lr.toExponential(2) : '–';
  const left = p.totalSteps - p.globalStep;
  el.eta.textContent = left <= 0 ? 'done' : p.msPerStep ? duration(left * p.msPerStep) : '–';
}

function addCurvePoint(p) {
  if (!(p.chunkSteps > 0)) return;
  curves.loss.push([p.globalStep, p.chunkLoss]);
  curves.acc.push([p.globalStep, p.chunkAcc]);
  if (curves.loss.length > MAX_CURVE_POINTS) { decimate(curves.loss); decimate(curves.acc); }
  drawCurves();
}

function showEpoch(e) {
  const detail = document.createElement('small');
  detail.textContent = `${e.testCorrect} / ${e.testTotal}`;
  el.testAcc.replaceChildren(pct(e.testAcc), ' ', detail);
  el.testAcc.dataset.value = String(e.testAcc);
  el.testAcc.dataset.correct = String(e.testCorrect);
  el.testAcc.dataset.total = String(e.testTotal);
  const row = document.createElement('tr');
  row.dataset.epoch = String(e.epoch);
  for (const text of [String(e.epoch), fixed(e.loss, 4), pct(e.trainAcc), pct(e.testAcc), int(e.imagesPerSec)]) {
    const td = document.createElement('td');
    td.textContent = text;
    row.append(td);
  }
  el.history.tBodies[0].append(row);
  el.history.hidden = false;
}

function onEpoch(e) {
  history.push(e);
  showEpoch(e);
  if (e.globalStep != null) curves.test.push([e.globalStep, e.testAcc]);
  drawCurves();
}

// ---------------------------------------------------------------------------------------------------------
// Views and Try it

const views = new BitViews({
  root: $('decisions'), layer: $('layer'), plane: $('plane'), planeField: $('plane-field'), summary: $('layer-summary'),
  slice: $('slice'), sliceRange: $('slice-range'), slicePrev: $('slice-prev'), sliceNext: $('slice-next'),
  sliceCount: $('slice-count'), gates: $('xor-gates'), matrix: $('xor-matrix'), readout: $('xor-readout'),
  encWord: $('enc-word'), decWord: $('dec-word'), wmap: $('wmap'), wmapMode: $('wmap-mode'), wmapCaption: $('wmap-caption'),
  flips: $('flips'), flipsLegend: $('flips-legend'), hist: $('hist'), histLog: $('hist-log'), histCaption: $('hist-caption'),
  sizes: $('sizes'), sizesNote: $('sizes-note'),
}, {
  onView: (node, plane) => {
    view = { node, plane };
    worker?.postMessage({ type: 'view', node, plane });
  },
});
let view = { node: 1, plane: 0 };

let classifySeq = 0;
const pendingClassify = new Map();
function classifyInWorker(image) {
  if (!worker || !hasModel) return Promise.resolve({ error: 'There is no model yet: start training or load a model file.' });
  const id = ++classifySeq;
  return new Promise((resolve) => {
    pendingClassify.set(id, resolve);
    worker.postMessage({ type: 'classify', id, image: { data: image.data, width: image.width, height: image.height } },
      [image.data.buffer]);
  });
}

const draw = new DrawPanel({
  canvas: $('draw'), clear: $('draw-clear'), probs: $('draw-probs'), result: $('draw-result'), note: $('draw-note'),
}, classifyInWorker);

let cifar = null;

// ---------------------------------------------------------------------------------------------------------
// The worker

function startWorker() {
  worker?.terminate();
  for (const resolve of pendingClassify.values()) resolve({ error: 'The model changed.' });
  pendingClassify.clear();
  hasModel = false;
  modelInfo = null;
  views.reset();
  draw.setModel(null);
  cifar?.setUserModel(null);
  worker = new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module', name: 'flexor-train' });
  worker.addEventListener('message', (ev) => onMessage(ev.data));
  worker.addEventListener('error', (ev) => {
    ev.preventDefault();
    fail(`The training worker failed${ev.message ? `: ${ev.message}` : ' to load (see the browser console)'}.`);
  });
  worker.addEventListener('messageerror', () => fail('A message from the training worker could not be read.'));
  worker.postMessage({ type: 'timing', saveEveryMs: query.saveEveryMs, viewEveryMs: query.viewEveryMs });
}

function fail(message) {
  showError(message);
  setStatus('Training stopped because of an error.');
  setState('error');
}

let pendingDownload = null;
let loadedFile = null;   // {name, bytes} of a model file the user loaded

function onMessage(msg) {
  switch (msg?.type) {
    case 'status':
      setStatus(msg.text);
      break;
    case 'state':
      if (msg.hasModel !== undefined) hasModel = msg.hasModel;
      setState(msg.state);
      if (msg.text) setStatus(msg.text);
      if (draw.hasInk) draw.schedule(0);
      break;
    case 'model':
      modelInfo = msg.info;
      views.setModel(msg.info);
      draw.setModel(msg.info);
      if (msg.info.source === 'file' && loadedFile && msg.info.inputShape[0] === 3) {
        cifar?.setUserModel(loadedFile.name, loadedFile.bytes.slice(0));
      }
      break;
    case 'bits': {
      const t0 = performance.now();
      views.update(msg);
      $('decisions').dataset.renderMs = (performance.now() - t0).toFixed(1);
      draw.refresh();
      break;
    }
    case 'progress':
      showProgress(msg);
      addCurvePoint(msg);
      break;
    case 'epoch':
      onEpoch(msg);
      break;
    case 'checkpoint':
      if (persist) persistCheckpoint(msg);
      break;
    case 'classified': {
      const resolve = pendingClassify.get(msg.id);
      pendingClassify.delete(msg.id);
      resolve?.(msg);
      break;
    }
    case 'saved': {
      const blob = new Blob([msg.bytes], { type: 'application/octet-stream' });
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = msg.fileName;
      a.hidden = true;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      setStatus(`Saved ${msg.fileName} (${int(msg.bytes.byteLength)} bytes).`);
      pendingDownload = null;
      setState(state);
      break;
    }
    case 'error':
      console.error(`training worker: ${msg.stack || msg.message}`);
      if (msg.hasModel !== undefined) hasModel = msg.hasModel;
      fail(msg.message);
      break;
    default:
      console.warn('unexpected message from the training worker', msg);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Autosave (IndexedDB) and restore

function persistCheckpoint(msg) {
  const record = {
    config: runConfig, checkpoint: msg.bytes, position: msg.position, steps: msg.steps, acc: msg.acc,
    epochsDone: msg.epochsDone, lastEval: msg.lastEval, elapsedMs: msg.elapsedMs, done: msg.done, reason: msg.reason,
    curves, history, progress: lastProgress, flips: views.getState(), view, savedAt: Date.now(),
  };
  saving = saving.then(() => saveRun(record)).then(() => {
    const t = new Date(record.savedAt).toLocaleTimeString();
    el.autosave.textContent = `· saved in this browser at ${t} (step ${int(msg.position.globalStep)})`;
    el.autosave.dataset.step = String(msg.position.globalStep);
    el.autosave.dataset.reason = msg.reason;
  }, (e) => {
    el.autosave.textContent = `· could not save in this browser (${e.message})`;
  });
}

function describeSaved(rec) {
  const c = rec.config;
  const p = rec.progress;
  const when = new Date(rec.savedAt).toLocaleString();
  const where = p ? `epoch ${Math.min(p.epoch + 1, p.epochs)} of ${p.epochs}, step ${int(rec.position.globalStep)} of ` +
    `${int(p.totalSteps)} (${Math.round((100 * rec.position.globalStep) / p.totalSteps)} %)` : `step ${rec.position.globalStep}`;
  const acc = rec.lastEval ? `, test accuracy ${pct(rec.lastEval.accuracy)}` : '';
  return `${c.bits != null ? `${c.bits} bits/weight` : 'per-layer n_in'}, ${c.mode}, ${where}${acc}${rec.done ? ' (finished)' : ''}; saved ${when}.`;
}

async function checkSaved() {
  try {
    saved = await loadRun();
  } catch (e) {
    saved = null;
    console.warn(`IndexedDB: ${e.message}`);
  }
  if (!saved) return;
  el.restoreText.textContent = describeSaved(saved);
  el.restoreRun.textContent = saved.done ? 'Restore the finished run' : 'Restore and continue';
  el.restore.hidden = false;
}

function restoreSaved() {
  const rec = saved;
  if (!rec || ACTIVE.includes(state)) return;
  showError('');
  el.restore.hidden = true;
  resetProgress();
  runConfig = { ...rec.config, dataUrl: query.dataUrl };
  writeSettings(runConfig);
  curves = rec.curves ?? { loss: [], acc: [], test: [] };
  for (const e of rec.history ?? []) { history.push(e); showEpoch(e); }
  if (rec.progress) showProgress({ ...rec.progress, globalStep: rec.position.globalStep });
  drawCurves();
  startWorker();
  views.setState(rec.flips);
  view = rec.view ?? view;
  persist = true;
  focusNext = 'resume';
  setState('restoring');
  setStatus('Restoring the saved run…');
  el.autosave.dataset.step = String(rec.position.globalStep);
  el.autosave.textContent = `· restored from step ${int(rec.position.globalStep)}`;
  worker.postMessage({
    type: 'restore', config: runConfig, checkpoint: rec.checkpoint, position: rec.position, view,
    meta: { acc: rec.acc, epochsDone: rec.epochsDone, lastEval: rec.lastEval, elapsedMs: rec.elapsedMs, sTanh: rec.progress?.sTanh },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Controls

el.bits.addEventListener('change', applyPreset);
el.nout.addEventListener('input', applyPreset);
for (const f of el.ninLayers) {
  f.addEventListener('input', () => {
    el.bits.value = 'custom';
    updatePlan();
  });
}
el.q.addEventListener('change', applyPreset);
for (const f of [el.optimizer, el.schedule, el.batch]) f.addEventListener('change', updatePlan);
el.trainSize.addEventListener('change', updateDataNote);

el.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (el.start.disabled) return;
  showError('');
  try {
    runConfig = readSettings();
  } catch (e) {
    showError(e.message);
    return;
  }
  resetProgress();
  startWorker();
  persist = true;
  el.restore.hidden = true;
  saved = null;
  saving = saving.then(() => clearRun()).catch(() => {});
  focusNext = 'pause';
  setState('loading');
  setStatus('Starting the worker…');
  worker.postMessage({ type: 'start', config: runConfig, view });
});

el.pause.addEventListener('click', () => {
  if (state !== 'running') return;
  focusNext = 'resume';
  setState('pausing');
  setStatus('Pausing after the current chunk of steps…');
  worker.postMessage({ type: 'pause' });
});

el.resume.addEventListener('click', () => {
  if (state !== 'paused') return;
  focusNext = 'pause';
  setState('running');
  setStatus('Training…');
  worker.postMessage({ type: 'resume' });
});

el.stop.addEventListener('click', () => {
  if (!['loading', 'restoring', 'running', 'pausing', 'paused'].includes(state)) return;
  focusNext = 'start';
  setState('stopping');
  setStatus('Stopping…');
  worker.postMessage({ type: 'stop' });
});

el.download.addEventListener('click', () => {
  if (el.download.disabled || !worker || pendingDownload) return;
  pendingDownload = true;
  el.download.disabled = true;
  setStatus('Saving the model…');
  worker.postMessage({ type: 'save' });
});

el.modelFile.addEventListener('change', async () => {
  const file = el.modelFile.files?.[0];
  el.modelFile.value = '';
  if (!file || ACTIVE.includes(state)) return;
  showError('');
  const bytes = await file.arrayBuffer();
  loadedFile = { name: file.name, bytes };
  resetProgress();
  startWorker();
  persist = false;
  setState('loading');
  setStatus(`Loading ${file.name}…`);
  worker.postMessage({ type: 'load', bytes: bytes.slice(0), name: file.name, view });
});

el.restoreRun.addEventListener('click', restoreSaved);
el.restoreDiscard.addEventListener('click', async () => {
  el.restore.hidden = true;
  saved = null;
  await clearRun().catch(() => {});
  setStatus('The saved run was discarded.');
  el.start.focus();
});

// A checkpoint when the tab is hidden (it may be closed next).
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden' && persist && ['running', 'paused'].includes(state)) {
    worker?.postMessage({ type: 'checkpoint' });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Start-up

try {
  query = readQuery();
  if (query.trainLimit != null) ensureTrainSize(query.trainLimit);
  applyPreset();
  updateDataNote();
  setState('idle');
  views.reset();
  setStatus(typeof Worker === 'function' ? 'Ready.' : 'This browser has no Web Workers.');
  if (typeof Worker !== 'function') el.start.disabled = true;
  checkSaved();
  cifar = new CifarPanel({
    root: $('cifar'), grid: $('cifar-grid'), index: $('cifar-index'), prev: $('cifar-prev'), next: $('cifar-next'),
    random: $('cifar-random'), file: $('cifar-file'), drop: $('cifar-drop'), preview: $('cifar-preview'),
    truth: $('cifar-truth'), table: $('cifar-table'), note: $('cifar-note'), status: $('cifar-status'),
  }, { samplesUrl: 'samples/', modelsUrl: query.modelsUrl });
  cifar.start();
} catch (e) {
  setState('idle');
  el.start.disabled = true;
  setStatus('Not ready.');
  showError(e.message);
}
