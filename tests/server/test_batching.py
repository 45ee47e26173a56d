"""Dynamic batching (server/batching.py, server/merging.py): requests that arrive together share
one onnxruntime run and each gets exactly what it would get alone.

* every batching model of the zoo: concurrent single requests of mixed lengths give the outputs
  of running each alone (in-process onnxruntime; ids and text exactly, floats to FLOAT_ATOL), and
  identical-shape requests share runs (fewer executions than requests);
* a hand-made model that pads exactly (tests/server/ragged_model.py) merges different lengths;
* the batcher honours max_queue_delay; a burst of 200 requests all complete correctly; a request
  that onnxruntime rejects inside a merged run fails alone; deadlines and cancellation while
  queued; dynamic_batching=False runs every request by itself; instance counts bound the runs;
* those delay tests run with Triton's behaviour explicitly (dynamic_batching_skip_delay_when_quiet
  off); with it on (the default) a lone request on a quiet model runs at once (its statistics
  show no queueing), a burst still merges, a request arriving under traffic waits the delay as
  Triton's would, and quiet runs stay off the event loop (so a burst is seen)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort
import pytest

from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server import repository as repo
from server import runtime
from server.batching import Policy, Scheduler
from server.errors import DeadlineExceeded
from server.grpc.app import BackgroundServer
from server.merging import Layout
from server.messages import ModelStats
from taxonomy.query import CardEntry
from tests.server import fake_repository
from tests.server.conftest import CLIENT_OPTIONS, server_settings
from tests.server.helpers import example_array, infer_request, outputs_of, reference
from tests.server.ragged_model import OUTPUTS, ragged_model
from tests.server.ragged_model import reference as ragged_reference

# Floats of a merged run against the request run alone. Same-shape merges are in practice
# bitwise equal; padded ones differ by the order of a reduction's additions (~1e-7).
FLOAT_ATOL = 1e-5
RAGGED, SAME, PATIENT, SINGLE = "ragged_pool", "same_shape_pool", "patient_pool", "slow_single"
PATIENCE_S = 2.0  # PATIENT's max_queue_delay
ALWAYS_SMALL_US = 10**7  # a small-run threshold every example runs under


# ---- helpers ----


def _stats(stub: pb_grpc.GRPCInferenceServiceStub, name: str) -> tuple[int, int]:
    """(execution_count, inference_count) of ``name``."""
    stats = stub.ModelStatistics(pb.ModelStatisticsRequest(name=name), timeout=10).model_stats[0]
    return int(stats.execution_count), int(stats.inference_count)


def _together(
    stub: pb_grpc.GRPCInferenceServiceStub,
    requests: list[pb.ModelInferRequest],
    timeout: float = 60,
) -> list[Any]:
    """Send every request at once; each answer's outputs, or its RpcError."""
    calls = [stub.ModelInfer.future(r, timeout=timeout) for r in requests]
    answers: list[Any] = []
    for call in calls:
        try:
            answers.append(outputs_of(call.result()))
        except grpc.RpcError as error:
            answers.append(error)
    return answers


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str) -> None:
    for name, expected in want.items():
        assert name in got, f"{what}: no output {name}"
        actual = got[name]
        assert actual.shape == expected.shape, f"{what} {name}: {actual.shape} != {expected.shape}"
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(actual, expected, atol=FLOAT_ATOL, rtol=0, err_msg=what)
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=f"{what} {name}")


def _ids(rng: np.random.Generator, lengths: list[int]) -> np.ndarray:
    """Rows of ids in [1, 16) of the given lengths, [PAD] after each (the first is longest)."""
    out = np.zeros((len(lengths), max(lengths)), np.int64)
    for row, length in enumerate(lengths):
        out[row, :length] = rng.integers(1, 16, length)
    return out


# ---- the zoo ----


def _variable_axes(entry: CardEntry, name: str) -> list[int]:
    spec = next(t for t in entry.card.io.inputs if t.name == name)  # type: ignore[union-attr]
    return [axis for axis, d in enumerate(spec.shape) if d < 0 and axis > 0]


