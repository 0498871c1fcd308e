// tools/png.mjs — minimal, dependency-free PNG codec for the dataset tools (Node 20 ESM).
//
// decodePng(buf) reads non-interlaced 8-bit truecolour PNGs (colour type 2 = RGB, 6 = RGBA): it
// checks the signature, every chunk's CRC and length, inflates the IDAT stream with node:zlib and
// undoes all five scanline filters (None, Sub, Up, Average, Paeth). Anything else (interlaced,
// palette/grey, 1/2/4/16-bit) is rejected with a PngError that says why.
//
// encodePng(width, height, pixels, {filter, channels}) writes the same subset back (default: RGB,
// filter 0 on every row), e.g. for the image sprite that tools/fetch-data.mjs bundles for the web
// page. It uses node:zlib, so it runs in Node only.

import zlib from 'node:zlib';

export class PngError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PngError';
  }
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CHANNELS_BY_COLOR_TYPE = { 2: 3, 6: 4 };
const COLOR_TYPE_BY_CHANNELS = { 3: 2, 4: 6 };
const MAX_PIXEL_BYTES = 1 << 30; // refuse absurd headers before allocating

// ---------------------------------------------------------------------------------------------
// CRC-32 (zlib.crc32 exists from Node 20.15; keep a table fallback for older 20.x).

let crcTable = null;
function crc32Fallback(bytes) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function crc32(bytes) {
  return typeof zlib.crc32 === 'function' ? zlib.crc32(bytes) >>> 0 : crc32Fallback(bytes);
}

// ---------------------------------------------------------------------------------------------
// Decoding

const hex32 = (n) => '0x' + (n >>> 0).toString(16).padStart(8, '0');

/** Split a PNG into its chunks, checking lengths and CRCs. Returns [{type, data}]. */
export function readChunks(buf) {
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) {
    throw new PngError('not a PNG file (bad signature)');
  }
  const chunks = [];
  let off = 8;
  while (off < buf.length) {
    if (off + 8 > buf.length) throw new PngError(`truncated chunk header at offset ${off}`);
    const length = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const end = off + 12 + length;
    if (length > 0x7fffffff || end > buf.length) {
      throw new PngError(`truncated chunk ${type} at offset ${off}: needs ${length} data bytes, ` +
        `file ends ${buf.length - off - 8} bytes later`);
    }
    const stored = buf.readUInt32BE(off + 8 + length);
    const computed = crc32(buf.subarray(off + 4, off + 8 + length));
    if (stored !== computed) {
      throw new PngError(`chunk ${type} at offset ${off}: CRC mismatch ` +
        `(stored ${hex32(stored)}, computed ${hex32(computed)})`);
    }
    chunks.push({ type, data: buf.subarray(off + 8, off + 8 + length) });
    off = end;
    if (type === 'IEND') return chunks;
  }
  throw new PngError('truncated PNG: no IEND chunk');
}

function parseHeader(chunk) {
  if (!chunk || chunk.type !== 'IHDR' || chunk.data.length !== 13) {
    throw new PngError('first chunk must be a 13-byte IHDR');
  }
  const d = chunk.data;
  const h = {
    width: d.readUInt32BE(0), height: d.readUInt32BE(4), bitDepth: d[8], colorType: d[9],
    compression: d[10], filterMethod: d[11], interlace: d[12],
  };
  if (h.width === 0 || h.height === 0) throw new PngError(`bad size ${h.width}x${h.height}`);
  if (h.interlace !== 0) throw new PngError('interlaced (Adam7) PNGs are not supported');
  if (h.bitDepth !== 8) throw new PngError(`bit depth ${h.bitDepth} not supported (only 8)`);
  if (!(h.colorType in CHANNELS_BY_COLOR_TYPE)) {
    throw new PngError(`colour type ${h.colorType} not supported (only 2 = RGB, 6 = RGBA)`);
  }
  if (h.compression !== 0 || h.filterMethod !== 0) {
    throw new PngError(`unknown compression/filter method ${h.compression}/${h.filterMethod}`);
  }
  h.channels = CHANNELS_BY_COLOR_TYPE[h.colorType];
  if (h.width * h.height * h.channels > MAX_PIXEL_BYTES) {
    throw new PngError(`image too large (${h.width}x${h.height})`);
  }
  return h;
}

/** Concatenate the IDAT chunks; reject unknown critical chunks. */
function collectIdat(chunks) {
  const idat = [];
  for (const { type } of chunks.slice(1)) {
    const critical = type.charCodeAt(0) < 0x61; // upper-case first letter
    if (critical && !['IDAT', 'IEND', 'PLTE'].includes(type)) {
      throw new PngError(`unsupported critical chunk ${type}`);
    }
  }
  for (const c of chunks) if (c.type === 'IDAT') idat.push(c.data);
  if (idat.length === 0) throw new PngError('no IDAT chunk');
  return Buffer.concat(idat);
}

