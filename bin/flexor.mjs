#!/usr/bin/env node
// bin/flexor.mjs - the Node command-line program over the WebAssembly build (wasm/flexor.js + flexor.wasm),
// the twin of the native build/native/flexor (tools/cli/*.c): the same subcommands, options, defaults,
// progress lines and model/checkpoint files, so either program can evaluate, inspect or resume the other's
// files. Training runs in the core's one training loop (fx_trainer) in one wasm thread.
//
//   node bin/flexor.mjs info
//   node bin/flexor.mjs xor  [--nout 20] [--nin 8] [--ntap 2] [--seed 1] [--plane 0] [--bits HEX ...]
//   node bin/flexor.mjs train mnist|cifar10 [--option value ...]   (see `help`)
//   node bin/flexor.mjs eval MODEL [--limit N] [--batch 100] [--preds FILE] [--data DIR]
//   node bin/flexor.mjs inspect MODEL
//
// Datasets come from tools/fetch-data.mjs (ensureMnist / ensureCifar10: downloaded once and verified by
// SHA-256) under --data DIR, $FLEXOR_DATA or ~/.cache/flexor-wasm/data. Training is deterministic: the same
// seed and build give the same model, and a run resumed from a checkpoint (--ckpt FILE --resume) ends exactly
// where an uninterrupted run would. Checkpoints carry the run's configuration and position as key=value lines
// (the native CLI's), are written atomically (temporary file + rename) every --ckpt-every seconds, at the end
// of every epoch and at --max-steps.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, version, xorNetwork, Model, Dataset, Trainer, FlexorError } from '../wasm/flexor.js';
import { ensureMnist, ensureCifar10, dataDir } from '../tools/fetch-data.mjs';

const out = (s) => process.stdout.write(s + '\n');
const err = (s) => process.stderr.write(s + '\n');

/** A usage or input problem: printed as one line, exit status `code`. */
class CliError extends Error {
  constructor(message, code = 1) {
    super(message);
    this.code = code;
  }
}

/** The core's message without the JS function name in front. */
const detail = (e) => (e instanceof FlexorError && e.message.startsWith(`${e.fn}: `) ? e.message.slice(e.fn.length + 2) : e.message);

// ---------------------------------------------------------------------------------------------------------
// C-compatible number parsing and formatting (the checkpoint text must match tools/cli/train.c exactly)
// ---------------------------------------------------------------------------------------------------------

const f32 = Math.fround;

/** atoi: leading integer, 0 when there is none. */
const atoi = (v) => {
  const n = parseInt(String(v).trim(), 10);
  return Number.isFinite(n) ? n | 0 : 0;
};

/** strtof: leading float as float32, 0 when there is none. */
const strtof = (v) => {
  const t = String(v).trim();
  if (/^[+-]?inf/i.test(t)) return t[0] === '-' ? -Infinity : Infinity;
  if (/^[+-]?nan/i.test(t)) return NaN;
  const n = parseFloat(t);
  return Number.isNaN(n) ? 0 : f32(n);
};

/** strtoull(v, NULL, 0) as a BigInt: decimal, 0x hex or 0 octal; 0 when there is none. */
function strtoull(v) {
  const t = String(v).trim();
  let m;
  try {
    if ((m = /^0[xX]([0-9a-fA-F]+)/.exec(t))) return BigInt('0x' + m[1]) & ((1n << 64n) - 1n);
    if ((m = /^0([0-7]+)/.exec(t))) return BigInt('0o' + m[1]) & ((1n << 64n) - 1n);
    if ((m = /^\+?([0-9]+)/.exec(t))) return BigInt(m[1]) & ((1n << 64n) - 1n);
    if ((m = /^-([0-9]+)/.exec(t))) return (-BigInt(m[1])) & ((1n << 64n) - 1n);
  } catch { /* fall through */ }
  return 0n;
}

/** printf("%.{P}g", x). */
function fmtG(x, P = 6) {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const strip = (s) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  const [mant, ex] = x.toExponential(P - 1).split('e');
  const X = parseInt(ex, 10);
  if (X < P && X >= -4) return strip(x.toFixed(P - 1 - X));
  return `${strip(mant)}e${X < 0 ? '-' : '+'}${String(Math.abs(X)).padStart(2, '0')}`;
}

