"""Pure-Python (numpy) reader and writer of the FleXOR model file format (docs/FORMAT.md).

The C implementation is src/io/modelfile.c (fx_model_save / fx_model_load); this module mirrors it byte for
byte, so files written here load in the C runtime and files written by the C runtime read here. The reader
makes the same checks as fx_model_load: size, magic, version, header ranges, end magic, CRC-32, every node
record (re-checked against the graph rules of src/model.c), the parameter list the graph implies (count,
order, kinds, lengths, encodings), finite floats, the step count and the exact length of the extra blob (so
truncation and trailing garbage are errors).

    import fxm
    m = fxm.read(open("model.fxm", "rb").read())
    # m = {"kind": 0|1, "input": (c, h, w), "nodes": [...], "params": [...], "steps": int, "extra": bytes}
    blob = fxm.write(**m)                       # byte-identical for files written by the C runtime

    nodes = fxm.resnet_cifar_nodes(20, [fxm.flexor_cfg(20, 8, 2, 1, seed=1)] * 3)   # what src/zoo.c builds
    specs = fxm.param_specs(fxm.CIFAR_INPUT, nodes)   # [(name, node, kind, len, trainable), ...] in file order

Nodes are dicts for node ids 1..n-1 (node 0, the input, is implied by the header):
    kind ("conv", "dense", "bn", "relu", "maxpool", "gap", "shortcut", "add" or the FX_NODE_* number),
    in0, in1 (-1 unless "add"), c_out, k, stride, pad, bias, cfg (None, or dict q, n_out, n_in, n_tap, seed).
read() returns them with kind as a number plus "id", "flexor" and "shape" (c, h, w of the output).
Parameters are dicts: name ("<node>.<kind>"), node, kind, enc, len, data (float32; +-1 for sign bits),
bits (uint8 0/1, sign-bit encoding only), s1, s2 (optimiser state, checkpoint encoding only).
write() also takes plain numpy arrays, or a mapping name -> array/dict, for params.

Run `python3 tools/fxm.py FILE...` to print a summary of model files.
"""

import struct
import sys
import zlib

import numpy as np

MAGIC = b"FXOR"
END = b"ROXF"
VERSION = 1
HEADER = 32
NODE = 64
PARAM_HDR = 24
MAX_NODES = 400
MAX_PARAMS = 1024
MAX_Q = 4
MAX_NOUT = 32

KIND_INFERENCE, KIND_CHECKPOINT = 0, 1

# fx_node_kind (src/flexor.h)
N_INPUT, N_CONV, N_DENSE, N_BN, N_RELU, N_MAXPOOL, N_GAP, N_SHORTCUT, N_ADD = range(9)
NODE_KINDS = {"input": 0, "conv": 1, "dense": 2, "bn": 3, "relu": 4, "maxpool": 5, "gap": 6, "shortcut": 7, "add": 8}
NODE_NAMES = {v: k for k, v in NODE_KINDS.items()}

# fx_param_kind (src/flexor.h)
P_W, P_B, P_LAT, P_ALPHA, P_GAMMA, P_BETA, P_RMEAN, P_RVAR = range(8)
PARAM_NAMES = ["w", "b", "lat", "alpha", "gamma", "beta", "rmean", "rvar"]

# parameter encodings
ENC_F32, ENC_BITS, ENC_F32_STATE = 0, 1, 2
ENC_NAMES = {0: "f32", 1: "bits", 2: "f32+state"}

CIFAR_INPUT = (3, 32, 32)
MNIST_INPUT = (1, 28, 28)


class FxmError(ValueError):
    """A malformed file or model. status names the fx_status the C reader gives (EFORMAT, EVERSION, ENUMERIC)."""

    def __init__(self, msg, status="EFORMAT"):
        super().__init__(msg)
        self.status = status


def crc32(data):
    """CRC-32 (IEEE 802.3, zlib's crc32) of bytes."""
    return zlib.crc32(data) & 0xFFFFFFFF


def pad4(n):
    return (n + 3) & ~3


def flexor_cfg(n_out, n_in, n_tap, q=1, seed=0):
    """A FleXOR configuration dict (fx_flexor_cfg). q = 0 means 'full precision' to resnet_cifar_nodes."""
    return {"n_out": int(n_out), "n_in": int(n_in), "n_tap": int(n_tap), "q": int(q), "seed": int(seed) & (2**64 - 1)}


