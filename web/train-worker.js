// train-worker.js - the page's model owner, in a module Web Worker: it trains LeNet-5 on MNIST with the
// WebAssembly core, restores a run from a checkpoint, loads a model file, classifies drawn digits, and sends
// the page what the bit-decision views draw (typed arrays, transferred, not copied).
//
// Messages in:
//   {type: 'start', config, view?}                        build LeNet-5 and train it
//   {type: 'restore', config, checkpoint, position, meta, view?}
//                                                         Model.load(checkpoint, {training: true}) + Trainer.seek,
//                                                         then wait paused (or done)
//   {type: 'load', bytes, name, view?}                    a model file (inference or checkpoint) to look at
//   {type: 'pause'} | {type: 'resume'} | {type: 'stop'} | {type: 'save'} | {type: 'checkpoint'}
//   {type: 'view', node, plane?}                          which layer the views show; answers with 'bits' at once
//   {type: 'classify', id, image: {data, width, height}}  answers 'classified' {id, probabilities, ...}
//   {type: 'timing', saveEveryMs?, viewEveryMs?}
// Messages out:
//   {type: 'status', text} | {type: 'state', state, hasModel?, text?} | {type: 'error', message, stack, hasModel}
//   {type: 'model', info}                                 the layers and sizes of the model the worker holds
//   {type: 'progress', ...} | {type: 'epoch', ...}        training progress (per chunk of steps / per epoch)
//   {type: 'bits', ...}                                   per-layer sign flips + the selected layer's bitDecisions
//   {type: 'checkpoint', bytes, position, ...}            for the page's IndexedDB autosave (every saveEveryMs
//                                                         of training, on pause, stop and at the end)
//   {type: 'saved', bytes, fileName}                      the inference model file (Download)
//   {type: 'classified', id, ...}
//
// The trainer runs in chunks of steps sized to take about CHUNK_MS each; between chunks the worker yields to
// its event loop, so pause / stop / save / view / classify messages are answered within one chunk.

import { init, Model, Dataset, Trainer, classify, bitDecisions } from '../wasm/api.js';

const CHUNK_MS = 150;
const MAX_CHUNK_STEPS = 64;
const MNIST_MEAN = 0.1307;
const MNIST_STD = 0.3081;
const LENET_NAMES = ['conv1', 'conv2', 'fc1', 'fc2'];
const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

let saveEveryMs = 10_000;
let viewEveryMs = 700;

/** What this worker holds: a training run, or a model loaded from a file. */
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

/** An ArrayBuffer holding exactly the bytes of `u8`, safe to transfer. */
function ownBuffer(u8) {
  return u8.byteOffset === 0 && u8.buffer.byteLength === u8.byteLength ? u8.buffer : u8.slice().buffer;
}

// ---------------------------------------------------------------------------------------------------------
// Model description (layers, sizes) for the page

function describeModel(model, source, name) {
  const nodes = model.nodes();
  const params = model.params();
  const byNode = new Map();
  for (const p of params) {
    if (!byNode.has(p.node)) byNode.set(p.node, []);
    byNode.get(p.node).push(p);
  }
  const lenet = nodes.length === 10 && model.inputShape.join('x') === '1x28x28';
  let wi = 0;
  const layers = [];
  let otherValues = 0;   // float32 values besides the weights: biases, alphas, BN
  for (const n of nodes) {
    if (n.kind !== 'conv' && n.kind !== 'dense') continue;
    const src = nodes[n.inputs[0]];
    const conv = n.kind === 'conv';
    const k = conv ? n.k : 1;
    const cIn = conv ? src.shape[0] : src.shape[0] * src.shape[1] * src.shape[2];
    const weights = n.cOut * cIn * k * k;
    const f = n.flexor;
    const nSlices = f ? Math.ceil(weights / f.nOut) : 0;
    const storedBits = f ? f.q * nSlices * f.nIn : 32 * weights;
    const bias = n.bias ? n.cOut : 0;
    const alphas = f ? f.q * n.cOut : 0;
    layers.push({
      id: n.id, name: lenet ? LENET_NAMES[wi] : `${n.kind}${wi + 1} (node ${n.id})`, kind: n.kind, cOut: n.cOut, cIn, k,
      weights, flexor: f ? { q: f.q, nOut: f.nOut, nIn: f.nIn, nTap: f.nTap } : null, nSlices, storedBits,
      bitsPerWeight: storedBits / weights, bias, alphas, macs: n.macs,
    });
    wi++;
  }
  for (const p of params) {
    if (p.kind === 'w' || p.kind === 'lat') continue;
    otherValues += p.length;
  }
  const inference = model.save({ kind: 'inference' });
  return {
    source, name, inputShape: model.inputShape, classes: model.classes, training: model.training,
    bitsPerWeight: model.bitsPerWeight, flexorWeights: model.flexorWeights, layers, otherValues,
    fileBytes: inference.length, metadata: model.metadata, steps: model.steps,
  };
}

