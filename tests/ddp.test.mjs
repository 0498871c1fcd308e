// tests/ddp.test.mjs — tools/train_ddp.py, the PyTorch DistributedDataParallel trainer, end to end on CPU
// (node --test tests/ddp.test.mjs):
//
//   1. torchrun (`/usr/bin/python3 -m torch.distributed.run`) starts 2 gloo processes that train the paper's
//      LeNet-5 (FleXOR, 0.8 bit/weight) on 512 MNIST images for one epoch (8 steps of 32 per process) and
//      export it; rank 0 also writes PyTorch's float32 logits of the first 200 test images;
//   2. the file's node records equal the graph src/zoo.c builds (tools/fxm.py lenet5_nodes);
//   3. the native runtime (`build/native/flexor eval --limit 200 --preds`) predicts exactly argmax of the
//      PyTorch logits on every image, with the same accuracy as PyTorch printed and as the labels give;
//   4. the wasm runtime (wasm/flexor.js Model.load + forward) gives logits close to PyTorch's.
//
// Needs Debian's PyTorch (`apt-get install python3-torch`): without it the test FAILS, it does not skip.
// Also needs ./build.sh (native and wasm) and the MNIST cache (`node tools/fetch-data.mjs all`).
// Debian bookworm's torch 1.13 launcher cannot start on Python 3.11 (Std.from_str("0") is None, so
// "'NoneType' object has no attribute 'get'"); when the probe sees that bug the test adds
// `--redirects 9:1 --tee 9:1` (a redirect for a local rank that does not exist: real ranks keep Std.NONE).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PY = '/usr/bin/python3';
const FLEXOR = path.join(ROOT, 'build', 'native', 'flexor');
const INSTALL = 'apt-get install python3-torch';
const N_TEST = 200;
const DATA = process.env.FLEXOR_DATA || path.join(os.homedir(), '.cache', 'flexor-wasm', 'data');

const PROBE = String.raw`
import json, platform
import numpy, torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.api import Std
print(json.dumps({"torch": torch.__version__, "python": platform.python_version(), "dist": dist.is_available(),
                  "gloo": dist.is_available() and dist.is_gloo_available(),
                  "std_bug": Std.from_str("0") is None}))
`;

