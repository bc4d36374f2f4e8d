"""Read and write the engine's weights.bin format (documented in src/core/weights.h; keep the two in step).

    write_weights(path, family, config: dict[str, float], tensors: dict[str, np.ndarray | bytes], dtype=0)
    family, dtype, config, tensors = read_weights(path)

Tensors: float32 arrays are stored as f32, uint8 arrays or bytes as u8, int64 arrays as i64. bf16 is
written from float32 arrays passed as ("bf16", array). The file is written to a temporary name and
renamed.
"""
import os
import struct
import zlib

import numpy as np

MAGIC = b"RRNKWTS\n"
VERSION = 1
FAMILY = {"none": 0, "mamba": 1, "transformer": 2}
DT_F32, DT_BF16, DT_U8, DT_I64 = 0, 1, 2, 3


def _as_blob(value):
    """-> (dtype code, shape, raw bytes)."""
    if isinstance(value, (bytes, bytearray)):
        return DT_U8, (len(value),), bytes(value)
    if isinstance(value, tuple) and value[0] == "bf16":
        a = np.ascontiguousarray(value[1], dtype=np.float32)
        bits = a.view(np.uint32)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
        return DT_BF16, a.shape, rounded.tobytes()
    a = np.ascontiguousarray(value)
    if a.dtype == np.float32:
        return DT_F32, a.shape, a.tobytes()
    if a.dtype == np.uint8:
        return DT_U8, a.shape, a.tobytes()
    if a.dtype == np.int64:
        return DT_I64, a.shape, a.tobytes()
    raise TypeError(f"unsupported dtype {a.dtype}")


def write_weights(path, family, config, tensors, dtype=DT_F32):
    blobs = [(name,) + _as_blob(v) for name, v in tensors.items()]
    head = bytearray(32)
    for key, value in config.items():
        k = key.encode()
        assert len(k) < 32, key
        head += k + b"\0" * (32 - len(k)) + struct.pack("<d", float(value))
    table_size = sum(2 + len(n.encode()) + 2 + 8 * len(s) + 20 for n, _, s, _ in blobs)
    header_size = len(head) + table_size
    off = (header_size + 4 + 63) // 64 * 64
    offsets = []
    for name, dt, shape, raw in blobs:
        nb = name.encode()
        head += struct.pack("<H", len(nb)) + nb + struct.pack("<BB", dt, len(shape))
        head += b"".join(struct.pack("<q", s) for s in shape)
        head += struct.pack("<QQI", off, len(raw), zlib.crc32(raw))
        offsets.append(off)
        off = (off + len(raw) + 63) // 64 * 64
    assert len(head) == header_size
    fam = FAMILY[family] if isinstance(family, str) else family
    head[0:32] = MAGIC + struct.pack("<6I", VERSION, header_size, fam, dtype, len(config), len(blobs))
    head += struct.pack("<I", zlib.crc32(bytes(head)))
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(head)
        pos = len(head)
        for (name, dt, shape, raw), o in zip(blobs, offsets):
            f.write(b"\0" * (o - pos))
            f.write(raw)
            pos = o + len(raw)
    os.replace(tmp, path)


def read_weights(path):
    data = open(path, "rb").read()
    assert data[:8] == MAGIC, f"{path}: bad magic"
    version, header_size, family, dtype, n_config, n_tensors = struct.unpack_from("<6I", data, 8)
    assert version == VERSION
    assert zlib.crc32(data[:header_size]) == struct.unpack_from("<I", data, header_size)[0]
    p = 32
    config = {}
    for _ in range(n_config):
        key = data[p:p + 32].split(b"\0")[0].decode()
        config[key] = struct.unpack_from("<d", data, p + 32)[0]
        p += 40
    tensors = {}
    for _ in range(n_tensors):
        (n,) = struct.unpack_from("<H", data, p)
        name = data[p + 2:p + 2 + n].decode()
        p += 2 + n
        dt, nd = struct.unpack_from("<BB", data, p)
        p += 2
        shape = struct.unpack_from(f"<{nd}q", data, p)
        p += 8 * nd
        off, nbytes, crc = struct.unpack_from("<QQI", data, p)
        p += 20
        raw = data[off:off + nbytes]
        assert zlib.crc32(raw) == crc, name
        if dt == DT_F32:
            tensors[name] = np.frombuffer(raw, dtype=np.float32).reshape(shape)
        elif dt == DT_BF16:
            tensors[name] = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(shape)
        elif dt == DT_U8:
            tensors[name] = raw
        else:
            tensors[name] = np.frombuffer(raw, dtype=np.int64).reshape(shape)
    return family, dtype, config, tensors
