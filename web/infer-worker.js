// infer-worker.js - the CIFAR-10 panel's models, in a module Web Worker: loads every model listed in
// models/index.json (and a CIFAR-10 model file the user loaded), and classifies one image with each of them,
// timing every call.
//
// Messages in:  {type: 'load', entries: [{key, name, url?, bytes?, listed?}]}  (adds to the set)
//               {type: 'remove', key}
//               {type: 'classify', id, image: {data, width, height}}
// Messages out: {type: 'model', key, name, ok, error?, bitsPerWeight, bytes, inputShape, classes, accuracy, ...}
//               {type: 'results', id, results: [{key, index, label, probability, top, probabilities, ms}]}
//               {type: 'error', message}

import { init, loadModel, classify } from '../wasm/api.js';

/** key -> {model, info} */
const models = new Map();

const post = (msg, transfer) => self.postMessage(msg, transfer ?? []);

/** The test accuracy a model file's metadata states (the native CLI writes test_accuracy=..; the page JSON). */
function statedAccuracy(meta) {
  if (!meta) return null;
  const m = /(?:^|\n)test_accuracy=([\d.]+)/.exec(meta);
  if (m) return Number(m[1]) / 100;
  try {
    const j = JSON.parse(meta);
    if (j?.test?.accuracy != null) return Number(j.test.accuracy);
  } catch { /* not JSON */ }
  return null;
}

function metaField(meta, name) {
  const m = new RegExp(`(?:^|\\n)${name}=([^\\n]*)`).exec(meta || '');
  return m ? m[1] : null;
}

async function loadOne(e) {
  let bytes;
  if (e.bytes) bytes = new Uint8Array(e.bytes);
  else {
    const resp = await fetch(e.url);
    if (!resp.ok) throw new Error(`${new URL(e.url).pathname}: HTTP ${resp.status}`);
    bytes = new Uint8Array(await resp.arrayBuffer());
  }
  const model = await loadModel(bytes, { maxBatch: 1 });
  // one warm-up run so that the first timing is not the compile
  const [c, h, w] = model.inputShape;
  model.forward(new Float32Array(c * h * w), 1);
  const meta = model.metadata;
  const info = {
    key: e.key, name: e.name, ok: true, listed: !!e.listed, bitsPerWeight: model.bitsPerWeight, bytes: bytes.length,
    inputShape: model.inputShape, classes: model.classes, flexorWeights: model.flexorWeights,
    accuracy: e.accuracy ?? statedAccuracy(meta), testImages: e.testImages ?? null, arch: e.arch ?? metaField(meta, 'model'),
    file: e.file ?? null,
  };
  models.get(e.key)?.model.dispose();
  models.set(e.key, { model, info });
  post({ type: 'model', ...info });
}

self.addEventListener('message', async (ev) => {
  const msg = ev.data;
  try {
    if (msg.type === 'load') {
      await init();
      for (const e of msg.entries) {
        try {
          await loadOne(e);
        } catch (err) {
          post({ type: 'model', key: e.key, name: e.name, ok: false, error: String(err?.message ?? err), file: e.file ?? null });
        }
      }
      post({ type: 'loaded' });
    } else if (msg.type === 'remove') {
      models.get(msg.key)?.model.dispose();
      models.delete(msg.key);
    } else if (msg.type === 'classify') {
      const results = [];
      const transfer = [];
      for (const [key, { model }] of models) {
        const [c, h, w] = model.inputShape;
        if (c !== 3) continue;
        try {
          const t0 = performance.now();
          const r = classify(model, msg.image, { topK: 3 });
          const ms = performance.now() - t0;
          results.push({ key, index: r.index, label: r.label, probability: r.probability, top: r.top,
            probabilities: r.probabilities, ms, size: `${c}x${h}x${w}` });
          transfer.push(r.probabilities.buffer);
        } catch (err) {
          results.push({ key, error: String(err?.message ?? err) });
        }
      }
      post({ type: 'results', id: msg.id, results }, transfer);
    }
  } catch (err) {
    post({ type: 'error', message: String(err?.message ?? err) });
  }
});
