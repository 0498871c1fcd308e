"""FXG1 golden-file container: read and write (see docs/CORE.md, "Golden files").

Little-endian layout:
    "FXG1"  uint32 count
    count x { uint32 name_len, name (UTF-8, no NUL), uint32 dtype, uint32 ndim, uint32 dims[ndim], data }
dtype: 0 = float32, 1 = int32, 2 = uint32. Scalars are tensors of shape [1].

Usage:
    from fxg import write_fxg, read_fxg
    write_fxg(path, {"a": np.zeros(3, np.float32)})
    tensors = read_fxg(path)        # dict name -> numpy array (insertion order = file order)
"""

import struct

import numpy as np

MAGIC = b"FXG1"
_DTYPES = {0: np.dtype("<f4"), 1: np.dtype("<i4"), 2: np.dtype("<u4")}
_CODES = {np.dtype(np.float32): 0, np.dtype(np.int32): 1, np.dtype(np.uint32): 2}


def _as_record(value):
    arr = np.asarray(value)
    if arr.dtype not in _CODES:
        raise TypeError(f"unsupported dtype {arr.dtype} (use float32, int32 or uint32)")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return arr


def encode_fxg(tensors):
    """Serialise a mapping name -> numpy array (float32 / int32 / uint32) to FXG1 bytes."""
    out = [MAGIC, struct.pack("<I", len(tensors))]
    for name, value in tensors.items():
        arr = _as_record(value)
        raw_name = name.encode("utf-8")
        out.append(struct.pack("<I", len(raw_name)))
        out.append(raw_name)
        out.append(struct.pack("<II", _CODES[arr.dtype], arr.ndim))
        out.append(struct.pack(f"<{arr.ndim}I", *arr.shape))
        out.append(np.ascontiguousarray(arr, dtype=_DTYPES[_CODES[arr.dtype]]).tobytes())
    return b"".join(out)


def decode_fxg(blob):
    """Parse FXG1 bytes into a dict name -> numpy array."""
    if blob[:4] != MAGIC:
        raise ValueError("not an FXG1 file")
    (count,) = struct.unpack_from("<I", blob, 4)
    pos = 8
    tensors = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<I", blob, pos)
        pos += 4
        name = blob[pos:pos + name_len].decode("utf-8")
        pos += name_len
        code, ndim = struct.unpack_from("<II", blob, pos)
        pos += 8
        dims = struct.unpack_from(f"<{ndim}I", blob, pos)
        pos += 4 * ndim
        dtype = _DTYPES[code]
        n = int(np.prod(dims, dtype=np.int64))
        arr = np.frombuffer(blob, dtype=dtype, count=n, offset=pos).reshape(dims).copy()
        pos += n * dtype.itemsize
        if name in tensors:
            raise ValueError(f"duplicate tensor name {name!r}")
        tensors[name] = arr
    if pos != len(blob):
        raise ValueError(f"{len(blob) - pos} trailing bytes")
    return tensors


def write_fxg(path, tensors):
    with open(path, "wb") as f:
        f.write(encode_fxg(tensors))


def read_fxg(path):
    with open(path, "rb") as f:
        return decode_fxg(f.read())


if __name__ == "__main__":
    import sys

    for p in sys.argv[1:]:
        print(p)
        for k, v in read_fxg(p).items():
            print(f"  {k:32s} {str(v.dtype):8s} {list(v.shape)}")
