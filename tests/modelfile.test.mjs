// tests/modelfile.test.mjs — the model file format (docs/FORMAT.md) through tools/fxm.py, the Python
// reader/writer the exporters use (node --test tests/modelfile.test.mjs).
//
// Python writes small models (inference and checkpoint) and reads them back; this file checks the header and
// trailer bytes independently (DataView + its own CRC-32), then damages copies (one flipped byte, truncation,
// appended garbage, wrong magic, wrong version, wrong counts) and expects the reader to refuse each with the
// right reason. Damage that should get past the CRC is "re-sealed" (CRC recomputed) so that the structural
// check behind it is what fails. Needs Debian's /usr/bin/python3 with numpy; no torch, no datasets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PY = '/usr/bin/python3';
const HAVE_PY = fs.existsSync(PY) && spawnSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

// One Python helper, run as `python3 -c HELPER <command> ...`, that prints one JSON document.
const HELPER = String.raw`
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import fxm

def small_model():
    cfg = fxm.flexor_cfg(n_out=10, n_in=6, n_tap=2, q=2, seed=0xDEADBEEF12345678)
    nodes = [
        dict(kind="conv", in0=0, c_out=4, k=3, stride=1, pad=1, bias=1, cfg=cfg),      # 1
        dict(kind="bn", in0=1),                                                        # 2
        dict(kind="relu", in0=2),                                                      # 3
        dict(kind="conv", in0=3, c_out=4, k=3, stride=2, pad=1, bias=0, cfg=None),     # 4
        dict(kind="shortcut", in0=3, c_out=4, stride=2),                               # 5
        dict(kind="add", in0=4, in1=5),                                                # 6
        dict(kind="maxpool", in0=6, k=2, stride=1),                                    # 7
        dict(kind="gap", in0=7),                                                       # 8
        dict(kind="dense", in0=8, c_out=3, bias=1, cfg=fxm.flexor_cfg(7, 7, 0, 1, 3)), # 9
    ]
    return (2, 7, 5), nodes

def same(a, b):
    return a.shape == b.shape and bool(np.array_equal(a, b))

cmd = sys.argv[2]
if cmd == "write":
    path, kind = sys.argv[3], int(sys.argv[4])
    inp, nodes = small_model()
    specs = fxm.param_specs(inp, nodes)
    rng = np.random.default_rng(1)
    params = []
    for name, node, pk, n, trainable in specs:
        d = {"data": rng.standard_normal(n).astype(np.float32)}
        if pk == fxm.P_RVAR:
            d["data"] = np.abs(d["data"]) + 0.5
        if kind == 1 and trainable:
            d["s1"] = rng.standard_normal(n).astype(np.float32)
            d["s2"] = rng.random(n).astype(np.float32)
        params.append(d)
    extra = b"trainer state: epoch 3" if kind == 1 else b""
    blob = fxm.write(kind, inp, nodes, params, steps=4242, extra=extra)
    open(path, "wb").write(blob)
    m = fxm.read(blob)
    ok = fxm.write(**m) == blob and m["extra"] == extra and m["steps"] == (4242 if kind == 1 else 0)
    ok = ok and m["input"] == inp and len(m["nodes"]) == len(nodes) and len(m["params"]) == len(specs)
    for p, d in zip(m["params"], params):
        if p["enc"] == fxm.ENC_BITS:
            ok = ok and same(p["bits"], (d["data"] >= 0).astype(np.uint8))
            ok = ok and same(p["data"], np.where(d["data"] >= 0, 1, -1).astype(np.float32))
        else:
            ok = ok and same(p["data"], d["data"])
        if p["enc"] == fxm.ENC_F32_STATE:
            ok = ok and same(p["s1"], d["s1"]) and same(p["s2"], d["s2"])
    encs = [p["enc"] for p in m["params"]]
    print(json.dumps({"roundtrip": bool(ok), "size": len(blob),
                      "size_formula": fxm.file_size(kind, inp, nodes, len(extra)),
                      "nodes": len(nodes) + 1, "params": len(specs), "encodings": encs,
                      "shapes": [list(n["shape"]) for n in m["nodes"]]}))
elif cmd == "read":
    out = []
    for path in sys.argv[3:]:
        try:
            fxm.read(open(path, "rb").read())
            out.append({"ok": True})
        except fxm.FxmError as e:
            out.append({"ok": False, "status": e.status, "message": str(e)})
    print(json.dumps(out))
elif cmd == "zoo":
    c04 = fxm.flexor_cfg(20, 8, 2, 1, 1)
    r20q = fxm.resnet_cifar_nodes(20, [c04] * 3)
    r20 = fxm.resnet_cifar_nodes(20)
    r32 = fxm.resnet_cifar_nodes(32)
    print(json.dumps({
        "r20_nodes": len(r20q) + 1, "r20q_params": len(fxm.param_specs(fxm.CIFAR_INPUT, r20q)),
        "r20_params": len(fxm.param_specs(fxm.CIFAR_INPUT, r20)),
        "r20q_size": fxm.file_size(0, fxm.CIFAR_INPUT, r20q), "r20_size": fxm.file_size(0, fxm.CIFAR_INPUT, r20),
        "r32_nodes": len(r32) + 1, "r32_size": fxm.file_size(0, fxm.CIFAR_INPUT, r32),
        "lenet_size": fxm.file_size(0, fxm.MNIST_INPUT, fxm.lenet5_nodes()),
        "adds": [[n["in0"], n["in1"]] for n in r20 if n["kind"] == fxm.N_ADD][:4],
    }))
`;