def _zoo_requests(
    entry: CardEntry,
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """Single-row requests of mixed lengths from the card's examples: (graph feeds, text feeds).

    Every graph example row, cut to shorter lengths (variable axes), each length twice (the
    second with its tokens rolled or its values scaled: same shape, other contents)."""
    card = entry.card
    assert card is not None
    graph_names = {t.name for t in card.io.inputs}
    graph: list[dict[str, np.ndarray]] = []
    texts: list[dict[str, np.ndarray]] = []
    for example in card.examples:
        arrays = {t.name: example_array(t) for t in example.inputs}
        rows = next(iter(arrays.values())).shape[0]
        for row in range(rows):
            one = {n: a[row : row + 1] for n, a in arrays.items()}
            if not set(one) <= graph_names:
                texts.append(one)
                continue
            for cut in (0, 1, 2):
                shorter: dict[str, np.ndarray] = {}
                for name, array in one.items():
                    index = [slice(None)] * array.ndim
                    for axis in _variable_axes(entry, name):
                        index[axis] = slice(0, max(3, array.shape[axis] - cut))
                    shorter[name] = array[tuple(index)]
                other = {
                    n: np.roll(a, 1, axis=-1) if a.dtype.kind in "iu" else a * np.float32(0.5)
                    for n, a in shorter.items()
                }
                graph += [shorter, other]
    unique: dict[bytes, dict[str, np.ndarray]] = {}
    for feeds in graph:
        unique.setdefault(
            b"".join(a.tobytes() + str(a.shape).encode() for a in feeds.values()), feeds
        )
    return list(unique.values()), texts


def _batching(entry: CardEntry, repository: Path) -> bool:
    config = repo.load_entry(repository / entry.name).config
    return Policy.of(config, entry.card.io.max_batch_size) is not None  # type: ignore[union-attr]


def test_zoo_merged_requests_answer_as_if_alone(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry], repository: Path
) -> None:
    """Every batching model: concurrent single requests of mixed lengths (graph inputs and text)
    answer what each gets alone; identical shapes share runs."""
    models = [e for e in zoo if _batching(e, repository)]
    assert models, "the zoo has no dynamically batching model"
    merged: dict[str, int] = {}
    for entry in models:
        graph, texts = _zoo_requests(entry)
        want: list[dict[str, Any] | None] = []
        for feeds in graph:
            try:
                want.append(reference(repository / entry.name, feeds))
            except Exception:  # noqa: BLE001 - a length this model cannot take alone: skip it
                want.append(None)
        kept = [(f, w) for f, w in zip(graph, want, strict=True) if w is not None]
        assert kept, f"{entry.name}: no example row runs"
        alone_text = [
            outputs_of(stub.ModelInfer(infer_request(entry.name, t), timeout=60)) for t in texts
        ]
        requests = [infer_request(entry.name, f) for f, _ in kept]
        requests += [infer_request(entry.name, t) for t in texts]
        answers = _together(stub, requests)
        for index, ((feeds, expected), got) in enumerate(zip(kept, answers, strict=False)):
            assert not isinstance(got, grpc.RpcError), f"{entry.name} request {index}: {got}"
            _assert_same(
                got, expected, f"{entry.name} request {index} {[a.shape for a in feeds.values()]}"
            )
        for index, (alone, got) in enumerate(zip(alone_text, answers[len(kept) :], strict=True)):
            assert not isinstance(got, grpc.RpcError), f"{entry.name} text {index}: {got}"
            _assert_same(got, alone, f"{entry.name} text {index}")
        # identical shapes: 8 at once share runs (a few tries: arrivals are spread by the client)
        same = [kept[0][0]] * 8
        for _ in range(5):
            before = _stats(stub, entry.name)
            answers = _together(stub, [infer_request(entry.name, f) for f in same])
            after = _stats(stub, entry.name)
            for got in answers:
                _assert_same(got, kept[0][1], f"{entry.name} identical")
            assert after[1] - before[1] == 8  # rows
            merged[entry.name] = after[0] - before[0]
            if merged[entry.name] < 8:
                break
    assert all(runs < 8 for runs in merged.values()), merged


def test_every_ragged_card_has_legends_the_batcher_can_use(
    zoo: list[CardEntry], repository: Path
) -> None:
    """A card that promises ragged_batching names every variable axis so it can be padded and
    cropped; otherwise the server falls back to same-shape merging and logs why."""
    policy = runtime.ProviderPolicy("cpu")
    for entry in zoo:
        card = entry.card
        assert card is not None
        if not card.io.ragged_batching or not _batching(entry, repository):
            continue
        model = runtime.load(repo.load_entry(repository / entry.name), 1, policy, 1)
        layout = Layout(model)
        assert layout.ragged, f"{entry.name}: {layout.problems}"


# ---- a model that pads exactly ----


@dataclass
class Fake:
    server: BackgroundServer
    stub: pb_grpc.GRPCInferenceServiceStub
    repository: Path