/** lroundf: round half away from zero. */
const lround = (x) => (x < 0 ? -Math.round(-x) : Math.round(x));

function fmtTime(s) {
  if (s < 0 || !Number.isFinite(s)) s = 0;
  const h = Math.floor(s / 3600), mi = Math.floor(s / 60) % 60, se = Math.floor(s) % 60;
  return h ? `${h}h${String(mi).padStart(2, '0')}m` : `${mi}m${String(se).padStart(2, '0')}s`;
}

const now = () => performance.now() / 1000;

// ---------------------------------------------------------------------------------------------------------
// Configuration (also the checkpoint's metadata, as key=value lines: tools/cli/train.c to_text/from_text)
// ---------------------------------------------------------------------------------------------------------

const MODES = ['flexor', 'ste', 'analog'];
const OPTS = ['sgd', 'adam'];
const SCHEDS = ['const', 'step', 'cosine'];
const MAX_MILESTONES = 8;

const STR_KEYS = ['dataset', 'model', 'out', 'ckpt', 'init', 'teacher', 'data'];
const INT_KEYS = ['q', 'nout', 'nin', 'ntap', 'fp', 'nesterov', 'batch', 'train_limit', 'test_limit', 'ckpt_every',
  'max_steps', 'threads', 'epoch', 'step', 'eval_every'];
const FLT_KEYS = ['lr', 'momentum', 'wd', 'epochs', 'warmup', 'gamma', 'stanh', 'stanh0', 'alpha_init', 'lat_std', 'T',
  'kd', 'init_mag'];

function defaults(dataset) {
  const mnist = dataset === 'mnist';
  return {
    dataset, model: mnist ? 'lenet5' : 'resnet20', out: '', ckpt: '', init: '', teacher: '', data: '',
    q: 1, nout: 20, nin: 16, ntap: 2, stage_nin: [0, 0, 0], fp: 0, mode: 0, opt: mnist ? 1 : 0, nesterov: 0,
    batch: mnist ? 64 : 128, sched: 2, milestones: [],
    lr: f32(mnist ? 1e-3 : 0.1), momentum: f32(0.9), wd: f32(mnist ? 0 : 1e-5), epochs: mnist ? 10 : 30,
    warmup: mnist ? 0 : 2, gamma: 0.5, stanh: mnist ? 100 : 10, stanh0: mnist ? 100 : 5, alpha_init: f32(mnist ? 0 : 0.2),
    lat_std: f32(1e-3), T: 4, kd: f32(0.9), init_mag: 0,
    seed: 1n, train_limit: 0, test_limit: 0, ckpt_every: 300, max_steps: 0, eval_every: 1, threads: 2,
    eval_steps: 0, target: 0, // run control, not kept in checkpoints: test every eval_steps steps; stop at target %
    epoch: 0, step: 0,
  };
}

/** Sets one option; 0 on success, 1 if the value is bad, 2 if the key is unknown (set_opt). */
function setOpt(c, k, v) {
  if (STR_KEYS.includes(k)) { c[k] = String(v).slice(0, k === 'dataset' || k === 'model' ? 15 : 1023); return 0; }
  if (INT_KEYS.includes(k)) { c[k] = atoi(v); return 0; }
  if (FLT_KEYS.includes(k)) { c[k] = strtof(v); return 0; }
  if (k === 'seed') { c.seed = strtoull(v); return 0; }
  if (k === 'eval_steps') { c.eval_steps = atoi(v); return c.eval_steps < 0 ? 1 : 0; }
  if (k === 'target') { c.target = strtof(v); return c.target >= 0 && c.target <= 100 ? 0 : 1; }
  if (k === 'mode') return (c.mode = MODES.indexOf(v)) < 0 ? 1 : 0;
  if (k === 'opt') return (c.opt = OPTS.indexOf(v)) < 0 ? 1 : 0;
  if (k === 'sched') return (c.sched = SCHEDS.indexOf(v)) < 0 ? 1 : 0;
  if (k === 'milestones') {
    c.milestones = v ? String(v).split(',').filter((t) => t !== '').slice(0, MAX_MILESTONES).map(strtof) : [];
    return 0;
  }
  if (k === 'stage_nin') {
    const s = String(v).split(',').filter((t) => t !== '').slice(0, 3).map(strtof);
    if (s.length !== 3) return 1;
    c.stage_nin = s.map((x) => Math.trunc(x));
    return 0;
  }
  if (k === 'bits') { // bits per weight with q planes: n_in = bits * n_out / q
    const b = strtof(v);
    c.nin = lround(f32(f32(b * f32(c.nout)) / f32(c.q)));
    return c.nin < 1 ? 1 : 0;
  }
  if (k === 'random_fill') { c.ntap = 0; return 0; }
  return 2;
}

