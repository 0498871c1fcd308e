// train.test.mjs - training, model files and datasets end to end, on real MNIST (fetched once and verified by
// tools/fetch-data.mjs into ~/.cache/flexor-wasm/data or $FLEXOR_DATA):
//   (a) the wasm build trains FleXOR LeNet-5 (0.8 bits/weight) to a real accuracy bar;
//   (b) save -> load gives identical predictions and logits (inference files and checkpoints);
//   (c) the native CLI resumed from a --max-steps checkpoint writes byte-identical files to a straight run;
//   (d) native and wasm evaluation of the same model file agree on every prediction;
//   (e) corrupt and truncated model files are refused with a FlexorError naming the problem;
//   (f) truncated or malformed dataset bytes are refused by the core's parsers;
//   (g) wasm-side resume (API and bin/flexor.mjs) is bit-identical, and each build resumes the other's
//       checkpoints; a trainer whose dataset or model was disposed says so.
// Run: ./build.sh all && node --test tests/train.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, memoryStats, Model, Dataset, Trainer, FlexorError, Status } from '../wasm/flexor.js';
import { ensureMnist } from '../tools/fetch-data.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE = join(root, 'build/native/flexor');
const CLI = join(root, 'bin/flexor.mjs');
let files = null; // MNIST file name -> path
let work = null;  // a temporary folder for this file's runs

/** Asserts fn throws a FlexorError with the given code and a message matching re. */
function assertFlexorError(fn, code, re) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof FlexorError, `expected a FlexorError, got ${e && e.stack}`);
    assert.equal(e.code, code, `code of "${e.message}"`);
    assert.equal(e.status, Status[code.slice(3)]);
    assert.match(e.message, re);
    return true;
  });
}

/** The first n images of the MNIST train or test split (fresh Dataset; the caller disposes it). */
function mnist(split, n) {
  const pre = split === 'train' ? 'train' : 't10k';
  const full = Dataset.fromIdx(readFileSync(files[`${pre}-images-idx3-ubyte`]), readFileSync(files[`${pre}-labels-idx1-ubyte`]));
  if (!n || n >= full.length) return full;
  const sub = full.subset(n);
  full.dispose();
  return sub;
}