def _fake_repository(root: Path) -> Path:
    ragged_model(root / RAGGED, delay_us=20_000)
    ragged_model(root / SAME, delay_us=20_000, ragged=False)
    ragged_model(root / PATIENT, preferred=(4,), delay_us=int(PATIENCE_S * 1e6))
    fake_repository.slow_model(root / SINGLE)
    with (root / SINGLE / "config.pbtxt").open("a") as config:
        config.write("instance_group [{ kind: KIND_CPU count: 1 }]\n")
    return root


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fake_repository(tmp_path_factory.mktemp("batching"))


def _serve(root: Path, **overrides: object) -> Iterator[Fake]:
    # The hand-made models test the batcher, on the CPU provider even where CUDA loads: the
    # bad-request test relies on the CPU Gather kernel rejecting an id outside its table, which
    # the CUDA kernel does not check (seen on an H200; zoo models are guarded by their cards'
    # vocab_size before onnxruntime runs).
    overrides.setdefault("execution_provider", "cpu")
    settings = server_settings(root, max_concurrent_requests=512, inference_workers=4, **overrides)
    with (
        BackgroundServer(settings) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}", options=CLIENT_OPTIONS) as channel,
    ):
        yield Fake(server, pb_grpc.GRPCInferenceServiceStub(channel), root)


@pytest.fixture(scope="module")
def fake(fake_root: Path) -> Iterator[Fake]:
    """Triton's behaviour, explicitly: every request may wait max_queue_delay (the tests below
    time that delay)."""
    yield from _serve(fake_root, dynamic_batching_skip_delay_when_quiet=False)


@pytest.fixture(scope="module")
def quiet(fake_root: Path) -> Iterator[Fake]:
    """The default settings: a request that finds its model quiet does not wait."""
    yield from _serve(fake_root)


@pytest.fixture(scope="module")
def unbatched(fake_root: Path) -> Iterator[Fake]:
    yield from _serve(fake_root, dynamic_batching=False)


def _request(model: str, ids: np.ndarray) -> pb.ModelInferRequest:
    return infer_request(model, {"ids": ids})


def _burst(server: Fake, batches: list[np.ndarray]) -> tuple[list[Any], int]:
    """Send ``batches`` to RAGGED at once: the answers (each checked against the model run on it
    alone, every row counted) and the runs they took."""
    before = _stats(server.stub, RAGGED)
    answers = _together(server.stub, [_request(RAGGED, ids) for ids in batches])
    after = _stats(server.stub, RAGGED)
    for ids, got in zip(batches, answers, strict=True):
        _assert_same(got, ragged_reference(ids), f"length {ids.shape[1]}")
    assert after[1] - before[1] == sum(ids.shape[0] for ids in batches)
    return answers, after[0] - before[0]


def test_requests_of_different_lengths_share_runs_and_answer_as_if_alone(fake: Fake) -> None:
    rng = np.random.default_rng(0)
    batches = [_ids(rng, [length]) for length in (2, 7, 3, 5, 4, 6, 1, 7)]
    answers, runs = _burst(fake, batches)
    assert runs < len(batches)
    # cropped to each request's own sizes: L, L + 1 and the decoded length T
    assert [a["shifted"].shape[1] for a in answers] == [b.shape[1] + 1 for b in batches]


def test_a_card_without_ragged_batching_merges_identical_shapes_only(fake: Fake) -> None:
    rng = np.random.default_rng(1)
    short = [_ids(rng, [3]) for _ in range(4)]
    long = [_ids(rng, [6]) for _ in range(4)]
    before = _stats(fake.stub, SAME)
    answers = _together(fake.stub, [_request(SAME, ids) for ids in short + long])
    after = _stats(fake.stub, SAME)
    for ids, got in zip(short + long, answers, strict=True):
        _assert_same(got, ragged_reference(ids), f"length {ids.shape[1]}")
    assert 2 <= after[0] - before[0] < 8  # the two lengths never share a run


def test_a_request_of_several_rows_counts_its_rows(fake: Fake) -> None:
    """Rows of different lengths inside one request, merged with others: its own rows back,
    cropped to the request's own width."""
    rng = np.random.default_rng(2)
    batches = [_ids(rng, [5, 2]), _ids(rng, [3]), _ids(rng, [4, 4, 1])]
    before = _stats(fake.stub, PATIENT)
    answers = _together(fake.stub, [_request(PATIENT, ids) for ids in batches])
    after = _stats(fake.stub, PATIENT)
    for ids, got in zip(batches, answers, strict=True):
        _assert_same(got, ragged_reference(ids), f"rows {ids.shape}")
    assert after == (before[0] + 1, before[1] + 6)  # 6 rows >= preferred 4: one run, at once