function toText(c) {
  const g = (x) => fmtG(x, 9);
  return `dataset=${c.dataset}\nmodel=${c.model}\nq=${c.q}\nnout=${c.nout}\nnin=${c.nin}\nntap=${c.ntap}\n` +
    `stage_nin=${c.stage_nin.join(',')}\nfp=${c.fp}\nmode=${MODES[c.mode]}\nopt=${OPTS[c.opt]}\n` +
    `nesterov=${c.nesterov}\nbatch=${c.batch}\nsched=${SCHEDS[c.sched]}\nmilestones=${c.milestones.map((m) => fmtG(m, 6)).join(',')}\n` +
    `lr=${g(c.lr)}\nmomentum=${g(c.momentum)}\nwd=${g(c.wd)}\nepochs=${g(c.epochs)}\n` +
    `warmup=${g(c.warmup)}\ngamma=${g(c.gamma)}\nstanh=${g(c.stanh)}\nstanh0=${g(c.stanh0)}\n` +
    `alpha_init=${g(c.alpha_init)}\nlat_std=${g(c.lat_std)}\nT=${g(c.T)}\nkd=${g(c.kd)}\n` +
    `seed=${c.seed}\ntrain_limit=${c.train_limit}\ntest_limit=${c.test_limit}\nteacher=${c.teacher}\n` +
    `init=${c.init}\nout=${c.out}\nepoch=${c.epoch}\nstep=${c.step}\n`;
}