function inflate(data, expected) {
  let raw;
  try {
    raw = zlib.inflateSync(data);
  } catch (e) {
    throw new PngError(`corrupt IDAT zlib stream: ${e.message}`);
  }
  if (raw.length !== expected) {
    throw new PngError(`image data has ${raw.length} bytes, expected ${expected} (truncated?)`);
  }
  return raw;
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/**
 * Undo one scanline's filter: out[outOff..+stride) = reconstruct(src[srcOff..+stride)).
 * prevOff < 0 means "no previous row" (all zeros). bpp = bytes per pixel.
 */
function unfilterRow(type, src, srcOff, out, outOff, prevOff, stride, bpp) {
  const up = (i) => (prevOff < 0 ? 0 : out[prevOff + i]);
  switch (type) {
    case 0:
      out.set(src.subarray(srcOff, srcOff + stride), outOff);
      return;
    case 1:
      for (let i = 0; i < stride; i++) {
        out[outOff + i] = src[srcOff + i] + (i >= bpp ? out[outOff + i - bpp] : 0);
      }
      return;
    case 2:
      for (let i = 0; i < stride; i++) out[outOff + i] = src[srcOff + i] + up(i);
      return;
    case 3:
      for (let i = 0; i < stride; i++) {
        const left = i >= bpp ? out[outOff + i - bpp] : 0;
        out[outOff + i] = src[srcOff + i] + ((left + up(i)) >> 1);
      }
      return;
    case 4:
      for (let i = 0; i < stride; i++) {
        const left = i >= bpp ? out[outOff + i - bpp] : 0;
        const upLeft = i >= bpp ? up(i - bpp) : 0;
        out[outOff + i] = src[srcOff + i] + paeth(left, up(i), upLeft);
      }
      return;
    default:
      throw new PngError(`bad filter type ${type}`);
  }
}

/** Reverse the per-row filters of inflated data. Returns the packed pixel bytes. */
function unfilter(raw, width, height, bpp) {
  const stride = width * bpp;
  const out = Buffer.alloc(stride * height); // Buffer (Uint8Array) wraps sums mod 256
  for (let y = 0; y < height; y++) {
    const srcOff = y * (stride + 1);
    const type = raw[srcOff];
    if (type > 4) throw new PngError(`bad filter type ${type} on row ${y}`);
    unfilterRow(type, raw, srcOff + 1, out, y * stride, y === 0 ? -1 : (y - 1) * stride, stride, bpp);
  }
  return out;
}

/**
 * Decode a PNG buffer. Returns {width, height, channels (3|4), data: Buffer of width*height*channels
 * bytes, rows top to bottom, pixels interleaved R,G,B[,A]}. Throws PngError on anything unsupported
 * or damaged.
 */
export function decodePng(buf) {
  if (!Buffer.isBuffer(buf)) buf = Buffer.from(buf.buffer ?? buf, buf.byteOffset ?? 0, buf.byteLength);
  const chunks = readChunks(buf);
  const h = parseHeader(chunks[0]);
  const raw = inflate(collectIdat(chunks), h.height * (1 + h.width * h.channels));
  const data = unfilter(raw, h.width, h.height, h.channels);
  return { width: h.width, height: h.height, channels: h.channels, data };
}

// ---------------------------------------------------------------------------------------------
// Encoding

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Apply filter `type` to one row (cur/prev are Uint8Arrays of `stride` bytes; prev may be null). */
export function filterRow(type, cur, prev, bpp) {
  const out = Buffer.alloc(cur.length + 1);
  out[0] = type;
  for (let i = 0; i < cur.length; i++) {
    const left = i >= bpp ? cur[i - bpp] : 0;
    const up = prev ? prev[i] : 0;
    const upLeft = prev && i >= bpp ? prev[i - bpp] : 0;
    const pred = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][type];
    out[i + 1] = (cur[i] - pred) & 0xff;
  }
  return out;
}

/**
 * Encode packed 8-bit pixels as a PNG. opts.channels: 3 (RGB, default) or 4 (RGBA);
 * opts.filter: 0..4 applied to every row (default 0); opts.level: zlib level (default 9);
 * opts.idatSize: split the zlib stream into IDAT chunks of this many bytes (default: one chunk).
 */
export function encodePng(width, height, pixels, opts = {}) {
  const { channels = 3, filter = 0, level = 9, idatSize = Infinity } = opts;
  const colorType = COLOR_TYPE_BY_CHANNELS[channels];
  if (colorType === undefined) throw new PngError(`channels must be 3 or 4, got ${channels}`);
  if (!(filter >= 0 && filter <= 4)) throw new PngError(`filter must be 0..4, got ${filter}`);
  const stride = width * channels;
  if (!(width > 0 && height > 0) || pixels.length !== stride * height) {
    throw new PngError(`encodePng: need ${width}x${height}x${channels} bytes, got ${pixels.length}`);
  }
  const rows = [];
  for (let y = 0; y < height; y++) {
    const cur = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : null;
    rows.push(filterRow(filter, cur, prev, channels));
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, colorType, 0, 0, 0], 8);
  const z = zlib.deflateSync(Buffer.concat(rows), { level });
  const idat = [];
  for (let o = 0; o < z.length; o += Math.min(idatSize, z.length)) {
    idat.push(chunk('IDAT', z.subarray(o, Math.min(z.length, o + idatSize))));
  }
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), ...idat, chunk('IEND', Buffer.alloc(0))]);
}