def test_a_lone_request_waits_the_queue_delay_and_no_longer(fake: Fake) -> None:
    ids = _ids(np.random.default_rng(3), [4])
    started = time.monotonic()
    got = outputs_of(fake.stub.ModelInfer(_request(PATIENT, ids), timeout=30))
    waited = time.monotonic() - started
    _assert_same(got, ragged_reference(ids), "lone")
    assert PATIENCE_S - 0.05 <= waited < PATIENCE_S + 1.0, waited


def test_requests_under_the_preferred_size_leave_together_after_the_delay(fake: Fake) -> None:
    rng = np.random.default_rng(4)
    batches = [_ids(rng, [n]) for n in (2, 5, 3)]  # 3 rows < preferred 4
    before = _stats(fake.stub, PATIENT)
    started = time.monotonic()
    answers = _together(fake.stub, [_request(PATIENT, ids) for ids in batches])
    waited = time.monotonic() - started
    after = _stats(fake.stub, PATIENT)
    for ids, got in zip(batches, answers, strict=True):
        _assert_same(got, ragged_reference(ids), "under preferred")
    assert after[0] - before[0] == 1
    assert PATIENCE_S - 0.05 <= waited < PATIENCE_S + 1.0, waited


def test_reaching_the_preferred_size_does_not_wait(fake: Fake) -> None:
    rng = np.random.default_rng(5)
    batches = [_ids(rng, [n]) for n in (2, 5, 3, 4)]  # 4 rows = preferred 4
    started = time.monotonic()
    answers = _together(fake.stub, [_request(PATIENT, ids) for ids in batches])
    waited = time.monotonic() - started
    for ids, got in zip(batches, answers, strict=True):
        _assert_same(got, ragged_reference(ids), "preferred")
    assert waited < PATIENCE_S / 2, waited


def test_a_burst_of_200_requests_all_complete_correctly(fake: Fake) -> None:
    rng = np.random.default_rng(6)
    batches = [
        _ids(rng, sorted(rng.integers(1, 13, int(rng.integers(1, 3))).tolist(), reverse=True))
        for _ in range(200)
    ]
    before = _stats(fake.stub, RAGGED)
    answers = _together(fake.stub, [_request(RAGGED, ids) for ids in batches], timeout=120)
    after = _stats(fake.stub, RAGGED)
    for index, (ids, got) in enumerate(zip(batches, answers, strict=True)):
        assert not isinstance(got, grpc.RpcError), f"request {index}: {got}"
        _assert_same(got, ragged_reference(ids), f"request {index}")
    assert after[1] - before[1] == sum(ids.shape[0] for ids in batches)
    assert after[0] - before[0] < 100  # runs of 8 rows where they could form


