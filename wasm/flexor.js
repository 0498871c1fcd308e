// flexor.js - the ES-module loader and JavaScript API of the FleXOR core (wasm/flexor.wasm, a standalone
// WebAssembly SIMD module built from src/ by ./build.sh). Runs unchanged in Node >= 20, browsers and Web
// Workers: no Node built-in is imported statically; in Node the .wasm file is read with a dynamic
// import('node:fs/promises') only when it is a file: URL or a path.
//
//   import { init, Model, Dataset, Trainer, xorNetwork } from './flexor.js';
//   await init();                                      // or init({ wasmUrl | wasmBytes | wasmModule })
//   const m = Model.create({ input: [3, 32, 32] });    // layer by layer, then m.build(...), or a zoo network:
//   const net = Model.lenet5({ nIn: 16, nOut: 20, nTap: 2 });          // 0.8 bits/weight
//   const train = Dataset.fromIdx(imagesBytes, labelsBytes);           // MNIST IDX files
//   const tr = new Trainer(net, train, { optimizer: 'adam', lr: 1e-3, epochs: 2, sTanh: 100 });
//   while (!tr.run(8).runDone);                        // the core's training loop, a few steps per call
//   net.evaluate(testSet);                             // {correct, total, accuracy}
//   const file = net.save();                           // Uint8Array; Model.load(file) reads it back
//   tr.dispose(); train.dispose(); net.dispose(); m.dispose();
//
// The C side speaks the flat ABI of src/api_flat.h (ints, floats and pointers only; a uint64 seed crosses
// as two uint32 halves) plus the fx_* functions of src/flexor.h. Every C function returns an fx_status;
// any status != 0 becomes a FlexorError carrying the status, its name and the C context's message.
// Memory: typed-array views of the wasm memory are re-created whenever memory.buffer changed (the module
// can grow its memory in any call that allocates), so no view is cached across such calls.
// A variable, not a literal, so that bundlers (esbuild, webpack, vite) leave this Node-only import alone.
const NODE_FS = 'node:fs/promises';

// ---------------------------------------------------------------------------------------------------------
// Status codes and errors
// ---------------------------------------------------------------------------------------------------------

const STATUS_NAMES = ['FX_OK', 'FX_EINVAL', 'FX_ESHAPE', 'FX_ENOMEM', 'FX_EFORMAT', 'FX_EVERSION', 'FX_ENUMERIC',
  'FX_ESTATE', 'FX_EUNSUPPORTED'];

/**
 * The numeric fx_status codes of src/flexor.h.
 * @readonly
 * @enum {number}
 */
export const Status = Object.freeze({
  OK: 0, EINVAL: 1, ESHAPE: 2, ENOMEM: 3, EFORMAT: 4, EVERSION: 5, ENUMERIC: 6, ESTATE: 7, EUNSUPPORTED: 8,
});

/**
 * An error reported by the FleXOR core (or by this wrapper, with the same status codes).
 * The message is `${fn}: ${detail}`, where fn names the JS function that failed and detail is the C
 * context's message (which itself starts with the C function's name).
 */
export class FlexorError extends Error {
  /**
   * @param {string} fn  the API function that failed, e.g. 'Model.forward'
   * @param {number} status  the fx_status (see {@link Status})
   * @param {string} detail  what went wrong
   */
  constructor(fn, status, detail) {
    super(`${fn}: ${detail}`);
    this.name = 'FlexorError';
    /** @type {number} the numeric fx_status */
    this.status = status;
    /** @type {string} the status name, e.g. 'FX_ESHAPE' */
    this.code = STATUS_NAMES[status] ?? `FX_STATUS_${status}`;
    /** @type {string} the API function that failed */
    this.fn = fn;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Runtime: the one instance, its memory views and allocation bookkeeping
// ---------------------------------------------------------------------------------------------------------

/** @type {null | {ex: any, memory: WebAssembly.Memory, buf: ArrayBuffer|null, u8: Uint8Array, i32: Int32Array,
 *   u32: Uint32Array, f32: Float32Array, dv: DataView, ctx: number, scratch: number, jsBlocks: Map<number, number>,
 *   models: Set<object>, datasets: Set<object>, trainers: Set<object>, leakedBytes: number, leakedBlocks: number,
 *   api: object}} */
let rt = null;
let initPromise = null;

const SCRATCH_BYTES = 512; // out-parameters of single calls (ids, pointers, node descriptions, masks)
// Offsets into the scratch block (all 8-byte aligned where a double lives).
const S_NODE16 = 0;   // int32[18]  fxw_model_node (16 fields + seed lo, hi)
const S_MACS = 72;    // double     fxw_model_node
const S_OUT = 80;     // int32 / pointer / float out-parameter
const S_NAME = 88;    // char[24]   fxw_model_param
const S_NODEKIND = 112; // int32[2]
const S_LEN = 120;    // double
const S_DATA = 128;   // float*
const S_GRAD = 132;   // float*
const S_MASKS = 136;  // uint32[32]
const S_STATS = 264;  // double[10] fxw_trainer_run
const S_EXTRA = 344;  // pointer     fxw_model_load extra / fxw_model_save buffer
const S_EXTRALEN = 348; // uint32    its length
const S_DIMS = 352;   // int32[5]    fxw_idx_parse
const S_NIN4 = 376;   // int32[4]    fxw_lenet5 per-layer n_in
const S_MEANSTD = 392; // float[6]   fxw_dataset_new mean3, std3
const S_MILE = 416;   // float[8]    fxw_trainer_new milestones
const S_CORRECT = 448; // int32      fx_evaluate

function runtime(fn) {
  if (!rt) throw new FlexorError(fn, Status.ESTATE, 'the module is not initialised; call `await init()` first');
  return rt;
}

/** Current views of the wasm memory (re-created after memory growth). */
function heap() {
  const r = rt;
  if (r.buf !== r.memory.buffer) {
    const b = r.memory.buffer;
    r.buf = b;
    r.u8 = new Uint8Array(b);
    r.i32 = new Int32Array(b);
    r.u32 = new Uint32Array(b);
    r.f32 = new Float32Array(b);
    r.dv = new DataView(b);
  }
  return r;
}

const utf8 = new TextDecoder();

/** The NUL-terminated UTF-8 string at ptr. */
function cString(ptr) {
  const u8 = heap().u8;
  let end = ptr;
  while (end < u8.length && u8[end] !== 0) end++;
  return utf8.decode(u8.subarray(ptr, end));
}

/** fxw_malloc with bookkeeping; throws FX_ENOMEM naming `what`. */
function malloc(fn, bytes, what) {
  const p = rt.ex.fxw_malloc(bytes) >>> 0;
  if (!p) throw new FlexorError(fn, Status.ENOMEM, `cannot allocate ${bytes} bytes for ${what} in the wasm heap`);
  rt.jsBlocks.set(p, bytes);
  return p;
}

function free(p) {
  if (!p) return;
  rt.jsBlocks.delete(p);
  rt.ex.fxw_free(p);
}

/** Throws a FlexorError for a failed C call (status != 0), then clears the context. `prefix` (optional)
 * says which input was at fault, e.g. 'labels'. */
function check(ctx, fn, status, prefix = '') {
  if (status === 0) return;
  const { ex } = rt;
  let msg = cString(ex.fx_ctx_message(ctx) >>> 0);
  if (!msg) msg = cString(ex.fx_status_str(status) >>> 0);
  ex.fx_ctx_clear(ctx);
  throw new FlexorError(fn, status, prefix ? `${prefix}: ${msg}` : msg);
}

// ---------------------------------------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------------------------------------

function int(fn, name, v, dflt) {
  if (v === undefined && dflt !== undefined) return dflt;
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff)
    throw new FlexorError(fn, Status.EINVAL, `${name} must be an integer (got ${String(v)})`);
  return v;
}

function num(fn, name, v, dflt) {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new FlexorError(fn, Status.EINVAL, `${name} must be a number (got ${String(v)})`);
  return v;
}

/** A uint64 seed (a non-negative safe integer or a BigInt below 2^64) as [lo, hi] uint32 halves. */
function seedHalves(fn, name, v) {
  let b;
  if (typeof v === 'bigint') b = v;
  else if (Number.isSafeInteger(v)) b = BigInt(v);
  else throw new FlexorError(fn, Status.EINVAL, `${name} must be an integer or a BigInt (got ${String(v)})`);
  if (b < 0n || b >= 1n << 64n)
    throw new FlexorError(fn, Status.EINVAL, `${name} must be in 0..2^64-1 (got ${b})`);
  return [Number(b & 0xffffffffn), Number(b >> 32n)];
}

function arrayLike(fn, name, v) {
  if (v == null || typeof v !== 'object' || typeof v.length !== 'number')
    throw new FlexorError(fn, Status.EINVAL, `${name} must be a typed array or an array (got ${String(v)})`);
  return v;
}

/** Bytes as a Uint8Array view (no copy): a Uint8Array (or Node Buffer), an ArrayBuffer or any ArrayBufferView. */
function bytesOf(fn, name, v) {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer))
    return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new FlexorError(fn, Status.EINVAL, `${name} must be a Uint8Array or an ArrayBuffer (got ${v === null ? 'null' : typeof v})`);
}

/** Copies bytes into a new wasm-heap block (bookkept; free with free()). */
function copyIn(fn, u8, what) {
  const p = malloc(fn, u8.length, what);
  heap().u8.set(u8, p);
  return p;
}

