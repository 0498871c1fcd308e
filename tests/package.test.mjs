// package.test.mjs - the npm package as a web developer gets it: `npm pack` the repository, install the tarball
// offline into an empty project, and run there the Node examples of docs/API.md (and any README.md block tagged
// `file=NAME`) verbatim: classify a CIFAR-10 image with a model from models/ (or, while models/ has none, a
// small ResNet-20 trained here by the native CLI), train a few MNIST steps, load and dispose 1,000 models with
// flat memory; the package's bin (`npx flexor inspect / info`); and `tsc --noEmit --strict` over the
// TypeScript example against the shipped declarations. Also checks what the tarball holds and what it does
// not (sources, tests, node_modules), and the package.json fields a consumer relies on.
// Needs: wasm/flexor.wasm (built here by ./build.sh wasm when stale), MNIST and CIFAR-10 (tools/fetch-data.mjs,
// fetched on first use), typescript (a dev dependency). Run: node --test tests/package.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { wasmStale } from './helpers.mjs';
import { ensureMnist, ensureCifar10, dataDir } from '../tools/fetch-data.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE = path.join(ROOT, 'build/native/flexor');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

let tmp;        // everything this file writes
let proj;       // the consumer project (package.json + node_modules/flexor-wasm)
let installed;  // proj/node_modules/flexor-wasm
let examples;   // name -> source, from docs/API.md (+ README.md)
let modelPath;  // a CIFAR-10 model file
let mnistDir;   // the folder of the MNIST IDX files
let cifarTest;  // test_batch.bin
let packList;   // `npm pack --dry-run --json` of the repository