def test_a_bad_request_in_a_merged_run_fails_alone(
    fake: Fake, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime rejects one member's ids (outside the embedding table): the run is redone
    member by member, the bad one gets INVALID_ARGUMENT naming the input, the others answer."""
    rng = np.random.default_rng(7)
    good = [_ids(rng, [n]) for n in (2, 5, 3)]
    bad = np.array([[3, 99, 4]], np.int64)
    requests = [_request(PATIENT, ids) for ids in [good[0], bad, good[1], good[2]]]
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="attentive.server"):
        answers = _together(fake.stub, requests)
    assert time.monotonic() - started < PATIENCE_S  # 4 rows: they left together at once
    assert any("running them one by one" in r.getMessage() for r in caplog.records)
    error = answers[1]
    assert isinstance(error, grpc.RpcError)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "ids" in error.details()  # type: ignore[attr-defined]
    for ids, got in zip(good, [answers[0], answers[2], answers[3]], strict=True):
        _assert_same(got, ragged_reference(ids), "good neighbour")


def test_a_deadline_passing_in_the_queue_is_deadline_exceeded(fake: Fake) -> None:
    plane = fake.server.app.plane  # type: ignore[union-attr]
    ids = _ids(np.random.default_rng(8), [3])
    before = _stats(fake.stub, PATIENT)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        fake.stub.ModelInfer(_request(PATIENT, ids), timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    assert time.monotonic() - started < PATIENCE_S
    # the Triton timeout parameter (microseconds) too, with the server's own message
    request = _request(PATIENT, ids)
    request.parameters["timeout"].int64_param = 300_000
    with pytest.raises(grpc.RpcError) as caught:
        fake.stub.ModelInfer(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    assert "waited" in caught.value.details()  # type: ignore[attr-defined]
    time.sleep(PATIENCE_S + 0.2)  # they never ran, and nothing is left waiting
    assert _stats(fake.stub, PATIENT)[0] == before[0]
    scheduler = plane.model(PATIENT).scheduler
    assert plane.inflight == 0 and scheduler is not None and not scheduler._queue
    got = outputs_of(fake.stub.ModelInfer(_request(PATIENT, ids), timeout=30))
    _assert_same(got, ragged_reference(ids), "after")


def test_a_client_leaving_the_queue_is_taken_out(fake: Fake) -> None:
    plane = fake.server.app.plane  # type: ignore[union-attr]
    ids = _ids(np.random.default_rng(9), [3])
    call = fake.stub.ModelInfer.future(_request(PATIENT, ids), timeout=30)
    deadline = time.monotonic() + 10
    while plane.inflight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    before = _stats(fake.stub, PATIENT)
    call.cancel()
    while plane.inflight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert plane.inflight == 0
    time.sleep(PATIENCE_S + 0.2)
    assert _stats(fake.stub, PATIENT)[0] == before[0]  # it never ran


def test_dynamic_batching_off_runs_every_request_alone(unbatched: Fake) -> None:
    rng = np.random.default_rng(10)
    batches = [_ids(rng, [4]) for _ in range(8)]
    before = _stats(unbatched.stub, RAGGED)
    answers = _together(unbatched.stub, [_request(RAGGED, ids) for ids in batches])
    after = _stats(unbatched.stub, RAGGED)
    for ids, got in zip(batches, answers, strict=True):
        _assert_same(got, ragged_reference(ids), "unbatched")
    assert after[0] - before[0] == len(batches)
    config = unbatched.stub.ModelConfig(pb.ModelConfigRequest(name=RAGGED), timeout=10).config
    assert config.parameters["dynamic_batching"].string_value == "off"
    # a lone request does not wait for company
    started = time.monotonic()
    unbatched.stub.ModelInfer(_request(PATIENT, batches[0]), timeout=30)
    assert time.monotonic() - started < PATIENCE_S / 2


def test_the_served_config_keeps_the_dynamic_batching_block(fake: Fake) -> None:
    config = fake.stub.ModelConfig(pb.ModelConfigRequest(name=RAGGED), timeout=10).config
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds == 20_000
    assert config.parameters["dynamic_batching"].string_value == "on"
    assert [g.count for g in config.instance_group] == [1]


def test_an_instance_count_of_one_runs_one_at_a_time(fake: Fake) -> None:
    plane = fake.server.app.plane  # type: ignore[union-attr]
    slow = infer_request(SINGLE, {"iterations": np.array([20_000], np.int64)})
    calls = [fake.stub.ModelInfer.future(slow, timeout=120) for _ in range(3)]
    most = 0
    while not all(c.done() for c in calls):
        most = max(most, plane.model(SINGLE).running)
        time.sleep(0.002)
    assert all(list(c.result().outputs[0].shape) == [96, 96] for c in calls)
    assert most == 1


def test_a_run_past_its_deadline_frees_its_instance_when_onnxruntime_stops(fake: Fake) -> None:
    plane = fake.server.app.plane  # type: ignore[union-attr]
    endless = infer_request(SINGLE, {"iterations": np.array([10_000_000], np.int64)})
    with pytest.raises(grpc.RpcError) as caught:
        fake.stub.ModelInfer(endless, timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    quick = fake.stub.ModelInfer.future(
        infer_request(SINGLE, {"iterations": np.array([1], np.int64)}), timeout=60
    )
    most = 0
    while not quick.done():
        most = max(most, plane.model(SINGLE).running)
        time.sleep(0.002)
    assert list(quick.result().outputs[0].shape) == [96, 96]
    assert most <= 1  # the stopped run and the quick one never overlapped


# ---- quiet models (dynamic_batching_skip_delay_when_quiet, the default) ----


def _queue_stats(stub: pb_grpc.GRPCInferenceServiceStub, name: str) -> tuple[int, int]:
    """(count, ns) of ``name``'s queue duration statistics."""
    stats = stub.ModelStatistics(pb.ModelStatisticsRequest(name=name), timeout=10).model_stats[0]
    return int(stats.inference_stats.queue.count), int(stats.inference_stats.queue.ns)


def _wait_quiet(scheduler: Scheduler | None) -> None:
    """Until no traffic of an earlier test counts against the model."""
    while scheduler is not None and time.monotonic() < scheduler._traffic_until:
        time.sleep(0.05)


def test_a_lone_request_on_a_quiet_model_runs_at_once(quiet: Fake) -> None:
    plane = quiet.server.app.plane  # type: ignore[union-attr]
    assert plane.settings.dynamic_batching_skip_delay_when_quiet  # the default
    _wait_quiet(plane.model(PATIENT).scheduler)
    rng = np.random.default_rng(14)
    for attempt in range(2):  # the first makes the scheduler; the second finds it quiet again
        ids = _ids(rng, [4])
        before, queued = _stats(quiet.stub, PATIENT), _queue_stats(quiet.stub, PATIENT)
        scheduler = plane.model(PATIENT).scheduler
        starts = scheduler.quiet_starts if scheduler is not None else 0
        started = time.monotonic()
        got = outputs_of(quiet.stub.ModelInfer(_request(PATIENT, ids), timeout=30))
        waited = time.monotonic() - started
        _assert_same(got, ragged_reference(ids), f"quiet {attempt}")
        assert waited < PATIENCE_S / 2, waited  # Triton's behaviour: at least PATIENCE_S
        # the statistics: one run of one row, next to no time queued (Triton's: PATIENCE_S)
        assert _stats(quiet.stub, PATIENT) == (before[0] + 1, before[1] + 1)
        count, ns = _queue_stats(quiet.stub, PATIENT)
        assert count == queued[0] + 1 and ns - queued[1] < 0.1 * PATIENCE_S * 1e9
        scheduler = plane.model(PATIENT).scheduler
        assert scheduler is not None and scheduler.quiet_starts == starts + 1


def test_a_burst_on_a_quiet_model_still_merges(quiet: Fake) -> None:
    rng = np.random.default_rng(15)
    batches = [_ids(rng, [length]) for length in (2, 7, 3, 5, 4, 6, 1, 7) * 4]
    _wait_quiet(quiet.server.app.plane.model(RAGGED).scheduler)  # type: ignore[union-attr]
    _, runs = _burst(quiet, batches)
    assert runs < len(batches) / 2  # runs of several requests


def _scheduler(
    root: Path, policy: Policy, threshold_us: int = 0, seconds: float = 0.0
) -> tuple[Scheduler, ModelStats, list[str]]:
    """PATIENT's model under ``policy``, recording the thread of every run; each run takes at
    least ``seconds`` (unless told to stop)."""
    entry = repo.load_entry(root / PATIENT)
    model = runtime.load(entry, 1, runtime.ProviderPolicy("cpu"), 2, small_run_us=threshold_us)
    real = model.predict
    threads: list[str] = []

    def predict(feeds: Any, outputs: Any, options: Any) -> Any:
        threads.append(threading.current_thread().name)
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if options.terminate:
                raise RuntimeError("Exiting due to terminate flag being set to true")
            time.sleep(0.01)
        return real(feeds, outputs, options)

    model.predict = predict  # type: ignore[method-assign,assignment]
    stats = ModelStats(PATIENT, "1")
    executor = ThreadPoolExecutor(2, thread_name_prefix="worker")
    return Scheduler(model, executor, set(), stats, policy, 1), stats, threads


def test_a_request_under_traffic_waits_the_delay_and_a_quiet_one_does_not(
    fake_root: Path,
) -> None:
    """Five requests at once: the first finds the model quiet and runs alone at once, the other
    four queue and leave together (preferred size 4). The merged run leaves the model busy for
    ``quiet_after_delays`` delays: a request right after waits the delay, as Triton's would; one
    after that quiet time runs at once."""
    delay = 0.3
    policy = Policy(8, (4,), delay, skip_when_quiet=True, quiet_after_delays=2)
    assert policy.quiet_after_s == 2 * delay
    scheduler, stats, _ = _scheduler(fake_root, policy)
    rng = np.random.default_rng(16)
    burst = [{"ids": _ids(rng, [n])} for n in (3, 5, 2, 4, 6)]
    alone = {"ids": _ids(rng, [4])}

    async def timed(feeds: dict[str, np.ndarray]) -> tuple[Any, float]:
        started = time.monotonic()
        result = await scheduler.submit(feeds, OUTPUTS, None)
        return result, time.monotonic() - started

    async def main() -> list[tuple[Any, float]]:
        results = list(await asyncio.gather(*(timed(f) for f in burst)))
        results.append(await timed(alone))  # right after the merged run: traffic
        await asyncio.sleep(policy.quiet_after_s + 0.1)
        results.append(await timed(alone))  # after the quiet time
        return results

    results = asyncio.run(main())
    for feeds, (result, _) in zip([*burst, alone, alone], results, strict=True):
        _assert_same(result.outputs, ragged_reference(feeds["ids"]), "scheduler")
    waits = [w for _, w in results]
    assert max(waits[:5]) < delay / 2, waits  # 1 quiet + 4 reaching the preferred size
    assert delay * 0.9 <= waits[5] < delay * 3, waits  # under traffic: Triton's wait
    assert waits[6] < delay / 2, waits  # quiet again
    assert scheduler.quiet_starts == 2
    assert (stats.execution_count, stats.inference_count) == (4, 7)


def test_traffic_keeps_a_model_busy_for_ten_delays(fake_root: Path) -> None:
    config = repo.load_entry(fake_root / RAGGED).config
    policy = Policy.of(config, 8, skip_when_quiet=True)
    assert policy is not None and policy.skip_when_quiet
    assert policy.quiet_after_s == pytest.approx(10 * 0.020)  # RAGGED's 20 ms delay
    assert Policy.of(config, 8) == Policy(8, (4, 8), 0.020)  # Triton's by default


def test_without_the_setting_a_lone_request_waits_as_with_triton(fake_root: Path) -> None:
    delay = 0.3
    scheduler, stats, _ = _scheduler(fake_root, Policy(8, (4,), delay))
    feeds = {"ids": _ids(np.random.default_rng(17), [4])}

    async def main() -> float:
        started = time.monotonic()
        await scheduler.submit(feeds, OUTPUTS, None)
        return time.monotonic() - started

    assert asyncio.run(main()) >= delay * 0.9
    assert scheduler.quiet_starts == 0 and stats.execution_count == 1


def test_quiet_runs_go_to_a_worker_so_a_burst_is_seen(fake_root: Path) -> None:
    """A quiet request runs on a worker thread even when its run is small (the single-threaded
    session): while it runs, the next requests of a burst find it in and gather."""
    scheduler, stats, threads = _scheduler(
        fake_root, Policy(8, (2,), 0.5, skip_when_quiet=True), threshold_us=ALWAYS_SMALL_US
    )
    assert scheduler.model.small_session is not None
    rng = np.random.default_rng(18)
    burst = [{"ids": _ids(rng, [n])} for n in (2, 3, 2)]

    async def main() -> tuple[str, list[Any]]:
        loop_thread = threading.current_thread().name
        return loop_thread, await asyncio.gather(
            *(scheduler.submit(f, OUTPUTS, None) for f in burst)
        )

    loop_thread, results = asyncio.run(main())
    for feeds, result in zip(burst, results, strict=True):
        _assert_same(result.outputs, ragged_reference(feeds["ids"]), "burst")
    assert len(threads) == 2 and all(t.startswith("worker") for t in threads), threads
    assert loop_thread not in threads
    assert scheduler.quiet_starts == 1 and stats.execution_count == 2  # alone, then merged


# ---- the scheduler alone: members leaving a merged run ----


def _slow_scheduler(
    root: Path, seconds: float, skip_when_quiet: bool = False
) -> tuple[Scheduler, ModelStats, Callable[[], int]]:
    """PATIENT's model whose every run takes ``seconds`` (unless told to stop)."""
    policy = Policy(8, (3,), 0.5, skip_when_quiet)
    scheduler, stats, threads = _scheduler(root, policy, seconds=seconds)
    return scheduler, stats, lambda: len(threads)


def test_a_quiet_request_past_its_deadline_stops_its_run_and_frees_the_instance(
    fake_root: Path,
) -> None:
    scheduler, stats, runs = _slow_scheduler(fake_root, 30.0, skip_when_quiet=True)
    feeds = {"ids": _ids(np.random.default_rng(19), [3])}

    async def main() -> float:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="did not finish"):
            await scheduler.submit(feeds, OUTPUTS, started + 0.3)
        assert scheduler.slots is not None
        while scheduler.slots.locked():  # until onnxruntime (here: the fake) stops
            await asyncio.sleep(0.01)
        return time.monotonic() - started

    assert asyncio.run(main()) < 5  # not the 30 s the run would take
    assert runs() == 1 and scheduler.quiet_starts == 1 and stats.execution_count == 0