function announceModel(source, name) {
  run.info = describeModel(run.model, source, name);
  run.flexorIds = run.info.layers.filter((l) => l.flexor).map((l) => l.id);
  if (!run.view || !run.flexorIds.includes(run.view.node)) run.view = { node: run.flexorIds[0] ?? -1, plane: 0 };
  run.prevSigns = new Map();
  post({ type: 'model', info: run.info });
}

// ---------------------------------------------------------------------------------------------------------
// Bit decisions for the views

/** Fraction of latent signs of each FleXOR layer that changed since the last call (null the first time). */
function signFlips() {
  const out = [];
  for (const id of run.flexorIds) {
    const lat = run.model.getParam(`${id}.lat`);
    const signs = new Uint8Array(lat.length);
    for (let i = 0; i < lat.length; i++) signs[i] = lat[i] >= 0 ? 1 : 0;
    const prev = run.prevSigns.get(id);
    let changed = null;
    if (prev && prev.length === signs.length) {
      changed = 0;
      for (let i = 0; i < signs.length; i++) changed += prev[i] ^ signs[i];
    }
    run.prevSigns.set(id, signs);
    out.push({ node: id, changed, total: signs.length });
  }
  return out;
}

/** Posts the flips of every layer and the selected layer's bit decisions (arrays transferred). */
function postBits(reason) {
  if (!run?.model || !run.flexorIds?.length) return;
  const t0 = performance.now();
  const step = run.globalStep ?? 0;
  const flips = signFlips();
  const stepsSince = run.lastBitsStep == null ? null : step - run.lastBitsStep;
  run.lastBitsStep = step;
  const node = run.view.node;
  const d = bitDecisions(run.model, node);
  const plane = Math.min(run.view.plane ?? 0, d.q - 1);
  const transfer = [];
  for (const p of d.planes) transfer.push(p.masks.buffer, p.latent.buffer, p.encrypted.buffer, p.decrypted.buffer,
    p.alpha.buffer, p.signs.buffer);
  if (typeof d.seed === 'bigint') d.seed = d.seed.toString();
  run.lastBitsMs = performance.now() - t0;
  run.lastBitsAt = performance.now();
  post({
    type: 'bits', reason, step, stepsSince, sTanh: run.sTanh ?? null, flips, plane, decisions: d,
    costMs: run.lastBitsMs,
  }, transfer);
}

function maybePostBits() {
  // Throttled: at most every viewEveryMs, and never more than ~1/6 of the time (fc1 takes a while).
  const every = Math.max(viewEveryMs, 6 * (run.lastBitsMs ?? 0));
  if (run.lastBitsAt == null || performance.now() - run.lastBitsAt >= every) postBits('tick');
}

// ---------------------------------------------------------------------------------------------------------
// Checkpoints

function runMetadata(kind) {
  const c = run.cfg;
  return JSON.stringify({
    producer: 'flexor-wasm web page', kind, dataset: 'mnist', model: 'lenet5', q: c.q, nOut: c.nOut, nIn: c.nIn,
    nInPerLayer: c.nInPerLayer, nTap: c.nTap, bitsPerWeight: run.model.bitsPerWeight, preset: c.bits, mode: c.mode,
    optimizer: c.optimizer, schedule: c.schedule, lr: c.lr, warmup: c.warmup, sTanh: c.sTanh, sTanh0: c.sTanh0,
    epochs: c.epochs, epochsDone: run.epochsDone ?? 0, batch: c.batch, seed: c.seed, trainImages: run.train?.length ?? 0,
    mean: MNIST_MEAN, std: MNIST_STD,
    position: run.trainer ? { epoch: run.trainer.epoch, step: run.trainer.step } : null,
    test: run.lastEval ? { images: run.lastEval.total, correct: run.lastEval.correct, accuracy: run.lastEval.accuracy } : null,
    savedAt: new Date().toISOString(),
  });
}

