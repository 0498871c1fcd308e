// import.test.mjs - the pretrained full-precision PyTorch ResNets (../shared/pretrained, read in place, never
// copied into the repository) convert to our format, and our runtime (wasm in Node, and native) reproduces
// PyTorch's logits on test images; a FleXOR ResNet-20 started from the converted model lowers its loss in a
// few training steps. The full 10k-image accuracy check is a script, recorded in docs/RESULTS.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model, Dataset, Trainer } from '../wasm/flexor.js';
import { ensureCifar10 } from '../tools/fetch-data.mjs';
import { parseFxg, tensor } from './fxg.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const shared = join(root, '..', 'shared', 'pretrained');
const PY = '/usr/bin/python3';

function importModel(src, dir, check) {
  assert.ok(existsSync(src), `pretrained model missing: ${src} (../shared/pretrained must sit beside the repository)`);
  const out = join(dir, 'm.fxm'), logits = join(dir, 'logits.fxg');
  const r = spawnSync(PY, ['tools/import_pretrained.py', src, '-o', out, '--check', String(check), '--logits', logits],
    { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `import failed (needs Debian python3-torch: apt-get install python3-torch):\n${r.stdout}\n${r.stderr}`);
  return { out, logits };
}

test('pretrained ResNet-20 and ResNet-32: our logits equal PyTorch\'s on 16 test images', async () => {
  await init();
  const files = await ensureCifar10();
  const dir = mkdtempSync(join(tmpdir(), 'fx-import-'));
  try {
    for (const name of ['resnet20-12fca82f.th', 'resnet32-d509ac18.th']) {
      const { out, logits } = importModel(join(shared, name), dir, 16);
      const ref = tensor(parseFxg(readFileSync(logits)), 'logits');
      const m = Model.load(readFileSync(out), { maxBatch: 16 });
      const test = Dataset.fromCifar([readFileSync(files['test_batch.bin'])]).subset(16);
      const { x } = test.batch(0, 16);
      const z = m.forward(x, 16);
      let maxdiff = 0, scale = 0;
      for (let i = 0; i < z.length; i++) {
        maxdiff = Math.max(maxdiff, Math.abs(z[i] - ref[i]));
        scale = Math.max(scale, Math.abs(ref[i]));
      }
      assert.ok(maxdiff <= 1e-4 * Math.max(1, scale), `${name}: max |ours - PyTorch| = ${maxdiff} (logit scale ${scale})`);
      m.dispose();
      test.dispose();
      // the native build agrees on the predictions
      const r = spawnSync(join(root, 'build/native/flexor'), ['eval', out, '--limit', '16', '--preds', join(dir, 'p')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const preds = readFileSync(join(dir, 'p'));
      for (let b = 0; b < 16; b++) {
        let best = 0;
        for (let k = 1; k < 10; k++) if (ref[b * 10 + k] > ref[b * 10 + best]) best = k;
        assert.equal(preds[b], best, `${name}: native prediction ${b}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('FleXOR ResNet-20 from the encrypted pretrained model: a few distillation steps lower the loss', async () => {
  await init();
  const files = await ensureCifar10();
  const dir = mkdtempSync(join(tmpdir(), 'fx-import-'));
  try {
    const { out } = importModel(join(shared, 'resnet20-12fca82f.npz'), dir, 1);
    const fp = Model.load(readFileSync(out), { maxBatch: 32 });
    const m = Model.resnetCifar({ depth: 20, nIn: 16, maxBatch: 32 });
    const { encrypted } = m.initFrom(fp, { mag: 0.05, seed: 1 });
    assert.equal(encrypted, 18);
    const data = Dataset.fromCifar([readFileSync(files['data_batch_1.bin'])]).subset(256);
    const tr = new Trainer(m, data, { teacher: fp, lr: 0.02, epochs: 4, schedule: 'const', batch: 32, sTanh: 10,
      weightDecay: 1e-5, seed: 1 });
    const first = tr.run(8), later = [];
    for (let i = 0; i < 3; i++) later.push(tr.run(8));
    const last = later[later.length - 1];
    assert.ok(last.loss < 0.8 * first.loss, `loss ${first.loss} -> ${last.loss} did not fall by 20 %`);
    tr.dispose(); m.dispose(); fp.dispose(); data.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
