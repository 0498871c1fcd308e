// app.js - the training page's main thread: settings, buttons, progress display and the model download.
// All the work happens in train-worker.js (a module Web Worker); this thread only exchanges messages with
// it, so the page stays responsive while training.
//
// Query parameters (for tests and quick experiments):
//   trainLimit=N  train on the first N training images (default: all 60000)
//   testLimit=N   evaluate after each epoch on the first N test images (default 1000)
//   dataUrl=URL   where the four MNIST IDX files are (default /data/mnist/, same origin only)

const $ = (id) => document.getElementById(id);
const el = {
  form: $('settings'), fields: $('settings-fields'),
  bits: $('bits'), ntap: $('ntap'), mode: $('mode'), epochs: $('epochs'), lr: $('lr'), nin: $('nin'),
  start: $('start'), pause: $('pause'), resume: $('resume'), stop: $('stop'), download: $('download'),
  state: $('state'), progress: $('progress'), epoch: $('epoch'), step: $('step'), loss: $('loss'),
  trainAcc: $('train-acc'), testAcc: $('test-acc'), speed: $('speed'), history: $('history'),
  status: $('status'), error: $('error'), dataNote: $('data-note'),
};

const N_OUT = 20;
const TRAIN_TOTAL = 60000;
const TEST_TOTAL = 10000;

// ---------------------------------------------------------------------------------------------------------
// Query parameters

function positiveInt(params, name, dflt, max) {
  const raw = params.get(name);
  if (raw === null || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`?${name}= must be a positive integer (got "${raw}")`);
  return Math.min(v, max);
}

function readQuery() {
  const params = new URLSearchParams(location.search);
  const trainLimit = positiveInt(params, 'trainLimit', TRAIN_TOTAL, TRAIN_TOTAL);
  const testLimit = positiveInt(params, 'testLimit', 1000, TEST_TOTAL);
  const dataUrl = new URL(params.get('dataUrl') || '/data/mnist/', location.href);
  if (dataUrl.origin !== location.origin) throw new Error('?dataUrl= must be on this server');
  if (!dataUrl.pathname.endsWith('/')) dataUrl.pathname += '/';
  return { trainLimit, testLimit, dataUrl: dataUrl.href };
}

// ---------------------------------------------------------------------------------------------------------
// State and buttons

let query = { trainLimit: TRAIN_TOTAL, testLimit: 1000, dataUrl: '/data/mnist/' };
let worker = null;
let state = 'idle';
let hasModel = false;   // the worker holds a model that can be saved
let focusNext = null;   // the button to focus once it is enabled (keyboard users keep their place)
let runConfig = null;

const STATE_LABEL = {
  idle: 'idle', loading: 'loading', running: 'training', pausing: 'pausing…', paused: 'paused',
  stopping: 'stopping…', stopped: 'stopped', done: 'done', error: 'error',
};