/** Runs a program; fails with its output unless it exits with `status`. */
function run(cmd, args, { cwd = proj, status = 0, env } = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20, env: env ? { ...process.env, ...env } : process.env });
  if (r.error) throw r.error;
  assert.equal(r.status, status, `${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** npm with a private, empty cache and no registry access at all. */
const npm = (args, opts = {}) => run('npm', [...args, '--offline', '--no-audit', '--no-fund', `--cache=${path.join(tmp, 'npm-cache')}`],
  { ...opts, env: { npm_config_update_notifier: 'false', ...opts.env } });

/** Fenced blocks whose info string has `file=NAME`, e.g. ```js file=train-mnist.mjs. */
function extractExamples(markdown) {
  const out = new Map();
  const re = /^```[\w-]*[ \t]+file=([\w.-]+)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (const m of markdown.matchAll(re)) out.set(m[1], m[2]);
  return out;
}

/** The files to run for a docs/API.md example: it, and README.md's block of the same name if there is one. */
const variants = (name) => [name, `readme-${name}`].filter((n) => examples.has(n));

/** A CIFAR-10 model file from models/, or one trained now by the native CLI while models/ has none. */
async function cifarModel() {
  const dir = path.join(ROOT, 'models');
  const { init, Model } = await import('../wasm/flexor.js');
  await init();
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.fxm')).sort() : [];
  for (const n of names) {
    const m = Model.load(fs.readFileSync(path.join(dir, n)));
    const shape = m.inputShape.join('x');
    m.dispose();
    if (shape === '3x32x32') return { file: path.join(dir, n), name: n, shipped: true };
  }
  if (!fs.existsSync(NATIVE)) execFileSync(path.join(ROOT, 'build.sh'), ['native'], { cwd: ROOT, stdio: 'inherit' });
  const out = path.join(tmp, 'resnet20-0.8.fxm');
  console.log('# models/ has no CIFAR-10 model yet: training a small ResNet-20 with the native CLI for this test');
  execFileSync(NATIVE, ['train', 'cifar10', '--train-limit', '256', '--test-limit', '100', '--epochs', '1', '--batch', '32',
    '--bits', '0.8', '--out', out], { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'] });
  return { file: out, name: path.basename(out), shipped: false };
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flexor-package-test-'));
  if (wasmStale(ROOT)) execFileSync(path.join(ROOT, 'build.sh'), ['wasm'], { cwd: ROOT, stdio: 'inherit' });
  const data = dataDir();
  const mn = await ensureMnist(data);
  mnistDir = path.dirname(mn['train-images-idx3-ubyte']);
  cifarTest = (await ensureCifar10(data))['test_batch.bin'];
  const model = await cifarModel();

  packList = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT }).stdout)[0];
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: ROOT }).stdout)[0];
  const tarball = path.join(tmp, packed.filename);

  proj = path.join(tmp, 'consumer');
  fs.mkdirSync(proj);
  fs.writeFileSync(path.join(proj, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  npm(['install', tarball]);
  installed = path.join(proj, 'node_modules', 'flexor-wasm');

  // A shipped model is used from the installed package; a generated one is copied into the project.
  modelPath = model.shipped ? path.join(installed, 'models', model.name) : path.join(proj, model.name);
  if (!model.shipped) fs.copyFileSync(model.file, modelPath);

  examples = extractExamples(fs.readFileSync(path.join(ROOT, 'docs/API.md'), 'utf8'));
  const readme = path.join(ROOT, 'README.md');
  for (const [name, src] of extractExamples(fs.readFileSync(readme, 'utf8'))) examples.set(`readme-${name}`, src);
  for (const [name, src] of examples) fs.writeFileSync(path.join(proj, name), src);
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------
// What is packed
// ---------------------------------------------------------------------------------------------------------

test('npm pack ships the built wasm, the JS API, its types, the bin, the docs and LICENSE, and nothing else', () => {
  const files = packList.files.map((f) => f.path).sort();
  for (const want of ['package.json', 'README.md', 'LICENSE', 'wasm/flexor.wasm', 'wasm/flexor.js', 'wasm/api.js',
    'wasm/pool.js', 'wasm/pool-worker.js', 'wasm/index.d.ts', 'bin/flexor.mjs', 'tools/fetch-data.mjs', 'tools/png.mjs', 'docs/API.md', 'docs/CORE.md',
    'docs/FORMAT.md']) {
    assert.ok(files.includes(want), `${want} is in the tarball (it has: ${files.join(', ')})`);
  }
  const allowed = /^(package\.json|README\.md|LICENSE|wasm\/(flexor\.wasm|flexor\.js|api\.js|pool\.js|pool-worker\.js|index\.d\.ts)|bin\/flexor\.mjs|tools\/(fetch-data|png)\.mjs|docs\/[A-Z]+\.md|models\/[\w.-]+\.fxm)$/;
  assert.deepEqual(files.filter((f) => !allowed.test(f)), [], 'nothing unexpected is packed');
  for (const bad of ['src/', 'tests/', 'node_modules/', 'build/', 'web/', 'bench/', '.ci/', 'shared/'])
    assert.equal(files.filter((f) => f.startsWith(bad)).length, 0, `nothing from ${bad}`);
  const wasm = packList.files.find((f) => f.path === 'wasm/flexor.wasm');
  assert.equal(wasm.size, fs.statSync(path.join(ROOT, 'wasm/flexor.wasm')).size, 'the freshly built flexor.wasm');
  // Everything the bin imports at run time is in the tarball.
  for (const [file, src] of [['bin/flexor.mjs', 'bin'], ['tools/fetch-data.mjs', 'tools']]) {
    for (const m of fs.readFileSync(path.join(ROOT, file), 'utf8').matchAll(/^import .* from '(\.\.?\/[^']+)';$/gm)) {
      const dep = path.posix.normalize(path.posix.join(src, m[1]));
      assert.ok(files.includes(dep), `${file} imports ${dep}, which must be packed`);
    }
  }
});

test('package.json: ESM, exports map (types first), engines, MIT, semver, no dependencies, no install steps', () => {
  assert.equal(PKG.name, 'flexor-wasm');
  assert.match(PKG.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  assert.equal(PKG.license, 'MIT');
  assert.match(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
  assert.equal(PKG.type, 'module');
  assert.ok(PKG.engines?.node, 'engines.node');
  assert.equal(PKG.sideEffects, false);
  const dot = PKG.exports['.'];
  assert.deepEqual(Object.keys(dot), ['types', 'node', 'browser', 'default'], 'condition order of "."');
  assert.equal(dot.types, './wasm/index.d.ts');
  assert.equal(PKG.exports['./flexor.wasm'], './wasm/flexor.wasm');
  assert.deepEqual(PKG.bin, { flexor: 'bin/flexor.mjs' });
  assert.match(fs.readFileSync(path.join(ROOT, PKG.bin.flexor), 'utf8'), /^#!\/usr\/bin\/env node\n/);
  for (const k of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies', 'bundledDependencies'])
    assert.equal(Object.keys(PKG[k] ?? {}).length, 0, `no ${k}`);
  for (const s of ['preinstall', 'install', 'postinstall', 'prepare', 'prepack', 'postpack'])
    assert.equal(PKG.scripts?.[s], undefined, `no "${s}" script (consumers build or download nothing)`);
  // The browser field only matters if the entry imported Node built-ins statically; it must not.
  for (const f of ['wasm/api.js', 'wasm/flexor.js'])
    assert.doesNotMatch(fs.readFileSync(path.join(ROOT, f), 'utf8'), /^import .* from 'node:/m, `${f} imports no Node built-in statically`);
});

test('the tarball installs offline into an empty project, with nothing but itself', () => {
  const mods = fs.readdirSync(path.join(proj, 'node_modules')).filter((n) => !n.startsWith('.'));
  assert.deepEqual(mods, ['flexor-wasm']);
  assert.ok(fs.readFileSync(path.join(installed, 'wasm/flexor.wasm')).equals(fs.readFileSync(path.join(ROOT, 'wasm/flexor.wasm'))));
  assert.ok(fs.existsSync(path.join(proj, 'node_modules/.bin/flexor')), 'the bin is linked');
  const r = run(process.execPath, ['--input-type=module', '-e', `
    const api = await import('flexor-wasm');
    console.log(JSON.stringify({
      keys: Object.keys(api).sort(),
      wasm: import.meta.resolve('flexor-wasm/flexor.wasm'),
      main: import.meta.resolve('flexor-wasm'),
      pkg: (await import('flexor-wasm/package.json', { with: { type: 'json' } })).default.name,
    }));`]);
  const got = JSON.parse(r.stdout);
  for (const k of ['init', 'loadModel', 'classify', 'preprocess', 'train', 'bitDecisions', 'Model', 'Dataset', 'Trainer',
    'xorNetwork', 'memoryStats', 'version', 'FlexorError', 'Status', 'CIFAR10_CLASSES', 'NORMALIZATION'])
    assert.ok(got.keys.includes(k), `'flexor-wasm' exports ${k}`);
  assert.equal(fileURLToPath(got.main), path.join(installed, 'wasm/api.js'));
  assert.equal(fileURLToPath(got.wasm), path.join(installed, 'wasm/flexor.wasm'));
  assert.equal(got.pkg, 'flexor-wasm');
});

// ---------------------------------------------------------------------------------------------------------
// The documented examples, run in the consumer project
// ---------------------------------------------------------------------------------------------------------

test('docs/API.md has the examples this file runs', () => {
  for (const n of ['classify-cifar.mjs', 'train-mnist.mjs', 'memory.mjs', 'page.html', 'classify-worker.js', 'example.ts'])
    assert.ok(examples.has(n), `docs/API.md has a block tagged file=${n}`);
});

test('example classify-cifar.mjs: a CIFAR-10 test image through the installed package = the repository API', async () => {
  const index = 7;
  const outputs = variants('classify-cifar.mjs').map((f) => run(process.execPath, [f, modelPath, cifarTest, String(index)]).stdout);
  // Expected, computed with the repository's own API on the core's own preprocessing (Dataset#batch).
  const { init, Model, Dataset, CIFAR10_CLASSES } = await import('../wasm/api.js');
  await init();
  const m = Model.load(fs.readFileSync(modelPath));
  const ds = Dataset.fromCifar(fs.readFileSync(cifarTest));
  try {
    const { x, labels } = ds.batch(index, 1);
    const p = m.predict(x, 1);
    const order = [...p.keys()].sort((a, b) => p[b] - p[a] || a - b);
    const want = [`image ${index} (a ${CIFAR10_CLASSES[labels[0]]}): ${CIFAR10_CLASSES[order[0]]} ` +
      `${(100 * p[order[0]]).toFixed(1)} %`, ...order.slice(0, 3).map((i) => `  ${CIFAR10_CLASSES[i].padEnd(10)} ${p[i].toFixed(6)}`)];
    for (const out of outputs) assert.deepEqual(out.trim().split('\n'), want);
  } finally {
    ds.dispose();
    m.dispose();
  }
});

test('example train-mnist.mjs: a few MNIST steps, bit decisions, save; the same losses as the repository build', async () => {
  const steps = 4;
  const [out, ...others] = variants('train-mnist.mjs').map((f) => run(process.execPath, [f, mnistDir, String(steps)]).stdout);
  for (const o of others) assert.equal(o, out, 'README.md\'s train-mnist.mjs prints what docs/API.md\'s does');
  assert.match(out, /^LeNet-5: \d+ FleXOR weights at 0\.80 bits\/weight$/m);
  const losses = [...out.matchAll(/^step (\d+)\/(\d+) loss (\S+)$/gm)];
  assert.deepEqual(losses.map((m) => [Number(m[1]), Number(m[2])]), [[2, steps], [4, steps]]);
  assert.match(out, new RegExp(`^trained ${steps} steps$`, 'm'));
  assert.match(out, /^node 1: 40 slices, 16 stored bits -> 20 weight bits each; slice 0: encrypted [01]{16} decrypted [01]{20}$/m);
  const file = fs.readFileSync(path.join(proj, 'lenet5.fxm'));
  assert.match(out, new RegExp(`^saved lenet5.fxm \\(${file.length} bytes\\)$`, 'm'));

  // The same run with the repository's API gives the same losses, bits and file, byte for byte.
  const { init, Model, Dataset, train, bitDecisions } = await import('../wasm/api.js');
  await init();
  const full = Dataset.fromIdx(fs.readFileSync(path.join(mnistDir, 'train-images-idx3-ubyte')),
    fs.readFileSync(path.join(mnistDir, 'train-labels-idx1-ubyte')));
  const data = full.subset(1024);
  full.dispose();
  const model = Model.lenet5({ nOut: 20, nIn: 16, nTap: 2, maxBatch: 32 });
  try {
    const seen = [];
    await train(model, data, { optimizer: 'adam', lr: 1e-3, epochs: 1, batch: 32, sTanh: 100, maxSteps: steps, chunkSteps: 2,
      onProgress: (p) => seen.push(p.loss.toFixed(6)) });
    assert.deepEqual(losses.map((m) => m[3]), seen);
    const p0 = bitDecisions(model, 1).planes[0];
    assert.match(out, new RegExp(`encrypted ${p0.encrypted[0].toString(2).padStart(16, '0')} decrypted ` +
      `${p0.decrypted[0].toString(2).padStart(20, '0')}$`, 'm'));
    assert.ok(Buffer.from(model.save()).equals(file), 'the saved file is identical');
    const back = Model.load(file);
    assert.ok(Math.abs(back.bitsPerWeight - 0.8) < 1e-3);
    back.dispose();
  } finally {
    model.dispose();
    data.dispose();
  }
});

test('example memory.mjs: loading and disposing 1,000 models does not grow memory or leak', () => {
  for (const f of variants('memory.mjs')) {
    const r = run(process.execPath, [f, modelPath]);
    const { before: b, after: a } = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.equal(a.wasmBytes, b.wasmBytes, 'the wasm memory did not grow');
    assert.equal(a.liveModels, 0);
    assert.equal(a.ctxBytes, 0);
    assert.equal(a.jsBytes, b.jsBytes, 'no wrapper buffer is left behind');
    assert.equal(a.jsBlocks, b.jsBlocks);
    assert.equal(a.leakedBytes, 0);
    assert.equal(a.leakedBlocks, 0);
  }
});

test('the installed API: every model source, Error objects with clear messages, abort, dispose', async () => {
  const api = await import(pathToFileURL(path.join(installed, 'wasm/api.js')).href);
  const { loadModel, classify, train, bitDecisions, Model, Dataset, FlexorError, memoryStats } = api;
  const bytes = fs.readFileSync(modelPath);
  // Sources: a path, a file: URL, a Buffer, an ArrayBuffer, a Response, a Blob, a promise of one.
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  for (const src of [modelPath, pathToFileURL(modelPath), bytes, ab, new Response(bytes), new Blob([bytes]), Promise.resolve(bytes)]) {
    const m = await loadModel(src);
    assert.deepEqual(m.inputShape, [3, 32, 32]);
    m.dispose();
  }
  const flexorErr = async (p, code, re) => {
    await assert.rejects(p, (e) => e instanceof FlexorError && e instanceof Error && e.code === code && re.test(e.message));
  };
  const corrupt = Uint8Array.from(bytes);
  corrupt[200] ^= 0x10;
  await flexorErr(loadModel(corrupt), 'FX_EFORMAT', /^Model\.load: fx_model_load: checksum mismatch/);
  await flexorErr(loadModel(bytes.subarray(0, 100)), 'FX_EFORMAT', /Model\.load: .*(truncat|short|end)/i);
  await assert.rejects(loadModel(path.join(proj, 'missing.fxm')),
    (e) => e instanceof Error && /^loadModel: cannot read .*missing\.fxm \(ENOENT/.test(e.message));
  await assert.rejects(loadModel(new Response('nope', { status: 404 })), /loadModel: fetching .* gave HTTP 404/);
  await flexorErr(loadModel(42), 'FX_EINVAL', /^loadModel: source must be a Uint8Array/);

  const m = await loadModel(bytes);
  assert.throws(() => classify(m, new Uint8Array(10)), (e) => e.code === 'FX_ESHAPE' && /3072 values \(3x32x32, CHW\); got 10/.test(e.message));
  assert.throws(() => classify(m, { data: new Uint8Array(7), width: 2, height: 2 }), (e) => e.code === 'FX_ESHAPE' && /bytes per pixel/.test(e.message));
  assert.throws(() => classify(m, new Float32Array(3072), { topK: 0 }), (e) => e.code === 'FX_EINVAL' && /topK/.test(e.message));
  assert.throws(() => bitDecisions(m, 2), (e) => e.code === 'FX_EINVAL' && /node 2 \(bn\) is not a FleXOR layer; the FleXOR layers are 4, /.test(e.message));
  const bd = bitDecisions(m, 4);
  const W = m.weights(4);
  W.forEach((w, i) => assert.equal(w, bd.planes[0].alpha[Math.floor(i / bd.fanIn)] * bd.planes[0].signs[i]));
  m.dispose();
  assert.throws(() => classify(m, new Float32Array(3072)), (e) => e.code === 'FX_ESTATE' && /the model was disposed/.test(e.message));

  // train: abort at the next chunk boundary with signal.reason; the model keeps its steps; nothing leaks.
  const net = Model.lenet5({ maxBatch: 8 });
  const ds = Dataset.fromArrays(new Uint8Array(64 * 784), new Uint8Array(64), { c: 1, h: 28, w: 28 });
  const ctl = new AbortController();
  const seen = [];
  await assert.rejects(train(net, ds, { batch: 8, chunkSteps: 1, signal: ctl.signal,
    onProgress: (p) => { seen.push(p.steps); if (p.steps === 2) ctl.abort(); } }), { name: 'AbortError' });
  assert.deepEqual(seen, [1, 2]);
  assert.equal(net.steps, 2);
  await assert.rejects(train(net, ds, { lr: -1 }), (e) => e instanceof FlexorError && /lr/.test(e.message));
  ds.dispose();
  net.dispose();
  const st = memoryStats();
  assert.deepEqual([st.liveModels, st.liveDatasets, st.liveTrainers, st.leakedBytes, st.leakedBlocks], [0, 0, 0, 0, 0]);
});

// ---------------------------------------------------------------------------------------------------------
// The bin
// ---------------------------------------------------------------------------------------------------------

test('the bin: `npx flexor inspect` and `info` in the consumer project = the repository CLI', () => {
  const inspect = run('npx', ['--offline', '--no', 'flexor', 'inspect', modelPath]);
  const repo = run(process.execPath, [path.join(ROOT, 'bin/flexor.mjs'), 'inspect', modelPath], { cwd: ROOT });
  assert.equal(inspect.stdout, repo.stdout);
  assert.match(inspect.stdout, /\d+ FleXOR weights at [01]\.\d{4} bits\/weight/);
  const info = run('npx', ['--offline', '--no', 'flexor', 'info']);
  assert.match(info.stdout, /^flexor \d+\.\d+\.\d+, wasm build/);
  if (fs.existsSync(path.join(proj, 'lenet5.fxm'))) {
    const lenet = run('npx', ['--offline', '--no', 'flexor', 'inspect', 'lenet5.fxm']);
    assert.match(lenet.stdout, /^lenet5\.fxm: \d+ bytes, 10 nodes/);
  }
  const bad = run('npx', ['--offline', '--no', 'flexor', 'inspect', 'nope.fxm'], { status: 1 });
  assert.match(bad.stderr, /cannot open nope\.fxm/);
});

// ---------------------------------------------------------------------------------------------------------
// TypeScript
// ---------------------------------------------------------------------------------------------------------

/** tsc --noEmit over one file with a strict tsconfig of its own; returns the run (status `status`). */
function tsc(file, { module = 'nodenext', moduleResolution = 'nodenext', lib = ['es2022', 'dom'], status = 0 } = {}) {
  assert.ok(fs.existsSync(TSC), 'typescript is installed (npm ci)');
  const config = path.join(proj, `tsconfig.${path.basename(file, '.ts')}.${moduleResolution}.json`);
  fs.writeFileSync(config, JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', module, moduleResolution, lib, types: [], skipLibCheck: false,
      forceConsistentCasingInFileNames: true,
    },
    files: [file],
  }, null, 2));
  return run(process.execPath, [TSC, '-p', config], { status });
}

test('tsc --noEmit --strict: example.ts compiles against the shipped declarations (nodenext and bundler)', () => {
  tsc('example.ts');
  tsc('example.ts', { module: 'esnext', moduleResolution: 'bundler' });
});

test('tsc: the declarations need no DOM (a worker with lib webworker) and do catch misuse', () => {
  fs.writeFileSync(path.join(proj, 'worker-check.ts'), `
import { init, loadModel, classify, train, bitDecisions, Dataset, Model, type TrainResult } from 'flexor-wasm';
declare const self: DedicatedWorkerGlobalScope;
self.onmessage = async (ev: MessageEvent<{ url: string; image: ImageData }>) => {
  await init({ wasmUrl: '/flexor.wasm' });
  const m = await loadModel(ev.data.url);
  const r = classify(m, ev.data.image, { topK: 2, normalize: false });
  const ds = Dataset.fromArrays(new Uint8Array(784 * 4), [0, 1, 2, 3], { c: 1, h: 28, w: 28 });
  const net = Model.lenet5({ maxBatch: 4 });
  const t: TrainResult = await train(net, ds, { maxSteps: 1, onProgress: (p) => self.postMessage(p.loss) });
  self.postMessage({ r: r.index, t: t.steps, bits: bitDecisions(net, 1).planes[0].encrypted });
};
`);
  tsc('worker-check.ts', { lib: ['es2022', 'webworker'] });
  fs.writeFileSync(path.join(proj, 'misuse.ts'), `
import { classify, bitDecisions, Model } from 'flexor-wasm';
declare const m: Model;
classify(m, 42);
bitDecisions(m, '1');
const bad: string = m.classes;
`);
  const r = tsc('misuse.ts', { status: 2 });
  const errors = r.stdout.match(/error TS\d+/g) ?? [];
  assert.equal(errors.length, 3, `three type errors:\n${r.stdout}`);
});