def test_a_member_leaving_a_merged_run_does_not_stop_it(fake_root: Path) -> None:
    scheduler, stats, runs = _slow_scheduler(fake_root, 1.0)
    rng = np.random.default_rng(11)
    feeds = [{"ids": _ids(rng, [n])} for n in (2, 4, 3)]

    async def main() -> list[Any]:
        now = time.monotonic()
        deadlines = [now + 0.3, None, now + 20]  # the first leaves mid-run; the others wait
        tasks = [
            asyncio.create_task(scheduler.submit(f, OUTPUTS, d))
            for f, d in zip(feeds, deadlines, strict=True)
        ]
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[0], DeadlineExceeded)
    assert "did not finish" in str(results[0])
    for f, result in zip(feeds[1:], results[1:], strict=True):
        _assert_same(result.outputs, ragged_reference(f["ids"]), "stayed")
    assert runs() == 1 and stats.execution_count == 1 and stats.inference_count == 3


def test_a_merged_run_everyone_left_is_stopped(fake_root: Path) -> None:
    scheduler, stats, runs = _slow_scheduler(fake_root, 30.0)
    rng = np.random.default_rng(12)
    feeds = [{"ids": _ids(rng, [n])} for n in (2, 4, 3)]

    async def main() -> float:
        tasks = [asyncio.create_task(scheduler.submit(f, OUTPUTS, None)) for f in feeds]
        while not scheduler.runs:
            await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        started = time.monotonic()
        while scheduler.runs:
            await asyncio.sleep(0.01)
        return time.monotonic() - started

    assert asyncio.run(main()) < 5  # not the 30 s the run would take
    assert runs() == 1 and stats.execution_count == 0