function postCheckpoint(reason) {
  if (!run?.trainer || !run.model?.training) return;
  const bytes = run.model.save({ kind: 'checkpoint', metadata: runMetadata('checkpoint') });
  const buf = ownBuffer(bytes);
  run.lastCkptAt = performance.now();
  post({
    type: 'checkpoint', reason, bytes: buf, steps: run.model.steps,
    position: { epoch: run.trainer.epoch, step: run.trainer.step, globalStep: run.globalStep ?? 0 },
    acc: { ...run.acc }, epochsDone: run.epochsDone ?? 0, lastEval: run.lastEval ?? null, elapsedMs: run.elapsedMs,
    done: run.trainer.done,
  }, [buf]);
}

// ---------------------------------------------------------------------------------------------------------
// Training

/** Waits while paused; resolves true to go on, false when stopped. */
async function waitWhilePaused() {
  if (!run.paused || run.stopRequested) return !run.stopRequested;
  postBits('pause');
  postCheckpoint('pause');
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

async function loadData(cfg) {
  status('Loading the WebAssembly core…');
  await init();
  if (run.stopRequested) return false;
  status('Fetching MNIST…');
  const [trImg, trLab, teImg, teLab] = await Promise.all(
    [FILES.trainImages, FILES.trainLabels, FILES.testImages, FILES.testLabels].map((f) => fetchBytes(cfg.dataUrl, f)));
  if (run.stopRequested) return false;
  const norm = { mean: [MNIST_MEAN], std: [MNIST_STD] };
  run.train = firstN(Dataset.fromIdx(trImg, trLab, norm), cfg.trainLimit);
  run.test = firstN(Dataset.fromIdx(teImg, teLab, norm), cfg.testLimit);
  return true;
}

function trainerOptions(cfg) {
  return {
    schedule: cfg.schedule, lr: cfg.lr, warmup: cfg.warmup, epochs: cfg.epochs, sTanh: cfg.sTanh, sTanh0: cfg.sTanh0,
    optimizer: cfg.optimizer, momentum: 0.9, weightDecay: 0, mode: cfg.mode, batch: cfg.batch, seed: cfg.seed,
  };
}

async function start(cfg) {
  if (!(await loadData(cfg))) return finish('stopped');
  status('Building LeNet-5…');
  const allFloat = cfg.nInPerLayer ? cfg.nInPerLayer.every((v) => v === 0) : cfg.nIn === 0;
  run.model = Model.lenet5(allFloat ? { fp: true, seed: cfg.seed, maxBatch: cfg.batch, training: true } : {
    q: cfg.q, nOut: cfg.nOut, nIn: cfg.nIn, nInPerLayer: cfg.nInPerLayer, nTap: cfg.nTap, seed: cfg.seed,
    maxBatch: cfg.batch, training: true,
  });
  run.trainer = new Trainer(run.model, run.train, trainerOptions(cfg));
  announceModel('training', 'LeNet-5 being trained');
  run.globalStep = 0;
  run.sTanh = cfg.warmup > 0 ? cfg.sTanh0 : cfg.sTanh;
  postBits('start');
  post({ type: 'state', state: 'running', hasModel: true,
    text: `Training on ${run.train.length} images, testing on ${run.test.length}…` });
  return loop();
}

async function restore(msg) {
  const cfg = msg.config;
  if (!(await loadData(cfg))) return finish('stopped');
  status('Restoring the checkpoint…');
  run.model = Model.load(new Uint8Array(msg.checkpoint), { training: true, maxBatch: cfg.batch });
  run.trainer = new Trainer(run.model, run.train, trainerOptions(cfg));
  const { epoch, step } = msg.position;
  run.trainer.seek(epoch, step);
  const meta = msg.meta ?? {};
  run.acc = { ...run.acc, ...(meta.acc ?? {}) };
  run.epochsDone = meta.epochsDone ?? epoch;
  run.lastEval = meta.lastEval ?? null;
  run.elapsedMs = meta.elapsedMs ?? 0;
  run.sTanh = meta.sTanh ?? cfg.sTanh;
  run.globalStep = epoch * run.trainer.stepsPerEpoch + step;
  announceModel('training', 'LeNet-5 restored from the saved checkpoint');
  postBits('restore');
  if (run.trainer.done) return finish('done', 'Restored the finished run. Download the model to keep it.');
  run.paused = true;
  post({ type: 'state', state: 'paused', hasModel: true,
    text: `Restored at epoch ${epoch + 1}, step ${step} of ${run.trainer.stepsPerEpoch}. Resume to continue training.` });
  return loop();
}

async function loop() {
  const cfg = run.cfg;
  const batch = run.trainer.batch;
  let steps = 2;            // the next chunk's size, adapted to take about CHUNK_MS
  let msPerStep = null;     // moving average, for the ETA
  run.lastCkptAt = performance.now();
  for (;;) {
    if (!(await waitWhilePaused())) return finish('stopped');
    const t0 = performance.now();
    let st;
    try {
      st = run.trainer.run(steps);
    } catch (e) {
      if (e?.code === 'FX_ENUMERIC') {
        throw new Error(`Training diverged near step ${run.globalStep} (a value became NaN or infinite: ${e.message}). ` +
          'Start again with a smaller learning rate.');
      }
      throw e;
    }
    const ms = performance.now() - t0;
    const did = st.seen / batch;
    if (did > 0) {
      steps = Math.max(1, Math.min(MAX_CHUNK_STEPS, Math.round((CHUNK_MS * did) / Math.max(ms, 1))));
      const m = ms / did;
      msPerStep = msPerStep == null ? m : 0.8 * msPerStep + 0.2 * m;
    }
    const a = run.acc;
    a.seen += st.seen;
    a.correct += st.correct;
    a.lossSum += st.lossSum;
    a.ms += ms;
    run.elapsedMs += ms;
    run.sTanh = st.sTanh;
    const stepsPerEpoch = st.stepsPerEpoch;
    const completed = st.epoch;              // epochs finished (position is step 0 of the next at an end)
    const step = st.epochDone ? stepsPerEpoch : st.step;
    const current = st.epochDone ? completed - 1 : completed;
    run.globalStep = current * stepsPerEpoch + step;
    const progress = {
      epoch: current, epochs: cfg.epochs, step, stepsPerEpoch,
      globalStep: run.globalStep, totalSteps: cfg.epochs * stepsPerEpoch,
      loss: a.seen ? a.lossSum / a.seen : NaN, trainAcc: a.seen ? a.correct / a.seen : NaN,
      imagesPerSec: a.ms > 0 ? (1000 * a.seen) / a.ms : NaN, lr: st.lr, sTanh: st.sTanh,
      chunkLoss: st.loss, chunkAcc: st.seen ? st.correct / st.seen : NaN, chunkSteps: did, msPerStep,
      elapsedMs: run.elapsedMs,
    };
    post({ type: 'progress', ...progress });
    maybePostBits();

    if (st.epochDone) {
      status(`Epoch ${completed}: testing on ${run.test.length} images…`);
      await yieldToEvents();
      const ev = run.model.evaluate(run.test);
      post({
        type: 'epoch', epoch: completed, loss: progress.loss, trainAcc: progress.trainAcc, testAcc: ev.accuracy,
        testCorrect: ev.correct, testTotal: ev.total, imagesPerSec: progress.imagesPerSec, globalStep: run.globalStep,
      });
      run.lastEval = ev;
      run.epochsDone = completed;
      run.acc = { seen: 0, correct: 0, lossSum: 0, ms: 0 };
      if (!st.runDone) status(`Epoch ${completed} done: test accuracy ${(100 * ev.accuracy).toFixed(2)} %. Training…`);
    }
    if (st.runDone) {
      const acc = run.lastEval ? ` Test accuracy ${(100 * run.lastEval.accuracy).toFixed(2)} %.` : '';
      return finish('done', `Done: ${cfg.epochs} epoch${cfg.epochs > 1 ? 's' : ''}.${acc} Download the model to keep it.`);
    }
    if (performance.now() - run.lastCkptAt >= saveEveryMs) postCheckpoint('autosave');
    await yieldToEvents(); // let pause / stop / save / view / classify messages in
  }
}

function finish(state, text) {
  run.finished = true;
  if (run.model) {
    postBits(state);
    postCheckpoint(state);
  }
  post({ type: 'state', state, hasModel: !!run.model,
    text: text ?? (run.model ? 'Stopped. The model as it is now can be downloaded.' : 'Stopped.') });
}

// ---------------------------------------------------------------------------------------------------------
// A model file

async function loadFile(msg) {
  await init();
  const bytes = new Uint8Array(msg.bytes);
  run.model = Model.load(bytes, { maxBatch: 1 });
  announceModel('file', msg.name || 'model file');
  run.finished = true;
  postBits('load');
  const i = run.info;
  post({ type: 'state', state: 'loaded', hasModel: true,
    text: `Loaded ${msg.name || 'the model'}: ${i.inputShape.join('×')} input, ${i.classes} classes, ` +
      `${i.bitsPerWeight.toFixed(3)} bits/weight.` });
}

// ---------------------------------------------------------------------------------------------------------
// Other requests

function save() {
  if (!run?.model) throw new Error('There is no model to save yet.');
  let bytes, fileName;
  if (run.info.source === 'file') {
    bytes = run.model.save({ kind: 'inference', metadata: run.model.metadata });
    fileName = (run.info.name || 'model').replace(/(\.fxm)?$/i, '.fxm');
  } else {
    const c = run.cfg;
    bytes = run.model.save({ kind: 'inference', metadata: runMetadata('inference') });
    const bits = c.bits != null ? `${Number(c.bits).toFixed(1)}bit` : `${run.model.bitsPerWeight.toFixed(2)}bit`;
    fileName = `flexor-lenet5-mnist-${bits}-${c.nTap ? `ntap${c.nTap}` : 'randfill'}-${c.mode}.fxm`;
  }
  const buf = ownBuffer(bytes);
  post({ type: 'saved', bytes: buf, fileName }, [buf]);
}

function classifyImage(msg) {
  if (!run?.model) {
    post({ type: 'classified', id: msg.id, error: 'There is no model yet: start training or load a model file.' });
    return;
  }
  const t0 = performance.now();
  const r = classify(run.model, msg.image, { topK: 3 });
  const ms = performance.now() - t0;
  post({ type: 'classified', id: msg.id, index: r.index, label: r.label, probability: r.probability, top: r.top,
    probabilities: r.probabilities, ms, inputShape: run.model.inputShape }, [r.probabilities.buffer]);
}

function newRun(cfg, view) {
  return {
    cfg, paused: false, stopRequested: false, wake: null, finished: false, view: view ?? null,
    acc: { seen: 0, correct: 0, lossSum: 0, ms: 0 }, elapsedMs: 0,
  };
}

self.addEventListener('message', (ev) => {
  const msg = ev.data;
  try {
    switch (msg?.type) {
      case 'start':
      case 'restore':
      case 'load':
        if (run) throw new Error('This worker already holds a model; the page starts a new worker for each.');
        run = newRun(msg.config ?? null, msg.view);
        (msg.type === 'start' ? start(msg.config) : msg.type === 'restore' ? restore(msg) : loadFile(msg)).catch((e) => {
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
      case 'checkpoint':
        postCheckpoint('request');
        break;
      case 'view':
        if (run) {
          run.view = { node: msg.node, plane: msg.plane ?? 0 };
          if (run.model && run.flexorIds?.includes(msg.node)) postBits('view');
        }
        break;
      case 'classify':
        classifyImage(msg);
        break;
      case 'timing':
        if (msg.saveEveryMs > 0) saveEveryMs = msg.saveEveryMs;
        if (msg.viewEveryMs > 0) viewEveryMs = msg.viewEveryMs;
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