/** A list of 1 or c per-channel numbers, expanded to 3 (unused channels get `fill`). */
function perChannel(fn, name, v, c, fill) {
  const a = Array.from(arrayLike(fn, name, v), Number);
  if (a.length !== 1 && a.length !== c)
    throw new FlexorError(fn, Status.EINVAL, `${name} must have 1 or ${c} values (got ${a.length})`);
  const out = [fill, fill, fill];
  for (let i = 0; i < c; i++) {
    out[i] = a.length === 1 ? a[0] : a[i];
    if (!Number.isFinite(out[i])) throw new FlexorError(fn, Status.EINVAL, `${name}[${i}] is ${out[i]}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------

// A minimal module that uses a SIMD instruction (from wasm-feature-detect, as tfjs-backend-wasm uses).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0,
  253, 15, 26, 11]);

const isNode = () => typeof process !== 'undefined' && !!process.versions?.node;

function simdSupported() {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** Where the .wasm is: a URL, or (Node, relative string) a file path. */
function resolveLocation(wasmUrl) {
  if (wasmUrl === undefined) return new URL('./flexor.wasm', import.meta.url);
  if (wasmUrl instanceof URL) return wasmUrl;
  const s = String(wasmUrl);
  try {
    return new URL(s); // absolute
  } catch {
    if (isNode()) return s; // a relative file path, resolved by fs against the current directory
    const base = globalThis.location?.href ?? import.meta.url;
    return new URL(s, base);
  }
}

async function compileFrom(where) {
  const hint = 'serve flexor.wasm next to flexor.js, or pass init({ wasmUrl | wasmBytes | wasmModule })';
  if (isNode() && (typeof where === 'string' || where.protocol === 'file:')) {
    const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_FS);
    let bytes;
    try {
      bytes = await fs.readFile(where);
    } catch (e) {
      throw new Error(`flexor: cannot read ${String(where)} (${e.message}); ${hint}`);
    }
    return WebAssembly.compile(bytes);
  }
  let resp;
  try {
    resp = await fetch(where);
  } catch (e) {
    throw new Error(`flexor: cannot fetch ${String(where)} (${e.message}); ${hint}`);
  }
  if (!resp.ok) throw new Error(`flexor: fetching ${String(where)} gave HTTP ${resp.status}; ${hint}`);
  const type = resp.headers.get('content-type') || '';
  if (typeof WebAssembly.compileStreaming === 'function' && type.startsWith('application/wasm')) {
    try {
      return await WebAssembly.compileStreaming(resp.clone());
    } catch {
      // fall through to the buffered path (e.g. a proxy that altered the response)
    }
  }
  return WebAssembly.compile(await resp.arrayBuffer());
}

/** Imports for exactly what the module asks for: env.emscripten_notify_memory_growth and WASI stubs. */
function makeImports(module) {
  const ENOSYS = 52;
  const out = { buf: [[], [], []] };
  const wasi = {
    proc_exit(code) {
      throw new Error(`flexor.wasm called proc_exit(${code}); the core should never exit`);
    },
    fd_write(fd, iovs, iovsLen, nwrittenPtr) {
      const { dv, u8 } = heap();
      let n = 0;
      for (let i = 0; i < iovsLen; i++) {
        const p = dv.getUint32(iovs + 8 * i, true), len = dv.getUint32(iovs + 8 * i + 4, true);
        const chunk = u8.slice(p, p + len);
        n += len;
        const sink = fd === 2 ? console.error : console.log;
        const pending = out.buf[fd === 2 ? 2 : 1];
        for (const byte of chunk) {
          if (byte === 10) {
            sink(utf8.decode(new Uint8Array(pending)));
            pending.length = 0;
          } else pending.push(byte);
        }
      }
      dv.setUint32(nwrittenPtr, n, true);
      return 0;
    },
    args_sizes_get(argc, bufSize) { heap().dv.setUint32(argc, 0, true); heap().dv.setUint32(bufSize, 0, true); return 0; },
    args_get() { return 0; },
    environ_sizes_get(cnt, bufSize) { heap().dv.setUint32(cnt, 0, true); heap().dv.setUint32(bufSize, 0, true); return 0; },
    environ_get() { return 0; },
  };
  const env = { emscripten_notify_memory_growth() { if (rt) heap(); } };
  const imports = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== 'function')
      throw new Error(`flexor: flexor.wasm imports ${imp.kind} ${imp.module}.${imp.name}, which this loader does not provide`);
    const mod = (imports[imp.module] ??= {});
    if (imp.module === 'env' && imp.name in env) mod[imp.name] = env[imp.name];
    else if (imp.module === 'wasi_snapshot_preview1') mod[imp.name] = wasi[imp.name] ?? (() => ENOSYS);
    else throw new Error(`flexor: flexor.wasm imports ${imp.module}.${imp.name}, which this loader does not provide ` +
      '(the .wasm and flexor.js are from different builds?)');
  }
  return imports;
}

async function doInit(opts) {
  if (typeof WebAssembly !== 'object')
    throw new FlexorError('init', Status.EUNSUPPORTED, 'WebAssembly is not available in this environment');
  if (!simdSupported())
    throw new FlexorError('init', Status.EUNSUPPORTED, 'WebAssembly SIMD (128-bit) is not supported by this ' +
      'browser or runtime; flexor.wasm needs it (Chrome >= 91, Firefox >= 89, Safari >= 16.4, Node >= 16.4)');
  let module;
  if (opts.wasmModule !== undefined) {
    if (!(opts.wasmModule instanceof WebAssembly.Module)) throw new TypeError('flexor: init: wasmModule must be a WebAssembly.Module');
    module = opts.wasmModule;
  } else if (opts.wasmBytes !== undefined) {
    module = await WebAssembly.compile(opts.wasmBytes);
  } else {
    module = await compileFrom(resolveLocation(opts.wasmUrl));
  }
  const instance = await WebAssembly.instantiate(module, makeImports(module));
  const ex = instance.exports;
  for (const f of ['fxw_malloc', 'fxw_free', 'fxw_ctx_new', 'fxw_version', 'fx_ctx_message', 'fx_model_forward'])
    if (typeof ex[f] !== 'function') throw new Error(`flexor: flexor.wasm does not export ${f} (a stale or foreign build?)`);
  if (typeof ex._initialize === 'function') ex._initialize();
  const r = {
    module, ex, memory: ex.memory, buf: null, u8: null, i32: null, u32: null, f32: null, dv: null, ctx: 0, scratch: 0,
    jsBlocks: new Map(), models: new Set(), datasets: new Set(), trainers: new Set(), leakedBytes: 0, leakedBlocks: 0,
    api: null,
  };
  rt = r;
  try {
    r.ctx = ex.fxw_ctx_new() >>> 0;
    if (!r.ctx) throw new FlexorError('init', Status.ENOMEM, 'cannot create the module context');
    r.scratch = malloc('init', SCRATCH_BYTES, 'the scratch block');
  } catch (e) {
    rt = null;
    throw e;
  }
  r.api = { init, version, memoryStats, xorNetwork, Model, Dataset, Trainer, FlexorError, Status };
  return r.api;
}

/**
 * Loads and instantiates flexor.wasm once. Concurrent and repeated calls share one promise and resolve to
 * the same API object; options of calls after the first are ignored. A failed init can be retried.
 * @param {{wasmUrl?: string|URL, wasmBytes?: BufferSource, wasmModule?: WebAssembly.Module}} [opts]
 *   where the module comes from; by default `new URL('./flexor.wasm', import.meta.url)`. In Node a file:
 *   URL or a relative path is read from disk; anything else is fetched.
 * @returns {Promise<object>} the API object {init, version, memoryStats, xorNetwork, Model, Dataset, Trainer,
 *   FlexorError, Status}
 */
export function init(opts = {}) {
  if (!initPromise) {
    initPromise = doInit(opts || {}).catch((e) => {
      initPromise = null;
      throw e;
    });
  }
  return initPromise;
}

/**
 * The compiled flexor.wasm (a WebAssembly.Module) of this runtime, e.g. to start workers without compiling
 * it again (ModelPool does). Needs init().
 * @returns {WebAssembly.Module}
 */
export function wasmModule() {
  return runtime('wasmModule').module;
}

/** The core's version, e.g. '0.1.0'. Needs init(). */
export function version() {
  const v = runtime('version').ex.fxw_version();
  return `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`;
}

/**
 * Memory accounting, for leak tests and diagnostics. Needs init().
 * @returns {{wasmBytes: number, liveModels: number, liveDatasets: number, liveTrainers: number, ctxBytes: number,
 *   ctxBlocks: number, jsBytes: number, jsBlocks: number, leakedBytes: number, leakedBlocks: number}}
 *   wasmBytes: size of the wasm memory; liveModels / liveDatasets / liveTrainers: objects not yet disposed;
 *   ctxBytes/ctxBlocks: bytes and blocks the contexts of the live models, datasets and trainers hold
 *   (fx_ctx_mem_used / fx_ctx_live_blocks); jsBytes/jsBlocks: buffers this wrapper holds in the wasm heap
 *   (input/label staging, dataset images and labels, scratch); leakedBytes/leakedBlocks: what disposed
 *   objects' contexts still held after they were freed (should stay 0).
 */
export function memoryStats() {
  const r = runtime('memoryStats');
  let ctxBytes = 0, ctxBlocks = 0;
  for (const set of [r.models, r.datasets, r.trainers]) {
    for (const h of set) {
      ctxBytes += r.ex.fx_ctx_mem_used(h.ctx) >>> 0;
      ctxBlocks += r.ex.fx_ctx_live_blocks(h.ctx) >>> 0;
    }
  }
  let jsBytes = 0;
  for (const n of r.jsBlocks.values()) jsBytes += n;
  return {
    wasmBytes: r.memory.buffer.byteLength, liveModels: r.models.size, liveDatasets: r.datasets.size,
    liveTrainers: r.trainers.size, ctxBytes, ctxBlocks, jsBytes, jsBlocks: r.jsBlocks.size,
    leakedBytes: r.leakedBytes, leakedBlocks: r.leakedBlocks,
  };
}

// ---------------------------------------------------------------------------------------------------------
// XOR-gate networks
// ---------------------------------------------------------------------------------------------------------

/**
 * The XOR-gate network M of one bit plane (docs/CORE.md "The XOR-gate network M").
 * @param {{nOut: number, nIn: number, nTap?: number, seed?: number|bigint, plane?: number}} cfg
 *   1 <= nIn <= nOut <= 32; 0 <= nTap <= nIn (0, the default, = random fill); seed (default 0) a uint64;
 *   plane (default 0) in 0..3.
 * @returns {{masks: Uint32Array, nOut: number, nIn: number, nTap: number, seed: number|bigint, plane: number,
 *   decrypt: (enc: Uint32Array|ArrayLike<number>) => Uint32Array}}
 *   masks[r] bit i = M[r][i]; decrypt maps packed encrypted words (bit i = encrypted bit i) to decrypted words
 *   (bit r = parity(enc & masks[r])).
 */
export function xorNetwork(cfg) {
  const fn = 'xorNetwork';
  const r = runtime(fn);
  const { nOut, nIn } = cfg || {};
  const nTap = int(fn, 'nTap', cfg?.nTap, 0), plane = int(fn, 'plane', cfg?.plane, 0);
  const seed = cfg?.seed ?? 0;
  int(fn, 'nOut', nOut);
  int(fn, 'nIn', nIn);
  const [lo, hi] = seedHalves(fn, 'seed', seed);
  const mp = r.scratch + S_MASKS;
  check(r.ctx, fn, r.ex.fxw_xornet_masks(r.ctx, nOut, nIn, nTap, lo, hi, plane, mp));
  const masks = heap().u32.slice(mp >>> 2, (mp >>> 2) + nOut);
  const decrypt = (enc) => {
    const dfn = 'xorNetwork.decrypt';
    runtime(dfn);
    arrayLike(dfn, 'enc', enc);
    const n = enc.length;
    if (n === 0) return new Uint32Array(0);
    const p = malloc(dfn, 8 * n, `${n} encrypted and decrypted words`);
    try {
      heap().u32.set(enc, p >>> 2);
      check(r.ctx, dfn, r.ex.fxw_decrypt(r.ctx, nOut, nIn, nTap, lo, hi, plane, p, p + 4 * n, n));
      const q = (p + 4 * n) >>> 2;
      return heap().u32.slice(q, q + n);
    } finally {
      free(p);
    }
  };
  return { masks, nOut, nIn, nTap, seed, plane, decrypt };
}

// ---------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------

const NODE_KINDS = ['input', 'conv', 'dense', 'bn', 'relu', 'maxpool', 'gap', 'shortcut', 'add'];
const PARAM_KINDS = ['w', 'b', 'lat', 'alpha', 'gamma', 'beta', 'rmean', 'rvar'];
const MODES = { flexor: 0, ste: 1, analog: 2 };
const OPTIMIZERS = { sgd: 0, adam: 1 };
const CREATE = Symbol('Model.create');
/** Module-private key of Model[ADOPT] (see there); helpers such as zoo builders and loaders use it. */
const ADOPT = Symbol('Model.adopt');
/** Module-private key of the static accessors of native handles (Model, Dataset), for Trainer and evaluate. */
const HANDLES = Symbol('handles');
const SAVE_KINDS = { inference: 0, checkpoint: 1 };
const SCHEDULES = { const: 0, step: 1, cosine: 2 };

// Frees the native side of a model: its wasm-heap buffers, the fx_model and its context. `h` holds only
// numbers, so a FinalizationRegistry can run it for a model that was dropped without dispose().
function releaseHandles(h) {
  const r = rt;
  if (!r || !h.ctx) return;
  for (const p of h.bufs) free(p);
  h.bufs = [];
  if (h.m) r.ex.fx_model_free(h.ctx, h.m);
  r.leakedBytes += r.ex.fx_ctx_mem_used(h.ctx) >>> 0;
  r.leakedBlocks += r.ex.fx_ctx_live_blocks(h.ctx) >>> 0;
  r.ex.fx_ctx_free(h.ctx);
  r.models.delete(h);
  h.ctx = h.m = 0;
}

const finalizer = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry(releaseHandles) : null;

/**
 * A FleXOR network: a DAG of layers built in topological order (node 0 is the input), owning one arena
 * in the wasm heap and its own error context. Create with {@link Model.create}, add layers, then
 * {@link Model#build}; or take a built zoo network ({@link Model.lenet5}, {@link Model.resnetCifar}) or a
 * model file ({@link Model.load}). Call {@link Model#dispose} when done (a dropped model is freed by the garbage
 * collector eventually, but dispose() frees it now).
 */
export class Model {
  /** @type {{ctx: number, m: number, bufs: number[]}} native handles */
  #h;
  #input;
  #seeds = new Map(); // node id -> the flexor seed as given (the C node info has no seed)
  #built = false;
  #training = false;
  #maxBatch = 0;
  #classes = 0;
  #xBuf = 0;
  #labelBuf = 0;
  #teacherBuf = 0;
  #params = null; // Map name -> {name, node, kind, length, trainable, data, grad}
  #lastN = 0;
  #lastTrain = false;
  #metadata = '';

  /** @private Use Model.create. */
  constructor(token, h) {
    if (token !== CREATE) throw new TypeError('use Model.create({ input: [c, h, w] })');
    this.#h = h;
  }

  /**
   * A new model whose input is one sample of shape [c, h, w] (a dense-only model uses [features, 1, 1]).
   * @param {{input: [number, number, number]}} opts
   * @returns {Model}
   */
  static create(opts) {
    const fn = 'Model.create';
    runtime(fn);
    const input = opts?.input;
    if (!Array.isArray(input) || input.length !== 3)
      throw new FlexorError(fn, Status.EINVAL, `input must be [c, h, w] (got ${JSON.stringify(input)})`);
    const [c, hh, w] = input.map((v, i) => int(fn, `input[${i}]`, v));
    return Model[ADOPT](fn, (ctx, out) => rt.ex.fxw_model_new(ctx, out, c, hh, w));
  }

  /**
   * Internal (module-private key): wraps a native model made by `make(ctx, outPtr) -> fx_status`, which gets
   * a fresh context and writes the fx_model* to outPtr: fxw_model_new, or a constructor that returns an
   * already built model (a zoo network, a loaded model file). The model owns the context from then on.
   * @param {string} fn  the API name for errors
   * @param {(ctx: number, outPtr: number) => number} make
   * @returns {Model}
   */
  static [ADOPT](fn, make) {
    const r = runtime(fn);
    const ctx = r.ex.fxw_ctx_new() >>> 0;
    if (!ctx) throw new FlexorError(fn, Status.ENOMEM, 'cannot allocate a context');
    const h = { ctx, m: 0, bufs: [] };
    let model;
    try {
      heap().u32[(r.scratch + S_OUT) >>> 2] = 0;
      check(ctx, fn, make(ctx, r.scratch + S_OUT));
      h.m = heap().u32[(r.scratch + S_OUT) >>> 2];
      if (!h.m) throw new FlexorError(fn, Status.ESTATE, 'the constructor returned no model');
      r.models.add(h);
      model = new Model(CREATE, h);
      model.#input = model.#node(fn, 0).shape;
      const maxBatch = r.ex.fx_model_max_batch(h.m);
      if (maxBatch > 0) model.#afterBuild(fn, maxBatch, null);
    } catch (e) {
      releaseHandles(h);
      throw e;
    }
    finalizer?.register(model, h, h);
    return model;
  }

  /**
   * Internal (module-private key): the native handles {ctx, m} of a live, built model, for Trainer and
   * Model#evaluate. forget = true marks the last forward as unknown (the trainer ran its own).
   * @param {Model} model @param {string} fn @param {string} role  'the model', 'the teacher', ...
   * @param {boolean} [forget]
   */
  static [HANDLES](model, fn, role, forget = false) {
    if (!(model instanceof Model)) throw new FlexorError(fn, Status.EINVAL, `${role} must be a Model (got ${String(model)})`);
    if (!model.#h.ctx) throw new FlexorError(fn, Status.ESTATE, `${role} was disposed`);
    if (!model.#built) throw new FlexorError(fn, Status.ESTATE, `${role} is not built yet; call build() first`);
    if (forget) {
      model.#lastN = 0;
      model.#lastTrain = false;
    }
    return model.#h;
  }

  // Initialises a zoo network's parameters as `flexor train` does (seed shared with the XOR networks).
  static #initZoo(fn, model, seed, alphaInit, latStd) {
    try {
      model.initParams({ seed, alphaInit, latStd });
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  static #zooCommon(fn, o, maxBatchDefault, alphaDefault) {
    const q = int(fn, 'q', o.q, 1);
    if (!o.fp && (q < 1 || q > 4))
      throw new FlexorError(fn, Status.EINVAL, `q (bit planes) must be 1..4 (got ${q}); use fp: true for full precision`);
    const seed = o.seed ?? 1;
    return {
      q: o.fp ? 0 : q, nOut: int(fn, 'nOut', o.nOut, 20), nIn: int(fn, 'nIn', o.nIn, 16), nTap: int(fn, 'nTap', o.nTap, 2),
      seed, halves: seedHalves(fn, 'seed', seed), maxBatch: int(fn, 'maxBatch', o.maxBatch, maxBatchDefault),
      training: (o.training ?? true) ? 1 : 0, alphaInit: num(fn, 'alphaInit', o.alphaInit, alphaDefault),
      latStd: num(fn, 'latStd', o.latStd, 0.001),
    };
  }

  /**
   * The paper's LeNet-5 for MNIST (1x28x28 -> 10 classes): 32C5-MP2-64C5-MP2-512FC-10 with 'same' padding,
   * ReLU and biases; built and initialised (Kaiming weights, latent values N(0, latStd^2)) exactly as
   * `flexor train mnist` builds it, ready for a {@link Trainer}.
   * @param {{q?: number, nOut?: number, nIn?: number, nTap?: number, seed?: number|bigint, fp?: boolean,
   *   nInPerLayer?: number[], maxBatch?: number, training?: boolean, alphaInit?: number, latStd?: number}} [opts]
   *   defaults: q 1, nOut 20, nIn 16 (0.8 bits/weight), nTap 2, seed 1, fp false, maxBatch 64, training true,
   *   alphaInit 0 (the Kaiming scale), latStd 0.001. fp: every layer full precision. nInPerLayer: n_in of
   *   (conv1, conv2, fc1, fc2), where 0 keeps that layer full precision. seed seeds both the XOR networks
   *   (plane p of every layer uses (seed, p)) and the initialisation.
   * @returns {Model}
   */
  static lenet5(opts = {}) {
    const fn = 'Model.lenet5';
    const r = runtime(fn);
    const o = opts || {};
    const z = Model.#zooCommon(fn, o, 64, 0);
    let nin4 = 0;
    if (o.nInPerLayer != null) {
      const a = arrayLike(fn, 'nInPerLayer', o.nInPerLayer);
      if (a.length !== 4)
        throw new FlexorError(fn, Status.EINVAL, `nInPerLayer must have 4 entries (conv1, conv2, fc1, fc2), got ${a.length}`);
      const v = Array.from(a, (x, i) => int(fn, `nInPerLayer[${i}]`, x));
      nin4 = r.scratch + S_NIN4;
      heap().i32.set(v, nin4 >>> 2);
    }
    const m = Model[ADOPT](fn, (ctx, out) => r.ex.fxw_lenet5(ctx, out, z.q, z.nOut, z.nIn, z.nTap, z.halves[0],
      z.halves[1], nin4, z.maxBatch, z.training));
    return Model.#initZoo(fn, m, z.seed, z.alphaInit, z.latStd);
  }

  /**
   * He et al.'s CIFAR ResNet-depth (3x32x32 -> 10 classes, option-A shortcuts): the first conv, the last
   * dense layer and BN stay full precision, every 3x3 conv of stage s is FleXOR; built and initialised as
   * `flexor train cifar10` does.
   * @param {{depth?: number, q?: number, nOut?: number, nIn?: number, nInPerStage?: number[], nTap?: number,
   *   seed?: number|bigint, fp?: boolean, maxBatch?: number, training?: boolean, alphaInit?: number,
   *   latStd?: number}} [opts]  defaults: depth 20 (6n+2: 20, 32, 44, 56, 110), q 1, nOut 20, nIn 16, nTap 2,
   *   seed 1, fp false, maxBatch 128, training true, alphaInit 0.2, latStd 0.001. nInPerStage: n_in of the
   *   three stages (an entry of 0 takes nIn).
   * @returns {Model}
   */
  static resnetCifar(opts = {}) {
    const fn = 'Model.resnetCifar';
    const r = runtime(fn);
    const o = opts || {};
    const z = Model.#zooCommon(fn, o, 128, 0.2);
    const depth = int(fn, 'depth', o.depth, 20);
    let st = [z.nIn, z.nIn, z.nIn];
    if (o.nInPerStage != null) {
      const a = arrayLike(fn, 'nInPerStage', o.nInPerStage);
      if (a.length !== 3) throw new FlexorError(fn, Status.EINVAL, `nInPerStage must have 3 entries, got ${a.length}`);
      st = Array.from(a, (x, i) => int(fn, `nInPerStage[${i}]`, x) || z.nIn);
    }
    const m = Model[ADOPT](fn, (ctx, out) => r.ex.fxw_resnet_cifar(ctx, out, depth, z.q, z.nOut, st[0], st[1], st[2],
      z.nTap, z.halves[0], z.halves[1], z.maxBatch, z.training));
    return Model.#initZoo(fn, m, z.seed, z.alphaInit, z.latStd);
  }

  /**
   * Loads a model file (docs/FORMAT.md; what {@link Model#save} or `flexor train --out/--ckpt` wrote). Every
   * field is validated (magic, version, checksum, shapes, finite values); a bad file gives a FlexorError
   * (FX_EFORMAT / FX_EVERSION) naming the problem. The file's metadata block is decoded as UTF-8 into
   * {@link Model#metadata}.
   * @param {Uint8Array|ArrayBuffer} bytes  the whole file
   * @param {{maxBatch?: number, training?: boolean}} [opts]  maxBatch (default 1) the largest batch the
   *   model will run; training (default false) true needs a checkpoint file and restores its latent values,
   *   optimiser state and step count, so training continues where it stopped.
   * @returns {Model}
   */
  static load(bytes, opts = {}) {
    const fn = 'Model.load';
    const r = runtime(fn);
    const u8 = bytesOf(fn, 'bytes', bytes);
    const maxBatch = int(fn, 'maxBatch', opts?.maxBatch, 1);
    const training = opts?.training ? 1 : 0;
    const p = copyIn(fn, u8, `the ${u8.length}-byte model file`);
    let metadata = '';
    try {
      const m = Model[ADOPT](fn, (ctx, out) => {
        const s = r.scratch;
        heap().u32[(s + S_EXTRA) >>> 2] = 0;
        heap().u32[(s + S_EXTRALEN) >>> 2] = 0;
        const status = r.ex.fxw_model_load(ctx, p, u8.length, maxBatch, training, out, s + S_EXTRA, s + S_EXTRALEN);
        if (status === 0) {
          const { u32 } = heap();
          const xp = u32[(s + S_EXTRA) >>> 2], xl = u32[(s + S_EXTRALEN) >>> 2];
          if (xp && xl) metadata = utf8.decode(heap().u8.subarray(xp, xp + xl));
        }
        return status;
      });
      m.#metadata = metadata;
      return m;
    } finally {
      free(p);
    }
  }

  #live(fn) {
    if (!this.#h.ctx) throw new FlexorError(fn, Status.ESTATE, 'the model was disposed');
    return rt;
  }

  #builtOr(fn) {
    const r = this.#live(fn);
    if (!this.#built) throw new FlexorError(fn, Status.ESTATE, 'the model is not built yet; call build() first');
    return r;
  }

  #id(fn, r, status) {
    check(this.#h.ctx, fn, status);
    return heap().i32[(r.scratch + S_OUT) >>> 2];
  }

  static #flexorArgs(fn, f) {
    if (f == null) return [0, 0, 0, 0, 0, 0];
    if (typeof f !== 'object') throw new FlexorError(fn, Status.EINVAL, 'flexor must be an object {q, nOut, nIn, nTap, seed} or null');
    const q = int(fn, 'flexor.q', f.q, 1);
    if (q < 1) throw new FlexorError(fn, Status.EINVAL, `flexor.q (bit planes) must be >= 1 (got ${q}); use flexor: null for full precision`);
    const [lo, hi] = seedHalves(fn, 'flexor.seed', f.seed ?? 0);
    return [q, int(fn, 'flexor.nOut', f.nOut), int(fn, 'flexor.nIn', f.nIn), int(fn, 'flexor.nTap', f.nTap, 0), lo, hi];
  }

  /**
   * Adds a 2-D convolution (OIHW weights, zero padding).
   * @param {number} input  the input node id
   * @param {{cOut: number, k: number, stride?: number, pad?: number, bias?: boolean, flexor?: FlexorConfig|null}} opts
   *   stride 1, pad 0, no bias and full precision by default; `flexor` makes the weight a FleXOR weight.
   * @returns {number} the new node id
   */
  conv(input, opts) {
    const fn = 'Model.conv';
    const r = this.#live(fn);
    const o = opts || {};
    const fx = Model.#flexorArgs(fn, o.flexor);
    const id = this.#id(fn, r, r.ex.fxw_model_conv(this.#h.ctx, this.#h.m, int(fn, 'input', input), int(fn, 'cOut', o.cOut),
      int(fn, 'k', o.k), int(fn, 'stride', o.stride, 1), int(fn, 'pad', o.pad, 0), o.bias ? 1 : 0, fx[0], fx[1], fx[2],
      fx[3], fx[4], fx[5], r.scratch + S_OUT));
    if (o.flexor) this.#seeds.set(id, o.flexor.seed ?? 0);
    return id;
  }

  /**
   * Adds a fully connected layer y = x W^T + b over the flattened input.
   * @param {number} input  the input node id
   * @param {{out: number, bias?: boolean, flexor?: FlexorConfig|null}} opts  bias defaults to true
   * @returns {number} the new node id
   */
  dense(input, opts) {
    const fn = 'Model.dense';
    const r = this.#live(fn);
    const o = opts || {};
    const fx = Model.#flexorArgs(fn, o.flexor);
    const id = this.#id(fn, r, r.ex.fxw_model_dense(this.#h.ctx, this.#h.m, int(fn, 'input', input), int(fn, 'out', o.out),
      (o.bias ?? true) ? 1 : 0, fx[0], fx[1], fx[2], fx[3], fx[4], fx[5], r.scratch + S_OUT));
    if (o.flexor) this.#seeds.set(id, o.flexor.seed ?? 0);
    return id;
  }

  /** Adds batch normalisation (per channel). @param {number} input @returns {number} the node id */
  bn(input) {
    const fn = 'Model.bn', r = this.#live(fn);
    return this.#id(fn, r, r.ex.fx_model_bn(this.#h.ctx, this.#h.m, int(fn, 'input', input), r.scratch + S_OUT));
  }

  /** Adds a ReLU. @param {number} input @returns {number} the node id */
  relu(input) {
    const fn = 'Model.relu', r = this.#live(fn);
    return this.#id(fn, r, r.ex.fx_model_relu(this.#h.ctx, this.#h.m, int(fn, 'input', input), r.scratch + S_OUT));
  }

  /**
   * Adds max pooling (window k, stride s, no padding, floor).
   * @param {number} input @param {{k: number, s?: number}} opts  s defaults to k @returns {number} the node id
   */
  maxpool(input, opts) {
    const fn = 'Model.maxpool', r = this.#live(fn);
    const k = int(fn, 'k', opts?.k);
    return this.#id(fn, r, r.ex.fx_model_maxpool(this.#h.ctx, this.#h.m, int(fn, 'input', input), k,
      int(fn, 's', opts?.s, k), r.scratch + S_OUT));
  }

  /** Adds global average pooling ([c, h, w] -> [c, 1, 1]). @param {number} input @returns {number} the node id */
  gap(input) {
    const fn = 'Model.gap', r = this.#live(fn);
    return this.#id(fn, r, r.ex.fx_model_gap(this.#h.ctx, this.#h.m, int(fn, 'input', input), r.scratch + S_OUT));
  }

  /**
   * Adds an option-A shortcut: subsample by stride, zero-pad channels to cOut.
   * @param {number} input @param {{cOut: number, stride?: number}} opts  stride defaults to 1 @returns {number} the node id
   */
  shortcut(input, opts) {
    const fn = 'Model.shortcut', r = this.#live(fn);
    return this.#id(fn, r, r.ex.fx_model_shortcut(this.#h.ctx, this.#h.m, int(fn, 'input', input),
      int(fn, 'cOut', opts?.cOut), int(fn, 'stride', opts?.stride, 1), r.scratch + S_OUT));
  }

  /** Adds an element-wise sum of two nodes of the same shape. @param {number} a @param {number} b @returns {number} the node id */
  add(a, b) {
    const fn = 'Model.add', r = this.#live(fn);
    return this.#id(fn, r, r.ex.fx_model_add(this.#h.ctx, this.#h.m, int(fn, 'a', a), int(fn, 'b', b), r.scratch + S_OUT));
  }

  /**
   * Allocates the arena; the last node added is the output (logits). No layer can be added afterwards.
   * @param {{maxBatch: number, training?: boolean}} opts  training (default true) = false gives an
   *   inference-only model without gradients or optimiser state.
   * @returns {this}
   */
  build(opts) {
    const fn = 'Model.build';
    const r = this.#live(fn);
    if (this.#built) throw new FlexorError(fn, Status.ESTATE, 'the model is already built');
    const maxBatch = int(fn, 'maxBatch', opts?.maxBatch);
    const training = (opts?.training ?? true) ? 1 : 0;
    check(this.#h.ctx, fn, r.ex.fx_model_build(this.#h.ctx, this.#h.m, maxBatch, training));
    this.#afterBuild(fn, maxBatch, !!training);
    return this;
  }

  // Once the arena exists: staging buffers for inputs, labels and teacher logits, and the parameter table.
  // training = null: find out from the parameters (a gradient buffer exists only in training models).
  #afterBuild(fn, maxBatch, training) {
    this.#built = true;
    this.#maxBatch = maxBatch;
    const params = this.#paramList(fn);
    this.#params = new Map(params.map((p) => [p.name, p]));
    this.#training = training ?? params.some((p) => p.grad !== 0);
    const last = this.#node(fn, rt.ex.fx_model_node_count(this.#h.m) - 1);
    this.#classes = last.shape[0] * last.shape[1] * last.shape[2];
    const inSize = this.#input[0] * this.#input[1] * this.#input[2];
    const h = this.#h;
    this.#xBuf = malloc(fn, 4 * maxBatch * inSize, 'the input staging buffer');
    h.bufs.push(this.#xBuf);
    if (this.#training) {
      this.#labelBuf = malloc(fn, 4 * maxBatch, 'the label staging buffer');
      h.bufs.push(this.#labelBuf);
      this.#teacherBuf = malloc(fn, 4 * maxBatch * this.#classes, 'the teacher-logit staging buffer');
      h.bufs.push(this.#teacherBuf);
    }
  }

  /**
   * Initialises every parameter (fx_model_init_params): Kaiming-normal full-precision weights, zero biases,
   * BN (1, 0, 0, 1), FleXOR latents N(0, latStd^2) and alpha = alphaInit (or the Kaiming scale when <= 0).
   * @param {{seed?: number|bigint, alphaInit?: number, latStd?: number}} [opts]  defaults 0, 0, 0.001
   * @returns {this}
   */
  initParams(opts = {}) {
    const fn = 'Model.initParams';
    const r = this.#builtOr(fn);
    const [lo, hi] = seedHalves(fn, 'seed', opts.seed ?? 0);
    check(this.#h.ctx, fn, r.ex.fxw_model_init_params(this.#h.ctx, this.#h.m, lo, hi,
      num(fn, 'alphaInit', opts.alphaInit, 0), num(fn, 'latStd', opts.latStd, 0.001)));
    return this;
  }

  /**
   * Starts this model from `src`, a model of the same graph (e.g. a full-precision one): parameters of the
   * same kind and size are copied and every FleXOR weight is encrypted from src's float weight of the same
   * node (fx_model_init_from: per slice the encrypted word whose decrypted bits best match sign(W) weighted
   * by |W|, least-squares alpha, latent values +-mag).
   * @param {Model} src
   * @param {{mag?: number, seed?: number|bigint}} [opts]  mag defaults to 0.05, seed to 1
   * @returns {{copied: number, encrypted: number}}
   */
  initFrom(src, opts = {}) {
    const fn = 'Model.initFrom';
    const r = this.#builtOr(fn);
    if (!(src instanceof Model)) throw new FlexorError(fn, Status.EINVAL, 'src must be a Model');
    src.#live(fn);
    const [lo, hi] = seedHalves(fn, 'seed', opts.seed ?? 1);
    const s = r.scratch;
    check(this.#h.ctx, fn, r.ex.fxw_model_init_from(this.#h.ctx, this.#h.m, src.#h.m, num(fn, 'mag', opts.mag, 0.05),
      lo, hi, s + S_OUT));
    const counts = heap().i32.slice((s + S_OUT) >>> 2, ((s + S_OUT) >>> 2) + 2);
    return { copied: counts[0], encrypted: counts[1] };
  }

  /**
   * Sets the backward mode and S_tanh of every FleXOR layer.
   * @param {{mode?: 'flexor'|'ste'|'analog', sTanh?: number}} opts  defaults 'flexor' and 10
   * @returns {this}
   */
  setFlexor(opts = {}) {
    const fn = 'Model.setFlexor';
    const r = this.#live(fn);
    const mode = opts.mode ?? 'flexor';
    if (!(mode in MODES)) throw new FlexorError(fn, Status.EINVAL, `mode must be 'flexor', 'ste' or 'analog' (got ${String(mode)})`);
    check(this.#h.ctx, fn, r.ex.fx_model_set_flexor(this.#h.ctx, this.#h.m, MODES[mode], num(fn, 'sTanh', opts.sTanh, 10)));
    return this;
  }

  /**
   * Runs the network on n samples.
   * @param {Float32Array|ArrayLike<number>} x  n*c*h*w values (NCHW)
   * @param {number} n  1 <= n <= maxBatch
   * @param {{train?: boolean}} [opts]  train (default false): batch statistics in BN, and enables backward()
   * @returns {Float32Array} the logits (n, classes), a copy
   */
  forward(x, n, opts = {}) {
    const fn = 'Model.forward';
    const r = this.#builtOr(fn);
    arrayLike(fn, 'x', x);
    int(fn, 'n', n);
    const [c, hh, w] = this.#input;
    const per = c * hh * w;
    if (n >= 1 && x.length !== n * per)
      throw new FlexorError(fn, Status.ESHAPE, `x has ${x.length} values; ${n} samples of ${c}x${hh}x${w} need ${n * per}`);
    const train = opts.train ? 1 : 0;
    if (n >= 1 && n <= this.#maxBatch) heap().f32.set(x, this.#xBuf >>> 2);
    // n outside 1..maxBatch is rejected by the core before it reads x.
    const out = r.scratch + S_OUT;
    this.#lastN = 0;
    this.#lastTrain = false;
    check(this.#h.ctx, fn, r.ex.fx_model_forward(this.#h.ctx, this.#h.m, this.#xBuf, n, train, out));
    this.#lastN = n;
    this.#lastTrain = !!train;
    const p = heap().u32[out >>> 2] >>> 2;
    return heap().f32.slice(p, p + n * this.#classes);
  }

  /**
   * Gradients of the loss of the last train-mode forward, for every parameter (zeroed first). One backward
   * per forward.
   * @param {Int32Array|ArrayLike<number>} labels  n class indices
   * @param {{teacher?: Float32Array|ArrayLike<number>|null, T?: number, a?: number}} [opts]  with teacher
   *   logits (n, classes): distillation (1-a)*CE + a*T^2*KL with temperature T (both required then)
   * @returns {number} the mean loss
   */
  backward(labels, opts = {}) {
    const fn = 'Model.backward';
    const r = this.#builtOr(fn);
    if (!this.#training) throw new FlexorError(fn, Status.ESTATE, 'the model was built for inference only (build({training: true}))');
    arrayLike(fn, 'labels', labels);
    const n = this.#lastN;
    if (this.#lastTrain && labels.length !== n)
      throw new FlexorError(fn, Status.ESHAPE, `${labels.length} labels for a batch of ${n} samples`);
    heap().i32.set(this.#lastTrain ? labels : [], this.#labelBuf >>> 2);
    let teacher = 0, T = 1, a = 0;
    if (opts.teacher != null) {
      arrayLike(fn, 'teacher', opts.teacher);
      if (this.#lastTrain && opts.teacher.length !== n * this.#classes)
        throw new FlexorError(fn, Status.ESHAPE, `teacher has ${opts.teacher.length} logits; ${n} samples of ${this.#classes} classes need ${n * this.#classes}`);
      T = num(fn, 'T', opts.T);
      a = num(fn, 'a', opts.a);
      if (this.#lastTrain) heap().f32.set(opts.teacher, this.#teacherBuf >>> 2);
      teacher = this.#teacherBuf;
    }
    const out = r.scratch + S_OUT;
    const status = r.ex.fx_model_backward(this.#h.ctx, this.#h.m, this.#labelBuf, teacher, T, a, out);
    this.#lastTrain = false;
    check(this.#h.ctx, fn, status);
    return heap().f32[out >>> 2];
  }

  /**
   * One optimiser step over every trainable parameter (PyTorch semantics, docs/CORE.md "Optimisers").
   * @param {{optimizer?: 'sgd'|'adam', lr: number, momentum?: number, nesterov?: boolean, beta1?: number,
   *   beta2?: number, eps?: number, weightDecay?: number}} opts  defaults: sgd, momentum 0, no Nesterov,
   *   beta1 0.9, beta2 0.999, eps 1e-8, weight decay 0
   * @returns {this}
   */
  step(opts) {
    const fn = 'Model.step';
    const r = this.#builtOr(fn);
    const o = opts || {};
    const kind = o.optimizer ?? 'sgd';
    if (!(kind in OPTIMIZERS)) throw new FlexorError(fn, Status.EINVAL, `optimizer must be 'sgd' or 'adam' (got ${String(kind)})`);
    check(this.#h.ctx, fn, r.ex.fxw_model_step(this.#h.ctx, this.#h.m, OPTIMIZERS[kind], num(fn, 'momentum', o.momentum, 0),
      o.nesterov ? 1 : 0, num(fn, 'beta1', o.beta1, 0.9), num(fn, 'beta2', o.beta2, 0.999), num(fn, 'eps', o.eps, 1e-8),
      num(fn, 'weightDecay', o.weightDecay, 0), num(fn, 'lr', o.lr)));
    return this;
  }

  #node(fn, id) {
    const r = rt;
    const s = r.scratch;
    check(this.#h.ctx, fn, r.ex.fxw_model_node(this.#h.ctx, this.#h.m, id, s + S_NODE16, s + S_MACS));
    const v = heap().i32.slice((s + S_NODE16) >>> 2, ((s + S_NODE16) >>> 2) + 18);
    const macs = heap().dv.getFloat64(s + S_MACS, true);
    const [kind, in0, in1, c, h, w, cOut, k, stride, pad, bias, flexor, nOut, nIn, nTap, q, seedLo, seedHi] = v;
    const seed = (BigInt(seedHi >>> 0) << 32n) | BigInt(seedLo >>> 0);
    return {
      id, kind: NODE_KINDS[kind] ?? `kind${kind}`, inputs: [in0, in1].filter((i) => i >= 0), shape: [c, h, w],
      cOut, k, stride, pad, bias: !!bias,
      flexor: flexor ? { q, nOut, nIn, nTap, seed: this.#seeds.has(id) ? this.#seeds.get(id) : (seed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seed) : seed) } : null, macs,
    };
  }

  /**
   * Descriptions of every node, in id order.
   * @returns {NodeInfo[]}
   */
  nodes() {
    const fn = 'Model.nodes';
    const r = this.#live(fn);
    const n = r.ex.fx_model_node_count(this.#h.m);
    const out = [];
    for (let i = 0; i < n; i++) out.push(this.#node(fn, i));
    return out;
  }

  #paramList(fn) {
    const r = rt;
    const s = r.scratch;
    const count = r.ex.fx_model_param_count(this.#h.m);
    const out = [];
    for (let i = 0; i < count; i++) {
      check(this.#h.ctx, fn, r.ex.fxw_model_param(this.#h.ctx, this.#h.m, i, s + S_NAME, s + S_NODEKIND, s + S_LEN,
        s + S_DATA, s + S_GRAD));
      const { i32, u32, dv } = heap();
      const kind = PARAM_KINDS[i32[(s + S_NODEKIND + 4) >>> 2]];
      out.push({
        name: cString(s + S_NAME), node: i32[(s + S_NODEKIND) >>> 2], kind, length: dv.getFloat64(s + S_LEN, true),
        trainable: kind !== 'rmean' && kind !== 'rvar', data: u32[(s + S_DATA) >>> 2], grad: u32[(s + S_GRAD) >>> 2],
      });
    }
    return out;
  }

  /**
   * The parameters (and BN running statistics), in the core's order.
   * @returns {ParamInfo[]}
   */
  params() {
    const fn = 'Model.params';
    this.#live(fn);
    const list = this.#params ? [...this.#params.values()] : this.#paramList(fn);
    return list.map(({ name, node, kind, length, trainable }) => ({ name, node, kind, length, trainable }));
  }

  #param(fn, name) {
    this.#builtOr(fn);
    const p = this.#params.get(name);
    if (!p) throw new FlexorError(fn, Status.EINVAL, `no parameter '${String(name)}' (the model has ${[...this.#params.keys()].join(', ')})`);
    return p;
  }

  /** A copy of a parameter's values. @param {string} name e.g. '1.lat' @returns {Float32Array} */
  getParam(name) {
    const p = this.#param('Model.getParam', name);
    return heap().f32.slice(p.data >>> 2, (p.data >>> 2) + p.length);
  }

  /**
   * A copy of a parameter's gradient from the last backward().
   * @param {string} name @returns {Float32Array}
   */
  getGrad(name) {
    const fn = 'Model.getGrad';
    const p = this.#param(fn, name);
    if (!p.grad) throw new FlexorError(fn, Status.ESTATE, `${name} has no gradient (${p.trainable ? 'an inference-only model' : 'a running statistic'})`);
    return heap().f32.slice(p.grad >>> 2, (p.grad >>> 2) + p.length);
  }

  /**
   * Overwrites a parameter (marks the model changed, so FleXOR weights are decoded again).
   * @param {string} name @param {Float32Array|ArrayLike<number>} values  exactly the parameter's length, finite
   * @returns {this}
   */
  setParam(name, values) {
    const fn = 'Model.setParam';
    const p = this.#param(fn, name);
    arrayLike(fn, 'values', values);
    if (values.length !== p.length)
      throw new FlexorError(fn, Status.ESHAPE, `${name} has ${p.length} values; got ${values.length}`);
    for (let i = 0; i < values.length; i++)
      if (!Number.isFinite(values[i])) throw new FlexorError(fn, Status.ENUMERIC, `${name}[${i}] is ${values[i]}`);
    heap().f32.set(values, p.data >>> 2);
    rt.ex.fx_model_touch(this.#h.m);
    return this;
  }

  /**
   * A copy of the float weights of a conv or dense node as the forward uses them (decoded from the XOR
   * bits for a FleXOR layer): conv (cOut, cIn, k, k), dense (out, in).
   * @param {number} nodeId @returns {Float32Array}
   */
  weights(nodeId) {
    const fn = 'Model.weights';
    const r = this.#builtOr(fn);
    const id = int(fn, 'nodeId', nodeId);
    const out = r.scratch + S_OUT;
    check(this.#h.ctx, fn, r.ex.fx_model_weights(this.#h.ctx, this.#h.m, id, out));
    const node = this.#node(fn, id);
    const src = this.#node(fn, node.inputs[0]);
    const fan = node.kind === 'conv' ? src.shape[0] * node.k * node.k : src.shape[0] * src.shape[1] * src.shape[2];
    const p = heap().u32[out >>> 2] >>> 2;
    return heap().f32.slice(p, p + node.cOut * fan);
  }

  /**
   * The XOR masks of one bit plane of a FleXOR node (masks[r] bit i = M[r][i]).
   * @param {number} nodeId @param {number} [plane=0] @returns {Uint32Array}
   */
  masks(nodeId, plane = 0) {
    const fn = 'Model.masks';
    const r = this.#live(fn);
    const id = int(fn, 'nodeId', nodeId);
    const mp = r.scratch + S_MASKS;
    check(this.#h.ctx, fn, r.ex.fxw_model_node_masks(this.#h.ctx, this.#h.m, id, int(fn, 'plane', plane), mp));
    const nOut = this.#node(fn, id).flexor.nOut;
    return heap().u32.slice(mp >>> 2, (mp >>> 2) + nOut);
  }

  /**
   * A copy of a node's output from the last forward (n, c, h, w).
   * @param {number} nodeId  1..nodes-1 @returns {Float32Array}
   */
  activation(nodeId) {
    const fn = 'Model.activation';
    const r = this.#builtOr(fn);
    const id = int(fn, 'nodeId', nodeId);
    const out = r.scratch + S_OUT;
    check(this.#h.ctx, fn, r.ex.fx_model_activation(this.#h.ctx, this.#h.m, id, out));
    if (!this.#lastN) throw new FlexorError(fn, Status.ESTATE, 'no forward has run yet');
    const [c, hh, w] = this.#node(fn, id).shape;
    const p = heap().u32[out >>> 2] >>> 2;
    return heap().f32.slice(p, p + this.#lastN * c * hh * w);
  }

  /**
   * Serialises the model (docs/FORMAT.md) into a new Uint8Array (a copy; nothing stays in the wasm heap).
   * @param {{kind?: 'inference'|'checkpoint', metadata?: string|Uint8Array}} [opts]  kind 'inference' (default):
   *   FleXOR layers as packed sign bits only, the deployable model; 'checkpoint': latent floats, optimiser
   *   state and step count too (needs a training model), so {@link Model.load}(bytes, {training: true})
   *   resumes. metadata (default ''): text (stored as UTF-8) or bytes kept in the file's extra block.
   * @returns {Uint8Array}
   */
  save(opts = {}) {
    const fn = 'Model.save';
    const r = this.#builtOr(fn);
    const kind = opts?.kind ?? 'inference';
    if (typeof kind !== 'string' || !Object.hasOwn(SAVE_KINDS, kind))
      throw new FlexorError(fn, Status.EINVAL, `kind must be 'inference' or 'checkpoint' (got ${String(kind)})`);
    const meta = opts?.metadata ?? '';
    const mb = typeof meta === 'string' ? new TextEncoder().encode(meta) : bytesOf(fn, 'metadata', meta);
    const mp = mb.length ? copyIn(fn, mb, 'the metadata') : 0;
    const s = r.scratch, ctx = this.#h.ctx;
    try {
      heap().u32[(s + S_EXTRA) >>> 2] = 0;
      check(ctx, fn, r.ex.fxw_model_save(ctx, this.#h.m, SAVE_KINDS[kind], mp, mb.length, s + S_EXTRA, s + S_EXTRALEN));
      const { u32 } = heap();
      const bp = u32[(s + S_EXTRA) >>> 2], len = u32[(s + S_EXTRALEN) >>> 2];
      const out = heap().u8.slice(bp, bp + len);
      r.ex.fx_buffer_free(ctx, bp);
      return out;
    } finally {
      free(mp);
    }
  }

  /**
   * The size in bytes of the file {@link Model#save} would write (without metadata). It serialises the
   * model to find out, so it costs about as much as save().
   * @param {{kind?: 'inference'|'checkpoint'}} [opts] @returns {number}
   */
  sizeBytes(opts = {}) {
    return this.save({ kind: opts?.kind ?? 'inference' }).length;
  }

  /**
   * Eval-mode top-1 accuracy over a dataset (no augmentation), in batches of maxBatch (fx_evaluate).
   * @param {Dataset} dataset  same input shape as the model
   * @param {{preds?: boolean}} [opts]  preds (default false): also return every prediction
   * @returns {{correct: number, total: number, accuracy: number, preds?: Int32Array}}  accuracy = correct/total
   *   (a fraction in 0..1); preds[i] = the predicted class of sample i
   */
  evaluate(dataset, opts = {}) {
    const fn = 'Model.evaluate';
    const r = this.#builtOr(fn);
    const dh = Dataset[HANDLES](dataset, fn, 'the dataset');
    const n = dataset.length;
    const wantPreds = !!opts?.preds;
    const pp = wantPreds ? malloc(fn, 4 * n, `${n} predictions`) : 0;
    this.#lastN = 0;
    this.#lastTrain = false;
    try {
      check(this.#h.ctx, fn, r.ex.fx_evaluate(this.#h.ctx, this.#h.m, dh.ds, this.#xBuf, r.scratch + S_CORRECT, pp));
      const correct = heap().i32[(r.scratch + S_CORRECT) >>> 2];
      const out = { correct, total: n, accuracy: correct / n };
      if (wantPreds) out.preds = heap().i32.slice(pp >>> 2, (pp >>> 2) + n);
      return out;
    } finally {
      free(pp);
    }
  }

  /**
   * Class probabilities (softmax of the eval-mode logits) of n samples, in chunks of maxBatch.
   * @param {Float32Array|ArrayLike<number>} x  n*c*h*w normalised input values (NCHW), e.g. from
   *   {@link Dataset#batch}
   * @param {number} n  samples (any n >= 1)
   * @returns {Float32Array} (n, classes) probabilities, each row summing to 1
   */
  predict(x, n) {
    const fn = 'Model.predict';
    this.#builtOr(fn);
    arrayLike(fn, 'x', x);
    int(fn, 'n', n);
    if (n < 1) throw new FlexorError(fn, Status.EINVAL, `n must be >= 1 (got ${n})`);
    const [c, hh, w] = this.#input;
    const per = c * hh * w, k = this.#classes;
    if (x.length !== n * per)
      throw new FlexorError(fn, Status.ESHAPE, `x has ${x.length} values; ${n} samples of ${c}x${hh}x${w} need ${n * per}`);
    const out = new Float32Array(n * k);
    for (let i = 0; i < n; i += this.#maxBatch) {
      const b = Math.min(this.#maxBatch, n - i);
      const part = typeof x.subarray === 'function' ? x.subarray(i * per, (i + b) * per)
        : Array.prototype.slice.call(x, i * per, (i + b) * per);
      const z = this.forward(part, b);
      for (let s = 0; s < b; s++) {
        let mx = -Infinity;
        for (let j = 0; j < k; j++) mx = Math.max(mx, z[s * k + j]);
        let sum = 0;
        for (let j = 0; j < k; j++) sum += Math.exp(z[s * k + j] - mx);
        for (let j = 0; j < k; j++) out[(i + s) * k + j] = Math.exp(z[s * k + j] - mx) / sum;
      }
    }
    return out;
  }

  // Weights in FleXOR layers and the bits they store (q * n_slices * n_in per layer, tails charged).
  #flexorTotals(fn) {
    this.#live(fn);
    const nodes = this.nodes();
    let bits = 0, n = 0;
    for (const node of nodes) {
      if (!node.flexor) continue;
      const src = nodes[node.inputs[0]];
      const fan = node.kind === 'conv' ? src.shape[0] * node.k * node.k : src.shape[0] * src.shape[1] * src.shape[2];
      const w = node.cOut * fan;
      bits += node.flexor.q * Math.ceil(w / node.flexor.nOut) * node.flexor.nIn;
      n += w;
    }
    return { bits, n };
  }

  /**
   * Bits stored per weight over the FleXOR layers: sum q*n_slices*n_in / sum weights (n_slices =
   * ceil(c_out*fan_in/n_out)); 32 when the model has no FleXOR layer. Full-precision layers, biases and BN
   * are not counted. @type {number}
   */
  get bitsPerWeight() {
    const { bits, n } = this.#flexorTotals('Model.bitsPerWeight');
    return n ? bits / n : 32;
  }

  /** The number of weights in FleXOR layers. @type {number} */
  get flexorWeights() { return this.#flexorTotals('Model.flexorWeights').n; }

  /** Optimiser steps taken so far (restored from a checkpoint by load). @type {number} */
  get steps() {
    const r = this.#live('Model.steps');
    return Number(r.ex.fx_model_steps(this.#h.m));
  }

  /** The metadata text of the file this model was loaded from ('' when it was not loaded or had none). @type {string} */
  get metadata() { return this.#metadata; }

  /** Bytes and blocks this model's context holds in the wasm heap. @returns {{bytes: number, blocks: number}} */
  memoryUsage() {
    const r = this.#live('Model.memoryUsage');
    return { bytes: r.ex.fx_ctx_mem_used(this.#h.ctx) >>> 0, blocks: r.ex.fx_ctx_live_blocks(this.#h.ctx) >>> 0 };
  }

  /** The input shape [c, h, w]. @type {[number, number, number]} */
  get inputShape() { return [...this.#input]; }
  /** Values per output sample (0 before build). @type {number} */
  get classes() { return this.#classes; }
  /** The batch size the model was built for (0 before build). @type {number} */
  get maxBatch() { return this.#maxBatch; }
  /** Whether the model was built with gradients and optimiser state. @type {boolean} */
  get training() { return this.#training; }
  /** Whether dispose() was called. @type {boolean} */
  get disposed() { return !this.#h.ctx; }

  /** Frees the model and its context now; any later use throws. Calling it twice is harmless. */
  dispose() {
    if (!this.#h.ctx) return;
    finalizer?.unregister(this.#h);
    releaseHandles(this.#h);
    this.#params = null;
    this.#xBuf = this.#labelBuf = this.#teacherBuf = 0;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------------------------------------

const CREATE_DATASET = Symbol('Dataset.create');

// Frees a dataset's descriptors, its context and its image/label blocks (numbers only: finalizer-safe).
function releaseDataset(h) {
  const r = rt;
  if (!r || !h.ctx) return;
  if (h.ds) r.ex.fxw_dataset_free(h.ctx, h.ds);
  if (h.plain && h.plain !== h.ds) r.ex.fxw_dataset_free(h.ctx, h.plain);
  for (const p of h.bufs) free(p);
  h.bufs = [];
  r.leakedBytes += r.ex.fx_ctx_mem_used(h.ctx) >>> 0;
  r.leakedBlocks += r.ex.fx_ctx_live_blocks(h.ctx) >>> 0;
  r.ex.fx_ctx_free(h.ctx);
  r.datasets.delete(h);
  h.ctx = h.ds = h.plain = h.images = h.labels = 0;
}

const datasetFinalizer = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry(releaseDataset) : null;

/**
 * A labelled image set held in the wasm heap (uint8 pixels, CHW per image, and uint8 labels) with its
 * normalisation (per channel, on pixels scaled to [0, 1]) and optional augmentation (random crop with
 * 4-pixel zero padding + horizontal flip, applied by a {@link Trainer}; never by evaluation). Made by
 * {@link Dataset.fromIdx}, {@link Dataset.fromCifar} or {@link Dataset.fromArrays}; dispose() frees it now.
 * A Trainer keeps its dataset: dispose the trainer first.
 */
export class Dataset {
  /** @type {{ctx: number, ds: number, plain: number, images: number, labels: number, bufs: number[]}} */
  #h;
  #n;
  #shape;
  #mean;
  #std;
  #augment;

  /** @private Use Dataset.fromIdx, Dataset.fromCifar or Dataset.fromArrays. */
  constructor(token, h, n, shape, mean, std, augment) {
    if (token !== CREATE_DATASET) throw new TypeError('use Dataset.fromIdx, Dataset.fromCifar or Dataset.fromArrays');
    this.#h = h;
    this.#n = n;
    this.#shape = shape;
    this.#mean = mean;
    this.#std = std;
    this.#augment = augment;
  }

  /**
   * Internal (module-private key): the native handles of a live dataset.
   * @param {Dataset} d @param {string} fn @param {string} role
   */
  static [HANDLES](d, fn, role) {
    if (!(d instanceof Dataset)) throw new FlexorError(fn, Status.EINVAL, `${role} must be a Dataset (got ${String(d)})`);
    if (!d.#h.ctx) throw new FlexorError(fn, Status.ESTATE, `${role} was disposed`);
    return d.#h;
  }

  // Wraps images/labels blocks (owned from here on only when this succeeds; the caller frees `bufs` on a
  // throw) into a descriptor with its own context.
  static #adopt(fn, { images, labels, bufs, n, c, h, w, mean, std, augment }) {
    const r = rt;
    const mean3 = perChannel(fn, 'mean', mean, c, 0), std3 = perChannel(fn, 'std', std, c, 1);
    for (let i = 0; i < c; i++)
      if (!(std3[i] > 0)) throw new FlexorError(fn, Status.EINVAL, `std[${i}] must be > 0 (got ${std3[i]})`);
    const ctx = r.ex.fxw_ctx_new() >>> 0;
    if (!ctx) throw new FlexorError(fn, Status.ENOMEM, 'cannot allocate a context');
    const hd = { ctx, ds: 0, plain: 0, images, labels, bufs: [] };
    const s = r.scratch;
    const make = (aug) => {
      heap().f32.set([...mean3, ...std3], (s + S_MEANSTD) >>> 2);
      check(ctx, fn, r.ex.fxw_dataset_new(ctx, s + S_OUT, images, labels, n, c, h, w, s + S_MEANSTD, s + S_MEANSTD + 12,
        aug));
      return heap().u32[(s + S_OUT) >>> 2];
    };
    try {
      hd.ds = make(augment ? 1 : 0);
      hd.plain = augment ? make(0) : hd.ds;
    } catch (e) {
      releaseDataset(hd);
      throw e;
    }
    hd.bufs = bufs;
    r.datasets.add(hd);
    const d = new Dataset(CREATE_DATASET, hd, n, [c, h, w], mean3.slice(0, c), std3.slice(0, c), !!augment);
    datasetFinalizer?.register(d, hd, hd);
    return d;
  }

  // fxw_idx_parse of a block: [rank, dims (4), data pointer].
  static #idx(fn, which, p, len) {
    const r = rt, s = r.scratch;
    check(r.ctx, fn, r.ex.fxw_idx_parse(r.ctx, p, len, s + S_DIMS, s + S_OUT), which);
    const { i32, u32 } = heap();
    const d = i32.slice((s + S_DIMS) >>> 2, ((s + S_DIMS) >>> 2) + 5);
    return { rank: d[0], dims: Array.from(d.subarray(1, 1 + d[0])), data: u32[(s + S_OUT) >>> 2] };
  }

  /**
   * A dataset from IDX files (MNIST's format), parsed by the core's IDX reader (fx_idx_parse): magic,
   * element type (unsigned byte), rank and the exact byte length are validated, and a bad file gives a
   * FlexorError (FX_EFORMAT) saying which file and what is wrong. Images are (n, h, w) or (n, c, h, w);
   * labels (n). The bytes are copied into the wasm heap.
   * @param {Uint8Array|ArrayBuffer} imagesBytes  e.g. train-images-idx3-ubyte
   * @param {Uint8Array|ArrayBuffer} labelsBytes  e.g. train-labels-idx1-ubyte
   * @param {{mean?: number[], std?: number[], augment?: boolean}} [opts]  normalisation per channel (1 or c
   *   values); defaults MNIST's [0.1307] and [0.3081] (as the native CLI); augment default false
   * @returns {Dataset}
   */
  static fromIdx(imagesBytes, labelsBytes, opts = {}) {
    const fn = 'Dataset.fromIdx';
    runtime(fn);
    const img = bytesOf(fn, 'imagesBytes', imagesBytes), lab = bytesOf(fn, 'labelsBytes', labelsBytes);
    const bufs = [];
    try {
      const ip = copyIn(fn, img, `the ${img.length}-byte IDX image file`);
      bufs.push(ip);
      const im = Dataset.#idx(fn, 'images', ip, img.length);
      const lp = copyIn(fn, lab, `the ${lab.length}-byte IDX label file`);
      bufs.push(lp);
      const lb = Dataset.#idx(fn, 'labels', lp, lab.length);
      if (im.rank !== 3 && im.rank !== 4)
        throw new FlexorError(fn, Status.EFORMAT, `images: a rank-${im.rank} IDX array; images need rank 3 (n, h, w) or 4 (n, c, h, w)`);
      if (lb.rank !== 1) throw new FlexorError(fn, Status.EFORMAT, `labels: a rank-${lb.rank} IDX array; labels need rank 1`);
      if (im.dims[0] !== lb.dims[0])
        throw new FlexorError(fn, Status.ESHAPE, `${im.dims[0]} images but ${lb.dims[0]} labels`);
      const [n, c, h, w] = im.rank === 4 ? im.dims : [im.dims[0], 1, im.dims[1], im.dims[2]];
      return Dataset.#adopt(fn, {
        images: im.data, labels: lb.data, bufs, n, c, h, w, mean: opts?.mean ?? [0.1307], std: opts?.std ?? [0.3081],
        augment: !!opts?.augment,
      });
    } catch (e) {
      for (const p of bufs) free(p);
      throw e;
    }
  }

  /**
   * A dataset from CIFAR-10 binary batches (records of 1 label byte + 3072 CHW pixel bytes), parsed by the
   * core (fx_cifar_parse: whole records, labels 0..9), concatenated in order.
   * @param {Array<Uint8Array|ArrayBuffer>|Uint8Array|ArrayBuffer} batches  e.g. the bytes of
   *   data_batch_1.bin .. data_batch_5.bin, or of test_batch.bin
   * @param {{mean?: number[], std?: number[], augment?: boolean}} [opts]  defaults: the ImageNet statistics
   *   [0.485, 0.456, 0.406] and [0.229, 0.224, 0.225] (as the native CLI), augment false (the CLI trains with
   *   augment true)
   * @returns {Dataset}
   */
  static fromCifar(batches, opts = {}) {
    const fn = 'Dataset.fromCifar';
    const r = runtime(fn);
    const list = Array.isArray(batches) ? batches : [batches];
    if (!list.length) throw new FlexorError(fn, Status.EINVAL, 'no batches given');
    const views = list.map((b, i) => bytesOf(fn, `batches[${i}]`, b));
    const REC = 3073, PIX = 3072;
    let n = 0;
    for (const v of views) n += Math.floor(v.length / REC);
    const bufs = [];
    try {
      const ip = malloc(fn, n * PIX, `${n} CIFAR-10 images`);
      bufs.push(ip);
      const lp = malloc(fn, n, `${n} CIFAR-10 labels`);
      bufs.push(lp);
      let off = 0;
      for (let i = 0; i < views.length; i++) {
        const tmp = copyIn(fn, views[i], `CIFAR-10 batch ${i}`);
        try {
          check(r.ctx, fn, r.ex.fxw_cifar_parse(r.ctx, tmp, views[i].length, r.scratch + S_OUT, lp + off, ip + off * PIX),
            list.length > 1 ? `batches[${i}]` : '');
          off += heap().i32[(r.scratch + S_OUT) >>> 2];
        } finally {
          free(tmp);
        }
      }
      return Dataset.#adopt(fn, {
        images: ip, labels: lp, bufs, n: off, c: 3, h: 32, w: 32, mean: opts?.mean ?? [0.485, 0.456, 0.406],
        std: opts?.std ?? [0.229, 0.224, 0.225], augment: !!opts?.augment,
      });
    } catch (e) {
      for (const p of bufs) free(p);
      throw e;
    }
  }

  /**
   * A dataset from raw arrays (copied into the wasm heap).
   * @param {Uint8Array|ArrayLike<number>} images  n*c*h*w pixel bytes, CHW per image
   * @param {Uint8Array|ArrayLike<number>} labels  n class indices 0..255
   * @param {{n?: number, c: number, h: number, w: number, mean?: number[], std?: number[], augment?: boolean}} opts
   *   n defaults to labels.length; mean/std per channel (1 or c values) default [0] and [1] (pixels / 255);
   *   augment default false
   * @returns {Dataset}
   */
  static fromArrays(images, labels, opts) {
    const fn = 'Dataset.fromArrays';
    runtime(fn);
    arrayLike(fn, 'images', images);
    arrayLike(fn, 'labels', labels);
    const o = opts || {};
    const n = int(fn, 'n', o.n, labels.length), c = int(fn, 'c', o.c), h = int(fn, 'h', o.h), w = int(fn, 'w', o.w);
    if (n < 1 || c < 1 || h < 1 || w < 1)
      throw new FlexorError(fn, Status.EINVAL, `n, c, h and w must be >= 1 (got ${n}, ${c}, ${h}, ${w})`);
    if (images.length !== n * c * h * w)
      throw new FlexorError(fn, Status.ESHAPE, `images has ${images.length} bytes; ${n} images of ${c}x${h}x${w} need ${n * c * h * w}`);
    if (labels.length < n) throw new FlexorError(fn, Status.ESHAPE, `labels has ${labels.length} entries for ${n} images`);
    const asBytes = (name, v, len) => {
      if (v instanceof Uint8Array) return v.subarray(0, len);
      const out = new Uint8Array(len);
      for (let i = 0; i < len; i++) {
        const x = v[i];
        if (!Number.isInteger(x) || x < 0 || x > 255) throw new FlexorError(fn, Status.EINVAL, `${name}[${i}] is ${x}, not a byte`);
        out[i] = x;
      }
      return out;
    };
    const img = asBytes('images', images, images.length), lab = asBytes('labels', labels, n);
    const bufs = [];
    try {
      const ip = copyIn(fn, img, `${n} images`);
      bufs.push(ip);
      const lp = copyIn(fn, lab, `${n} labels`);
      bufs.push(lp);
      return Dataset.#adopt(fn, {
        images: ip, labels: lp, bufs, n, c, h, w, mean: o.mean ?? [0], std: o.std ?? [1], augment: !!o.augment,
      });
    } catch (e) {
      for (const p of bufs) free(p);
      throw e;
    }
  }

  #live(fn) {
    if (!this.#h.ctx) throw new FlexorError(fn, Status.ESTATE, 'the dataset was disposed');
    return rt;
  }

  /**
   * A new dataset of the first n samples (a copy, with the same normalisation and augmentation).
   * @param {number} n  1..length @returns {Dataset}
   */
  subset(n) {
    const fn = 'Dataset.subset';
    this.#live(fn);
    int(fn, 'n', n);
    if (n < 1 || n > this.#n) throw new FlexorError(fn, Status.EINVAL, `n must be in 1..${this.#n} (got ${n})`);
    const [c, h, w] = this.#shape;
    const per = c * h * w;
    const bufs = [];
    try {
      const ip = malloc(fn, n * per, `${n} images`);
      bufs.push(ip);
      const lp = malloc(fn, n, `${n} labels`);
      bufs.push(lp);
      const { u8 } = heap();
      u8.copyWithin(ip, this.#h.images, this.#h.images + n * per);
      u8.copyWithin(lp, this.#h.labels, this.#h.labels + n);
      return Dataset.#adopt(fn, {
        images: ip, labels: lp, bufs, n, c, h, w, mean: this.#mean, std: this.#std, augment: this.#augment,
      });
    } catch (e) {
      for (const p of bufs) free(p);
      throw e;
    }
  }

  /**
   * Normalised network input and labels of samples start..start+count-1 (never augmented): what
   * evaluation feeds the model, ready for {@link Model#forward} or {@link Model#predict}.
   * @param {number} start @param {number} count
   * @returns {{x: Float32Array, labels: Int32Array}}  x (count, c, h, w)
   */
  batch(start, count) {
    const fn = 'Dataset.batch';
    const r = this.#live(fn);
    int(fn, 'start', start);
    int(fn, 'count', count);
    if (start < 0 || count < 1 || start + count > this.#n)
      throw new FlexorError(fn, Status.EINVAL, `samples ${start}..${start + count - 1} are outside 0..${this.#n - 1}`);
    const [c, h, w] = this.#shape;
    const per = c * h * w;
    const p = malloc(fn, 4 * count * (per + 2), `a batch of ${count} samples`);
    try {
      const idx = p, lab = p + 4 * count, x = p + 8 * count;
      const { i32 } = heap();
      for (let i = 0; i < count; i++) i32[(idx >>> 2) + i] = start + i;
      check(this.#h.ctx, fn, r.ex.fx_dataset_batch(this.#h.ctx, this.#h.plain, idx, count, 0, x, lab));
      const hp = heap();
      return { x: hp.f32.slice(x >>> 2, (x >>> 2) + count * per), labels: hp.i32.slice(lab >>> 2, (lab >>> 2) + count) };
    } finally {
      free(p);
    }
  }

  /** A copy of the labels (n bytes). @returns {Uint8Array} */
  labels() {
    this.#live('Dataset.labels');
    return heap().u8.slice(this.#h.labels, this.#h.labels + this.#n);
  }

  /** The number of samples. @type {number} */
  get length() { return this.#n; }
  /** One sample's shape [c, h, w]. @type {[number, number, number]} */
  get shape() { return [...this.#shape]; }
  /** The normalisation: per-channel mean and std (on pixels / 255). @type {{mean: number[], std: number[]}} */
  get normalization() { return { mean: [...this.#mean], std: [...this.#std] }; }
  /** Whether training batches are augmented (random crop + flip). @type {boolean} */
  get augment() { return this.#augment; }
  /** Whether dispose() was called. @type {boolean} */
  get disposed() { return !this.#h.ctx; }

  /** Frees the dataset now; later use throws. Dispose trainers that use it first. A second call is harmless. */
  dispose() {
    if (!this.#h.ctx) return;
    datasetFinalizer?.unregister(this.#h);
    releaseDataset(this.#h);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Trainer
// ---------------------------------------------------------------------------------------------------------

function releaseTrainer(h) {
  const r = rt;
  if (!r || !h.ctx) return;
  if (h.tr) r.ex.fx_trainer_free(h.ctx, h.tr);
  r.leakedBytes += r.ex.fx_ctx_mem_used(h.ctx) >>> 0;
  r.leakedBlocks += r.ex.fx_ctx_live_blocks(h.ctx) >>> 0;
  r.ex.fx_ctx_free(h.ctx);
  r.trainers.delete(h);
  h.ctx = h.tr = 0;
}

const trainerFinalizer = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry(releaseTrainer) : null;

/**
 * The core's training loop (fx_trainer, the one the native CLI runs): seeded epoch permutations, augmented
 * batches (when the dataset augments), LR and S_tanh schedules over fractional epochs, optional
 * distillation from a teacher, optimiser steps. Deterministic: the same seed, model, data and build give the
 * same weights, and stopping and resuming at a step boundary (save a checkpoint, load it with
 * `{training: true}`, {@link Trainer#seek}) gives the same result as an uninterrupted run. The last partial
 * batch of each epoch is dropped.
 *
 * The trainer uses the model, the dataset and the teacher by reference: they must outlive it (dispose the
 * trainer first); run() and seek() throw a FlexorError (FX_ESTATE) if one of them was disposed.
 */
export class Trainer {
  /** @type {{ctx: number, tr: number}} */
  #h;
  #model;
  #dataset;
  #teacher;
  #spe;
  #epochs;
  #batch;
  #epoch = 0;
  #step = 0;

  /**
   * @param {Model} model  built for training (Model.lenet5(), build({training: true}), load(.., {training: true}))
   * @param {Dataset} dataset  the training set, same input shape as the model
   * @param {{teacher?: Model|null, schedule?: 'const'|'step'|'cosine', lr: number, warmup?: number, epochs: number,
   *   gamma?: number, milestones?: number[], sTanh?: number, sTanh0?: number, optimizer?: 'sgd'|'adam',
   *   momentum?: number, nesterov?: boolean, beta1?: number, beta2?: number, eps?: number, weightDecay?: number,
   *   mode?: 'flexor'|'ste'|'analog', batch?: number, seed?: number|bigint, T?: number, kd?: number}} opts
   *   lr and epochs (> 0, may be fractional) are required. Defaults: schedule 'cosine', warmup 0 (epochs of
   *   linear LR warmup), gamma 0.5 and milestones [] (the 'step' schedule: lr *= gamma at each milestone
   *   epoch, at most 8), sTanh 10 and sTanh0 = sTanh (S_tanh ramps from sTanh0 to sTanh over the warmup),
   *   optimizer 'sgd' with momentum 0.9 and no Nesterov, Adam beta1 0.9, beta2 0.999, eps 1e-8, weightDecay 0,
   *   mode 'flexor' (the FleXOR backward; 'ste' straight-through, 'analog' tanh), batch = model.maxBatch
   *   (2..maxBatch), seed 1, and with a teacher (an inference model with the same input and classes, maxBatch
   *   >= batch) distillation with temperature T 4 and weight kd 0.9.
   */
  constructor(model, dataset, opts) {
    const fn = 'new Trainer';
    const r = runtime(fn);
    const mh = Model[HANDLES](model, fn, 'the model');
    if (!model.training)
      throw new FlexorError(fn, Status.ESTATE, 'the model was built for inference only; a trainer needs a training ' +
        'model (build({training: true}), a zoo model, or Model.load(checkpoint, {training: true}))');
    const dh = Dataset[HANDLES](dataset, fn, 'the dataset');
    const o = opts || {};
    const teacher = o.teacher ?? null;
    const th = teacher === null ? null : Model[HANDLES](teacher, fn, 'the teacher');
    const pick = (name, v, table, dflt) => {
      const k = v ?? dflt;
      if (typeof k !== 'string' || !Object.hasOwn(table, k))
        throw new FlexorError(fn, Status.EINVAL, `${name} must be ${Object.keys(table).map((x) => `'${x}'`).join(', ')} (got ${String(k)})`);
      return table[k];
    };
    const sched = pick('schedule', o.schedule, SCHEDULES, 'cosine');
    const opt = pick('optimizer', o.optimizer, OPTIMIZERS, 'sgd');
    const mode = pick('mode', o.mode, MODES, 'flexor');
    const lr = num(fn, 'lr', o.lr), epochs = num(fn, 'epochs', o.epochs);
    const sTanh = num(fn, 'sTanh', o.sTanh, 10);
    const ms = Array.from(arrayLike(fn, 'milestones', o.milestones ?? []), (v, i) => num(fn, `milestones[${i}]`, v));
    if (ms.length > 8) throw new FlexorError(fn, Status.EINVAL, `at most 8 milestones (got ${ms.length})`);
    const batch = int(fn, 'batch', o.batch, model.maxBatch);
    const [lo, hi] = seedHalves(fn, 'seed', o.seed ?? 1);
    const args = [num(fn, 'warmup', o.warmup, 0), epochs, num(fn, 'gamma', o.gamma, 0.5)];
    const rest = [sTanh, num(fn, 'sTanh0', o.sTanh0, sTanh), opt, num(fn, 'momentum', o.momentum, 0.9), o.nesterov ? 1 : 0,
      num(fn, 'beta1', o.beta1, 0.9), num(fn, 'beta2', o.beta2, 0.999), num(fn, 'eps', o.eps, 1e-8),
      num(fn, 'weightDecay', o.weightDecay, 0), mode, batch, lo, hi, num(fn, 'T', o.T, 4), num(fn, 'kd', o.kd, 0.9)];
    const ctx = r.ex.fxw_ctx_new() >>> 0;
    if (!ctx) throw new FlexorError(fn, Status.ENOMEM, 'cannot allocate a context');
    const h = { ctx, tr: 0 };
    try {
      const s = r.scratch;
      heap().f32.set(ms, (s + S_MILE) >>> 2);
      check(ctx, fn, r.ex.fxw_trainer_new(ctx, s + S_OUT, mh.m, th ? th.m : 0, dh.ds, sched, lr, ...args, s + S_MILE,
        ms.length, ...rest));
      h.tr = heap().u32[(s + S_OUT) >>> 2];
    } catch (e) {
      releaseTrainer(h);
      throw e;
    }
    r.trainers.add(h);
    this.#h = h;
    this.#model = model;
    this.#dataset = dataset;
    this.#teacher = teacher;
    this.#batch = batch;
    this.#epochs = epochs;
    this.#spe = Math.floor(dataset.length / batch);
    trainerFinalizer?.register(this, h, h);
  }

  #live(fn) {
    if (!this.#h.ctx) throw new FlexorError(fn, Status.ESTATE, 'the trainer was disposed');
    const gone = this.#model.disposed ? 'model' : this.#dataset.disposed ? 'dataset'
      : this.#teacher?.disposed ? 'teacher' : null;
    if (gone)
      throw new FlexorError(fn, Status.ESTATE, `the trainer's ${gone} was disposed; the model, dataset and teacher ` +
        'must outlive the trainer (dispose the trainer first)');
    return rt;
  }

  /**
   * Runs up to maxSteps optimiser steps, stopping early at the end of an epoch or of the run.
   * @param {number} [maxSteps]  default: to the end of the current epoch
   * @returns {{epoch: number, step: number, stepsPerEpoch: number, epochDone: boolean, runDone: boolean,
   *   loss: number, lossSum: number, seen: number, correct: number, lr: number, sTanh: number}}  the position
   *   after the call (epoch = epochs completed, step within the next epoch), whether it finished an epoch / the
   *   run, the mean training loss (and its sum over samples), samples and right top-1 predictions (train mode)
   *   over this call, and lr and S_tanh at its last step
   */
  run(maxSteps) {
    const fn = 'Trainer.run';
    const r = this.#live(fn);
    const k = maxSteps === undefined ? 0x7fffffff : int(fn, 'maxSteps', maxSteps);
    if (k < 0) throw new FlexorError(fn, Status.EINVAL, `maxSteps must be >= 0 (got ${k})`);
    const s = r.scratch + S_STATS;
    Model[HANDLES](this.#model, fn, 'the model', true);
    check(this.#h.ctx, fn, r.ex.fxw_trainer_run(this.#h.ctx, this.#h.tr, k, s));
    const { dv } = heap();
    const v = Array.from({ length: 10 }, (_, i) => dv.getFloat64(s + 8 * i, true));
    const [epoch, step, stepsPerEpoch, epochDone, runDone, lossSum, seen, correct, lr, sTanh] = v;
    this.#epoch = epoch;
    this.#step = step;
    return {
      epoch, step, stepsPerEpoch, epochDone: !!epochDone, runDone: !!runDone, loss: seen ? lossSum / seen : 0, lossSum,
      seen, correct, lr, sTanh,
    };
  }

  /**
   * Moves to (epoch, step), e.g. after loading a checkpoint: the next run() continues from there exactly
   * as an uninterrupted run would.
   * @param {number} epoch  epochs completed @param {number} step  0..stepsPerEpoch
   * @returns {this}
   */
  seek(epoch, step) {
    const fn = 'Trainer.seek';
    const r = this.#live(fn);
    check(this.#h.ctx, fn, r.ex.fx_trainer_seek(this.#h.ctx, this.#h.tr, int(fn, 'epoch', epoch), int(fn, 'step', step)));
    this.#epoch = step === this.#spe ? epoch + 1 : epoch;
    this.#step = step === this.#spe ? 0 : step;
    return this;
  }

  /** Epochs completed. @type {number} */
  get epoch() { return this.#epoch; }
  /** The next step within the current epoch. @type {number} */
  get step() { return this.#step; }
  /** floor(dataset.length / batch). @type {number} */
  get stepsPerEpoch() { return this.#spe; }
  /** The batch size. @type {number} */
  get batch() { return this.#batch; }
  /** The schedule's length in epochs. @type {number} */
  get epochs() { return this.#epochs; }
  /** Whether every epoch of the schedule is done. @type {boolean} */
  get done() { return this.#epoch * this.#spe + this.#step >= this.#epochs * this.#spe; }
  /** The model being trained. @type {Model} */
  get model() { return this.#model; }
  /** The training set. @type {Dataset} */
  get dataset() { return this.#dataset; }
  /** Whether dispose() was called. @type {boolean} */
  get disposed() { return !this.#h.ctx; }

  /** Frees the trainer's buffers now (not the model or dataset). A second call is harmless. */
  dispose() {
    if (!this.#h.ctx) return;
    trainerFinalizer?.unregister(this.#h);
    releaseTrainer(this.#h);
  }
}

/**
 * @typedef {{q?: number, nOut: number, nIn: number, nTap?: number, seed?: number|bigint}} FlexorConfig
 *   q bit planes (default 1, at most 4); nOut/nIn the XOR network size (1 <= nIn <= nOut <= 32);
 *   nTap ones per row (0 = random fill, the default); seed a uint64 (default 0).
 * @typedef {{id: number, kind: string, inputs: number[], shape: [number, number, number], cOut: number, k: number,
 *   stride: number, pad: number, bias: boolean, flexor: FlexorConfig|null, macs: number}} NodeInfo
 *   flexor.seed is the seed given to conv()/dense(), or null for a model not built through them (the core
 *   does not report seeds).
 * @typedef {{name: string, node: number, kind: string, length: number, trainable: boolean}} ParamInfo
 */