/** Runs a program; returns {status, stdout, stderr} and fails with its output when the status differs. */
function run(cmd, args, { cwd = work, status = 0 } = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  assert.equal(r.status, status, `${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}
const native = (args, opts) => {
  assert.ok(existsSync(NATIVE), `${NATIVE} is missing: run ./build.sh native first`);
  return run(NATIVE, args, opts);
};
const wasmCli = (args, opts) => run(process.execPath, [CLI, ...args], opts);

/** Same bytes (a compact failure message instead of a megabyte diff). */
function assertSameBytes(a, b, what) {
  assert.equal(a.length, b.length, `${what}: ${a.length} vs ${b.length} bytes`);
  const i = Buffer.from(a.buffer, a.byteOffset, a.byteLength).compare(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  if (i !== 0) {
    let k = 0;
    while (k < a.length && a[k] === b[k]) k++;
    assert.fail(`${what}: first difference at byte ${k} of ${a.length}`);
  }
}
const bytesOfFloats = (f) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);

before(async () => {
  await init();
  files = await ensureMnist();
  work = mkdtempSync(join(tmpdir(), 'flexor-train-test-'));
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------
// (a) + (b): wasm training, then save/load
// ---------------------------------------------------------------------------------------------------------

let trained = null; // the model of (a), for (b)
let testSet = null;

test('(a) wasm: FleXOR LeNet-5 (0.8 bit, nOut 20, nTap 2) trained on 2048 MNIST images for 2 epochs reaches >= 85 %', (t) => {
  const train = mnist('train', 2048);
  testSet = mnist('test', 1000);
  assert.equal(train.length, 2048);
  assert.deepEqual(train.shape, [1, 28, 28]);
  const m = Model.lenet5({ nOut: 20, nIn: 16, nTap: 2, maxBatch: 64 });
  assert.ok(Math.abs(m.bitsPerWeight - 0.8) < 1e-4, `bits/weight ${m.bitsPerWeight}`);
  assert.equal(m.flexorWeights, 32 * 25 + 64 * 32 * 25 + 512 * 64 * 7 * 7 + 10 * 512);
  const untrained = m.evaluate(testSet).accuracy;
  const tr = new Trainer(m, train, { optimizer: 'adam', lr: 1e-3, epochs: 2, batch: 64, sTanh: 100, schedule: 'cosine' });
  assert.equal(tr.stepsPerEpoch, 32);
  const t0 = performance.now();
  let st, steps = 0, epochs = 0;
  do {
    st = tr.run(16);
    steps += st.seen / 64;
    epochs += st.epochDone ? 1 : 0;
    assert.ok(Number.isFinite(st.loss), `loss ${st.loss}`);
  } while (!st.runDone);
  const secs = (performance.now() - t0) / 1000;
  assert.equal(steps, 64);
  assert.equal(epochs, 2);
  assert.equal(m.steps, 64);
  assert.deepEqual([tr.epoch, tr.step, tr.done], [2, 0, true]);
  const idle = tr.run();
  assert.ok(idle.runDone && idle.seen === 0, 'a finished run does nothing');
  const t1 = performance.now();
  const r = m.evaluate(testSet);
  const evalSecs = (performance.now() - t1) / 1000;
  t.diagnostic(`wasm training ${(2 * 2048 / secs).toFixed(1)} img/s (${secs.toFixed(1)} s), eval ${(1000 / evalSecs).toFixed(0)} img/s; ` +
    `test accuracy ${(100 * r.accuracy).toFixed(2)}% (untrained ${(100 * untrained).toFixed(1)}%)`);
  assert.equal(r.total, 1000);
  assert.ok(untrained < 0.3, `an untrained model should be near chance, got ${untrained}`);
  assert.ok(r.accuracy >= 0.85, `test accuracy ${r.accuracy} < 0.85 after 2 epochs`);
  tr.dispose();
  train.dispose();
  trained = m;
});

test('(b) save -> load -> evaluate: identical predictions and logits (inference file and checkpoint)', () => {
  assert.ok(trained, 'needs the model of (a)');
  const ref = trained.evaluate(testSet, { preds: true });
  assert.equal(ref.preds.length, 1000);

  const bytes = trained.save({ kind: 'inference', metadata: 'note=héllo\n' });
  assert.ok(bytes instanceof Uint8Array);
  assert.ok(bytes.length < 200_000, `an 0.8-bit LeNet-5 file should be small, got ${bytes.length}`);
  assert.equal(trained.sizeBytes(), trained.save().length);
  const ckpt = trained.save({ kind: 'checkpoint' });
  assert.ok(ckpt.length > 10 * bytes.length);

  const inf = Model.load(bytes, { maxBatch: 64 });
  const resumed = Model.load(ckpt.buffer, { maxBatch: 64, training: true });
  try {
    assert.equal(inf.metadata, 'note=héllo\n');
    assert.equal(resumed.metadata, '');
    assert.equal(inf.training, false);
    assert.equal(resumed.training, true);
    assert.equal(resumed.steps, 64);
    assert.equal(inf.bitsPerWeight, trained.bitsPerWeight);
    // logits of the first 320 test images (5 full batches), bit for bit
    const batches = [0, 64, 128, 192, 256].map((i) => testSet.batch(i, 64).x);
    const refLogits = batches.map((x) => trained.forward(x, 64));
    for (const m of [inf, resumed]) {
      const r = m.evaluate(testSet, { preds: true });
      assert.equal(r.correct, ref.correct);
      assertSameBytes(bytesOfFloats(r.preds), bytesOfFloats(ref.preds), 'predictions');
      batches.forEach((x, k) => assertSameBytes(bytesOfFloats(m.forward(x, 64)), bytesOfFloats(refLogits[k]), `logits of batch ${k}`));
    }
    // predict(): softmax rows that agree with the predictions, across chunks of maxBatch
    const { x } = testSet.batch(0, 100);
    const p = inf.predict(x, 100);
    assert.equal(p.length, 1000);
    for (let s = 0; s < 100; s++) {
      const row = p.subarray(s * 10, s * 10 + 10);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.equal(row.indexOf(Math.max(...row)), ref.preds[s]);
    }
    // an inference file cannot train
    assertFlexorError(() => Model.load(bytes, { training: true }), 'FX_EINVAL', /training needs a checkpoint/);
  } finally {
    inf.dispose();
    resumed.dispose();
  }
});

// ---------------------------------------------------------------------------------------------------------
// (c) + (d): the native CLI, resume, and native vs wasm evaluation
// ---------------------------------------------------------------------------------------------------------

let nativeModel = null; // the model file of (c), for (d) and (e)

test('(c) native CLI: a run stopped at --max-steps 13 and resumed writes byte-identical files to a straight run', (t) => {
  const args = ['train', 'mnist', '--train-limit', '1280', '--test-limit', '500', '--batch', '64', '--epochs', '2', '--bits', '0.6',
    '--out', 'model.fxm', '--ckpt', 'ckpt.fxm'];
  const a = join(work, 'native-straight'), b = join(work, 'native-resumed');
  for (const d of [a, b]) mkdirSync(d);
  const t0 = performance.now();
  const straight = native(args, { cwd: a });
  const secs = (performance.now() - t0) / 1000;
  const ips = straight.stdout.match(/epoch 2\/2 step 20\/20 .* ([\d.]+) img\/s ETA/);
  t.diagnostic(`native training (2 threads) ${ips ? ips[1] : '?'} img/s, ${secs.toFixed(1)} s for the run`);
  assert.match(straight.stdout, /0\.6000 bits\/weight \(q=1 nout=20 nin=12 ntap=2\)/);
  assert.match(straight.stdout, /^epoch 1\/2 step 20\/20 loss [\d.]+ train-acc [\d.]+% lr [\d.]+ S 100\.0 [\d.]+ img\/s ETA \d+m\d\ds$/m);
  assert.match(straight.stdout, /^epoch 2\/2 test-acc [\d.]+% \(best [\d.]+%\) on 500 images/m);

  const first = native([...args, '--max-steps', '13'], { cwd: b });
  assert.match(first.stdout, /stopped after 13 optimiser steps \(--max-steps\); checkpoint ckpt\.fxm/);
  assert.ok(!existsSync(join(b, 'model.fxm')), 'a stopped run writes no model');
  const second = native(['train', 'mnist', '--ckpt', 'ckpt.fxm', '--resume'], { cwd: b });
  assert.match(second.stdout, /resuming ckpt\.fxm at epoch 1 step 13 \(13 optimiser steps\)/);

  assertSameBytes(readFileSync(join(b, 'model.fxm')), readFileSync(join(a, 'model.fxm')), 'model.fxm');
  assertSameBytes(readFileSync(join(b, 'ckpt.fxm')), readFileSync(join(a, 'ckpt.fxm')), 'ckpt.fxm (final checkpoint)');
  const acc = (s) => s.match(/done: test accuracy ([\d.]+)%/)[1];
  assert.equal(acc(second.stdout), acc(straight.stdout));
  nativeModel = join(a, 'model.fxm');
});

test('(d) a natively trained model: native `flexor eval --preds` and `node bin/flexor.mjs eval --preds` agree on 1000 images', () => {
  assert.ok(nativeModel, 'needs the model of (c)');
  const pn = join(work, 'preds-native.bin'), pw = join(work, 'preds-wasm.bin');
  const n = native(['eval', nativeModel, '--limit', '1000', '--preds', pn]);
  const w = wasmCli(['eval', nativeModel, '--limit', '1000', '--preds', pw]);
  assert.match(w.stdout, /test accuracy \d+\.\d\d% \(\d+\/1000\), [\d.]+ img\/s \(wasm, batch 100, 1 thread\)/);
  const acc = (s) => s.match(/test accuracy ([\d.]+% \(\d+\/\d+\))/)[1];
  assert.equal(acc(w.stdout), acc(n.stdout));
  const a = readFileSync(pn), b = readFileSync(pw);
  assert.equal(a.length, 1000);
  assertSameBytes(b, a, 'predictions');
  // and in-process through the API
  const m = Model.load(readFileSync(nativeModel), { maxBatch: 100 });
  try {
    assert.match(m.metadata, /^dataset=mnist\nmodel=lenet5\n.*\nnin=12\n/s);
    assert.match(m.metadata, /\ntest_accuracy=[\d.]+\n$/);
    const r = m.evaluate(testSet, { preds: true });
    assertSameBytes(Uint8Array.from(r.preds), a, 'API predictions');
  } finally {
    m.dispose();
  }
});

// ---------------------------------------------------------------------------------------------------------
// (e) + (f): bad files
// ---------------------------------------------------------------------------------------------------------

test('(e) a model file with one flipped byte or cut short is refused, naming the checksum / truncation', () => {
  assert.ok(nativeModel, 'needs the model of (c)');
  const good = readFileSync(nativeModel);
  const live = memoryStats().liveModels;
  const flipped = Uint8Array.from(good);
  flipped[good.length >> 1] ^= 0x10;
  assertFlexorError(() => Model.load(flipped), 'FX_EFORMAT', /^Model\.load: fx_model_load: checksum mismatch .*corrupt/);
  assertFlexorError(() => Model.load(good.subarray(0, good.length - 100)), 'FX_EFORMAT', /truncated/);
  assertFlexorError(() => Model.load(good.subarray(0, 10)), 'FX_EFORMAT', /truncated/);
  assertFlexorError(() => Model.load(new Uint8Array(0)), 'FX_EFORMAT', /truncated/);
  assertFlexorError(() => Model.load('not bytes'), 'FX_EINVAL', /bytes must be a Uint8Array/);
  // the CLI says the same and exits 1
  const bad = join(work, 'flipped.fxm');
  writeFileSync(bad, flipped);
  const r = wasmCli(['eval', bad], { status: 1 });
  assert.match(r.stderr, /checksum mismatch/);
  const ri = wasmCli(['inspect', bad], { status: 1 });
  assert.match(ri.stderr, /checksum mismatch/);
  assert.equal(memoryStats().liveModels, live, 'failed loads leave no model behind');
});

test('(f) Dataset.fromIdx / fromCifar refuse truncated or malformed bytes with the core message', () => {
  const img = readFileSync(files['t10k-images-idx3-ubyte']), lab = readFileSync(files['t10k-labels-idx1-ubyte']);
  const before = memoryStats();
  assertFlexorError(() => Dataset.fromIdx(img.subarray(0, img.length - 1000), lab), 'FX_EFORMAT',
    /^Dataset\.fromIdx: images: fx_idx_parse: truncated: the header promises 7840016 bytes, the file has 7839016/);
  assertFlexorError(() => Dataset.fromIdx(img, lab.subarray(0, 500)), 'FX_EFORMAT', /labels: .*truncated/);
  assertFlexorError(() => Dataset.fromIdx(img.subarray(0, 6), lab), 'FX_EFORMAT', /images: .*truncated header/);
  const badMagic = Uint8Array.from(lab);
  badMagic[0] = 1;
  assertFlexorError(() => Dataset.fromIdx(img, badMagic), 'FX_EFORMAT', /labels: .*bad magic/);
  assertFlexorError(() => Dataset.fromIdx(lab, lab), 'FX_EFORMAT', /images: a rank-1 IDX array/);
  assertFlexorError(() => Dataset.fromIdx(img, readFileSync(files['train-labels-idx1-ubyte'])), 'FX_ESHAPE', /10000 images but 60000 labels/);
  assertFlexorError(() => Dataset.fromCifar([new Uint8Array(3073 * 2 + 5)]), 'FX_EFORMAT', /not a whole number of 3073-byte/);
  const rec = new Uint8Array(3073);
  rec[0] = 12;
  assertFlexorError(() => Dataset.fromCifar([new Uint8Array(3073), rec]), 'FX_EFORMAT', /batches\[1\]: .*label 12/);
  const after = memoryStats();
  assert.equal(after.jsBytes, before.jsBytes, 'refused datasets leave nothing in the wasm heap');
  assert.equal(after.liveDatasets, before.liveDatasets);
  // a good CIFAR record parses into a 3x32x32 dataset with the ImageNet normalisation
  const ok = Dataset.fromCifar(rec.map((v, i) => (i === 0 ? 7 : v)));
  try {
    assert.deepEqual([ok.length, ...ok.shape], [1, 3, 32, 32]);
    assert.deepEqual([...ok.labels()], [7]);
    const { x } = ok.batch(0, 1);
    assert.ok(Math.abs(x[0] - (0 - 0.485) / 0.229) < 1e-5);
  } finally {
    ok.dispose();
  }
});

// ---------------------------------------------------------------------------------------------------------
// (g) wasm-side resume and cross-build checkpoints
// ---------------------------------------------------------------------------------------------------------

test('(g) API: checkpoint + load + seek continues bit-identically; disposed inputs are reported', () => {
  const train = mnist('train', 320);
  const make = () => {
    const m = Model.create({ input: [1, 28, 28] });
    const c = m.conv(0, { cOut: 8, k: 5, pad: 2, bias: true, flexor: { nOut: 20, nIn: 12, nTap: 2, seed: 3 } });
    m.dense(m.maxpool(m.relu(c), { k: 4 }), { out: 10, flexor: { nOut: 20, nIn: 12, nTap: 2, seed: 3 } });
    return m.build({ maxBatch: 32 }).initParams({ seed: 3 });
  };
  const opts = { optimizer: 'adam', lr: 2e-3, epochs: 2, batch: 32, sTanh: 100, schedule: 'cosine', seed: 9 };
  const straight = make();
  const t1 = new Trainer(straight, train, opts);
  while (!t1.run().runDone);
  const part = make();
  const t2 = new Trainer(part, train, opts);
  const s = t2.run(7);
  assert.deepEqual([s.epoch, s.step, s.seen], [0, 7, 224]);
  const ckpt = part.save({ kind: 'checkpoint', metadata: `epoch=${s.epoch}\nstep=${s.step}\n` });
  t2.dispose();
  part.dispose();
  const back = Model.load(ckpt, { maxBatch: 32, training: true });
  assert.equal(back.steps, 7);
  const t3 = new Trainer(back, train, opts).seek(0, 7);
  assert.deepEqual([t3.epoch, t3.step], [0, 7]);
  while (!t3.run().runDone);
  assertSameBytes(back.save(), straight.save(), 'the resumed model');
  assert.equal(back.steps, 20);
  // the trainer keeps its model and dataset by reference and says when one is gone
  train.dispose();
  assertFlexorError(() => t3.run(1), 'FX_ESTATE', /dataset was disposed.*must outlive the trainer/);
  t3.dispose();
  t3.dispose();
  assertFlexorError(() => t3.seek(0, 0), 'FX_ESTATE', /trainer was disposed/);
  const t4 = new Trainer(straight, testSet, { ...opts, batch: 16 });
  straight.dispose();
  assertFlexorError(() => t4.run(1), 'FX_ESTATE', /model was disposed/);
  t4.dispose();
  t1.dispose();
  back.dispose();
  assertFlexorError(() => new Trainer(back, testSet, opts), 'FX_ESTATE', /the model was disposed/);
  const inf = Model.load(trained.save(), { maxBatch: 8 });
  assertFlexorError(() => new Trainer(inf, testSet, opts), 'FX_ESTATE', /inference only/);
  inf.dispose();
});

test('(g) bin/flexor.mjs: --max-steps + --resume is byte-identical to a straight run; each build resumes the other\'s checkpoint', () => {
  const args = ['train', 'mnist', '--train-limit', '640', '--test-limit', '200', '--batch', '64', '--epochs', '1', '--bits', '0.6',
    '--out', 'model.fxm', '--ckpt', 'ckpt.fxm'];
  const dirs = Object.fromEntries(['straight', 'resumed', 'n2w', 'w2n'].map((k) => [k, join(work, `wasm-${k}`)]));
  for (const d of Object.values(dirs)) mkdirSync(d);
  const s = wasmCli(args, { cwd: dirs.straight });
  assert.match(s.stdout, /^wasm, 1 thread; train lenet5 mnist: FleXOR, 1662752 quantized weights at 0\.6000 bits\/weight/m);
  assert.match(s.stdout, /^epoch 1\/1 step 10\/10 loss [\d.]+ train-acc [\d.]+% lr [\d.]+ S 100\.0 [\d.]+ img\/s ETA \d+m\d\ds$/m);
  assert.match(s.stdout, /^epoch 1\/1 test-acc [\d.]+% \(best [\d.]+%\) on 200 images, \d+ img\/s eval, elapsed \d+m\d\ds$/m);
  assert.match(s.stdout, /^saved model\.fxm \(\d+ bytes\)$/m);
  wasmCli([...args, '--max-steps', '4'], { cwd: dirs.resumed });
  copyFileSync(join(dirs.resumed, 'ckpt.fxm'), join(dirs.w2n, 'ckpt.fxm'));
  const r = wasmCli(['train', 'mnist', '--ckpt', 'ckpt.fxm', '--resume'], { cwd: dirs.resumed });
  assert.match(r.stdout, /resuming ckpt\.fxm at epoch 1 step 4 \(4 optimiser steps\)/);
  assertSameBytes(readFileSync(join(dirs.resumed, 'model.fxm')), readFileSync(join(dirs.straight, 'model.fxm')), 'wasm model.fxm');
  assertSameBytes(readFileSync(join(dirs.resumed, 'ckpt.fxm')), readFileSync(join(dirs.straight, 'ckpt.fxm')), 'wasm ckpt.fxm');

  // the checkpoint text is the native CLI's: the native program resumes the wasm checkpoint ...
  const nr = native(['train', 'mnist', '--ckpt', 'ckpt.fxm', '--resume'], { cwd: dirs.w2n });
  assert.match(nr.stdout, /resuming ckpt\.fxm at epoch 1 step 4 \(4 optimiser steps\)/);
  assert.match(nr.stdout, /0\.6000 bits\/weight \(q=1 nout=20 nin=12 ntap=2\).*10 steps\/epoch, 1 epochs, seed 1/);
  // ... and the wasm program a native one
  native([...args, '--max-steps', '6'], { cwd: dirs.n2w });
  const wr = wasmCli(['train', 'mnist', '--ckpt', 'ckpt.fxm', '--resume'], { cwd: dirs.n2w });
  assert.match(wr.stdout, /resuming ckpt\.fxm at epoch 1 step 6 \(6 optimiser steps\)/);
  for (const d of [dirs.w2n, dirs.n2w]) {
    const m = Model.load(readFileSync(join(d, 'model.fxm')));
    try {
      assert.match(m.metadata, /\nnin=12\n(.|\n)*\nlr=0\.00100000005\n(.|\n)*\nepoch=1\nstep=0\ntest_accuracy=[\d.]+\n$/);
      assert.equal(m.nodes().length, 10);
    } finally {
      m.dispose();
    }
  }
  // the metadata lines are identical apart from the position
  const text = (p) => {
    const m = Model.load(readFileSync(p));
    m.dispose();
    return m.metadata;
  };
  assert.equal(text(join(dirs.straight, 'model.fxm')).replace(/test_accuracy=.*\n/, ''),
    text(join(dirs.w2n, 'model.fxm')).replace(/test_accuracy=.*\n/, ''));
});

test('--eval-steps / --target (both CLIs): tests every N steps, stops once the target is reached, saves the model', () => {
  for (const [name, cli] of [['native', native], ['wasm', wasmCli]]) {
    const d = join(work, `target-${name}`);
    mkdirSync(d);
    const r = cli(['train', 'mnist', '--train-limit', '1280', '--test-limit', '300', '--epochs', '3', '--bits', '0.8', '--lr', '3e-4',
      '--eval-steps', '5', '--target', '60', '--out', 'model.fxm', '--ckpt', 'ckpt.fxm', '--threads', '1'], { cwd: d });
    const steps = [...r.stdout.matchAll(/^step (\d+) test-acc ([\d.]+)% \(best [\d.]+%\), training time \d+m\d\ds, elapsed/gm)];
    assert.ok(steps.length >= 1, `${name}: at least one step evaluation:\n${r.stdout}`);
    for (const m of steps) assert.equal(Number(m[1]) % 5, 0, `${name}: evaluations every 5 steps (got step ${m[1]})`);
    const hit = r.stdout.match(/^target 60\.00% reached: test-acc ([\d.]+)% after (\d+) steps \((\d+) images, ([\d.]+) epochs\), training time \d+m\d\ds \(([\d.]+) img\/s\)/m);
    assert.ok(hit, `${name}: the target line:\n${r.stdout}`);
    assert.ok(Number(hit[1]) >= 60, `${name}: reached ${hit[1]} %`);
    assert.equal(Number(hit[3]), Number(hit[2]) * 64, `${name}: images = steps x batch`);
    assert.ok(Number(hit[2]) < 60, `${name}: stopped early (${hit[2]} of 60 steps)`);
    const before = steps.filter((m) => Number(m[1]) < Number(hit[2]));
    for (const m of before) assert.ok(Number(m[2]) < 60, `${name}: no earlier evaluation had reached the target`);
    assert.ok(existsSync(join(d, 'model.fxm')), `${name}: the model is saved`);
    assert.match(r.stdout, /^done: test accuracy/m);
  }
  for (const cli of [native, wasmCli]) {
    assert.match(cli(['train', 'mnist', '--target', '150'], { status: 2 }).stderr, /bad value '150' for --target/);
    assert.match(cli(['train', 'mnist', '--eval-steps', '-3'], { status: 2 }).stderr, /bad value '-3' for --eval-steps/);
  }
});

test('--bits does not depend on the order of the options (it follows --nout and --q wherever it stands)', () => {
  for (const cli of [native, wasmCli]) {
    for (const args of [['--bits', '0.4', '--nout', '10'], ['--nout', '10', '--bits', '0.4'], ['--bits', '0.8', '--q', '2', '--nout', '10']]) {
      const r = cli(['train', 'mnist', ...args, '--train-limit', '256', '--test-limit', '100', '--max-steps', '1', '--batch', '32',
        '--ckpt', join(work, 'bits-order.ckpt')]);
      const want = args.includes('--q') ? /0\.8000 bits\/weight \(q=2 nout=10 nin=4 / : /0\.4000 bits\/weight \(q=1 nout=10 nin=4 /;
      assert.match(r.stdout, want, `${args.join(' ')}:\n${r.stdout}`);
    }
  }
});

test('CLI: usage errors, xor and inspect match the native program', () => {
  assert.match(wasmCli(['train', 'mnist', '--bogus', '1'], { status: 2 }).stderr, /unknown or incomplete option '--bogus'/);
  assert.match(wasmCli(['train', 'mnist', '--mode', 'fast'], { status: 2 }).stderr, /bad value 'fast' for --mode/);
  assert.match(wasmCli(['train', 'svhn'], { status: 2 }).stderr, /unknown dataset 'svhn'/);
  assert.match(wasmCli(['train', 'mnist', '--resume'], { status: 1 }).stderr, /--resume needs --ckpt FILE/);
  const xargs = ['xor', '--nout', '12', '--nin', '5', '--ntap', '2', '--seed', '0x2a', '--bits', '3', '1f', '0'];
  assert.equal(wasmCli(xargs).stdout, native(xargs).stdout);
  assert.ok(nativeModel, 'needs the model of (c)');
  assert.equal(wasmCli(['inspect', nativeModel]).stdout, native(['inspect', nativeModel]).stdout);
});

test('everything disposed: no live objects and nothing leaked', () => {
  trained?.dispose();
  testSet?.dispose();
  trained = testSet = null;
  globalThis.gc?.();
  const s = memoryStats();
  assert.equal(s.liveTrainers, 0);
  assert.equal(s.liveDatasets, 0);
  assert.equal(s.leakedBytes, 0);
  assert.equal(s.leakedBlocks, 0);
});
