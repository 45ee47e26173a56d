"""Tensors between wire forms and numpy, protocol-free: KServe v2 datatypes, raw little-endian
contents (BYTES as Triton lays them out: each element prefixed with its 4-byte little-endian
length), and text <-> ids with a model's own tokenizer."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from server.errors import InvalidInput

# KServe v2 datatype -> numpy dtype (BYTES: object array of bytes).
NUMPY: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
DATATYPES = tuple(NUMPY)
# numpy dtype -> KServe v2 datatype (BYTES aside), and the little-endian dtype of the wire.
_DATATYPE_OF = {dtype: name for name, dtype in NUMPY.items() if name != "BYTES"}
_WIRE = {name: dtype.newbyteorder("<") for name, dtype in NUMPY.items() if name != "BYTES"}

# Triton config DataType enum names (model_config.proto) <-> KServe v2 datatypes.
CONFIG_TO_DATATYPE = {
    "TYPE_BOOL": "BOOL",
    "TYPE_UINT8": "UINT8",
    "TYPE_UINT16": "UINT16",
    "TYPE_UINT32": "UINT32",
    "TYPE_UINT64": "UINT64",
    "TYPE_INT8": "INT8",
    "TYPE_INT16": "INT16",
    "TYPE_INT32": "INT32",
    "TYPE_INT64": "INT64",
    "TYPE_FP16": "FP16",
    "TYPE_FP32": "FP32",
    "TYPE_FP64": "FP64",
    "TYPE_STRING": "BYTES",
    "TYPE_BF16": "BF16",
}
DATATYPE_TO_CONFIG = {v: k for k, v in CONFIG_TO_DATATYPE.items()}

# onnxruntime type strings -> KServe v2 datatypes.
ONNX_TO_DATATYPE = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def datatype_of(array: np.ndarray) -> str:
    dtype = array.dtype
    if dtype.kind in "OSU":
        return "BYTES"
    name = _DATATYPE_OF.get(dtype)
    if name is None:
        raise TypeError(f"no KServe v2 datatype for numpy dtype {array.dtype}")
    return name


# No model here takes more than rank 4; numpy stops at 64 dimensions and a huge dimension would
# overflow a C size even when another one is 0.
MAX_RANK = 16
MAX_DIM = 2**31 - 1
# Elements counted over the non-zero dimensions: an empty tensor of shape [0, 2**31, 2**31, 2**31]
# holds nothing, yet numpy cannot even shape it (found by the slow fuzzing). Any real tensor is
# far smaller: max_message_bytes bounds it.
MAX_ELEMENTS = 2**32


def element_count(shape: Sequence[int]) -> int:
    """Python integers: a product of int64 dimensions never wraps around."""
    return math.prod(int(d) for d in shape)


def check_shape(name: str, shape: Sequence[int]) -> list[int]:
    dims = [int(d) for d in shape]
    if len(dims) > MAX_RANK:
        raise InvalidInput(f"input '{name}': rank {len(dims)} is more than {MAX_RANK}")
    if any(d < 0 for d in dims):
        raise InvalidInput(f"input '{name}': shape {dims} has a negative dimension")
    if any(d > MAX_DIM for d in dims):
        raise InvalidInput(f"input '{name}': shape {dims} has a dimension over {MAX_DIM}")
    if math.prod(d for d in dims if d) > MAX_ELEMENTS:
        raise InvalidInput(f"input '{name}': shape {dims} spans more than {MAX_ELEMENTS} elements")
    return dims


def check_datatype(name: str, datatype: str) -> None:
    if datatype not in NUMPY:
        raise InvalidInput(
            f"input '{name}': unknown datatype {datatype!r}; expected one of {', '.join(DATATYPES)}"
        )


def serialize_bytes(array: np.ndarray) -> bytes:
    """BYTES elements in row-major order, each as <uint32 little-endian length><bytes>."""
    out = bytearray()
    for item in array.ravel(order="C"):
        data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
        out += struct.pack("<I", len(data))
        out += data
    return bytes(out)


def deserialize_bytes(name: str, raw: bytes, count: int) -> np.ndarray:
    items: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput(f"input '{name}': BYTES contents end inside a length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InvalidInput(f"input '{name}': BYTES element runs past the end of the contents")
        items.append(bytes(raw[offset : offset + length]))
        offset += length
    if len(items) != count:
        raise InvalidInput(f"input '{name}': {len(items)} BYTES elements for a shape of {count}")
    array = np.empty(count, dtype=object)
    array[:] = items
    return array


def from_raw(
    name: str, datatype: str, shape: Sequence[int], raw: bytes, copy: bool = True
) -> np.ndarray:
    """Decode raw contents, checking the byte length against the shape. ``copy=False`` (the
    server's requests): on a little-endian machine the array is a read-only view of ``raw``."""
    check_datatype(name, datatype)
    dims = check_shape(name, shape)
    count = element_count(dims)
    if datatype == "BYTES":
        return deserialize_bytes(name, raw, count).reshape(dims)
    dtype = NUMPY[datatype]
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise InvalidInput(
            f"input '{name}': raw contents hold {len(raw)} bytes but shape {dims} of {datatype} "
            f"needs {expected}"
        )
    array = np.frombuffer(raw, dtype=_WIRE[datatype]).astype(dtype, copy=copy)
    if not array.flags.aligned:
        array = array.copy()
    return array.reshape(dims)


def to_raw(array: np.ndarray, datatype: str | None = None) -> bytes:
    """Raw contents of ``array`` (``datatype``: its KServe v2 datatype when known)."""
    if (datatype or datatype_of(array)) == "BYTES":
        return serialize_bytes(array)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def from_list(name: str, datatype: str, shape: Sequence[int], values: Sequence[Any]) -> np.ndarray:
    """Decode typed contents (or KServe v2 JSON ``data``), checking the count against the shape."""
    check_datatype(name, datatype)
    dims = check_shape(name, shape)
    count = element_count(dims)
    if len(values) != count:
        raise InvalidInput(
            f"input '{name}': {len(values)} values for shape {dims} ({count} elements)"
        )
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]
        return array.reshape(dims)
    try:
        return np.asarray(values, dtype=NUMPY[datatype]).reshape(dims)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidInput(f"input '{name}': values are not {datatype}: {error}") from None


