"""A restricted unpickler for the Planetoid ``ind.*`` files, the only upstream pickles we read.

Plain ``pickle.load`` on downloaded bytes runs whatever callable the file names. This unpickler
resolves a global only through :data:`ALLOWED`, an explicit table of what those files need:

- numpy arrays and dtypes (``y``, ``ty``, ``ally``), without object dtypes;
- scipy CSR matrices (``x``, ``tx``, ``allx``), read into a plain :class:`SparseRecord` (its
  pickled attributes) and never into a live scipy object; :func:`to_csr` builds the matrix;
- ``collections.defaultdict(list)`` (``graph``) with int keys and lists of ints;
- ``copy_reg._reconstructor`` / ``object`` (how Python 2 protocols 0 and 1 rebuild instances)
  and ``_codecs.encode(..., "latin1")`` (how Python 3 protocols 0-2 write bytes), both guarded.

Anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen`` ...) raises
:class:`UnsafePickleError` before it is called. The files are Python 2 pickles, so they are
read with ``encoding="latin1"`` (numpy's documented way to load Python 2 array pickles).
"""

from __future__ import annotations

import codecs
import io
import pickle
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list, or an allowed one with unsafe args."""


class SparseRecord:
    """The pickled state (``__dict__``) of a scipy sparse matrix, kept as plain data."""

    format = "csr"

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = state[0]
        if not isinstance(state, dict):
            raise UnsafePickleError(f"sparse matrix state must be a dict, got {type(state)}")
        self.state = dict(state)


def to_csr(record: Any) -> Any:
    """A scipy CSR matrix from a :class:`SparseRecord` (numeric data, int indices only)."""
    import scipy.sparse as sp

    if not isinstance(record, SparseRecord):
        raise TypeError(f"expected a pickled CSR matrix, got {type(record).__name__}")
    state = record.state
    shape = state.get("_shape", state.get("shape"))
    arrays = {key: state.get(key) for key in ("data", "indices", "indptr")}
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise ValueError(f"pickled CSR matrix has no array {key!r}")
    if arrays["data"].dtype.kind not in "biuf":  # type: ignore[union-attr]
        raise ValueError("pickled CSR matrix data is not numeric")
    for key in ("indices", "indptr"):
        if arrays[key].dtype.kind not in "iu":  # type: ignore[union-attr]
            raise ValueError(f"pickled CSR matrix {key} are not integers")
    if not (isinstance(shape, tuple) and len(shape) == 2):
        raise ValueError(f"pickled CSR matrix has a bad shape {shape!r}")
    rows, cols = (int(s) for s in shape)
    return sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=(rows, cols))


def _dtype(*args: Any) -> np.dtype:
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise UnsafePickleError("object dtypes are not allowed")
    return dtype


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"array subtype {subtype!r} is not allowed")
    # An empty array that ``__setstate__`` fills; the state's dtype comes through ``_dtype``
    # too, so an object array (whose state would be a list of objects) is refused there.
    return np.ndarray.__new__(np.ndarray, shape, _dtype(dtype))


def _scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("object scalars are not allowed")
    try:
        from numpy._core.multiarray import scalar  # type: ignore[attr-defined]
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar  # type: ignore[attr-defined,no-redef]
    return scalar(dtype, data)


def _latin1(text: Any, encoding: str = "utf-8") -> bytes:
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise UnsafePickleError(f"_codecs.encode with {encoding!r} is not allowed")
    if not isinstance(text, str):
        raise UnsafePickleError("_codecs.encode of a non-string is not allowed")
    return codecs.encode(text, "latin1")


def _defaultdict(factory: Any = None, *args: Any) -> defaultdict[Any, Any]:
    if factory is not list or args:
        raise UnsafePickleError("only defaultdict(list) is allowed")
    return defaultdict(list)


_RECORD_TYPES: tuple[type, ...] = (SparseRecord,)


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    """``copy_reg._reconstructor`` restricted to the record types built on ``object``."""
    if cls not in _RECORD_TYPES or base is not object or state is not None:
        raise UnsafePickleError(f"_reconstructor({cls!r}, {base!r}) is not allowed")
    return cls.__new__(cls)


# (module, name) as written in the pickle -> what it resolves to.
ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    **{
        (m, "_reconstruct"): _reconstruct
        for m in ("numpy.core.multiarray", "numpy._core.multiarray")
    },
    **{(m, "scalar"): _scalar for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    **{
        (m, "csr_matrix"): SparseRecord
        for m in ("scipy.sparse.csr", "scipy.sparse._csr", "scipy.sparse")
    },
    ("collections", "defaultdict"): _defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("_codecs", "encode"): _latin1,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to unpickle {module}.{name}: not in the allow-list "
                "(numpy arrays, scipy CSR matrices, defaultdict(list))"
            ) from None


def loads(data: bytes, *, encoding: str = "latin1") -> Any:
    return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()


def load_path(path: Path, *, encoding: str = "latin1") -> Any:
    with open(path, "rb") as f:
        return RestrictedUnpickler(f, encoding=encoding).load()