# ----------------------------------------------------------------------------------------------------------
# The graph rules of src/model.c: output shapes and the parameter list, with the builders' checks
# ----------------------------------------------------------------------------------------------------------
def _kind_number(kind):
    if isinstance(kind, str):
        if kind not in NODE_KINDS:
            raise FxmError(f"unknown node kind {kind!r}")
        return NODE_KINDS[kind]
    return int(kind)


def normalise_node(node):
    """The 16 int32 fields exactly as fx_model_save writes them for this node (unused fields zero, in1 = -1
    except for add). Accepts the dicts of read() and the helpers, and the kind names."""
    kind = _kind_number(node["kind"])
    cfg = node.get("cfg")
    if cfg is not None and node.get("flexor", 1) == 0:
        cfg = None
    g = lambda key, default=0: int(node.get(key, default))  # noqa: E731
    f = dict(kind=kind, in0=g("in0"), in1=-1, c_out=0, k=0, stride=0, pad=0, bias=0, flexor=0, cfg=None)
    if kind == N_CONV:
        f.update(c_out=g("c_out"), k=g("k"), stride=g("stride", 1), pad=g("pad"), bias=int(g("bias") != 0))
    elif kind == N_DENSE:
        f.update(c_out=g("c_out"), bias=int(g("bias", 1) != 0))
    elif kind == N_MAXPOOL:
        f.update(k=g("k"), stride=g("stride"))
    elif kind == N_SHORTCUT:
        f.update(c_out=g("c_out"), stride=g("stride"))
    elif kind == N_ADD:
        f.update(in1=g("in1"))
    if kind in (N_CONV, N_DENSE) and cfg is not None:
        f.update(flexor=1, cfg={k: int(cfg[k]) for k in ("q", "n_out", "n_in", "n_tap", "seed")})
    return f


def node_fields(node):
    """The 16 int32 values of a node record (docs/FORMAT.md, "Node records")."""
    f = normalise_node(node)
    c = f["cfg"]
    seed = (c["seed"] & (2**64 - 1)) if c else 0
    return [f["kind"], f["in0"], f["in1"], f["c_out"], f["k"], f["stride"], f["pad"], f["bias"], f["flexor"],
            c["q"] if c else 0, c["n_out"] if c else 0, c["n_in"] if c else 0, c["n_tap"] if c else 0, 0,
            _s32(seed & 0xFFFFFFFF), _s32(seed >> 32)]


def _s32(u):
    u &= 0xFFFFFFFF
    return u - (1 << 32) if u >= (1 << 31) else u