class TextCodec:
    """A model's tokenizer (HF ``tokenizers`` JSON in its folder): text rows <-> padded ids."""

    def __init__(self, path: Path, pad_id: int, bos_id: int | None, eos_id: int | None) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(path))
        # A tokenizer saved with truncation would cut an over-long text silently and the
        # max_length check below would never fire: the server refuses it instead (and pads).
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id

    def encode(self, name: str, texts: np.ndarray, max_length: int) -> np.ndarray:
        """A BYTES tensor of shape [B] (or [B, 1]) -> INT64 ids [B, T] padded to the longest row."""
        rows = texts.reshape(-1)
        if texts.ndim > 2 or (texts.ndim == 2 and texts.shape[1] != 1):
            raise InvalidInput(f"input '{name}': text must have shape [B] or [B, 1]")
        if rows.size == 0:
            raise InvalidInput(f"input '{name}': empty batch")
        try:
            strings = [bytes(r).decode("utf-8") for r in rows]
        except UnicodeDecodeError as error:
            raise InvalidInput(f"input '{name}': not UTF-8 text: {error}") from None
        encoded = [self.tokenizer.encode(s).ids for s in strings]
        longest = max(len(e) for e in encoded)
        if longest > max_length:
            raise InvalidInput(
                f"input '{name}': {longest} tokens, more than the model's max_length {max_length}"
            )
        ids = np.full((len(encoded), longest), self.pad_id, dtype=np.int64)
        for row, e in zip(ids, encoded, strict=True):
            row[: len(e)] = e
        return ids

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """INT64 ids [B, T] -> BYTES [B]: up to EOS, without PAD and BOS."""
        rows = ids.reshape(-1, ids.shape[-1]) if ids.ndim else ids.reshape(1, 1)
        skip = {i for i in (self.pad_id, self.bos_id) if i is not None}
        texts = []
        for row in rows:
            kept: list[int] = []
            for token in row.tolist():
                if token == self.eos_id:
                    break
                if token not in skip:
                    kept.append(int(token))
            texts.append(self.tokenizer.decode(kept).encode("utf-8"))
        out = np.empty(len(texts), dtype=object)
        out[:] = texts
        return out.reshape(ids.shape[:-1]) if ids.ndim > 1 else out

    def tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.tokenizer.id_to_token(int(i)) or f"<{int(i)}>" for i in ids]
