// export.test.mjs - `flexor export` turns a training checkpoint into the deployable inference file: the
// native and the Node/wasm CLI write the same bytes, and the exported file predicts exactly like the
// checkpoint it came from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureMnist } from '../tools/fetch-data.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const native = join(root, 'build/native/flexor');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 16 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('export: checkpoint -> inference file, same bytes from both builds, same predictions', async () => {
  await ensureMnist();
  const dir = mkdtempSync(join(tmpdir(), 'fx-export-'));
  try {
    const ckpt = join(dir, 'run.ckpt');
    run(native, ['train', 'mnist', '--train-limit', '640', '--test-limit', '200', '--batch', '64', '--epochs', '1',
      '--bits', '0.6', '--max-steps', '5', '--ckpt', ckpt, '--threads', '1']);
    run(native, ['export', ckpt, join(dir, 'a.fxm')]);
    run(process.execPath, ['bin/flexor.mjs', 'export', ckpt, join(dir, 'b.fxm')]);
    const a = readFileSync(join(dir, 'a.fxm')), b = readFileSync(join(dir, 'b.fxm'));
    assert.ok(a.length < readFileSync(ckpt).length / 10, 'the inference file keeps only sign bits');
    assert.ok(a.equals(b), 'native and wasm exports differ');
    run(native, ['eval', ckpt, '--limit', '200', '--preds', join(dir, 'p-ckpt')]);
    run(native, ['eval', join(dir, 'a.fxm'), '--limit', '200', '--preds', join(dir, 'p-export')]);
    assert.ok(readFileSync(join(dir, 'p-ckpt')).equals(readFileSync(join(dir, 'p-export'))),
      'predictions of the exported file differ from the checkpoint');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
