"""Read and write gradscope checkpoints (safetensors files) from Python without extra packages.

    import gs_checkpoint
    tensors, metadata = gs_checkpoint.load("runs/train-.../checkpoint.safetensors")   # numpy arrays
    model_state = gs_checkpoint.model_state(tensors)        # drops the "optimizer." entries
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in model_state.items()})
    gs_checkpoint.save("weights.safetensors", {k: v.numpy() for k, v in torch_model.state_dict().items()})

Needs numpy for tensors (Debian: python3-numpy). The format: u64 little-endian header length N,
N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the raw
little-endian bytes; gradscope adds "gradscope.crc32.<name>" metadata, verified here when present.
"""
import json
import struct
import zlib

_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U8": "u1"}
_CRC_PREFIX = "gradscope.crc32."
_OPTIMIZER_PREFIX = "optimizer."


def load(path):
    """Returns ({name: numpy array}, {metadata key: value}) in file order, CRC32s checked."""
    import numpy as np

    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} exceeds the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    body = data[8 + n:]
    tensors = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if e["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {e['dtype']}")
        begin, end = e["data_offsets"]
        raw = body[begin:end]
        crc = meta.get(_CRC_PREFIX + name)
        if crc is not None and int(crc, 16) != zlib.crc32(raw):
            raise ValueError(f"{path}: tensor {name}: CRC32 mismatch")
        tensors[name] = np.frombuffer(raw, dtype=_DTYPES[e["dtype"]]).reshape(e["shape"]).copy()
    meta = {k: v for k, v in meta.items() if not k.startswith(_CRC_PREFIX)}
    return tensors, meta


def model_state(tensors):
    """The model's entries of a checkpoint (everything but the optimizer state)."""
    return {k: v for k, v in tensors.items() if not k.startswith(_OPTIMIZER_PREFIX)}


def save(path, tensors, metadata=None):
    """Writes {name: numpy array} (f32, f64, i64, u8) as safetensors, with gradscope's CRC32s."""
    import numpy as np

    names = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64", np.dtype("u1"): "U8"}
    meta = dict(metadata or {})
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        if a.dtype not in names:
            raise ValueError(f"tensor {name}: unsupported dtype {a.dtype}")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        meta[_CRC_PREFIX + name] = f"{zlib.crc32(raw):08x}"
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps({"__metadata__": meta, **header}).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
