// api.js - the entry point of the flexor-wasm package (`import ... from 'flexor-wasm'`): everything that
// flexor.js exports (init, Model, Dataset, Trainer, xorNetwork, FlexorError, ...) plus a thin task-level layer
// on top of it for web pages and Node scripts:
//
//   loadModel(source, opts)       a model file from bytes, a URL or path, a Response or a Blob (initialises
//                                 the module on first use)
//   classify(model, image, opts)  top-k classes of one image: an ImageData / {data, width, height} (resized,
//                                 grayscaled or not, inverted and centred as the model needs, normalised), raw CHW
//                                 pixel bytes, or an already normalised Float32Array
//   preprocess(model, image, opts) the Float32Array classify() feeds the model
//   train(model, dataset, opts)   the core's training loop in chunks, with onProgress and an AbortSignal,
//                                 yielding to the event loop between chunks
//   bitDecisions(model, nodeId)   what a page visualises of a FleXOR layer: XOR masks, latent values, encrypted
//                                 and decrypted bits, alpha, and the +-1 decision of every weight
//
// Like flexor.js it imports no Node built-in statically, so the same file runs in Node >= 20, browsers, Web
// Workers and bundles; in Node, loadModel reads file: URLs and paths with a dynamic import('node:fs/promises').

import { init, Model, Dataset, Trainer, FlexorError, Status } from './flexor.js';
// A variable, not a literal, so that bundlers (esbuild, webpack, vite) leave this Node-only import alone.
const NODE_FS = 'node:fs/promises';

export * from './flexor.js';
export { ModelPool } from './pool.js';

/** The CIFAR-10 class names, in label order. */
export const CIFAR10_CLASSES = Object.freeze(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
  'ship', 'truck']);

/** The normalisations the zoo models are trained with (on pixels / 255), by number of input channels. */
export const NORMALIZATION = Object.freeze({
  /** MNIST (1 channel), as Dataset.fromIdx and `flexor train mnist`. */
  mnist: Object.freeze({ mean: Object.freeze([0.1307]), std: Object.freeze([0.3081]) }),
  /** The ImageNet statistics (3 channels), as Dataset.fromCifar and `flexor train cifar10`. */
  imagenet: Object.freeze({ mean: Object.freeze([0.485, 0.456, 0.406]), std: Object.freeze([0.229, 0.224, 0.225]) }),
});

const isNode = () => typeof process !== 'undefined' && !!process.versions?.node;

const einval = (fn, msg) => new FlexorError(fn, Status.EINVAL, msg);

/** A live, built Model, or a FlexorError naming what is wrong. */
function liveModel(fn, model) {
  if (!(model instanceof Model)) throw einval(fn, `model must be a Model (got ${describe(model)})`);
  if (model.disposed) throw new FlexorError(fn, Status.ESTATE, 'the model was disposed');
  if (!model.maxBatch) throw new FlexorError(fn, Status.ESTATE, 'the model is not built yet; call build() first');
  return model;
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v === 'string' ? `the string '${v.slice(0, 40)}'` : String(v);
  return v.constructor?.name ? `a ${v.constructor.name}` : 'an object';
}

// ---------------------------------------------------------------------------------------------------------
// loadModel
// ---------------------------------------------------------------------------------------------------------

/** Reads a file: URL or a path (Node only). */
async function readLocal(fn, where) {
  const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_FS);
  try {
    return new Uint8Array(await fs.readFile(where));
  } catch (e) {
    throw new Error(`${fn}: cannot read ${String(where)} (${e.message})`, { cause: e });
  }
}

async function fetchBytes(fn, url, signal) {
  let resp;
  try {
    resp = await fetch(url, signal ? { signal } : undefined);
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new Error(`${fn}: cannot fetch ${String(url)} (${e.message})`, { cause: e });
  }
  return responseBytes(fn, resp, String(url));
}

async function responseBytes(fn, resp, what = resp.url || 'the response') {
  if (!resp.ok) throw new Error(`${fn}: fetching ${what} gave HTTP ${resp.status}${resp.statusText ? ` ${resp.statusText}` : ''}`);
  return new Uint8Array(await resp.arrayBuffer());
}

