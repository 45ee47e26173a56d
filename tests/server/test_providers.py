"""Execution providers: the CUDA options the server sets, the I/O-binding run path (checked on CPU
here, where it must give what a plain run gives), and — only where the CUDA provider loads, e.g.
on a GPU machine — every zoo model on CUDA against the CPU."""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from server import repository, runtime
from server.dataplane import DataPlane
from server.settings import ServerSettings
from taxonomy.query import CardEntry, load_cards
from tests.server.helpers import example_array, graph_only


def test_cuda_options_follow_settings(tmp_path: Path) -> None:
    settings = ServerSettings(
        repository=tmp_path,
        cuda_device_id=1,
        cuda_conv_algo_search="EXHAUSTIVE",
        cuda_tf32=True,
        cuda_mem_limit_mb=512,
        cuda_io_binding=False,
    )
    policy = DataPlane(settings).policy
    assert policy.cuda_options["device_id"] == "1"
    assert policy.cuda_options["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    assert policy.cuda_options["use_tf32"] == "1"
    assert policy.cuda_options["gpu_mem_limit"] == str(512 * 1024 * 1024)
    assert policy.io_binding is False
    defaults = runtime.cuda_options()
    assert defaults["use_tf32"] == "0"  # GPU answers must match the CPU's
    assert "gpu_mem_limit" not in defaults


def _examples(entries: list[CardEntry]) -> list[tuple[str, dict[str, np.ndarray]]]:
    cases = []
    for entry in entries:
        for example in entry.card.examples:  # type: ignore[union-attr]
            if graph_only(entry, example):
                cases.append((entry.name, {t.name: example_array(t) for t in example.inputs}))
    return cases


def _load(repo: Path, name: str, policy: runtime.ProviderPolicy) -> runtime.LoadedModel:
    entry = repository.load_entry(repo / name)
    return runtime.load(entry, max(entry.versions or [1]), policy)


def _compare(got: dict[str, np.ndarray], want: dict[str, np.ndarray], atol: float) -> None:
    assert got.keys() == want.keys()
    for name, array in want.items():
        assert got[name].shape == array.shape, name
        if np.issubdtype(array.dtype, np.floating):
            np.testing.assert_allclose(got[name], array, atol=atol, rtol=1e-4, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], array, err_msg=name)


def test_io_binding_gives_what_a_plain_run_gives(tiny_zoo: Path) -> None:
    """The bound path (host inputs, outputs allocated where the session says) on CPU."""
    entries = load_cards(tiny_zoo)
    cases = _examples(entries)
    assert len({name for name, _ in cases}) == len(entries)  # every model has a graph example
    policy = runtime.ProviderPolicy("cpu")
    for name, feeds in cases:
        model = _load(tiny_zoo, name, policy)
        assert model.io_binding is False  # CPU sessions run plainly by default
        outputs = [o.name for o in model.session.get_outputs()]
        plain = model.predict(feeds, outputs, ort.RunOptions())
        model.io_binding = True
        bound = model.predict(feeds, outputs, ort.RunOptions())
        _compare(bound, plain, atol=0.0)
        subset = outputs[:1]  # only what is asked for comes back
        assert list(model.predict(feeds, subset, ort.RunOptions())) == subset


@functools.cache
def _cuda_loads() -> bool:
    if runtime.CUDA not in ort.get_available_providers():
        return False
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from the nvidia-* wheels, as the server does
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ort.preload_dlls()
    options = ort.SessionOptions()
    options.log_severity_level = 4  # a provider that cannot load says so loudly
    ort.set_default_logger_severity(4)
    try:
        session = ort.InferenceSession(
            onnx.ModelProto.SerializeToString(model), options, [runtime.CUDA, runtime.CPU]
        )
    except Exception:  # noqa: BLE001 - a CUDA provider that cannot load is the answer
        return False
    finally:
        ort.set_default_logger_severity(3)
    return session.get_providers()[0] == runtime.CUDA


cuda = pytest.mark.skipif(not _cuda_loads(), reason="the CUDA provider does not load here")


@cuda
def test_every_model_runs_on_cuda_as_on_cpu(tiny_zoo: Path) -> None:
    entries = load_cards(tiny_zoo)
    cpu, gpu = runtime.ProviderPolicy("cpu"), runtime.ProviderPolicy("cuda")
    for name, feeds in _examples(entries):
        on_cpu, on_gpu = _load(tiny_zoo, name, cpu), _load(tiny_zoo, name, gpu)
        assert on_gpu.provider == runtime.CUDA, name
        assert on_gpu.io_binding and on_gpu.device == ("cuda", 0)
        outputs = [o.name for o in on_cpu.session.get_outputs()]
        want = on_cpu.predict(feeds, outputs, ort.RunOptions())
        _compare(on_gpu.predict(feeds, outputs, ort.RunOptions()), want, atol=1e-4)
        on_gpu.io_binding = False  # the unbound CUDA path agrees too
        _compare(on_gpu.predict(feeds, outputs, ort.RunOptions()), want, atol=1e-4)