def flexor_geom(cfg, c_out, c_in, k):
    """(fan_in, n, n_slices, n_lat) of a FleXOR weight, with fx_flexor_geom_init's checks. k = 0: dense."""
    q, n_out, n_in, n_tap = cfg["q"], cfg["n_out"], cfg["n_in"], cfg["n_tap"]
    if c_out <= 0 or c_in <= 0:
        raise FxmError(f"FleXOR weight {c_out} x {c_in}: sizes must be > 0")
    if k < 0:
        raise FxmError(f"k must be >= 0 (0 = dense), got {k}")
    if not 1 <= q <= MAX_Q:
        raise FxmError(f"q (bit planes) must be in 1..{MAX_Q} (got {q})")
    fan = c_in * (k * k if k else 1)
    if fan > 0x7FFFFFFF or fan * c_out > (1 << 40):
        raise FxmError(f"weight tensor {c_out} x {fan} is too large")
    if not 1 <= n_out <= MAX_NOUT:
        raise FxmError(f"n_out must be in 1..{MAX_NOUT} (got {n_out})")
    if not 1 <= n_in <= n_out:
        raise FxmError(f"n_in must be in 1..n_out={n_out} (got n_in={n_in})")
    if not 0 <= n_tap <= n_in:
        raise FxmError(f"n_tap must be in 0..n_in={n_in} (got n_tap={n_tap})")
    n = fan * c_out
    n_slices = -(-n // n_out)
    return fan, n, n_slices, n_slices * n_in


def analyse(input, nodes):
    """Checks a graph as fx_model_load's builders do and returns (shapes, specs): shapes[id] = (c, h, w) for
    ids 0..n-1, specs = [(name, node, kind, len, trainable)] in file order. Raises FxmError."""
    c0, h0, w0 = (int(v) for v in input)
    if not (1 <= c0 <= 64 and 1 <= h0 <= 4096 and 1 <= w0 <= 4096):
        raise FxmError(f"absurd input shape {c0}x{h0}x{w0}")
    if not 2 <= len(nodes) + 1 <= MAX_NODES:
        raise FxmError(f"{len(nodes) + 1} nodes ({2}..{MAX_NODES} allowed)")
    shapes = [(c0, h0, w0)]
    specs = []

    def add(node_id, kind, length, trainable=1):
        specs.append((f"{node_id}.{PARAM_NAMES[kind]}", node_id, kind, int(length), trainable))

    for nid, node in enumerate(nodes, start=1):
        f = normalise_node(node)
        raw_flexor = int(node.get("flexor", 1 if node.get("cfg") is not None else 0))
        kind, in0 = f["kind"], f["in0"]
        where = f"node {nid}"
        if not 0 <= in0 < nid:
            raise FxmError(f"node {nid} reads node {in0}, which does not come before it")
        if raw_flexor not in (0, 1):
            raise FxmError(f"{where}: flexor flag {raw_flexor} is not 0 or 1")
        c, h, w = shapes[in0]
        try:
            if kind in (N_CONV, N_DENSE):
                # the plausibility check of fx_model_load, on the raw fields (dense ignores k, stride, pad)
                raw = [int(node.get(key, dflt)) for key, dflt in
                       (("c_out", 0), ("k", 0), ("stride", 1 if kind == N_CONV else 0), ("bias", int(kind == N_DENSE)))]
                if raw[0] > 65536 or raw[1] > 15 or raw[2] > 16 or raw[3] not in (0, 1):
                    raise FxmError(f"absurd layer (c_out {raw[0]}, k {raw[1]}, stride {raw[2]}, bias {raw[3]})")
                c_out, k, stride, pad = f["c_out"], f["k"], f["stride"], f["pad"]
                if kind == N_CONV:
                    if c_out <= 0 or k <= 0 or stride <= 0:
                        raise FxmError(f"conv c_out, k and stride must be > 0 (got {c_out}, {k}, {stride})")
                    if not 0 <= pad < k:
                        raise FxmError(f"pad must be in 0..k-1={k - 1} (got {pad})")
                    if h + 2 * pad < k or w + 2 * pad < k:
                        raise FxmError(f"a {k}x{k} kernel does not fit a {h}x{w} input with pad {pad}")
                    out = (c_out, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
                    c_in, kk, fan = c, k, c * k * k
                else:
                    if c_out <= 0:
                        raise FxmError(f"dense out must be > 0 (got {c_out})")
                    out = (c_out, 1, 1)
                    c_in, kk, fan = c * h * w, 0, c * h * w
                if len(specs) + 4 > MAX_PARAMS:
                    raise FxmError("too many parameters")
                if f["flexor"]:
                    _, _, _, n_lat = flexor_geom(f["cfg"], c_out, c_in, kk)
                    add(nid, P_LAT, n_lat * f["cfg"]["q"])
                    add(nid, P_ALPHA, f["cfg"]["q"] * c_out)
                else:
                    add(nid, P_W, fan * c_out)
                if f["bias"]:
                    add(nid, P_B, c_out)
            elif kind == N_BN:
                if len(specs) + 4 > MAX_PARAMS:
                    raise FxmError("too many parameters")
                out = (c, h, w)
                for pk, tr in ((P_GAMMA, 1), (P_BETA, 1), (P_RMEAN, 0), (P_RVAR, 0)):
                    add(nid, pk, c, tr)
            elif kind == N_RELU:
                out = (c, h, w)
            elif kind == N_MAXPOOL:
                k, s = f["k"], f["stride"]
                if k <= 0 or s <= 0:
                    raise FxmError(f"maxpool k and stride must be > 0 (got {k}, {s})")
                if h < k or w < k:
                    raise FxmError(f"window {k} does not fit the {h}x{w} input")
                out = (c, (h - k) // s + 1, (w - k) // s + 1)
            elif kind == N_GAP:
                out = (c, 1, 1)
            elif kind == N_SHORTCUT:
                c_out, s = f["c_out"], f["stride"]
                if s <= 0:
                    raise FxmError(f"shortcut stride must be > 0 (got {s})")
                if c_out < c or (c_out - c) % 2:
                    raise FxmError(f"c_out - c_in must be even and >= 0 (c_in {c}, c_out {c_out})")
                out = (c_out, -(-h // s), -(-w // s))
            elif kind == N_ADD:
                in1 = f["in1"]
                if not 0 <= in1 < nid:
                    raise FxmError(f"node {nid} adds node {in1}, which does not come before it")
                if shapes[in1] != (c, h, w):
                    raise FxmError(f"cannot add {c}x{h}x{w} (node {in0}) and "
                                   f"{'x'.join(map(str, shapes[in1]))} (node {in1})")
                out = (c, h, w)
            else:
                raise FxmError(f"node {nid} has unknown kind {kind}")
        except FxmError as e:
            msg = str(e)
            if not msg.startswith("node "):
                msg = f"node {nid} is inconsistent: {msg}"
            raise FxmError(msg) from None
        shapes.append(out)
    return shapes, specs


def param_specs(input, nodes):
    """[(name, node, kind, len, trainable)] in the order fx_model_* creates (and files store) parameters."""
    return analyse(input, nodes)[1]


def expected_encoding(file_kind, param_kind, trainable):
    if file_kind == KIND_INFERENCE:
        return ENC_BITS if param_kind == P_LAT else ENC_F32
    return ENC_F32_STATE if trainable else ENC_F32


def param_bytes(enc, length):
    """Payload bytes of one parameter before padding to 4."""
    if enc == ENC_BITS:
        return (length + 7) // 8
    return length * 4 * (3 if enc == ENC_F32_STATE else 1)


def file_size(kind, input, nodes, extra_len=0):
    """The exact byte size of a file of this graph (no parameter values needed)."""
    specs = param_specs(input, nodes)
    size = HEADER + NODE * len(nodes)
    for _name, _node, pk, length, tr in specs:
        size += PARAM_HDR + pad4(param_bytes(expected_encoding(kind, pk, tr), length))
    return size + 8 + 4 + pad4(extra_len) + 8


# ----------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------
def read(buf):
    """Parses and validates a model file; returns dict(kind, input, nodes, params, steps, extra)."""
    buf = bytes(buf)
    n = len(buf)
    if n < HEADER + 20:
        raise FxmError(f"truncated: {n} bytes is shorter than any model file")
    if buf[:4] != MAGIC:
        raise FxmError(f"wrong magic {buf[:4].hex(' ')}: not a FleXOR model file (expected \"FXOR\")")
    ver, kind, nn, np_, c, h, w = struct.unpack_from("<7I", buf, 4)
    if ver != VERSION:
        raise FxmError(f"file format version {ver}; this reader reads version {VERSION}", "EVERSION")
    if kind > 1:
        raise FxmError(f"unknown file kind {kind} (0 inference, 1 checkpoint)")
    if not 2 <= nn <= MAX_NODES:
        raise FxmError(f"{nn} nodes (2..{MAX_NODES} allowed)")
    if np_ > MAX_PARAMS:
        raise FxmError(f"{np_} parameters (at most {MAX_PARAMS})")
    if not (1 <= c <= 64 and 1 <= h <= 4096 and 1 <= w <= 4096):
        raise FxmError(f"absurd input shape {c}x{h}x{w}")
    if buf[-4:] != END:
        raise FxmError("truncated or trailing garbage: the file does not end with \"ROXF\"")
    (stored,) = struct.unpack_from("<I", buf, n - 8)
    want = crc32(buf[:n - 8])
    if stored != want:
        raise FxmError(f"checksum mismatch (stored {stored:08x}, computed {want:08x}): the file is corrupt")
    body = n - 8
    off = HEADER + (nn - 1) * NODE
    if off > body:
        raise FxmError("truncated inside the node records")
    nodes = []
    for nid in range(1, nn):
        v = struct.unpack_from("<16i", buf, HEADER + (nid - 1) * NODE)
        if v[13] != 0:
            raise FxmError(f"node {nid}: reserved field is {v[13]}, not 0")
        node = {"id": nid, "kind": v[0], "in0": v[1], "in1": v[2], "c_out": v[3], "k": v[4], "stride": v[5],
                "pad": v[6], "bias": v[7], "flexor": v[8], "cfg": None}
        if v[8] == 1:
            node["cfg"] = {"q": v[9], "n_out": v[10], "n_in": v[11], "n_tap": v[12],
                           "seed": (v[14] & 0xFFFFFFFF) | (v[15] & 0xFFFFFFFF) << 32}
        nodes.append(node)
        analyse((c, h, w), nodes)  # node by node, so the first bad node is the one reported
    shapes, specs = analyse((c, h, w), nodes)
    for node in nodes:
        node["shape"] = shapes[node["id"]]
    if len(specs) != np_:
        raise FxmError(f"the file lists {np_} parameters, its graph has {len(specs)}")
    params = []
    for i, (name, node_id, pk, length, trainable) in enumerate(specs):
        if off + PARAM_HDR > body:
            raise FxmError(f"truncated at parameter {i} ({name})")
        node, kind_, enc, reserved, count = struct.unpack_from("<4IQ", buf, off)
        if reserved:
            raise FxmError(f"parameter {i} ({name}): reserved field is not 0")
        if node != node_id or kind_ != pk or count != length:
            raise FxmError(f"parameter {i} is node {node} kind {kind_} with {count} values; the graph expects "
                           f"{name} with {length}")
        want_enc = expected_encoding(kind, pk, trainable)
        if enc != want_enc:
            raise FxmError(f"parameter {name} has encoding {enc}, expected {want_enc}")
        off += PARAM_HDR
        nb = param_bytes(enc, length)
        if nb > body - off or pad4(nb) > body - off:
            raise FxmError(f"truncated inside parameter {name}")
        p = {"name": name, "node": node_id, "kind": pk, "enc": enc, "len": length, "trainable": trainable}
        if enc == ENC_BITS:
            bits = np.unpackbits(np.frombuffer(buf, np.uint8, nb, off), bitorder="little")[:length]
            p["bits"] = bits
            p["data"] = np.where(bits == 1, np.float32(1), np.float32(-1)).astype(np.float32)
        else:
            data = np.frombuffer(buf, "<f4", length, off).astype(np.float32)
            bad = np.flatnonzero(~np.isfinite(data))
            if bad.size:
                raise FxmError(f"parameter {name}[{bad[0]}] is {data[bad[0]]}", "ENUMERIC")
            p["data"] = data
            if enc == ENC_F32_STATE:
                p["s1"] = np.frombuffer(buf, "<f4", length, off + 4 * length).astype(np.float32)
                p["s2"] = np.frombuffer(buf, "<f4", length, off + 8 * length).astype(np.float32)
        params.append(p)
        off += pad4(nb)
    if off + 12 > body:
        raise FxmError("truncated before the step count")
    steps, xl = struct.unpack_from("<QI", buf, off)
    off += 12
    if xl > body - off or pad4(xl) != body - off:
        raise FxmError(f"the extra block claims {xl} bytes but {body - off} remain before the trailer "
                       "(truncated or trailing garbage)")
    if steps > (1 << 40):
        raise FxmError(f"absurd step count {steps}")
    return {"kind": kind, "input": (c, h, w), "nodes": nodes, "params": params, "steps": steps,
            "extra": buf[off:off + xl]}


# ----------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------
def _param_values(params, specs):
    if isinstance(params, dict):
        missing = [s[0] for s in specs if s[0] not in params]
        if missing:
            raise FxmError(f"no values for parameters {', '.join(missing)}")
        extra = sorted(set(params) - {s[0] for s in specs})
        if extra:
            raise FxmError(f"values for parameters the graph does not have: {', '.join(extra)}")
        return [params[s[0]] for s in specs]
    params = list(params)
    if len(params) != len(specs):
        raise FxmError(f"{len(params)} parameter values for a graph of {len(specs)} parameters")
    return params


def write(kind, input, nodes, params, steps=0, extra=b""):
    """Serialises a model to bytes, exactly as fx_model_save would. kind: 0 inference (FleXOR latent values
    as sign bits), 1 checkpoint (floats; trainable params carry s1/s2, zeros when absent). params: a list
    in param_specs order, or a mapping name -> value; a value is an array or a dict with data (and bits,
    s1, s2). Accepts the dict of read() as keywords: write(**read(blob))."""
    kind = int(kind)
    if kind not in (KIND_INFERENCE, KIND_CHECKPOINT):
        raise FxmError(f"unknown kind {kind}")
    extra = bytes(extra)
    if len(extra) > 0xFFFFFFFF:
        raise FxmError("extra blob too large")
    steps = int(steps) if kind == KIND_CHECKPOINT else 0
    if not 0 <= steps <= (1 << 40):
        raise FxmError(f"absurd step count {steps}")
    shapes, specs = analyse(input, nodes)
    values = _param_values(params, specs)
    out = bytearray(MAGIC)
    out += struct.pack("<7I", VERSION, kind, len(nodes) + 1, len(specs), *shapes[0])
    for node in nodes:
        out += struct.pack("<16i", *node_fields(node))
    for (name, node_id, pk, length, trainable), v in zip(specs, values):
        enc = expected_encoding(kind, pk, trainable)
        d = v if isinstance(v, dict) else {"data": v}
        data = d.get("data")
        if data is None and d.get("bits") is not None:
            data = np.where(np.asarray(d["bits"]).reshape(-1) != 0, 1.0, -1.0)
        data = np.asarray(data, dtype=np.float32).reshape(-1)
        if data.size != length:
            raise FxmError(f"parameter {name}: {data.size} values, the graph expects {length}")
        out += struct.pack("<4IQ", node_id, pk, enc, 0, length)
        if enc == ENC_BITS:
            bits = d.get("bits")
            bits = (data >= 0) if bits is None else (np.asarray(bits).reshape(-1) != 0)
            if bits.size != length:
                raise FxmError(f"parameter {name}: {bits.size} bits, the graph expects {length}")
            payload = np.packbits(bits.astype(np.uint8), bitorder="little").tobytes()
        else:
            bad = np.flatnonzero(~np.isfinite(data))
            if bad.size:
                raise FxmError(f"parameter {name}[{bad[0]}] is {data[bad[0]]}", "ENUMERIC")
            payload = data.astype("<f4").tobytes()
            if enc == ENC_F32_STATE:
                for key in ("s1", "s2"):
                    s = d.get(key)
                    s = np.zeros(length, np.float32) if s is None else np.asarray(s, np.float32).reshape(-1)
                    if s.size != length:
                        raise FxmError(f"parameter {name}: {key} has {s.size} values, expected {length}")
                    payload += s.astype("<f4").tobytes()
        out += payload + bytes(pad4(len(payload)) - len(payload))
    out += struct.pack("<QI", steps, len(extra)) + extra + bytes(pad4(len(extra)) - len(extra))
    out += struct.pack("<I", crc32(bytes(out))) + END
    return bytes(out)


# ----------------------------------------------------------------------------------------------------------
# The zoo of src/zoo.c as node lists
# ----------------------------------------------------------------------------------------------------------
def resnet_cifar_nodes(depth, stage=None):
    """The node list fx_model_resnet_cifar(depth, stage) builds (ids 1..n-1; input CIFAR_INPUT). stage: None
    (all full precision) or three FleXOR cfgs (dicts, or None / q == 0 for a full-precision stage); every 3x3
    conv of stage s uses stage[s] unchanged (the same seed), as src/zoo.c does. Each node has a "name" that
    follows the PyTorch naming of akamaster/pytorch_resnet_cifar10 (conv1, bn1, layer1.0.conv1, ..., linear);
    names are not stored in files."""
    if depth < 8 or (depth - 2) % 6:
        raise FxmError(f"depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
    nb = (depth - 2) // 6
    nodes = []

    def add(name, kind, in0, **kw):
        nodes.append(dict(name=name, kind=NODE_KINDS[kind], in0=in0, **kw))
        return len(nodes)  # the new node's id

    x = add("conv1", "conv", 0, c_out=16, k=3, stride=1, pad=1, bias=0, cfg=None)
    x = add("bn1", "bn", x)
    x = add("relu", "relu", x)
    c = 16
    for st in range(3):
        cfg = stage[st] if stage is not None and stage[st] is not None and stage[st]["q"] > 0 else None
        planes = 16 << st
        for b in range(nb):
            pre = f"layer{st + 1}.{b}"
            stride = 2 if st > 0 and b == 0 else 1
            a = add(pre + ".conv1", "conv", x, c_out=planes, k=3, stride=stride, pad=1, bias=0, cfg=cfg)
            a = add(pre + ".bn1", "bn", a)
            a = add(pre + ".relu1", "relu", a)
            a = add(pre + ".conv2", "conv", a, c_out=planes, k=3, stride=1, pad=1, bias=0, cfg=cfg)
            a = add(pre + ".bn2", "bn", a)
            s = x
            if stride != 1 or c != planes:
                s = add(pre + ".shortcut", "shortcut", x, c_out=planes, stride=stride)
            a = add(pre + ".add", "add", a, in1=s)
            x = add(pre + ".relu2", "relu", a)
            c = planes
    x = add("gap", "gap", x)
    add("linear", "dense", x, c_out=10, bias=1, cfg=None)
    return nodes


def lenet5_nodes(fx=None):
    """The node list fx_model_lenet5(fx) builds (input MNIST_INPUT); fx: None or four cfgs/None."""
    fx = fx or [None] * 4
    return [
        dict(name="conv1", kind=N_CONV, in0=0, c_out=32, k=5, stride=1, pad=2, bias=1, cfg=fx[0]),
        dict(name="relu1", kind=N_RELU, in0=1),
        dict(name="pool1", kind=N_MAXPOOL, in0=2, k=2, stride=2),
        dict(name="conv2", kind=N_CONV, in0=3, c_out=64, k=5, stride=1, pad=2, bias=1, cfg=fx[1]),
        dict(name="relu2", kind=N_RELU, in0=4),
        dict(name="pool2", kind=N_MAXPOOL, in0=5, k=2, stride=2),
        dict(name="fc1", kind=N_DENSE, in0=6, c_out=512, bias=1, cfg=fx[2]),
        dict(name="relu3", kind=N_RELU, in0=7),
        dict(name="fc2", kind=N_DENSE, in0=8, c_out=10, bias=1, cfg=fx[3]),
    ]


# ----------------------------------------------------------------------------------------------------------
# Command line: summaries
# ----------------------------------------------------------------------------------------------------------
def summary(m, size=None):
    lines = []
    kind = "inference" if m["kind"] == 0 else "checkpoint"
    lines.append(f"{kind} file, input {'x'.join(map(str, m['input']))}, {len(m['nodes']) + 1} nodes, "
                 f"{len(m['params'])} params, steps {m['steps']}, extra {len(m['extra'])} bytes"
                 + (f", {size} bytes" if size is not None else ""))
    for n in m["nodes"]:
        desc = f"  {n['id']:3d} {NODE_NAMES.get(n['kind'], '?'):8s} in {n['in0']}"
        if n["kind"] == N_ADD:
            desc += f"+{n['in1']}"
        if n["kind"] == N_CONV:
            desc += f" c_out {n['c_out']} k {n['k']} s {n['stride']} p {n['pad']} bias {n['bias']}"
        elif n["kind"] == N_DENSE:
            desc += f" out {n['c_out']} bias {n['bias']}"
        elif n["kind"] in (N_MAXPOOL, N_SHORTCUT):
            desc += f" c_out {n['c_out']} k {n['k']} s {n['stride']}"
        if n["cfg"]:
            c = n["cfg"]
            desc += f" FleXOR q {c['q']} n_out {c['n_out']} n_in {c['n_in']} n_tap {c['n_tap']} seed {c['seed']}"
        desc += f" -> {'x'.join(map(str, n['shape']))}"
        lines.append(desc)
    stored = {}
    for p in m["params"]:
        stored[ENC_NAMES[p["enc"]]] = stored.get(ENC_NAMES[p["enc"]], 0) + p["len"]
    lines.append("  values by encoding: " + ", ".join(f"{k} {v}" for k, v in stored.items()))
    return "\n".join(lines)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python3 tools/fxm.py FILE...   (validates and summarises FleXOR model files)")
        return 0 if argv else 2
    rc = 0
    for path in argv:
        with open(path, "rb") as f:
            blob = f.read()
        try:
            m = read(blob)
        except FxmError as e:
            print(f"{path}: {e.status}: {e}")
            rc = 1
            continue
        print(f"{path}: " + summary(m, len(blob)))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
