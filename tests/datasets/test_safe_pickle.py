"""The restricted unpickler admits the numpy / scipy objects of the Planetoid files and refuses
every other global before calling it."""

from __future__ import annotations

import codecs
import io
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from training.datasets import safe_pickle
from training.datasets.safe_pickle import UnsafePickleError


@pytest.mark.parametrize("protocol", [0, 2])
def test_planetoid_objects_load(protocol: int) -> None:
    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    matrix = sp.csr_matrix(np.array([[0, 1.5, 0], [2, 0, 0]], dtype=np.float32))
    graph: defaultdict[int, list[int]] = defaultdict(list, {0: [1, 2], 1: [0]})
    loaded = safe_pickle.loads(pickle.dumps((array, matrix, graph), protocol=protocol))
    got_array, got_matrix, got_graph = loaded
    np.testing.assert_array_equal(got_array, array)
    assert got_array.dtype == np.int32
    assert isinstance(got_matrix, safe_pickle.SparseRecord)  # plain data, no live scipy object
    np.testing.assert_array_equal(safe_pickle.to_csr(got_matrix).toarray(), matrix.toarray())
    assert got_graph == {0: [1, 2], 1: [0]} and got_graph.default_factory is list


def test_numpy_scalars_load() -> None:
    assert safe_pickle.loads(pickle.dumps(np.int64(7), protocol=2)) == 7


class Evil:
    def __init__(self, func: object, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return self.func, (self.arg,)


def test_os_system_is_refused(tmp_path: Path) -> None:
    import os

    marker = tmp_path / "pwned"
    payload = pickle.dumps(Evil(os.system, f"touch {marker}"), protocol=2)
    with pytest.raises(UnsafePickleError, match="system"):
        safe_pickle.loads(payload)
    assert not marker.exists()


def test_builtins_eval_is_refused() -> None:
    payload = pickle.dumps(Evil(eval, "__import__('os').getcwd()"), protocol=2)
    with pytest.raises(UnsafePickleError, match="eval"):
        safe_pickle.loads(payload)


def test_python2_style_global_is_refused() -> None:
    payload = b"c__builtin__\neval\n(S'1+1'\ntR."
    with pytest.raises(UnsafePickleError, match="__builtin__.eval"):
        safe_pickle.loads(payload)


def test_object_arrays_are_refused() -> None:
    payload = pickle.dumps(np.array([1, "two"], dtype=object), protocol=2)
    with pytest.raises(UnsafePickleError, match="object"):
        safe_pickle.loads(payload)


def test_other_defaultdict_factories_are_refused() -> None:
    payload = pickle.dumps(defaultdict(dict, {1: {}}), protocol=2)
    with pytest.raises(UnsafePickleError, match="defaultdict"):
        safe_pickle.loads(payload)


def test_codecs_other_than_latin1_are_refused() -> None:
    payload = b"c_codecs\nencode\n(Vabc\nVzlib_codec\ntR."
    with pytest.raises(UnsafePickleError, match="zlib"):
        safe_pickle.loads(payload)


def test_load_path(tmp_path: Path) -> None:
    path = tmp_path / "ind.x.y"
    path.write_bytes(pickle.dumps(np.eye(2), protocol=2))
    np.testing.assert_array_equal(safe_pickle.load_path(path), np.eye(2))


class Python2Pickler(pickle._Pickler):  # type: ignore[misc,name-defined]
    """Writes protocol 0 as Python 2's cPickle did: byte strings (numpy's raw data, dtype codes)
    as the STRING opcode, which Python 3 reads back as a latin-1 ``str``, not through
    ``_codecs.encode``; module names the Python 2 way (``copy_reg``, ``__builtin__``)."""

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_python2_str(self, obj: bytes) -> None:
        self.write(pickle.STRING + b"'" + codecs.escape_encode(obj)[0] + b"'\n")  # type: ignore[attr-defined]
        self.memoize(obj)

    dispatch[bytes] = save_python2_str


def python2_dumps(obj: object) -> bytes:
    out = io.BytesIO()
    Python2Pickler(out, protocol=0, fix_imports=True).dump(obj)
    return out.getvalue()


def test_python2_style_pickles_load() -> None:
    """The Planetoid files were written by Python 2: the raw array bytes arrive as latin-1 text."""
    array = np.array([[0, 1], [1, 0], [0, 0]], dtype=np.int32)  # a one-hot ``y`` with a zero row
    matrix = sp.csr_matrix(np.array([[0, 1.5, 0], [2, 0, 0.25]], dtype=np.float32))
    graph: defaultdict[int, list[int]] = defaultdict(list, {0: [1, 2], 1: [0], 2: []})
    data = python2_dumps((array, matrix, graph))
    assert b"_codecs" not in data and b"\nS'" in data  # STRING opcodes, as Python 2 wrote
    assert b"copy_reg\n_reconstructor" in data and b"__builtin__\nlist" in data
    got_array, got_matrix, got_graph = safe_pickle.loads(data)
    np.testing.assert_array_equal(got_array, array)
    assert got_array.dtype == np.int32
    np.testing.assert_array_equal(safe_pickle.to_csr(got_matrix).toarray(), matrix.toarray())
    assert got_graph == {0: [1, 2], 1: [0], 2: []} and got_graph.default_factory is list