# ---- merging rules without a server ----


def test_layout_pads_and_crops_each_request_back(fake_root: Path) -> None:
    model = runtime.load(repo.load_entry(fake_root / RAGGED), 1, runtime.ProviderPolicy("cpu"), 1)
    layout = Layout(model)
    assert layout.ragged and not layout.problems
    rng = np.random.default_rng(13)
    members = [{"ids": _ids(rng, [n])} for n in (2, 6, 4)] + [{"ids": _ids(rng, [5, 1])}]
    assert len({layout.key(m) for m in members}) == 1
    merged = layout.merge(members)
    assert merged["ids"].shape == (5, 6)
    assert (merged["ids"][0, 2:] == 0).all()  # padded with pad_id
    options = ort.RunOptions()
    results = model.predict(merged, layout.needed(["weights", "decoded_scores"]), options)
    assert set(results) == {"weights", "decoded_scores", "decoded_ids"}  # T is read off the ids
    for feeds, own in zip(members, layout.split(results, members), strict=True):
        assert own["weights"].shape == feeds["ids"].shape
        want = ragged_reference(feeds["ids"])
        _assert_same(own, {name: want[name] for name in own}, "split")


def test_a_ragged_card_with_a_legend_the_batcher_cannot_read_merges_same_shapes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ragged_model(tmp_path / "unreadable")
    card = (tmp_path / "unreadable" / "card.json").read_text()
    (tmp_path / "unreadable" / "card.json").write_text(card.replace("(B, L + 1)", "(B, L * 2)"))
    model = runtime.load(
        repo.load_entry(tmp_path / "unreadable"), 1, runtime.ProviderPolicy("cpu"), 1
    )
    with caplog.at_level(logging.WARNING, logger="attentive.server"):
        layout = Layout(model)
    assert not layout.ragged
    assert any("shifted" in r.getMessage() for r in caplog.records)
    short, long = np.array([[1, 2]]), np.array([[1, 2, 3]])
    assert layout.key({"ids": short}) != layout.key({"ids": long})
    assert layout.key({"ids": short}) == layout.key({"ids": short + 1})


def test_serve_has_a_dynamic_batching_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from attentive.commands import serve

    monkeypatch.delenv("ATTENTIVE_DYNAMIC_BATCHING", raising=False)
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    assert serve._settings(parser.parse_args([])).dynamic_batching is True
    assert serve._settings(parser.parse_args(["--no-dynamic-batching"])).dynamic_batching is False
    monkeypatch.setenv("ATTENTIVE_DYNAMIC_BATCHING", "false")
    assert serve._settings(parser.parse_args([])).dynamic_batching is False
    assert serve._settings(parser.parse_args(["--dynamic-batching"])).dynamic_batching is True