/** Applies key=value lines; false if a value is bad (unknown keys, e.g. test_accuracy, are skipped). */
function fromText(c, text) {
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    if (setOpt(c, line.slice(0, eq), line.slice(eq + 1)) === 1) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Files and data
// ---------------------------------------------------------------------------------------------------------

function readFile(p) {
  try {
    return fs.readFileSync(p);
  } catch (e) {
    throw new CliError(`flexor: cannot open ${p}: ${e.code === 'ENOENT' ? 'No such file or directory' : e.message}`);
  }
}

/** Atomic write: a temporary file in the same folder, flushed to disk, then renamed over `p`. */
function writeFileAtomic(p, data) {
  const tmp = `${p}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, p);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new CliError(`flexor: cannot write ${p}: ${e.message}`);
  }
}

function loadModelFile(p, opts) {
  const bytes = readFile(p);
  try {
    return Model.load(bytes, opts);
  } catch (e) {
    if (e instanceof FlexorError) throw new CliError(`flexor: ${p}: ${detail(e)}`);
    throw e;
  }
}

/** The train (split 0) or test (split 1) set of mnist or cifar10, verified by SHA-256, as a Dataset. */
async function loadData(name, split, dir, limit = 0) {
  const root = dir || dataDir();
  let ds;
  if (name === 'mnist') {
    const f = await ensureMnist(root);
    const pre = split ? 't10k' : 'train';
    ds = Dataset.fromIdx(readFile(f[`${pre}-images-idx3-ubyte`]), readFile(f[`${pre}-labels-idx1-ubyte`]));
  } else if (name === 'cifar10') {
    const f = await ensureCifar10(root);
    const names = split ? ['test_batch.bin'] : [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
    ds = Dataset.fromCifar(names.map((n) => readFile(f[n])), { augment: !split });
  } else {
    throw new CliError(`flexor: unknown dataset '${name}' (mnist or cifar10)`);
  }
  if (limit > 0 && limit < ds.length) {
    const sub = ds.subset(limit);
    ds.dispose();
    ds = sub;
  }
  return ds;
}

// ---------------------------------------------------------------------------------------------------------
// train
// ---------------------------------------------------------------------------------------------------------

function buildModel(c) {
  const common = {
    q: c.q, nOut: c.nout, nIn: c.nin, nTap: c.ntap, seed: c.seed, fp: !!c.fp, maxBatch: c.batch, training: true,
    alphaInit: c.alpha_init, latStd: c.lat_std,
  };
  if (c.model === 'lenet5') return Model.lenet5(common);
  const depth = { resnet20: 20, resnet32: 32, resnet44: 44 }[c.model];
  if (!depth) throw new CliError(`flexor train: unknown model '${c.model}' (lenet5, resnet20, resnet32, resnet44)`);
  return Model.resnetCifar({ ...common, depth, nInPerStage: c.stage_nin });
}

async function runTraining(c, m, teacher) {
  const train = await loadData(c.dataset, 0, c.data, c.train_limit);
  const test = await loadData(c.dataset, 1, c.data, c.test_limit);
  let tr = null;
  try {
    try {
      tr = new Trainer(m, train, {
        teacher, schedule: SCHEDS[c.sched], lr: c.lr, warmup: c.warmup, epochs: c.epochs, gamma: c.gamma,
        milestones: c.milestones, sTanh: c.stanh, sTanh0: c.stanh0, optimizer: OPTS[c.opt], momentum: c.momentum,
        nesterov: !!c.nesterov, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: c.wd, mode: MODES[c.mode],
        batch: c.batch, seed: c.seed, T: c.T, kd: c.kd,
      });
      tr.seek(c.epoch, c.step);
    } catch (e) {
      if (e instanceof FlexorError) throw new CliError(`flexor: trainer: ${detail(e)}`);
      throw e;
    }
    const totalEpochs = Math.ceil(c.epochs);
    const bpw = m.bitsPerWeight, nq = m.flexorWeights;
    const saveCkpt = () => {
      if (!c.ckpt) return;
      writeFileAtomic(c.ckpt, m.save({ kind: 'checkpoint', metadata: toText(c) }));
    };
    out(`wasm, 1 thread; train ${c.model} ${c.dataset}: ${c.fp ? 'full precision' : 'FleXOR'}, ${nq} quantized weights at ` +
      `${bpw.toFixed(4)} bits/weight (q=${c.q} nout=${c.nout} nin=${c.nin} ntap=${c.ntap}` +
      `${c.stage_nin[0] ? ' per-stage' : ''}), mode ${MODES[c.mode]}, ${OPTS[c.opt]} lr ${fmtG(c.lr)}, batch ${c.batch}, ` +
      `${Math.floor(train.length / c.batch)} steps/epoch, ${totalEpochs} epochs, seed ${c.seed}` +
      `${teacher ? ', distilling from the teacher' : ''}`);
    const tStart = now();
    let tCkpt = tStart, best = 0, acc = 0, done = 0, tTrain = 0; // tTrain: time inside training steps
    const evaluate = () => {
      const t0 = now();
      let r;
      try {
        r = m.evaluate(test);
      } catch (e) {
        if (e instanceof FlexorError) throw new CliError(`flexor: evaluate: ${detail(e)}`);
        throw e;
      }
      acc = (100 * r.correct) / test.length;
      if (acc > best) best = acc;
      return now() - t0;
    };
    const atEvalStep = () => c.eval_steps > 0 && m.steps > 0 && m.steps % c.eval_steps === 0;
    for (;;) {
      let lossSum = 0, seen = 0, right = 0;
      const tLog = now();
      let st = { epoch: 0, step: 0, stepsPerEpoch: 0, epochDone: false, runDone: false, lr: 0, sTanh: 0 };
      do { // ~10 s of steps between progress lines
        let chunk = 8;
        if (c.max_steps > 0 && m.steps + chunk > c.max_steps) chunk = c.max_steps - m.steps;
        if (c.eval_steps > 0) chunk = Math.min(chunk, c.eval_steps - (m.steps % c.eval_steps));
        if (chunk <= 0) break;
        const t0 = now();
        try {
          st = tr.run(chunk);
        } catch (e) {
          if (e instanceof FlexorError) throw new CliError(`flexor: training step: ${detail(e)}`);
          throw e;
        }
        tTrain += now() - t0;
        lossSum += st.lossSum;
        seen += st.seen;
        right += st.correct;
        done += st.seen / c.batch;
        c.epoch = st.epoch;
        c.step = st.step;
        if (c.ckpt_every > 0 && now() - tCkpt >= c.ckpt_every) {
          saveCkpt();
          tCkpt = now();
        }
      } while (!st.epochDone && !st.runDone && now() - tLog < 10 && !atEvalStep());
      if (seen) {
        const t = now(), ips = (done * c.batch) / (t - tStart);
        const left = ((c.epochs * st.stepsPerEpoch - (st.epoch * st.stepsPerEpoch + st.step)) * c.batch) / ips;
        const shownEpoch = st.epochDone ? st.epoch : st.epoch + 1, shownStep = st.epochDone ? st.stepsPerEpoch : st.step;
        out(`epoch ${shownEpoch}/${totalEpochs} step ${shownStep}/${st.stepsPerEpoch} loss ${(lossSum / seen).toFixed(4)} ` +
          `train-acc ${((100 * right) / seen).toFixed(2)}% lr ${st.lr.toFixed(5)} S ${st.sTanh.toFixed(1)} ` +
          `${ips.toFixed(1)} img/s ETA ${fmtTime(left)}`);
      }
      if (c.max_steps > 0 && m.steps >= c.max_steps) {
        saveCkpt();
        out(`stopped after ${m.steps} optimiser steps (--max-steps); checkpoint ${c.ckpt}`);
        return 0;
      }
      if (atEvalStep() && !st.epochDone && !st.runDone) {
        evaluate();
        out(`step ${m.steps} test-acc ${acc.toFixed(2)}% (best ${best.toFixed(2)}%), training time ${fmtTime(tTrain)}, ` +
          `elapsed ${fmtTime(now() - tStart)}`);
      }
      if (st.epochDone || st.runDone) {
        if (st.epoch % c.eval_every === 0 || st.runDone || c.target > 0) {
          const es = evaluate();
          out(`epoch ${st.epoch}/${totalEpochs} test-acc ${acc.toFixed(2)}% (best ${best.toFixed(2)}%) on ${test.length} ` +
            `images, ${(test.length / es).toFixed(0)} img/s eval, elapsed ${fmtTime(now() - tStart)}`);
        }
        saveCkpt();
        tCkpt = now();
      }
      if (c.target > 0 && acc >= c.target) {
        const steps = m.steps;
        out(`target ${c.target.toFixed(2)}% reached: test-acc ${acc.toFixed(2)}% after ${steps} steps (${steps * c.batch} images, ` +
          `${(steps / st.stepsPerEpoch).toFixed(2)} epochs), training time ${fmtTime(tTrain)} ` +
          `(${(tTrain > 0 ? (steps * c.batch) / tTrain : 0).toFixed(1)} img/s), elapsed ${fmtTime(now() - tStart)}`);
        break;
      }
      if (st.runDone) break;
    }
    if (c.out) {
      const bytes = m.save({ kind: 'inference', metadata: `${toText(c)}test_accuracy=${acc.toFixed(4)}\n` });
      writeFileAtomic(c.out, bytes);
      out(`saved ${c.out} (${bytes.length} bytes)`);
    }
    out(`done: test accuracy ${acc.toFixed(2)}% (best ${best.toFixed(2)}%), ${bpw.toFixed(4)} bits/weight, wall ` +
      `${fmtTime(now() - tStart)}`);
    return 0;
  } finally {
    tr?.dispose();
    train.dispose();
    test.dispose();
  }
}

async function cmdTrain(argv) {
  if (argv.length < 1) throw new CliError('flexor train: which dataset? (mnist or cifar10)', 2);
  const dataset = argv[0];
  if (dataset !== 'mnist' && dataset !== 'cifar10')
    throw new CliError(`flexor train: unknown dataset '${dataset}' (mnist or cifar10)`, 2);
  let c = defaults(dataset);
  let resume = false;
  let bits = null; // --bits is applied after every other option: it depends on --nout and --q
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw usageError('train', a);
    const key = a.slice(2, 65).replaceAll('-', '_');
    if (key === 'resume') { resume = true; continue; }
    if (key === 'random_fill') { c.ntap = 0; continue; }
    if (key === 'fp') { c.fp = 1; continue; }
    if (i + 1 >= argv.length) throw usageError('train', a);
    if (key === 'bits') { bits = argv[++i]; continue; }
    const r = setOpt(c, key, argv[++i]);
    if (r === 2) throw usageError('train', a);
    if (r === 1) throw new CliError(`flexor train: bad value '${argv[i]}' for ${a}`, 2);
  }
  if (bits !== null && setOpt(c, 'bits', bits) === 1) throw new CliError(`flexor train: bad value '${bits}' for --bits`, 2);
  let m = null, teacher = null;
  try {
    if (resume) {
      if (!c.ckpt) throw new CliError('flexor train: --resume needs --ckpt FILE');
      // the configuration comes from the checkpoint; only where to keep going and how is taken from the flags
      const { ckpt, data, max_steps: maxSteps, ckpt_every: ckptEvery, threads, eval_steps: evalSteps, target } = c;
      if (!fs.existsSync(ckpt)) throw new CliError(`flexor train: no checkpoint at ${ckpt}`);
      const saved = defaults(c.dataset);
      const buf = readFile(ckpt);
      try {
        const probe = Model.load(buf, { maxBatch: 1, training: false });
        const meta = probe.metadata;
        probe.dispose();
        if (!fromText(saved, meta)) throw new CliError(`flexor train: cannot resume from ${ckpt}: a bad value in its metadata`);
      } catch (e) {
        if (e instanceof FlexorError) throw new CliError(`flexor train: cannot resume from ${ckpt}: ${detail(e)}`);
        throw e;
      }
      c = saved;
      Object.assign(c, { ckpt, data, max_steps: maxSteps, ckpt_every: ckptEvery, threads, eval_steps: evalSteps, target });
      try {
        m = Model.load(buf, { maxBatch: c.batch, training: true });
      } catch (e) {
        if (e instanceof FlexorError) throw new CliError(`flexor: ${ckpt}: ${detail(e)}`);
        throw e;
      }
      out(`resuming ${ckpt} at epoch ${c.epoch + 1} step ${c.step} (${m.steps} optimiser steps)`);
    } else {
      try {
        m = buildModel(c);
      } catch (e) {
        if (e instanceof FlexorError) throw new CliError(`flexor: model: ${detail(e)}`);
        throw e;
      }
      if (c.init) {
        const src = loadModelFile(c.init, { maxBatch: 1, training: false });
        try {
          const mag = c.init_mag > 0 ? c.init_mag : f32(0.5 / c.stanh);
          const { copied, encrypted } = m.initFrom(src, { mag, seed: BigInt(c.seed) });
          out(`init: ${copied} parameters copied and ${encrypted} layers encrypted from ${c.init}`);
        } catch (e) {
          if (e instanceof FlexorError) throw new CliError(`flexor: --init: ${detail(e)}`);
          throw e;
        } finally {
          src.dispose();
        }
      }
    }
    if (c.teacher) teacher = loadModelFile(c.teacher, { maxBatch: c.batch, training: false });
    return await runTraining(c, m, teacher);
  } finally {
    m?.dispose();
    teacher?.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------
// eval, inspect, xor, info
// ---------------------------------------------------------------------------------------------------------

function usageError(cmd, arg) {
  return new CliError(`flexor ${cmd}: unknown or incomplete option '${arg}' (see 'flexor help')`, 2);
}

async function cmdEval(argv) {
  if (argv.length < 1) throw new CliError('flexor eval: which model file?', 2);
  const file = argv[0];
  let data = '', predsOut = '', lim = 0, batch = 100;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i], has = i + 1 < argv.length;
    if (a === '--data' && has) data = argv[++i];
    else if (a === '--limit' && has) lim = atoi(argv[++i]);
    else if (a === '--batch' && has) batch = atoi(argv[++i]);
    else if (a === '--preds' && has) predsOut = argv[++i];
    else if (a === '--threads' && has) i++; // one thread in wasm
    else throw usageError('eval', a);
  }
  const m = loadModelFile(file, { maxBatch: batch, training: false });
  let test = null;
  try {
    const [c] = m.inputShape;
    test = await loadData(c === 1 ? 'mnist' : 'cifar10', 1, data, lim);
    const t0 = now();
    let r;
    try {
      r = m.evaluate(test, { preds: true });
    } catch (e) {
      if (e instanceof FlexorError) throw new CliError(`flexor: evaluate: ${detail(e)}`);
      throw e;
    }
    const dt = now() - t0;
    out(`${file}: test accuracy ${((100 * r.correct) / r.total).toFixed(2)}% (${r.correct}/${r.total}), ` +
      `${(r.total / dt).toFixed(1)} img/s (wasm, batch ${batch}, 1 thread)`);
    if (predsOut) writeFileAtomic(predsOut, Uint8Array.from(r.preds));
    return 0;
  } finally {
    test?.dispose();
    m.dispose();
  }
}

const pad = (v, n) => String(v).padStart(n);
const padEnd = (v, n) => String(v).padEnd(n);

function cmdInspect(argv) {
  if (argv.length < 1) throw new CliError('flexor inspect: which model file?', 2);
  const file = argv[0];
  const flen = readFile(file).length;
  const m = loadModelFile(file, { maxBatch: 1, training: false });
  try {
    const nodes = m.nodes();
    let nparams = 0;
    for (const p of m.params()) if (p.kind !== 'lat') nparams += p.length;
    out(`${file}: ${flen} bytes, ${nodes.length} nodes; ${m.flexorWeights} FleXOR weights at ${m.bitsPerWeight.toFixed(4)} ` +
      `bits/weight, ${nparams} other values (float32)`);
    let macs = 0;
    for (const ni of nodes) {
      macs += ni.macs;
      const in0 = ni.inputs[0] ?? -1, in1 = ni.inputs[1] ?? -1;
      let line = `  ${pad(ni.id, 3)} ${padEnd(ni.kind, 8)} in ${pad(in0, 3)}`;
      line += in1 >= 0 ? `+${padEnd(in1, 3)}` : '    ';
      line += ` out ${pad(ni.shape[0], 3)}x${pad(ni.shape[1], 2)}x${pad(ni.shape[2], 2)}`;
      if (ni.kind === 'conv') line += `  k${ni.k} s${ni.stride} p${ni.pad}`;
      if (ni.flexor) {
        const f = ni.flexor, src = nodes[in0];
        const fan = ni.kind === 'conv' ? src.shape[0] * ni.k * ni.k : src.shape[0] * src.shape[1] * src.shape[2];
        const n = ni.cOut * fan;
        const bpw = (f.q * Math.ceil(n / f.nOut) * f.nIn) / n;
        line += `  FleXOR q=${f.q} n_out=${f.nOut} n_in=${f.nIn} n_tap=${f.nTap} seed=${f.seed} -> ${bpw.toFixed(3)} bits/weight`;
      }
      out(line);
    }
    out(`  ${(macs / 1e6).toFixed(2)} M multiply-adds per image`);
    if (m.metadata) process.stdout.write(`metadata:\n${m.metadata}`);
    return 0;
  } finally {
    m.dispose();
  }
}

/** export MODEL OUT: any model file (checkpoint or inference) -> the deployable inference file. */
function cmdExport(argv) {
  if (argv.length !== 2) throw new CliError('flexor export: usage: export MODEL OUT (checkpoint or model in, inference model out)', 2);
  const [src, dst] = argv;
  const m = loadModelFile(src, { maxBatch: 1, training: false });
  try {
    const bytes = m.save({ kind: 'inference', metadata: m.metadata });
    writeFileAtomic(dst, bytes);
    out(`exported ${src} -> ${dst} (${bytes.length} bytes, ${m.bitsPerWeight.toFixed(4)} bits/weight over FleXOR layers)`);
    return 0;
  } finally {
    m.dispose();
  }
}

function cmdXor(argv) {
  let nOut = 20, nIn = 8, nTap = 2, plane = 0, seed = 1n, firstBits = argv.length;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], has = i + 1 < argv.length;
    if (a === '--nout' && has) nOut = atoi(argv[++i]);
    else if (a === '--nin' && has) nIn = atoi(argv[++i]);
    else if (a === '--ntap' && has) nTap = atoi(argv[++i]);
    else if (a === '--plane' && has) plane = atoi(argv[++i]);
    else if (a === '--seed' && has) seed = strtoull(argv[++i]);
    else if (a === '--bits') { firstBits = i + 1; break; }
    else throw usageError('xor', a);
  }
  let net;
  try {
    net = xorNetwork({ nOut, nIn, nTap, seed, plane });
  } catch (e) {
    if (e instanceof FlexorError) throw new CliError(`flexor xor: ${detail(e)}`, 2);
    throw e;
  }
  out(`M (${nOut} x ${nIn}, ${nTap ? 'N_tap ones per row' : 'random fill'}, seed ${seed}, plane ${plane}): ` +
    'row r lists the encrypted bits XORed into decrypted bit r');
  for (let r = 0; r < nOut; r++) {
    let bits = '', taps = 0;
    for (let i = 0; i < nIn; i++) {
      const on = (net.masks[r] >>> i) & 1;
      bits += on ? '1' : '.';
      taps += on;
    }
    out(`  y${padEnd(r, 2)} = ${bits}   taps ${taps}`);
  }
  const words = argv.slice(firstBits).map((v) => {
    const n = parseInt(String(v).trim(), 16);
    return Number.isFinite(n) ? n >>> 0 : 0;
  });
  const dec = net.decrypt(words);
  words.forEach((e, k) => {
    let signs = '';
    for (let r = 0; r < nOut; r++) signs += (dec[k] >>> r) & 1 ? '+' : '-';
    const hex = (v, digits) => v.toString(16).padStart(digits, '0');
    out(`enc 0x${hex(e, Math.floor((nIn + 3) / 4))} -> dec 0x${hex(dec[k], Math.floor((nOut + 3) / 4))}  (${signs})`);
  });
  return 0;
}

function usage() {
  out('usage: node bin/flexor.mjs <command> [options]   (the WebAssembly build; one thread)\n' +
    '  info                         version and build\n' +
    '  xor  [--nout 20] [--nin 8] [--ntap 2] [--seed 1] [--plane 0] [--bits HEX ...]\n' +
    '                               print an XOR-gate network and decrypt words with it\n' +
    '  train mnist|cifar10 [options]  e.g. --bits 0.8 --nout 20 --ntap 2 --epochs 10 --out m.fxm\n' +
    '      options (defaults depend on the dataset): --model lenet5|resnet20|resnet32|resnet44 --bits B | --nin N\n' +
    '      --nout N --ntap N | --random-fill --q Q --stage-nin a,b,c --fp --mode flexor|ste|analog\n' +
    '      --opt sgd|adam --lr --momentum --nesterov 0|1 --wd --batch --epochs --warmup --sched const|step|cosine\n' +
    '      --milestones e1,e2 --gamma --stanh S --stanh0 S0 --alpha-init A --lat-std X --seed N\n' +
    '      --teacher FP.fxm --T 4 --kd 0.9 --eval-every N\n' +
    '      --ckpt FILE --ckpt-every SECONDS --resume --max-steps N --train-limit N --test-limit N --data DIR\n' +
    '      --eval-steps N (test every N steps) --target ACC (stop once the test accuracy reaches ACC %)\n' +
    '      --init FP.fxm (encrypt a full-precision model as the start)\n' +
    '  eval MODEL [--limit N] [--batch B] [--preds FILE] [--data DIR]\n' +
    '  inspect MODEL\n' +
    '  export MODEL OUT             checkpoint or model file -> inference model (packed sign bits)');
}

/** Runs one command; returns the exit status. */
export async function main(argv = process.argv.slice(2)) {
  try {
    const cmd = argv[0];
    if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
      usage();
      return cmd ? 0 : 2;
    }
    await init();
    switch (cmd) {
      case 'info':
        out(`flexor ${version()}, wasm build (${path.basename(fileURLToPath(new URL('../wasm/flexor.wasm', import.meta.url)))}, ` +
          'WebAssembly SIMD, 1 thread)');
        return 0;
      case 'xor': return cmdXor(argv.slice(1));
      case 'train': return await cmdTrain(argv.slice(1));
      case 'eval': return await cmdEval(argv.slice(1));
      case 'inspect': return cmdInspect(argv.slice(1));
      case 'export': return cmdExport(argv.slice(1));
      default:
        throw new CliError(`flexor: unknown command '${cmd}' (see 'flexor help')`, 2);
    }
  } catch (e) {
    if (e instanceof CliError) {
      err(e.message);
      return e.code;
    }
    if (e instanceof FlexorError) {
      err(`flexor: ${e.message}`);
      return 1;
    }
    if (e?.name === 'FetchError') {
      err(`flexor: ${e.message}`);
      return 1;
    }
    err(`flexor: internal error: ${e?.stack ?? e}`);
    return 1;
  }
}

function invokedDirectly() {
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  process.stdout.on('error', (e) => { // e.g. `| head`: stop quietly
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await main();
}