function py(...args) {
  const r = spawnSync(PY, ['-c', HELPER, path.join(ROOT, 'tools'), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `python helper failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Recomputes the CRC of a (damaged) file so that the reader gets past the checksum.
function reseal(buf) {
  const b = Buffer.from(buf);
  b.writeUInt32LE(crc32(b.subarray(0, b.length - 8)), b.length - 8);
  return b;
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexor-modelfile-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const SKIP = { skip: !HAVE_PY && 'needs /usr/bin/python3 with numpy' };

test('fxm.py writes and reads back both file kinds; header, trailer and CRC are as specified', SKIP, (t) => {
  const dir = tempDir(t);
  for (const kind of [0, 1]) {
    const file = path.join(dir, `m${kind}.fxm`);
    const r = py('write', file, String(kind));
    assert.ok(r.roundtrip, 'read(write(model)) reproduces every value and write(read(blob)) the same bytes');
    const b = fs.readFileSync(file);
    assert.equal(b.length, r.size);
    assert.equal(r.size, r.size_formula, 'file_size() predicts the size');
    assert.equal(b.length % 4, 0, 'every section is padded to 4 bytes');
    assert.equal(b.toString('latin1', 0, 4), 'FXOR');
    assert.equal(b.readUInt32LE(4), 1, 'version');
    assert.equal(b.readUInt32LE(8), kind, 'file kind');
    assert.equal(b.readUInt32LE(12), 10, 'node count includes the input node');
    assert.equal(b.readUInt32LE(16), r.params);
    assert.deepEqual([b.readUInt32LE(20), b.readUInt32LE(24), b.readUInt32LE(28)], [2, 7, 5], 'input c, h, w');
    // node 1: conv, in0 0, in1 -1, c_out 4, k 3, stride 1, pad 1, bias 1, flexor 1,
    //         q 2, n_out 10, n_in 6, n_tap 2, reserved 0, seed lo, seed hi
    const n1 = Array.from({ length: 16 }, (_, i) => b.readInt32LE(32 + 4 * i));
    assert.deepEqual(n1.slice(0, 14), [1, 0, -1, 4, 3, 1, 1, 1, 1, 2, 10, 6, 2, 0]);
    assert.equal(((BigInt(n1[15] >>> 0) << 32n) | BigInt(n1[14] >>> 0)).toString(16), 'deadbeef12345678');
    // the first parameter record follows the 9 node records: node 1, kind lat (2), encoding by file kind
    const p0 = 32 + 9 * 64;
    assert.deepEqual([b.readUInt32LE(p0), b.readUInt32LE(p0 + 4), b.readUInt32LE(p0 + 8), b.readUInt32LE(p0 + 12)],
      [1, 2, kind === 0 ? 1 : 2, 0]);
    // conv 2->4 k3: n = 72 weights, 8 slices of 10 (tail 8), 6 latent bits each, q 2 -> 96 values
    assert.equal(Number(b.readBigUInt64LE(p0 + 16)), 96);
    // conv1 lat alpha b | bn gamma beta rmean rvar | conv4 w | dense lat alpha b
    assert.deepEqual(r.encodings, kind === 0 ? [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
      : [2, 2, 2, 2, 2, 0, 0, 2, 2, 2, 2]);
    assert.deepEqual(r.shapes, [[4, 7, 5], [4, 7, 5], [4, 7, 5], [4, 4, 3], [4, 4, 3], [4, 4, 3], [4, 3, 2],
      [4, 1, 1], [3, 1, 1]]);
    assert.equal(b.toString('latin1', b.length - 4), 'ROXF');
    assert.equal(b.readUInt32LE(b.length - 8), crc32(b.subarray(0, b.length - 8)), 'CRC-32 of all bytes before it');
  }
});

test('fxm.py refuses damaged files with the reason', SKIP, (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'good.fxm');
  py('write', file, '1');
  const good = fs.readFileSync(file);
  const edit = (fn) => { const b = Buffer.from(good); fn(b); return b; }; // a damaged copy
  const sealed = (fn) => reseal(edit(fn)); // ... with a valid CRC again
  const tail = good.subarray(good.length - 8); // CRC + "ROXF"
  const NODE5 = 32 + 4 * 64; // the record of node 5 (the shortcut)
  const cases = {
    good: [good, null],
    flipped_byte: [edit((b) => { b[700] ^= 0x10; }), /checksum mismatch/],
    flipped_crc: [edit((b) => { b[b.length - 8] ^= 1; }), /checksum mismatch/],
    truncated: [good.subarray(0, good.length - 1), /does not end with "ROXF"/],
    truncated_half: [good.subarray(0, good.length >> 1), /does not end with "ROXF"/],
    truncated_resealed: [reseal(Buffer.concat([good.subarray(0, 900), tail])), /truncated inside parameter 1\.lat/],
    tiny: [good.subarray(0, 40), /truncated: 40 bytes/],
    garbage: [Buffer.concat([good, Buffer.from('garbage!')]), /does not end with "ROXF"/],
    garbage_resealed: [reseal(Buffer.concat([good.subarray(0, good.length - 8), Buffer.alloc(4), tail])),
      /trailing garbage/],
    wrong_magic: [edit((b) => b.write('FXOS', 0, 'latin1')), /wrong magic/],
    wrong_version: [sealed((b) => b.writeUInt32LE(2, 4)), /version 2/],
    wrong_kind: [sealed((b) => b.writeUInt32LE(7, 8)), /unknown file kind 7/],
    wrong_param_count: [sealed((b) => b.writeUInt32LE(12, 16)), /lists 12 parameters/],
    wrong_node_count: [sealed((b) => b.writeUInt32LE(1000, 12)), /1000 nodes/],
    as_inference: [sealed((b) => b.writeUInt32LE(0, 8)), /encoding 2, expected 1/],
    bad_node_input: [sealed((b) => b.writeInt32LE(9, 32 + 4)), /node 1 reads node 9/],
    // the shortcut (node 5) widened to 6 channels: the add (node 6) no longer fits
    bad_node_shape: [sealed((b) => b.writeInt32LE(6, NODE5 + 12)), /node 6 .*cannot add/],
    odd_shortcut: [sealed((b) => b.writeInt32LE(5, NODE5 + 12)), /node 5 .*even/],
    reserved_field: [sealed((b) => b.writeInt32LE(1, 32 + 13 * 4)), /reserved/],
    // the first value of parameter 0 (a checkpoint stores it as float32)
    nan_value: [sealed((b) => b.writeFloatLE(NaN, 32 + 9 * 64 + 24)), /is nan/i],
  };
  const names = Object.keys(cases);
  for (const name of names) fs.writeFileSync(path.join(dir, `${name}.fxm`), cases[name][0]);
  const res = py('read', ...names.map((n) => path.join(dir, `${n}.fxm`)));
  names.forEach((name, i) => {
    const want = cases[name][1];
    if (!want) {
      assert.ok(res[i].ok, `${name}: ${res[i].message}`);
      return;
    }
    assert.equal(res[i].ok, false, `${name} must be refused`);
    assert.match(res[i].message, want, `${name}: ${res[i].message}`);
    if (process.env.FXM_TEST_VERBOSE) console.log(`${name}: ${res[i].message}`);
  });
  assert.equal(res[names.indexOf('wrong_version')].status, 'EVERSION');
  assert.equal(res[names.indexOf('nan_value')].status, 'ENUMERIC');
  assert.equal(res[names.indexOf('flipped_byte')].status, 'EFORMAT');
});

test('fxm.py CIFAR ResNet node lists and the sizes docs/FORMAT.md gives', SKIP, () => {
  const z = py('zoo');
  assert.equal(z.r20_nodes, 71);
  assert.equal(z.r20q_params, 115);
  assert.equal(z.r20_params, 97);
  assert.equal(z.r20q_size, 38708, 'ResNet-20, 0.4 bit (q 1, n_out 20, n_in 8) inference file');
  assert.equal(z.r20_size, 1091252, 'ResNet-20 full precision inference file');
  assert.equal(z.r32_nodes, 113);
  assert.equal(z.r32_size, 1876692);
  assert.equal(z.lenet_size, 6654300);
  assert.deepEqual(z.adds, [[8, 3], [15, 10], [22, 17], [29, 30]], 'residual adds: (bn2, block input or shortcut)');
});
