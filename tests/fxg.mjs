// fxg.mjs - a reader for the FXG1 golden-file container (docs/CORE.md "Golden files"):
// "FXG1", uint32 count, then count records of
//   uint32 name_len, name (UTF-8, no NUL), uint32 dtype (0 float32, 1 int32, 2 uint32), uint32 ndim,
//   uint32 dims[ndim], data (little-endian, packed, no alignment).
// parseFxg works on bytes anywhere (Node, browsers); readFxg reads a file in Node.

const DTYPES = [Float32Array, Int32Array, Uint32Array];

/**
 * Parses an FXG1 buffer.
 * @param {Uint8Array|ArrayBuffer} bytes
 * @returns {Map<string, {dtype: number, dims: number[], data: Float32Array|Int32Array|Uint32Array}>}
 *   the tensors by name, in file order; `data` is a fresh, aligned copy.
 */
export function parseFxg(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  let off = 0;
  const need = (n, what) => {
    if (off + n > u8.length) throw new Error(`fxg: truncated at byte ${off} reading ${what} (file has ${u8.length} bytes)`);
  };
  const u32 = (what) => { need(4, what); const v = dv.getUint32(off, true); off += 4; return v; };
  need(4, 'the magic');
  const magic = String.fromCharCode(u8[0], u8[1], u8[2], u8[3]);
  if (magic !== 'FXG1') throw new Error(`fxg: bad magic '${magic}' (expected 'FXG1')`);
  off = 4;
  const count = u32('the record count');
  const out = new Map();
  const dec = new TextDecoder();
  for (let r = 0; r < count; r++) {
    const nameLen = u32(`the name length of record ${r}`);
    need(nameLen, `the name of record ${r}`);
    const name = dec.decode(u8.subarray(off, off + nameLen));
    off += nameLen;
    const dtype = u32(`the dtype of ${name}`);
    if (dtype >= DTYPES.length) throw new Error(`fxg: ${name} has unknown dtype ${dtype}`);
    const ndim = u32(`the rank of ${name}`);
    const dims = [];
    for (let i = 0; i < ndim; i++) dims.push(u32(`dim ${i} of ${name}`));
    const n = dims.reduce((a, b) => a * b, 1);
    need(4 * n, `the ${n} values of ${name}`);
    const data = new DTYPES[dtype](n);
    for (let i = 0; i < n; i++) {
      const o = off + 4 * i;
      data[i] = dtype === 0 ? dv.getFloat32(o, true) : dtype === 1 ? dv.getInt32(o, true) : dv.getUint32(o, true);
    }
    off += 4 * n;
    out.set(name, { dtype, dims, data });
  }
  if (off !== u8.length) throw new Error(`fxg: ${u8.length - off} trailing bytes after ${count} records`);
  return out;
}

/**
 * Reads and parses an FXG1 file (Node only).
 * @param {string|URL} path
 */
export async function readFxg(path) {
  const { readFile } = await import('node:fs/promises');
  return parseFxg(await readFile(path));
}

/**
 * A tensor of a parsed file, throwing a clear error when it is missing.
 * @param {Map<string, {data: any}>} fxg
 * @param {string} name
 */
export function tensor(fxg, name) {
  const t = fxg.get(name);
  if (!t) throw new Error(`fxg: no tensor '${name}'`);
  return t.data;
}

/** The first value of a scalar (shape [1]) tensor. */
export function scalar(fxg, name) {
  return tensor(fxg, name)[0];
}

/** A uint64 seed stored as uint32[2] [lo, hi], as a BigInt. */
export function seed64(fxg, name) {
  const [lo, hi] = tensor(fxg, name);
  return (BigInt(hi) << 32n) | BigInt(lo);
}
