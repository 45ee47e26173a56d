"""Per-request trimming of the server (issue 8): the single-threaded session for small runs
(server/runtime.py ``small_runs``), chosen at load from the card example's time and answering as
the multi-threaded session does; when the server gives one (only when it chooses the thread
count); the per-load io lookups; and raw tensors decoded without a copy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from server import codecs, runtime
from server import repository as repo
from server.dataplane import DataPlane
from tests.server import fake_repository
from tests.server.conftest import server_settings
from tests.server.ragged_model import OUTPUTS, ragged_model
from tests.server.ragged_model import reference as ragged_reference

POLICY = runtime.ProviderPolicy("cpu")
ALWAYS = 10**7  # a threshold (us) every example runs under


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small")
    ragged_model(root / "pool")
    fake_repository.plain_model(root / "plain")
    return root


def _load(
    root: Path, name: str, intra_op: int = 2, threshold_us: int = ALWAYS
) -> runtime.LoadedModel:
    return runtime.load(
        repo.load_entry(root / name), 1, POLICY, intra_op, small_run_us=threshold_us
    )


def _ids(rng: np.random.Generator, rows: int, length: int) -> np.ndarray:
    return rng.integers(1, 16, (rows, length)).astype(np.int64)


def test_a_quick_model_gets_a_single_threaded_session_that_answers_the_same(root: Path) -> None:
    model = _load(root, "pool")
    assert model.small_session is not None
    example = runtime.example_feeds(model)
    assert example is not None and example["ids"].shape == (1, 4)  # the card's example
    assert model.small_elements >= 4
    rng = np.random.default_rng(0)
    options = ort.RunOptions()
    for rows, length in [(1, 4), (1, 1), (3, 9), (8, 30)]:
        feeds = {"ids": _ids(rng, rows, length)}
        small = dict(zip(OUTPUTS, model.small_session.run(OUTPUTS, feeds, options), strict=True))
        multi = dict(zip(OUTPUTS, model.session.run(OUTPUTS, feeds, options), strict=True))
        for name in OUTPUTS:
            np.testing.assert_array_equal(small[name], multi[name], err_msg=name)
        got = model.predict(feeds, OUTPUTS, options)
        want = ragged_reference(feeds["ids"])
        np.testing.assert_allclose(got["weights"], want["weights"], atol=1e-6)
        np.testing.assert_array_equal(got["decoded_ids"], want["decoded_ids"])


def test_only_runs_expected_under_the_threshold_take_the_single_thread(root: Path) -> None:
    model = _load(root, "pool")
    assert model.small_session is not None
    model.small_elements = 12
    assert model.session_for({"ids": np.ones((3, 4), np.int64)}) is model.small_session
    assert model.session_for({"ids": np.ones((2, 7), np.int64)}) is model.session
    # the bound scales the example's size by threshold / example time
    measured = runtime.small_runs(
        model, str(model.entry.model_file(1)), runtime.session_options(1), 5000
    )
    assert measured is not None and measured < 5000
    assert model.small_elements == max(4, int(4 * 5000 / max(measured, 1.0)))


@pytest.mark.parametrize(
    ("name", "intra_op", "threshold_us"),
    [
        ("pool", 2, 0),  # off
        ("pool", 2, 1),  # no run takes under a microsecond
        ("pool", 1, ALWAYS),  # already single-threaded
        ("plain", 2, ALWAYS),  # no card, no example to time
    ],
)
def test_no_single_threaded_session(
    root: Path, name: str, intra_op: int, threshold_us: int
) -> None:
    model = _load(root, name, intra_op, threshold_us)
    assert model.small_session is None
    assert model.session_for({"x": np.ones((1, 4), np.float32)}) is model.session


@pytest.mark.skipif(runtime.available_cores() < 2, reason="one core: every session has 1 thread")
def test_the_server_times_examples_only_when_it_chooses_the_threads(root: Path) -> None:
    entry = repo.load_entry(root / "pool")

    def opened(**overrides: object) -> runtime.LoadedModel:
        plane = DataPlane(server_settings(root, execution_provider="cpu", **overrides))
        try:
            return asyncio.run(plane._open(entry))[1]
        finally:
            plane.close()

    assert opened(small_run_threshold_us=ALWAYS).small_session is not None
    assert opened(small_run_threshold_us=ALWAYS, intra_op_threads=2).small_session is None
    assert opened(small_run_threshold_us=0).small_session is None


def test_io_lookups_are_made_once_per_load(root: Path) -> None:
    model = _load(root, "pool")
    assert model.graph_inputs == ["ids"]
    assert model.graph_outputs == [a.name for a in model.session.get_outputs()]
    assert list(model.input_specs) == ["ids"] and model.input_specs["ids"].datatype == "INT64"
    assert model.output_names == [t.name for t in model.outputs]
    assert model.graph_outputs is model.graph_outputs  # cached, not rebuilt per request
    assert model.text_inputs == {} and model.text_outputs == {}


def test_raw_contents_decode_without_a_copy_for_the_server() -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    raw = codecs.to_raw(array)
    view = codecs.from_raw("x", "FP32", [3, 4], raw, copy=False)
    np.testing.assert_array_equal(view, array)
    assert not view.flags.writeable and np.shares_memory(view, np.frombuffer(raw, np.uint8))
    copied = codecs.from_raw("x", "FP32", [3, 4], raw)  # clients get their own array
    assert copied.flags.writeable and not np.shares_memory(copied, np.frombuffer(raw, np.uint8))
    np.testing.assert_array_equal(copied, array)


def test_datatype_of_every_datatype_and_raw_by_datatype() -> None:
    for datatype, dtype in codecs.NUMPY.items():
        if datatype == "BYTES":
            array = np.array([b"ab", b"c"], dtype=object)
        else:
            array = np.ones(3, dtype=dtype)
        assert codecs.datatype_of(array) == datatype
        assert codecs.to_raw(array, datatype) == codecs.to_raw(array)
    assert codecs.datatype_of(np.array(["x"])) == "BYTES"
    with pytest.raises(TypeError):
        codecs.datatype_of(np.ones(2, np.complex64))
