// package-bundler.test.mjs - the packed npm package works through a bundler: an app that imports
// 'flexor-wasm' is bundled by esbuild (npm devDependency; browser platform, the package's "browser" export),
// flexor.wasm is placed next to the bundle (where flexor.js looks by default), and the bundle runs in
// headless Chromium with exactly the results the same app gives in Node from the installed package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { wasmStale } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const APP = `import { init, Model } from 'flexor-wasm';
await init();
const m = Model.lenet5({ seed: 3, maxBatch: 2, training: false });
const x = new Float32Array(2 * 784);
for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 255) / 255 - 0.5;
globalThis.result = Array.from(m.predict(x, 2));
m.dispose();
`;
let dir, server, browser;

before(() => {
  if (wasmStale(ROOT)) execFileSync(path.join(ROOT, 'build.sh'), ['wasm'], { cwd: ROOT, stdio: 'inherit' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fx-bundle-'));
  execFileSync('npm', ['pack', '--pack-destination', dir], { cwd: ROOT, stdio: 'ignore' });
  const tgz = fs.readdirSync(dir).find((f) => f.endsWith('.tgz'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"app","version":"1.0.0","private":true}\n');
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', `./${tgz}`], { cwd: dir, stdio: 'ignore' });
  fs.writeFileSync(path.join(dir, 'app.mjs'), APP);
});

after(async () => {
  await browser?.close();
  server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('esbuild bundle of an app importing flexor-wasm runs in Chromium like in Node', async () => {
  const esbuild = path.join(ROOT, 'node_modules/.bin/esbuild');
  assert.ok(fs.existsSync(esbuild), 'esbuild missing: run npm ci (it is a devDependency)');
  execFileSync(esbuild, ['app.mjs', '--bundle', '--format=esm', '--platform=browser', '--outfile=dist/app.js', '--log-level=warning'],
    { cwd: dir, stdio: 'pipe' });
  fs.copyFileSync(path.join(dir, 'node_modules/flexor-wasm/wasm/flexor.wasm'), path.join(dir, 'dist/flexor.wasm'));
  fs.writeFileSync(path.join(dir, 'dist/index.html'), '<!doctype html><title>bundle</title><script type="module" src="app.js"></script>\n');

  // Node: the same app against the installed package
  await import(pathToFileURL(path.join(dir, 'app.mjs')).href);
  const inNode = globalThis.result;
  assert.equal(inNode.length, 20);

  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  server = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') { res.writeHead(204); res.end(); return; }
    const f = path.join(dir, 'dist', path.basename(new URL(req.url, 'http://x').pathname) || 'index.html');
    if (!fs.existsSync(f)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': types[path.extname(f)] ?? 'application/octet-stream' });
    res.end(fs.readFileSync(f));
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${server.address().port}/index.html`;
  assert.ok(fs.existsSync(CHROMIUM), `Chromium missing at ${CHROMIUM}: apt-get install -y chromium`);
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'] });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => Array.isArray(globalThis.result), null, { timeout: 30000 });
  const inBrowser = await page.evaluate(() => globalThis.result);
  assert.deepEqual(errors, []);
  assert.deepEqual(inBrowser, inNode, 'the bundled app computes something else in the browser');
});