/** {torch, gloo, std_bug}, or throws an assertion naming `apt-get install python3-torch`. */
function probeTorch() {
  assert.ok(fs.existsSync(PY), `${PY} is missing: tools/train_ddp.py needs Debian's Python with PyTorch (${INSTALL})`);
  const r = spawnSync(PY, ['-c', PROBE], { encoding: 'utf8', timeout: 120000 });
  const err = (r.stderr || '').trim().split('\n').pop();
  assert.equal(r.status, 0, `PyTorch for ${PY} is missing or broken (${err || r.error}): ${INSTALL}`);
  const info = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.ok(info.dist && info.gloo, `torch ${info.torch} for ${PY} has no gloo backend (torch.distributed): ${INSTALL}`);
  return info;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** float32 [rows][cols] of a little-endian .npy file (version 1-3, C order). */
function readNpyF32(file) {
  const buf = fs.readFileSync(file);
  assert.equal(buf.subarray(0, 6).toString('latin1'), '\x93NUMPY', `${file} is not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = buf.subarray(major === 1 ? 10 : 12, start).toString('latin1');
  assert.match(header, /'descr':\s*'<f4'/, `${file}: not float32 (${header})`);
  assert.match(header, /'fortran_order':\s*False/, `${file}: not C order`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  assert.equal(shape.length, 2, `${file}: shape ${shape}`);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + shape[0] * shape[1] * 4));
  return { rows: shape[0], cols: shape[1], data };
}

const argmax = (z, i, k) => {
  let best = 0;
  for (let j = 1; j < k; j++) if (z[i * k + j] > z[i * k + best]) best = j; // first maximum, as fx_evaluate
  return best;
};

/** The first n MNIST test labels from the cache (IDX: 8-byte header). */
function mnistTestLabels(n) {
  const file = path.join(DATA, 'mnist', 't10k-labels-idx1-ubyte');
  assert.ok(fs.existsSync(file), `${file} is missing: node tools/fetch-data.mjs all`);
  return fs.readFileSync(file).subarray(8, 8 + n);
}

let run = null; // what test 1 produced, for tests 2 and 3

test('torchrun, 2 gloo processes: LeNet-5 trained with DDP, exported, same predictions in the native runtime',
  { timeout: 600000 }, async (t) => {
    const info = probeTorch();
    assert.ok(fs.existsSync(FLEXOR), `${FLEXOR} is missing: run ./build.sh native`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexor-ddp-test-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const model = path.join(dir, 'ddp.fxm'), logits = path.join(dir, 'logits.npy'), predsFile = path.join(dir, 'preds.bin');
    const port = await freePort();
    const launcher = ['-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', String(port)];
    if (info.std_bug) {
      launcher.push('--redirects', '9:1', '--tee', '9:1');
      t.diagnostic(`torch ${info.torch} on Python ${info.python}: the stock launcher's Std.from_str bug, ` +
        'worked around with --redirects 9:1 --tee 9:1');
    }
    const args = [...launcher, 'tools/train_ddp.py', '--dataset', 'mnist', '--model', 'lenet5', '--bits', '0.8',
      '--epochs', '1', '--train-limit', '512', '--test-limit', String(N_TEST), '--batch', '32',
      '--out', model, '--logits-out', logits];
    const t0 = Date.now();
    const r = spawnSync(PY, args, { cwd: ROOT, encoding: 'utf8', timeout: 300000, maxBuffer: 64 << 20 });
    const secs = (Date.now() - t0) / 1000;
    const out = (r.stdout || '') + (r.stderr || '');
    t.diagnostic(`${PY} ${args.join(' ')}: ${secs.toFixed(1)} s`);
    assert.equal(r.status, 0, `torchrun exited ${r.status}${r.error ? ` (${r.error.message})` : ''}:\n${out.slice(-6000)}`);
    assert.match(out, /train_ddp: 2 processes \(gloo process group, cpu/, `not a 2-process gloo run:\n${out.slice(-3000)}`);
    assert.match(out, /8 steps\/epoch/, 'expected 512 images / (2 processes x 32) = 8 steps per epoch');
    assert.match(out, new RegExp(`read back: ${N_TEST}/${N_TEST} predictions identical`));
    const pt = out.match(/PyTorch: test accuracy ([\d.]+)% \((\d+)\/(\d+)\)/);
    assert.ok(pt, `no PyTorch accuracy line:\n${out.slice(-3000)}`);
    assert.equal(Number(pt[3]), N_TEST);

    // the node graph is src/zoo.c's LeNet-5 with the options' FleXOR cfg (zoo seeds: every layer seed 1)
    const check = spawnSync(PY, ['-c', String.raw`
import sys
sys.path.insert(0, "tools")
import fxm
m = fxm.read(open(sys.argv[1], "rb").read())
want = fxm.lenet5_nodes([fxm.flexor_cfg(20, 16, 2, 1, seed=1)] * 4)
assert m["kind"] == fxm.KIND_INFERENCE and m["input"] == fxm.MNIST_INPUT, (m["kind"], m["input"])
got = [fxm.node_fields(n) for n in m["nodes"]]
exp = [fxm.node_fields(n) for n in want]
assert got == exp, f"node records differ from src/zoo.c's LeNet-5:\n{got}\n{exp}"
print("graph ok")
`, model], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(check.status, 0, `graph check: ${check.stdout}${check.stderr}`);

    const ev = spawnSync(FLEXOR, ['eval', model, '--limit', String(N_TEST), '--preds', predsFile], { cwd: ROOT, encoding: 'utf8' });
    const evOut = (ev.stdout || '') + (ev.stderr || '');
    assert.equal(ev.status, 0, `flexor eval exited ${ev.status}:\n${evOut}`);
    t.diagnostic(evOut.trim());
    const nat = evOut.match(/test accuracy ([\d.]+)% \((\d+)\/(\d+)\)/);
    assert.ok(nat, `no accuracy line from flexor eval:\n${evOut}`);

    const preds = fs.readFileSync(predsFile);
    const z = readNpyF32(logits);
    assert.equal(preds.length, N_TEST);
    assert.equal(z.rows, N_TEST);
    assert.equal(z.cols, 10);
    const labels = mnistTestLabels(N_TEST);
    const diff = [];
    let correct = 0;
    const classes = new Set();
    for (let i = 0; i < N_TEST; i++) {
      const p = argmax(z.data, i, z.cols);
      classes.add(p);
      if (p !== preds[i]) diff.push(`image ${i}: native ${preds[i]}, PyTorch ${p}`);
      correct += p === labels[i];
    }
    assert.deepEqual(diff, [], `${diff.length} of ${N_TEST} predictions differ:\n${diff.slice(0, 20).join('\n')}`);
    assert.equal(nat[1], pt[1], `accuracy: native ${nat[1]} %, PyTorch ${pt[1]} %`);
    assert.equal(Number(nat[2]), Number(pt[2]));
    assert.equal(correct, Number(pt[2]), 'PyTorch accuracy line vs its own logits and the labels');
    t.diagnostic(`${N_TEST}/${N_TEST} predictions equal; accuracy ${pt[1]} % in both (${classes.size} distinct classes predicted)`);
    run = { bytes: fs.readFileSync(model), z };
  });

test('the same exported file in the wasm runtime: logits close to PyTorch\'s', { timeout: 120000 }, async () => {
  assert.ok(run, 'needs the output of the torchrun test above');
  const wasm = path.join(ROOT, 'wasm', 'flexor.wasm');
  assert.ok(fs.existsSync(wasm), `${wasm} is missing: run ./build.sh wasm`);
  const { init, Model } = await import('../wasm/flexor.js');
  await init();
  const file = path.join(DATA, 'mnist', 't10k-images-idx3-ubyte');
  const raw = fs.readFileSync(file).subarray(16, 16 + N_TEST * 784);
  // the runtime's normalisation in float32: v * (1 / (255 std)) + (-mean / std)
  const f = Math.fround, std = f(0.3081), mean = f(0.1307);
  const scale = f(1 / f(255 * std)), shift = f(-mean / std);
  const x = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) x[i] = f(f(raw[i] * scale) + shift);
  const m = Model.load(run.bytes, { maxBatch: 100 });
  try {
    let worst = 0, argmaxDiff = 0;
    for (let b = 0; b < N_TEST; b += 100) {
      const zw = m.forward(x.subarray(b * 784, (b + 100) * 784), 100);
      for (let i = 0; i < 100; i++) {
        for (let j = 0; j < 10; j++) {
          const a = zw[i * 10 + j], e = run.z.data[(b + i) * 10 + j];
          worst = Math.max(worst, Math.abs(a - e) / (1e-3 + Math.abs(e)));
        }
        if (argmax(zw, i, 10) !== argmax(run.z.data, b + i, 10)) argmaxDiff++;
      }
    }
    assert.ok(worst < 1e-3, `wasm logits differ from PyTorch's by up to ${worst} (relative)`);
    assert.equal(argmaxDiff, 0, `${argmaxDiff} wasm predictions differ from PyTorch's`);
  } finally {
    m.dispose();
  }
});
