// pool.js - ModelPool: one model on several workers (browser Web Workers or Node worker_threads), each with its
// own flexor.wasm instance and its own copy of the model. A batch is split into contiguous parts, one per
// worker, run in parallel, and the logits are put back in order: the same values, bit for bit, as one
// Model.forward on the whole batch (each sample's arithmetic does not depend on the rest of the batch in
// inference). This is data parallelism across instances: it speeds up batches (n >= 2), not a single image.
// The inputs and logits move as transferred ArrayBuffers (no copies through the structured clone).
//
//   import { init, ModelPool } from 'flexor-wasm';
//   await init();
//   const pool = await ModelPool.create(bytes, { workers: 2, maxBatch: 64 });
//   const logits = await pool.forward(x, 64);   // Float32Array (64, classes)
//   pool.terminate();
import { init, wasmModule, FlexorError, Status } from './flexor.js';

const NODE_WT = 'node:worker_threads'; // through a variable, so bundlers leave this Node-only import alone
const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

async function spawn() {
  const url = new URL('./pool-worker.js', import.meta.url);
  if (isNode && typeof Worker === 'undefined') {
    const { Worker: NodeWorker } = await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_WT);
    const w = new NodeWorker(url);
    return {
      on: (f) => w.on('message', f), onError: (f) => w.on('error', f), post: (m, t) => w.postMessage(m, t),
      terminate: () => w.terminate(),
    };
  }
  const w = new Worker(url, { type: 'module' });
  return {
    on: (f) => w.addEventListener('message', (e) => f(e.data)),
    onError: (f) => w.addEventListener('error', (e) => f(e.error ?? new Error(e.message || 'worker failed to start'))),
    post: (m, t) => w.postMessage(m, t), terminate: () => w.terminate(),
  };
}

function workerError(fn, msg) {
  if (msg.status !== undefined) {
    const e = new FlexorError(fn, msg.status, msg.message);
    e.message = msg.message;
    return e;
  }
  return new Error(`${fn}: a worker failed: ${msg.message}`);
}

class PoolWorker {
  #w; #next = 1; #pending = new Map(); #dead = null;
  constructor(w) {
    this.#w = w;
    w.on((msg) => {
      if (msg.type === 'up') { this.#pending.get(0)?.resolve(msg); this.#pending.delete(0); return; }
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.type === 'error') p.reject(workerError(p.fn, msg));
      else p.resolve(msg);
    });
    w.onError((e) => {
      this.#dead = e;
      for (const p of this.#pending.values()) p.reject(new Error(`${p.fn}: a worker stopped: ${e?.message ?? e}`));
      this.#pending.clear();
    });
  }
  up() { return new Promise((resolve, reject) => this.#pending.set(0, { resolve, reject, fn: 'ModelPool.create' })); }
  call(fn, msg, transfer) {
    if (this.#dead) return Promise.reject(new Error(`${fn}: a worker stopped: ${this.#dead.message ?? this.#dead}`));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, fn });
      this.#w.post({ ...msg, id }, transfer);
    });
  }
  terminate() { return this.#w.terminate(); }
}

export class ModelPool {
  #workers; #maxBatch; #classes; #input; #closed = false;
  constructor(token, workers, maxBatch, classes, input) {
    if (token !== ModelPool) throw new TypeError('ModelPool: use `await ModelPool.create(bytes, opts)`');
    this.#workers = workers; this.#maxBatch = maxBatch; this.#classes = classes; this.#input = input;
  }

  /**
   * Starts `workers` workers, each with the model file `bytes` loaded for up to ceil(maxBatch / workers)
   * samples. Needs init() (the workers reuse its compiled module). A bad model file rejects with the
   * FlexorError of Model.load.
   * @param {Uint8Array|ArrayBuffer} bytes  a model file
   * @param {{workers?: number, maxBatch?: number}} [opts]  workers (default 2, 1..64), maxBatch (default 64)
   * @returns {Promise<ModelPool>}
   */
  static async create(bytes, opts = {}) {
    const fn = 'ModelPool.create';
    await init();
    const n = opts.workers ?? 2, maxBatch = opts.maxBatch ?? 64;
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new FlexorError(fn, Status.EINVAL, `workers must be an integer in 1..64 (got ${n})`);
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new FlexorError(fn, Status.EINVAL, `maxBatch must be an integer >= 1 (got ${maxBatch})`);
    const u8 = bytes instanceof Uint8Array ? bytes : bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : null;
    if (!u8) throw new FlexorError(fn, Status.EINVAL, 'bytes must be a Uint8Array or an ArrayBuffer holding a model file');
    const module = wasmModule(), per = Math.ceil(maxBatch / n);
    const workers = [];
    try {
      for (let i = 0; i < n; i++) {
        const w = new PoolWorker(await spawn());
        workers.push(w);
        await w.up();
      }
      const ready = await Promise.all(workers.map((w) => w.call(fn, { type: 'init', module, model: u8.slice().buffer, maxBatch: per })));
      return new ModelPool(ModelPool, workers, maxBatch, ready[0].classes, ready[0].input);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
  }

  /** Number of workers. */
  get size() { return this.#workers.length; }
  /** Classes (logits per sample). */
  get classes() { return this.#classes; }
  /** [c, h, w] of one input sample. */
  get inputShape() { return [...this.#input]; }

  /**
   * Logits of n samples, computed in parallel: contiguous parts of the batch (sizes differing by at most 1) go to
   * the workers. Same values as Model.forward on the whole batch.
   * @param {Float32Array} x  n*c*h*w values (NCHW)
   * @param {number} n  1 <= n <= maxBatch
   * @returns {Promise<Float32Array>} (n, classes)
   */
  async forward(x, n) {
    const fn = 'ModelPool.forward';
    if (this.#closed) throw new FlexorError(fn, Status.ESTATE, 'the pool was terminated');
    if (!Number.isInteger(n) || n < 1 || n > this.#maxBatch)
      throw new FlexorError(fn, Status.ESHAPE, `batch of ${n} samples; this pool was created for 1..${this.#maxBatch}`);
    const per = this.#input[0] * this.#input[1] * this.#input[2];
    if (!(x instanceof Float32Array) || x.length !== n * per)
      throw new FlexorError(fn, Status.ESHAPE, `x must be a Float32Array of ${n * per} values (${n} samples of ${this.#input.join('x')})`);
    const W = Math.min(this.#workers.length, n), out = new Float32Array(n * this.#classes);
    const jobs = [];
    for (let i = 0, start = 0; i < W; i++) {
      const cnt = Math.floor(n / W) + (i < n % W ? 1 : 0);
      const part = x.slice(start * per, (start + cnt) * per);
      const at = start;
      jobs.push(this.#workers[i].call(fn, { type: 'forward', x: part, n: cnt }, [part.buffer])
        .then((r) => out.set(r.logits, at * this.#classes), (e) => {
          // the core numbers samples within the worker's part: say which samples of this call it had
          e.message = `${e.message} [in samples ${at}..${at + cnt - 1} of this batch, worker ${i}: sample k there is sample ${at} + k here]`;
          throw e;
        }));
      start += cnt;
    }
    await Promise.all(jobs);
    return out;
  }

  /** Stops the workers; the pool cannot be used afterwards. */
  async terminate() {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