/** The bytes of a model source (see loadModel). */
async function sourceBytes(fn, source, signal) {
  if (source && typeof source.then === 'function') source = await source;
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (typeof Response === 'function' && source instanceof Response) return responseBytes(fn, source);
  if (typeof Blob === 'function' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  if (source instanceof URL || typeof source === 'string') {
    let url = null;
    if (source instanceof URL) url = source;
    else {
      try {
        url = new URL(source); // absolute
      } catch {
        if (!isNode()) url = new URL(source, globalThis.location?.href ?? import.meta.url);
      }
    }
    if (isNode()) {
      if (url?.protocol === 'file:') return readLocal(fn, url);
      // a path, also one that looks like a URL with an odd scheme (C:\models\m.fxm)
      if (url === null || !/^(https?|data|blob):$/.test(url.protocol)) return readLocal(fn, String(source));
    }
    return fetchBytes(fn, url, signal);
  }
  throw einval(fn, `source must be a Uint8Array, an ArrayBuffer, a URL, a string (URL or, in Node, a path), a ` +
    `Response or a Blob (got ${describe(source)})`);
}

/**
 * Loads a model file (what Model#save or `flexor train --out` wrote), initialising the module first if needed
 * (init() with its defaults: flexor.wasm next to flexor.js; call init({wasmUrl}) before to override).
 * @param {Uint8Array|ArrayBuffer|ArrayBufferView|URL|string|Response|Blob|Promise<any>} source  the file's
 *   bytes; or where it is: a URL (fetched; in Node a file: URL is read from disk), a string (an absolute URL; in
 *   a browser also a URL relative to the page; in Node otherwise a file path); a fetch() Response; a Blob/File
 * @param {{maxBatch?: number, training?: boolean, signal?: AbortSignal}} [opts]  maxBatch (default 1) and
 *   training (default false) as Model.load; signal aborts the fetch
 * @returns {Promise<Model>}
 */
export async function loadModel(source, opts = {}) {
  const fn = 'loadModel';
  await init();
  const bytes = await sourceBytes(fn, source, opts?.signal);
  try {
    return Model.load(bytes, { maxBatch: opts?.maxBatch ?? 1, training: !!opts?.training });
  } catch (e) {
    if (e instanceof FlexorError && e.fn === 'Model.load' && typeof source !== 'object')
      throw new FlexorError(fn, e.status, `${String(source)}: ${e.message.slice('Model.load: '.length)}`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Image preprocessing and classify
// ---------------------------------------------------------------------------------------------------------

/** Per-axis area-resampling taps: output i covers source [off + i*s/d, off + (i+1)*s/d). */
function axisTaps(off, s, d) {
  const scale = s / d;
  const taps = [];
  for (let i = 0; i < d; i++) {
    const a = i * scale, b = (i + 1) * scale;
    const list = [];
    for (let j = Math.floor(a); j < Math.min(s, Math.ceil(b)); j++) {
      const w = (Math.min(b, j + 1) - Math.max(a, j)) / scale;
      if (w > 0) list.push(off + j, w);
    }
    taps.push(list);
  }
  return taps;
}

/**
 * Area resampling (exact pixel-coverage averaging, separable) of the region (x0, y0, cw, ch) of nc planar
 * channels of size sh x sw to dh x dw. Float32 planes in, Float32 planes out.
 */
function resample(src, nc, sh, sw, x0, y0, cw, ch, dh, dw) {
  const tx = axisTaps(x0, cw, dw), ty = axisTaps(y0, ch, dh);
  const out = new Float32Array(nc * dh * dw);
  const row = new Float64Array(sw);
  for (let c = 0; c < nc; c++) {
    const base = c * sh * sw;
    for (let oy = 0; oy < dh; oy++) {
      row.fill(0);
      const t = ty[oy];
      for (let k = 0; k < t.length; k += 2) {
        const p = base + t[k] * sw, w = t[k + 1];
        for (let x = x0; x < x0 + cw; x++) row[x] += w * src[p + x];
      }
      for (let ox = 0; ox < dw; ox++) {
        const u = tx[ox];
        let v = 0;
        for (let k = 0; k < u.length; k += 2) v += u[k + 1] * row[u[k]];
        out[(c * dh + oy) * dw + ox] = v;
      }
    }
  }
  return out;
}

/**
 * MNIST's own preprocessing of a gray image (bright digit on dark): the bounding box of the digit scaled to fit
 * a box of 20/28 of the input (aspect kept), placed so that its centre of mass is the centre of the h x w output.
 */
function centerDigit(g, sh, sw, h, w) {
  let mx = 0;
  for (let i = 0; i < g.length; i++) if (g[i] > mx) mx = g[i];
  if (mx <= 0) return resample(g, 1, sh, sw, 0, 0, sw, sh, h, w);
  const t = 0.1 * mx;
  let x0 = sw, y0 = sh, x1 = -1, y1 = -1;
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      if (g[y * sw + x] > t) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const box = Math.max(1, Math.round((Math.min(h, w) * 20) / 28));
  const s = box / Math.max(bw, bh);
  const tw = Math.min(w, Math.max(1, Math.round(bw * s))), th = Math.min(h, Math.max(1, Math.round(bh * s)));
  const patch = resample(g, 1, sh, sw, x0, y0, bw, bh, th, tw);
  let m = 0, cx = 0, cy = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = patch[y * tw + x];
      m += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  cx = m > 0 ? cx / m : tw / 2;
  cy = m > 0 ? cy / m : th / 2;
  const ox = Math.min(w - tw, Math.max(0, Math.round(w / 2 - cx)));
  const oy = Math.min(h - th, Math.max(0, Math.round(h / 2 - cy)));
  const out = new Float32Array(h * w);
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) out[(oy + y) * w + ox + x] = patch[y * tw + x];
  return out;
}

function perChannel(fn, name, v, c) {
  if (v == null || typeof v.length !== 'number') throw einval(fn, `${name} must be an array of 1 or ${c} numbers`);
  if (v.length !== 1 && v.length !== c) throw einval(fn, `${name} must have 1 or ${c} values (got ${v.length})`);
  const out = [];
  for (let i = 0; i < c; i++) {
    const x = Number(v.length === 1 ? v[0] : v[i]);
    if (!Number.isFinite(x)) throw einval(fn, `${name}[${i}] is ${x}`);
    out.push(x);
  }
  return out;
}

/** The normalisation for c channels: opts.normalize, or the default for the channel count. */
function normalization(fn, c, normalize) {
  let n = normalize;
  if (n === undefined) n = c === 1 ? NORMALIZATION.mnist : c === 3 ? NORMALIZATION.imagenet : { mean: [0], std: [1] };
  else if (n === false) n = { mean: [0], std: [1] };
  else if (typeof n !== 'object' || n === null) throw einval(fn, 'normalize must be {mean, std}, false or undefined');
  const mean = perChannel(fn, 'normalize.mean', n.mean ?? [0], c), std = perChannel(fn, 'normalize.std', n.std ?? [1], c);
  std.forEach((s, i) => { if (!(s > 0)) throw einval(fn, `normalize.std[${i}] must be > 0 (got ${s})`); });
  return { mean, std };
}

const isImage = (v) => v != null && typeof v === 'object' && !ArrayBuffer.isView(v) && Number.isInteger(v.width) &&
  Number.isInteger(v.height) && v.data != null && typeof v.data.length === 'number';

/**
 * The network input classify() feeds the model for one image: a Float32Array of c*h*w values (CHW, normalised).
 * @param {Model} model
 * @param {ImageData|{data: ArrayLike<number>, width: number, height: number}|Float32Array|Uint8Array|
 *   Uint8ClampedArray|ArrayLike<number>} image
 *   - an ImageData or {data, width, height} with 4 (RGBA), 3 (RGB) or 1 (gray) bytes per pixel, row-major:
 *     alpha is coverage over black (value * alpha / 255); gray for a 1-channel model is 0.299 R + 0.587 G +
 *     0.114 B (3-channel models replicate a gray image); resized to the model's input by area averaging;
 *     for 1-channel models inverted when its border is bright (invert: 'auto') and, with center (default
 *     true for 1-channel models), cropped to the digit, scaled into a 20/28 box and centred by mass as MNIST;
 *     then normalised
 *   - a Float32Array of exactly c*h*w values: already the network input (CHW, normalised), used as it is
 *   - a Uint8Array / Uint8ClampedArray / array of exactly c*h*w pixel bytes in CHW order (an MNIST IDX image,
 *     a CIFAR-10 record without its label byte): only normalised
 * @param {{normalize?: {mean: number[], std: number[]}|false, invert?: boolean|'auto', center?: boolean}} [opts]
 *   normalize: per-channel mean and std on pixels / 255 (1 or c values); default MNIST's for 1-channel models
 *   and ImageNet's for 3-channel ones (what Dataset.fromIdx / fromCifar and the CLI train with); false:
 *   pixels / 255. invert (images only): default 'auto' for 1-channel models (MNIST digits are white on black),
 *   false otherwise. center (images only): default true for 1-channel models.
 * @returns {Float32Array}
 */
export function preprocess(model, image, opts = {}) {
  return toInput('preprocess', liveModel('preprocess', model), image, opts || {});
}

function toInput(fn, model, image, o) {
  const [c, h, w] = model.inputShape;
  const per = c * h * w;
  if (image instanceof Float32Array) {
    if (image.length !== per)
      throw new FlexorError(fn, Status.ESHAPE, `a Float32Array input must hold ${per} values (${c}x${h}x${w}, ` +
        `normalised); got ${image.length}`);
    return image;
  }
  const { mean, std } = normalization(fn, c, o.normalize);
  // Exactly the core's float32 arithmetic (fx_dataset_batch): x = v * (1 / (255 * std)) + (-mean / std), so raw
  // bytes give bit for bit what Dataset#batch gives.
  const f32 = Math.fround;
  const norm = (planes) => {
    const x = new Float32Array(per);
    for (let ch = 0; ch < c; ch++) {
      const m = f32(mean[ch]), s = f32(std[ch]);
      const scale = f32(1 / f32(255 * s)), shift = f32(-m / s);
      for (let i = 0; i < h * w; i++) x[ch * h * w + i] = f32(planes[ch * h * w + i] * scale) + shift;
    }
    return x;
  };
  if (isImage(image)) {
    const { data, width: sw, height: sh } = image;
    if (c !== 1 && c !== 3) throw einval(fn, `images can be fed to 1- or 3-channel models; this model takes ${c} ` +
      'channels (pass a Float32Array or CHW bytes)');
    if (sw < 1 || sh < 1) throw einval(fn, `the image is ${sw}x${sh}`);
    const k = data.length / (sw * sh);
    if (k !== 4 && k !== 3 && k !== 1)
      throw new FlexorError(fn, Status.ESHAPE, `a ${sw}x${sh} image needs 4 (RGBA), 3 (RGB) or 1 (gray) bytes per ` +
        `pixel; data has ${data.length} values`);
    const n = sw * sh;
    // Planar floats in 0..255, alpha composited over black.
    const src = new Float32Array((c === 1 ? 1 : 3) * n);
    for (let i = 0; i < n; i++) {
      const a = k === 4 ? data[4 * i + 3] / 255 : 1;
      const r = data[k * i] * a, g = (k === 1 ? data[i] : data[k * i + 1]) * a, b = (k === 1 ? data[i] : data[k * i + 2]) * a;
      if (c === 1) src[i] = k === 1 ? data[i] : 0.299 * r + 0.587 * g + 0.114 * b;
      else {
        src[i] = r;
        src[n + i] = g;
        src[2 * n + i] = b;
      }
    }
    const invert = o.invert ?? (c === 1 ? 'auto' : false);
    if (invert !== 'auto' && typeof invert !== 'boolean') throw einval(fn, `invert must be true, false or 'auto' (got ${String(invert)})`);
    let flip = invert === true;
    if (invert === 'auto') {
      let sum = 0, cnt = 0;
      const nc = src.length / n;
      for (let y = 0; y < sh; y++) {
        for (let x = 0; x < sw; x++) {
          if (y !== 0 && y !== sh - 1 && x !== 0 && x !== sw - 1) continue;
          for (let ch = 0; ch < nc; ch++) sum += src[ch * n + y * sw + x];
          cnt += nc;
        }
      }
      flip = sum / cnt > 127.5;
    }
    if (flip) for (let i = 0; i < src.length; i++) src[i] = 255 - src[i];
    let planes;
    if (c === 1 && (o.center ?? true)) planes = centerDigit(src, sh, sw, h, w);
    else planes = resample(src, src.length / n, sh, sw, 0, 0, sw, sh, h, w);
    return norm(planes);
  }
  if (image instanceof Uint8Array || image instanceof Uint8ClampedArray || Array.isArray(image)) {
    if (image.length !== per)
      throw new FlexorError(fn, Status.ESHAPE, `pixel bytes must be ${per} values (${c}x${h}x${w}, CHW); got ${image.length}` +
        '; pass an ImageData or {data, width, height} to have the image resized');
    for (let i = 0; i < per; i++) {
      const v = image[i];
      if (!(v >= 0 && v <= 255)) throw einval(fn, `pixel ${i} is ${v}, not in 0..255`);
    }
    return norm(image);
  }
  throw einval(fn, `image must be an ImageData or {data, width, height}, a Float32Array of ${per} normalised ` +
    `values, or ${per} CHW pixel bytes (got ${describe(image)})`);
}

/** Class names for a model: CIFAR-10's for 3x32x32 -> 10, digits for 1-channel -> 10, else the indices. */
function defaultLabels(model) {
  const [c, h, w] = model.inputShape;
  if (model.classes === 10 && c === 3 && h === 32 && w === 32) return CIFAR10_CLASSES;
  if (model.classes === 10 && c === 1) return ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
  return Array.from({ length: model.classes }, (_, i) => String(i));
}

/**
 * Classifies one image (see preprocess for the accepted forms and how they are prepared).
 * @param {Model} model  a built model (loaded or trained)
 * @param {ImageData|{data: ArrayLike<number>, width: number, height: number}|Float32Array|Uint8Array|
 *   Uint8ClampedArray|ArrayLike<number>} image
 * @param {{topK?: number, labels?: string[], normalize?: {mean: number[], std: number[]}|false,
 *   invert?: boolean|'auto', center?: boolean}} [opts]  topK (default 5, at most the number of classes);
 *   labels: class names (default CIFAR-10's names for 3x32x32 10-class models, '0'..'9' for 1-channel 10-class
 *   models, else the class index as text); the rest as preprocess
 * @returns {{index: number, label: string, probability: number,
 *   top: Array<{index: number, label: string, probability: number}>, probabilities: Float32Array}}
 *   the most probable class, the topK classes by falling probability (ties: lower index first), and the softmax
 *   of every class
 */
export function classify(model, image, opts = {}) {
  const fn = 'classify';
  const o = opts || {};
  liveModel(fn, model);
  const k = model.classes;
  const topK = o.topK ?? 5;
  if (!Number.isInteger(topK) || topK < 1) throw einval(fn, `topK must be an integer >= 1 (got ${String(topK)})`);
  const labels = o.labels ?? defaultLabels(model);
  if (labels == null || typeof labels.length !== 'number' || labels.length < k)
    throw einval(fn, `labels must name all ${k} classes (got ${labels?.length ?? String(labels)})`);
  const x = toInput(fn, model, image, o);
  const probabilities = model.predict(x, 1);
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  const top = order.slice(0, Math.min(topK, k)).map((i) => ({ index: i, label: String(labels[i]), probability: probabilities[i] }));
  return { ...top[0], top, probabilities };
}

// ---------------------------------------------------------------------------------------------------------
// train
// ---------------------------------------------------------------------------------------------------------

const nextTick = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Trains a model with the core's training loop (a Trainer), a few steps at a time, calling onProgress after
 * each chunk and yielding to the event loop in between (a page or worker stays responsive; an AbortSignal can
 * stop it). The model keeps what it learned up to the last completed step, also when stopped.
 * @param {Model} model  a training model (Model.lenet5(), Model.resnetCifar(), build({training: true}),
 *   Model.load(checkpoint, {training: true}))
 * @param {Dataset} dataset  the training set
 * @param {object} [opts]  every Trainer option (lr, epochs, optimizer, batch, seed, sTanh, ...; here lr defaults
 *   to 1e-3, optimizer to 'adam' and epochs to 1), and:
 *   onProgress(p): called after each chunk with {epoch (fractional epochs done), epochsCompleted, step,
 *     stepsPerEpoch, steps (this call), totalSteps (this call), loss and accuracy (mean training loss and
 *     train-mode top-1 accuracy over the chunk), lr, sTanh, epochDone, done, elapsedMs, testAccuracy (after an
 *     epoch, with testSet)}; it may return a promise, which is awaited;
 *   signal: an AbortSignal; when it fires, train() stops at the next chunk boundary and rejects with
 *     signal.reason (an 'AbortError' DOMException by default);
 *   chunkSteps (default 8): optimiser steps per chunk; maxSteps: stop after this many steps (this call);
 *   testSet: a Dataset evaluated at the end of every epoch; start: {epoch, step} to continue from (after
 *   loading a checkpoint).
 * @returns {Promise<{steps: number, epoch: number, loss: number, accuracy: number, done: boolean,
 *   testAccuracy?: number}>}  steps taken, fractional epochs done, loss/accuracy of the last chunk, whether the
 *   schedule is complete, and the last test accuracy (with testSet)
 */
export async function train(model, dataset, opts = {}) {
  const fn = 'train';
  const {
    onProgress, signal, chunkSteps = 8, maxSteps, testSet, start, ...rest
  } = opts || {};
  if (onProgress != null && typeof onProgress !== 'function') throw einval(fn, 'onProgress must be a function');
  if (!Number.isInteger(chunkSteps) || chunkSteps < 1) throw einval(fn, `chunkSteps must be an integer >= 1 (got ${String(chunkSteps)})`);
  if (maxSteps !== undefined && (!Number.isInteger(maxSteps) || maxSteps < 0))
    throw einval(fn, `maxSteps must be an integer >= 0 (got ${String(maxSteps)})`);
  if (testSet != null && !(testSet instanceof Dataset)) throw einval(fn, `testSet must be a Dataset (got ${describe(testSet)})`);
  signal?.throwIfAborted();
  const t0 = Date.now();
  const tr = new Trainer(model, dataset, { optimizer: 'adam', lr: 1e-3, epochs: 1, ...rest });
  try {
    if (start) tr.seek(start.epoch, start.step);
    const spe = tr.stepsPerEpoch;
    const pos0 = tr.epoch * spe + tr.step;
    const endPos = Math.ceil(tr.epochs * spe - 1e-9);
    let totalSteps = Math.max(0, endPos - pos0);
    if (maxSteps !== undefined) totalSteps = Math.min(totalSteps, maxSteps);
    let steps = 0, last = { loss: 0, accuracy: 0 }, testAccuracy;
    while (steps < totalSteps) {
      if (signal?.aborted) throw signal.reason;
      const st = tr.run(Math.min(chunkSteps, totalSteps - steps));
      const pos = st.epoch * spe + st.step;
      const did = pos - (pos0 + steps);
      steps += did;
      last = { loss: st.loss, accuracy: st.seen ? st.correct / st.seen : 0 };
      let acc;
      if (st.epochDone && testSet) acc = testAccuracy = model.evaluate(testSet).accuracy;
      const p = {
        epoch: pos / spe, epochsCompleted: st.epoch, step: st.step, stepsPerEpoch: spe, steps, totalSteps,
        loss: last.loss, accuracy: last.accuracy, lr: st.lr, sTanh: st.sTanh, epochDone: st.epochDone,
        done: tr.done, elapsedMs: Date.now() - t0,
      };
      if (acc !== undefined) p.testAccuracy = acc;
      if (onProgress) await onProgress(p);
      if (did <= 0 || tr.done) break;
      await nextTick();
    }
    if (signal?.aborted) throw signal.reason;
    const out = { steps, epoch: (tr.epoch * spe + tr.step) / spe, loss: last.loss, accuracy: last.accuracy, done: tr.done };
    if (testAccuracy !== undefined) out.testAccuracy = testAccuracy;
    return out;
  } finally {
    tr.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------
// bitDecisions
// ---------------------------------------------------------------------------------------------------------

const parity = (v) => {
  v ^= v >>> 16;
  v ^= v >>> 8;
  v ^= v >>> 4;
  v ^= v >>> 2;
  v ^= v >>> 1;
  return v & 1;
};

/**
 * Everything a page needs to show the bit decisions of one FleXOR layer (docs/CORE.md): per bit plane p, the
 * XOR-gate network's masks, the latent values x (n_slices x n_in; for a model loaded from an inference file
 * these are +-1), the encrypted bits packed per slice (bit i of encrypted[j] = x[j][i] >= 0), the decrypted bits
 * (bit r of decrypted[j] = parity(encrypted[j] & masks[r])), the scales alpha (one per output channel) and the
 * resulting +-1 decision of every weight in OIHW order (conv: [cOut][cIn][k][k], dense: [out][in]), so that
 * the weights the forward uses are sum_p alpha[p][co] * signs_p. Weight (co, ci, kh, kw) is decrypted bit
 * f % nOut of slice f / nOut with f = ((kh*k + kw)*cIn + ci)*cOut + co (dense (o, i): f = i*out + o).
 * @param {Model} model  a built model
 * @param {number} nodeId  a FleXOR conv or dense node (see model.nodes(): flexor != null)
 * @returns {{node: number, kind: 'conv'|'dense', q: number, nOut: number, nIn: number, nTap: number,
 *   seed: number|bigint|null, cOut: number, cIn: number, k: number, fanIn: number, weights: number,
 *   nSlices: number, bitsPerWeight: number, planes: Array<{plane: number, masks: Uint32Array,
 *   latent: Float32Array, encrypted: Uint32Array, decrypted: Uint32Array, alpha: Float32Array,
 *   signs: Int8Array}>}}  for a dense node cIn = fanIn and k = 1
 */
export function bitDecisions(model, nodeId) {
  const fn = 'bitDecisions';
  liveModel(fn, model);
  const nodes = model.nodes();
  if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId >= nodes.length)
    throw einval(fn, `nodeId must be an integer in 0..${nodes.length - 1} (got ${String(nodeId)})`);
  const node = nodes[nodeId];
  if (!node.flexor) {
    const list = nodes.filter((n) => n.flexor).map((n) => n.id);
    throw einval(fn, `node ${nodeId} (${node.kind}) is not a FleXOR layer; the FleXOR layers are ` +
      `${list.length ? list.join(', ') : 'none'}`);
  }
  const { q, nOut, nIn, nTap, seed } = node.flexor;
  const src = nodes[node.inputs[0]];
  const conv = node.kind === 'conv';
  const k = conv ? node.k : 1;
  const cIn = conv ? src.shape[0] : src.shape[0] * src.shape[1] * src.shape[2];
  const fanIn = cIn * k * k, cOut = node.cOut, n = cOut * fanIn;
  const nSlices = Math.ceil(n / nOut), nLat = nSlices * nIn;
  const lat = model.getParam(`${nodeId}.lat`), alpha = model.getParam(`${nodeId}.alpha`);
  const planes = [];
  for (let p = 0; p < q; p++) {
    const masks = model.masks(nodeId, p);
    const latent = lat.slice(p * nLat, (p + 1) * nLat);
    const encrypted = new Uint32Array(nSlices), decrypted = new Uint32Array(nSlices);
    for (let j = 0; j < nSlices; j++) {
      let e = 0;
      for (let i = 0; i < nIn; i++) if (latent[j * nIn + i] >= 0) e |= 1 << i;
      encrypted[j] = e >>> 0;
      let d = 0;
      for (let r = 0; r < nOut; r++) d |= parity(e & masks[r]) << r;
      decrypted[j] = d >>> 0;
    }
    const signs = new Int8Array(n);
    const kk = k * k;
    for (let f = 0; f < n; f++) {
      const co = f % cOut, t = (f - co) / cOut;
      const ci = t % cIn, s = (t - ci) / cIn; // s = kh*k + kw
      const bit = (decrypted[Math.floor(f / nOut)] >>> (f % nOut)) & 1;
      signs[(co * cIn + ci) * kk + s] = bit ? 1 : -1;
    }
    planes.push({ plane: p, masks, latent, encrypted, decrypted, alpha: alpha.slice(p * cOut, (p + 1) * cOut), signs });
  }
  return {
    node: nodeId, kind: node.kind, q, nOut, nIn, nTap, seed: seed ?? null, cOut, cIn, k, fanIn, weights: n, nSlices,
    bitsPerWeight: (q * nSlices * nIn) / n, planes,
  };
}