function setState(next) {
  state = next;
  document.body.dataset.state = next;
  el.state.dataset.state = next;
  el.state.textContent = STATE_LABEL[next] ?? next;
  const active = ['loading', 'running', 'pausing', 'paused', 'stopping'].includes(next);
  el.fields.disabled = active;
  el.start.disabled = active;
  el.pause.disabled = next !== 'running';
  el.resume.disabled = next !== 'paused';
  el.stop.disabled = !['loading', 'running', 'pausing', 'paused'].includes(next);
  el.download.disabled = !(hasModel && ['paused', 'stopped', 'done', 'error'].includes(next));
  // Keyboard users keep their place: focus moves to the button that continues what they did (Pause ->
  // Resume, Resume -> Pause, Start -> Pause, Stop -> Start) once it is enabled, and never stays on a disabled
  // button otherwise.
  const cur = document.activeElement;
  const onControl = !cur || cur === document.body || cur.disabled || cur.closest?.('.buttons');
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

function updateNin() {
  el.nin.textContent = String(Math.round(Number(el.bits.value) * N_OUT));
}

function resetProgress() {
  for (const k of ['epoch', 'step', 'loss', 'trainAcc', 'testAcc', 'speed']) el[k].textContent = '–';
  el.step.dataset.value = '0';
  delete el.testAcc.dataset.correct;
  delete el.testAcc.dataset.total;
  delete el.testAcc.dataset.value;
  el.progress.value = 0;
  el.history.tBodies[0].replaceChildren();
  el.history.hidden = true;
}

function showProgress(p) {
  el.epoch.textContent = `${Math.min(p.epoch + 1, p.epochs)} / ${p.epochs}`;
  el.step.textContent = `${p.step} / ${p.stepsPerEpoch}`;
  el.step.dataset.value = String(p.globalStep);
  el.loss.textContent = fixed(p.loss, 4);
  el.trainAcc.textContent = pct(p.trainAcc);
  el.speed.textContent = int(p.imagesPerSec);
  el.progress.value = p.totalSteps ? p.globalStep / p.totalSteps : 0;
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

// ---------------------------------------------------------------------------------------------------------
// The worker

function readSettings() {
  const bits = Number(el.bits.value);
  const epochs = Number(el.epochs.value);
  const lr = Number(el.lr.value);
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > 100) throw new Error('Epochs must be a whole number from 1 to 100.');
  if (!Number.isFinite(lr) || lr <= 0 || lr > 1) throw new Error('The learning rate must be a number in (0, 1].');
  return {
    bits, nOut: N_OUT, nIn: Math.round(bits * N_OUT), nTap: Number(el.ntap.value), mode: el.mode.value, epochs, lr,
    seed: 1, trainLimit: query.trainLimit, testLimit: query.testLimit, dataUrl: query.dataUrl,
  };
}

function startWorker() {
  worker?.terminate();
  hasModel = false;
  worker = new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module', name: 'flexor-train' });
  worker.addEventListener('message', (ev) => onMessage(ev.data));
  worker.addEventListener('error', (ev) => {
    ev.preventDefault();
    fail(`The training worker failed${ev.message ? `: ${ev.message}` : ' to load (see the browser console)'}.`);
  });
  worker.addEventListener('messageerror', () => fail('A message from the training worker could not be read.'));
}

function fail(message) {
  showError(message);
  setStatus('Training stopped because of an error.');
  setState('error');
}

let pendingDownload = null;

function onMessage(msg) {
  switch (msg?.type) {
    case 'status':
      setStatus(msg.text);
      break;
    case 'state':
      if (msg.hasModel !== undefined) hasModel = msg.hasModel;
      setState(msg.state);
      if (msg.text) setStatus(msg.text);
      break;
    case 'progress':
      showProgress(msg);
      break;
    case 'epoch':
      showEpoch(msg);
      break;
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
// Controls

el.bits.addEventListener('change', updateNin);

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
  focusNext = 'pause';
  setState('loading');
  setStatus('Starting the worker…');
  worker.postMessage({ type: 'start', config: runConfig });
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
  if (!['loading', 'running', 'pausing', 'paused'].includes(state)) return;
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

// ---------------------------------------------------------------------------------------------------------
// Start-up

try {
  query = readQuery();
  updateNin();
  const trainNote = query.trainLimit < TRAIN_TOTAL ? `the first ${int(query.trainLimit)} of ${int(TRAIN_TOTAL)}` : `all ${int(TRAIN_TOTAL)}`;
  el.dataNote.textContent = `Trains on ${trainNote} MNIST training images; tests on the first ${int(query.testLimit)} test images after each epoch.`;
  setState('idle');
  setStatus(typeof Worker === 'function' ? 'Ready.' : 'This browser has no Web Workers.');
  if (typeof Worker !== 'function') el.start.disabled = true;
} catch (e) {
  setState('idle');
  el.start.disabled = true;
  setStatus('Not ready.');
  showError(e.message);
}
