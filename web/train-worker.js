// train-worker.js - the training loop of the page, in a module Web Worker.
//
// Messages in:  {type: 'start', config} | {type: 'pause'} | {type: 'resume'} | {type: 'stop'} | {type: 'save'}
// Messages out: {type: 'status', text} | {type: 'state', state, hasModel?, text?} | {type: 'progress', ...}
//               {type: 'epoch', ...} | {type: 'saved', bytes, fileName} | {type: 'error', message, stack, hasModel}
//
// The trainer runs in chunks of steps sized to take about CHUNK_MS each; between chunks the worker yields
// to its event loop, so pause / stop / save messages are seen within one chunk.

import { init, Model, Dataset, Trainer } from '../wasm/flexor.js';

const CHUNK_MS = 150;
const MAX_CHUNK_STEPS = 64;
const BATCH = 64;
const MNIST_MEAN = 0.1307;
const MNIST_STD = 0.3081;
const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

/** The run in progress: model, datasets, trainer and control flags. */
let run = null;

const post = (msg, transfer) => self.postMessage(msg, transfer ?? []);
const status = (text) => post({ type: 'status', text });
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

function postError(e) {
  post({ type: 'error', message: String(e?.message ?? e), stack: e?.stack ? String(e.stack) : '', hasModel: !!run?.model });
}

async function fetchBytes(base, name) {
  const url = new URL(name, base);
  let resp;
  try {
    resp = await fetch(url);
  } catch (e) {
    throw new Error(`Cannot fetch ${url.pathname}: ${e.message}`);
  }
  if (!resp.ok) {
    const detail = (await resp.text().catch(() => '')).trim();
    throw new Error(`Fetching ${url.pathname} gave HTTP ${resp.status}${detail ? `: ${detail}` : ''}`);
  }
  return new Uint8Array(await resp.arrayBuffer());
}

/** Waits while paused; resolves true to go on, false when stopped. */
async function waitWhilePaused() {
  if (!run.paused || run.stopRequested) return !run.stopRequested;
  post({ type: 'state', state: 'paused', hasModel: true, text: 'Paused. Resume to go on, or download the model as it is.' });
  while (run.paused && !run.stopRequested) await new Promise((resolve) => { run.wake = resolve; });
  run.wake = null;
  if (run.stopRequested) return false;
  post({ type: 'state', state: 'running', hasModel: true, text: 'Training…' });
  return true;
}

/** The first `limit` samples of `all` (a copy; the full set is freed), or `all` itself. */
function firstN(all, limit) {
  if (limit >= all.length) return all;
  try {
    return all.subset(limit);
  } finally {
    all.dispose();
  }
}

