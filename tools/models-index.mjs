// models-index.mjs - writes models/index.json, the list of trained models the page and the package offer:
// for every models/*.fxm its dataset, bits per weight, size, the settings it was trained with (the file's
// metadata) and its test accuracy measured here by the native runtime on the whole test set.
// Usage: node tools/models-index.mjs [--no-eval]   (./build.sh native first; datasets from tools/fetch-data.mjs)
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, Model } from '../wasm/flexor.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'models');
const evaluate = !process.argv.includes('--no-eval');
await init();

const models = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith('.fxm')).sort()) {
  const bytes = readFileSync(join(dir, file));
  const m = Model.load(bytes, { maxBatch: 1, training: false });
  const meta = Object.fromEntries(m.metadata.split('\n').filter((l) => l.includes('=')).map((l) => l.split(/=(.*)/s).slice(0, 2)));
  const [c] = m.inputShape;
  const entry = {
    file, dataset: c === 1 ? 'mnist' : 'cifar10', model: meta.model ?? 'unknown', bytes: bytes.length,
    bitsPerWeight: Number(m.bitsPerWeight.toFixed(4)), flexorWeights: m.flexorWeights,
    settings: { nout: meta.nout, nin: meta.nin, stageNin: meta.stage_nin && meta.stage_nin !== '0,0,0' ? meta.stage_nin : undefined,
      ntap: meta.ntap, q: meta.q, mode: meta.mode, epochs: meta.epochs, seed: meta.seed },
  };
  m.dispose();
  if (evaluate) {
    const out = execFileSync(join(root, 'build/native/flexor'), ['eval', join(dir, file), '--threads', '2'], { encoding: 'utf8' });
    const hit = out.match(/test accuracy ([\d.]+)% \((\d+)\/(\d+)\)/);
    if (!hit) throw new Error(`models-index: cannot read the accuracy of ${file}: ${out}`);
    entry.testAccuracy = Number(hit[1]);
    entry.testImages = Number(hit[3]);
  }
  models.push(entry);
  console.log(`${file}: ${entry.dataset} ${entry.bitsPerWeight} bits/weight, ${entry.bytes} B${evaluate ? `, ${entry.testAccuracy} %` : ''}`);
}
const tmp = join(dir, `.index.json.tmp-${process.pid}`);
writeFileSync(tmp, JSON.stringify({ models }, null, 2) + '\n');
renameSync(tmp, join(dir, 'index.json'));