async function train(cfg) {
  status('Loading the WebAssembly core…');
  await init();
  if (run.stopRequested) return finish('stopped');

  status('Fetching MNIST…');
  const [trImg, trLab, teImg, teLab] = await Promise.all(
    [FILES.trainImages, FILES.trainLabels, FILES.testImages, FILES.testLabels].map((f) => fetchBytes(cfg.dataUrl, f)));
  if (run.stopRequested) return finish('stopped');

  const norm = { mean: [MNIST_MEAN], std: [MNIST_STD] };
  run.train = firstN(Dataset.fromIdx(trImg, trLab, norm), cfg.trainLimit);
  run.test = firstN(Dataset.fromIdx(teImg, teLab, norm), cfg.testLimit);

  status('Building LeNet-5…');
  run.model = Model.lenet5({
    q: 1, nOut: cfg.nOut, nIn: cfg.nIn, nTap: cfg.nTap, seed: cfg.seed, maxBatch: BATCH, training: true,
  });
  run.trainer = new Trainer(run.model, run.train, {
    schedule: 'cosine', lr: cfg.lr, warmup: 0, epochs: cfg.epochs, sTanh: 100, sTanh0: 100, optimizer: 'adam',
    weightDecay: 0, mode: cfg.mode, batch: BATCH, seed: cfg.seed,
  });

  post({ type: 'state', state: 'running', hasModel: true,
    text: `Training on ${run.train.length} images, testing on ${run.test.length}…` });

  let steps = 2;            // the next chunk's size, adapted to take about CHUNK_MS
  let epochSeen = 0, epochCorrect = 0, epochLoss = 0, epochMs = 0;
  let stepsPerEpoch = 0;
  for (;;) {
    if (!(await waitWhilePaused())) return finish('stopped');
    const t0 = performance.now();
    const st = run.trainer.run(steps);
    const ms = performance.now() - t0;
    const did = st.seen / BATCH;
    if (did > 0) steps = Math.max(1, Math.min(MAX_CHUNK_STEPS, Math.round((CHUNK_MS * did) / Math.max(ms, 1))));
    stepsPerEpoch = st.stepsPerEpoch;
    epochSeen += st.seen;
    epochCorrect += st.correct;
    epochLoss += st.loss * st.seen;
    epochMs += ms;
    const completed = st.epoch;              // epochs finished (position is step 0 of the next at an end)
    const step = st.epochDone ? stepsPerEpoch : st.step;
    const current = st.epochDone ? completed - 1 : completed;
    const progress = {
      epoch: current, epochs: cfg.epochs, step, stepsPerEpoch,
      globalStep: current * stepsPerEpoch + step, totalSteps: cfg.epochs * stepsPerEpoch,
      loss: epochSeen ? epochLoss / epochSeen : NaN, trainAcc: epochSeen ? epochCorrect / epochSeen : NaN,
      imagesPerSec: epochMs > 0 ? (1000 * epochSeen) / epochMs : NaN, lr: st.lr, sTanh: st.sTanh,
    };
    post({ type: 'progress', ...progress });

    if (st.epochDone) {
      status(`Epoch ${completed}: testing on ${run.test.length} images…`);
      await yieldToEvents();
      const ev = run.model.evaluate(run.test);
      post({
        type: 'epoch', epoch: completed, loss: progress.loss, trainAcc: progress.trainAcc, testAcc: ev.accuracy,
        testCorrect: ev.correct, testTotal: ev.total, imagesPerSec: progress.imagesPerSec,
      });
      run.lastEval = ev;
      run.epochsDone = completed;
      epochSeen = epochCorrect = epochLoss = epochMs = 0;
      if (!st.runDone) status(`Epoch ${completed} done: test accuracy ${(100 * ev.accuracy).toFixed(2)} %. Training…`);
    }
    if (st.runDone) {
      const acc = run.lastEval ? ` Test accuracy ${(100 * run.lastEval.accuracy).toFixed(2)} %.` : '';
      return finish('done', `Done: ${cfg.epochs} epoch${cfg.epochs > 1 ? 's' : ''}.${acc} Download the model to keep it.`);
    }
    await yieldToEvents(); // let pause / stop / save messages in
  }
}

function finish(state, text) {
  run.finished = true;
  post({ type: 'state', state, hasModel: !!run.model,
    text: text ?? (run.model ? 'Stopped. The model as it is now can be downloaded.' : 'Stopped.') });
}

function save() {
  if (!run?.model) throw new Error('There is no model to save yet.');
  const c = run.cfg;
  const metadata = JSON.stringify({
    producer: 'flexor-wasm web page', dataset: 'mnist', model: 'lenet5', q: 1, nOut: c.nOut, nIn: c.nIn, nTap: c.nTap,
    bitsPerWeight: c.bits, mode: c.mode, optimizer: 'adam', schedule: 'cosine', lr: c.lr, epochs: c.epochs,
    epochsDone: run.epochsDone ?? 0, batch: BATCH, seed: c.seed, trainImages: run.train?.length ?? 0,
    mean: MNIST_MEAN, std: MNIST_STD,
    test: run.lastEval ? { images: run.lastEval.total, correct: run.lastEval.correct, accuracy: run.lastEval.accuracy } : null,
    savedAt: new Date().toISOString(),
  });
  const bytes = run.model.save({ kind: 'inference', metadata });
  const fileName = `flexor-lenet5-mnist-${c.bits.toFixed(1)}bit-${c.nTap ? `ntap${c.nTap}` : 'randfill'}-${c.mode}.fxm`;
  const buf = bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.slice().buffer;
  post({ type: 'saved', bytes: buf, fileName }, [buf]);
}

self.addEventListener('message', (ev) => {
  const msg = ev.data;
  try {
    switch (msg?.type) {
      case 'start':
        if (run) throw new Error('This worker already ran; the page starts a new worker per run.');
        run = { cfg: msg.config, paused: false, stopRequested: false, wake: null, finished: false };
        train(msg.config).catch((e) => {
          run.finished = true;
          postError(e);
        });
        break;
      case 'pause':
        if (run && !run.finished) run.paused = true;
        break;
      case 'resume':
        if (run) {
          run.paused = false;
          run.wake?.();
        }
        break;
      case 'stop':
        if (run) {
          run.stopRequested = true;
          run.wake?.();
        }
        break;
      case 'save':
        save();
        break;
      default:
        throw new Error(`unknown message ${JSON.stringify(msg?.type)}`);
    }
  } catch (e) {
    postError(e);
  }
});

self.addEventListener('unhandledrejection', (ev) => {
  ev.preventDefault();
  postError(ev.reason);
});
