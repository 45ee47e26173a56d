"""The model runtime: one onnxruntime session per model version, with load / predict / unload.

Execution providers: with ``execution_provider=auto`` the CUDA provider is asked for only when
onnxruntime offers it and it actually loads on this machine (probed once, quietly, on the first
model); otherwise every model runs on the CPU provider. Each model records the provider its session
really got, which ModelConfig, the repository index and the log report."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument as OrtInvalidArgument

from server import codecs
from server.codecs import ONNX_TO_DATATYPE, TextCodec
from server.errors import InvalidInput
from server.repository import ModelEntry, config_specs
from taxonomy.card import TensorSpec, TextInput, TextOutput

if TYPE_CHECKING:
    from server.batching import Scheduler
    from server.settings import ServerSettings

log = logging.getLogger("attentive.server")

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def cuda_options(
    device_id: int = 0,
    conv_algo_search: str = "HEURISTIC",
    tf32: bool = False,
    mem_limit_mb: int = 0,
) -> dict[str, str]:
    """The CUDA provider options the server sets (onnxruntime's names, string values)."""
    options = {
        "device_id": str(device_id),
        "cudnn_conv_algo_search": conv_algo_search,
        "use_tf32": "1" if tf32 else "0",
        # the arena grows by what a request needs, not by doubling: variable lengths would
        # otherwise leave most of a large arena idle.
        "arena_extend_strategy": "kSameAsRequested",
        "do_copy_in_default_stream": "1",
    }
    if mem_limit_mb:
        options["gpu_mem_limit"] = str(mem_limit_mb * 1024 * 1024)
    return options


def policy_for(settings: ServerSettings) -> ProviderPolicy:
    """The provider policy, CUDA options and I/O binding as ``settings`` ask for them."""
    cuda = cuda_options(
        settings.cuda_device_id,
        settings.cuda_conv_algo_search,
        settings.cuda_tf32,
        settings.cuda_mem_limit_mb,
    )
    return ProviderPolicy(settings.execution_provider, cuda, settings.cuda_io_binding)


class ProviderPolicy:
    """Which providers to ask for; learns once whether CUDA loads here."""

    def __init__(
        self,
        preference: str = "auto",
        cuda: dict[str, str] | None = None,
        io_binding: bool = True,
    ) -> None:
        self.preference = preference
        self.cuda_options = cuda if cuda is not None else cuda_options()
        self.io_binding = io_binding
        self._cuda: bool | None = None if CUDA in ort.get_available_providers() else False
        self._lock = threading.Lock()
        if self._cuda is False and preference != "cpu":
            log.info("onnxruntime offers no CUDA provider here; models run on CPU")

    def session(self, model: bytes | str, options: ort.SessionOptions) -> ort.InferenceSession:
        if self.preference == "cpu":
            return ort.InferenceSession(model, options, providers=[CPU])
        with self._lock:
            if self._cuda is None:
                return self._probe(model, options)
        if self._cuda:
            return ort.InferenceSession(model, options, providers=self._cuda_providers())
        if self.preference == "cuda":
            raise RuntimeError("execution_provider=cuda but the CUDA provider does not load here")
        return ort.InferenceSession(model, options, providers=[CPU])

    def _probe(self, model: bytes | str, options: ort.SessionOptions) -> ort.InferenceSession:
        preload = getattr(ort, "preload_dlls", None)
        if preload is not None:
            quiet = io.StringIO()
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                try:
                    preload()
                except Exception as error:  # noqa: BLE001 - only a hint; the session decides
                    log.debug("onnxruntime.preload_dlls failed: %s", error)
            if quiet.getvalue().strip():
                log.debug("preload_dlls: %s", quiet.getvalue().strip())
        ort.set_default_logger_severity(4)  # the failed CUDA load would log errors once per model
        severity = options.log_severity_level
        options.log_severity_level = 4
        try:
            session = ort.InferenceSession(model, options, providers=self._cuda_providers())
        finally:
            options.log_severity_level = severity
            ort.set_default_logger_severity(3)
        self._cuda = session.get_providers()[0] == CUDA
        if self._cuda:
            log.info("CUDA execution provider loads here: models run on CUDA")
        elif self.preference == "cuda":
            raise RuntimeError("execution_provider=cuda but the CUDA provider does not load here")
        else:
            log.warning(
                "CUDA execution provider is installed but does not load on this machine (no GPU "
                "or CUDA/cuDNN libraries); models run on CPU"
            )
        return session

    def _cuda_providers(self) -> list[str | tuple[str, dict[str, str]]]:
        return [(CUDA, self.cuda_options), CPU]


@dataclass
class LoadedModel:
    """A model version ready to run, with the io it exposes (graph tensors plus text tensors)."""

    entry: ModelEntry
    version: int
    session: ort.InferenceSession
    provider: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    text: dict[str, TextCodec] = field(default_factory=dict)  # tokenizer file -> codec
    io_binding: bool = False  # run through onnxruntime's I/O binding (CUDA sessions)
    device: tuple[str, int] = ("cpu", 0)  # where bound outputs are allocated: (type, id)
    running: int = 0  # onnxruntime runs in progress (a terminated run stops counting)
    scheduler: Scheduler | None = field(default=None, repr=False)  # its runs (server/batching)
    # A single-threaded session for runs whose inputs hold at most ``small_elements`` elements
    # (see ``small_runs``); None: every run uses ``session``.
    small_session: ort.InferenceSession | None = field(default=None, repr=False)
    small_elements: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.entry.name

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)

    # ---- io lookups, made once per load (every request reads them) ----

    @cached_property
    def graph_inputs(self) -> list[str]:
        return [a.name for a in self.session.get_inputs()]

    @cached_property
    def graph_outputs(self) -> list[str]:
        return [a.name for a in self.session.get_outputs()]

    @cached_property
    def input_specs(self) -> dict[str, TensorSpec]:
        """The graph inputs' specs by name."""
        graph = set(self.graph_inputs)
        return {t.name: t for t in self.inputs if t.name in graph}

    @cached_property
    def text_inputs(self) -> dict[str, TextInput]:
        return {t.name: t for t in self.entry.card.io.text_inputs} if self.entry.card else {}

    @cached_property
    def text_outputs(self) -> dict[str, TextOutput]:
        return {t.name: t for t in self.entry.card.io.text_outputs} if self.entry.card else {}

    @cached_property
    def output_names(self) -> list[str]:
        """Every output it exposes (graph and text), in order."""
        return [t.name for t in self.outputs]

    @cached_property
    def node_axes(self) -> frozenset[tuple[str, int]]:
        """(input, dim) pairs that count graph nodes: what some index input points into."""
        return frozenset(
            (t.index_of.input, t.index_of.dim) for t in self.inputs if t.index_of is not None
        )

    # ---- runs ----

    def session_for(self, feeds: dict[str, np.ndarray]) -> ort.InferenceSession:
        """The single-threaded session for a run expected to be small (see ``small_runs``)."""
        small = self.small_session
        if small is not None and sum(a.size for a in feeds.values()) <= self.small_elements:
            return small
        return self.session

    def predict(
        self, feeds: dict[str, np.ndarray], outputs: list[str], run_options: ort.RunOptions
    ) -> dict[str, np.ndarray]:
        with self._lock:
            self.running += 1
        try:
            if self.io_binding:
                results = self._run_bound(feeds, outputs, run_options)
            else:
                results = self.session_for(feeds).run(outputs, feeds, run_options)
        except OrtInvalidArgument as error:
            raise InvalidInput(f"onnxruntime rejected the inputs: {error}") from None
        finally:
            with self._lock:
                self.running -= 1
        return dict(zip(outputs, results, strict=True))

    def _run_bound(
        self, feeds: dict[str, np.ndarray], outputs: list[str], run_options: ort.RunOptions
    ) -> list[np.ndarray]:
        """One host-to-device copy per input; only the requested outputs come back to the host
        (onnxruntime allocates them on the device, sized by the run, then copies them once)."""
        binding = self.session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        for name in outputs:
            binding.bind_output(name, *self.device)
        self.session.run_with_iobinding(binding, run_options)
        return list(binding.copy_outputs_to_cpu())


def _session_specs(session: ort.InferenceSession, batched: bool) -> tuple[list[TensorSpec], ...]:
    def spec(arg: Any) -> TensorSpec:
        shape = [d if isinstance(d, int) else -1 for d in arg.shape]
        datatype = ONNX_TO_DATATYPE.get(arg.type, "BYTES")
        return TensorSpec.model_validate({"name": arg.name, "datatype": datatype, "shape": shape})

    return [spec(a) for a in session.get_inputs()], [spec(a) for a in session.get_outputs()]


def _check_io(
    entry: ModelEntry, session: ort.InferenceSession, specs: list[TensorSpec], kind: str
) -> None:
    graph = {a.name for a in (session.get_inputs() if kind == "input" else session.get_outputs())}
    declared = {t.name for t in specs}
    if declared != graph:
        raise ValueError(
            f"{kind}s declared {sorted(declared)} differ from the ONNX graph's {sorted(graph)}"
        )


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def intra_op_threads(runs_at_once: int, cores: int | None = None) -> int:
    """onnxruntime intra-op threads for a session of which ``runs_at_once`` runs may go at once
    (its instance count, at most the inference workers): the cores split between them, so a
    model under full load uses the whole machine and no more. Several busy models share the cores
    through the OS; onnxruntime's threads do not spin (see ``load``), so an idle session's pool
    costs nothing and an oversubscribed one only some context switches, whereas a smaller pool
    would leave cores idle whenever one model has the load."""
    cores = available_cores() if cores is None else cores
    return max(1, cores // max(1, runs_at_once))


def load(
    entry: ModelEntry,
    version: int,
    policy: ProviderPolicy,
    intra_op: int = 0,
    inter_op: int = 0,
    spin: bool = False,
    small_run_us: int = 0,
) -> LoadedModel:
    """Create the session; raises (with the reason) if the model cannot be served.

    ``spin``: onnxruntime's pool threads busy-wait for work between operators. That shaves a
    little latency off a lone request on idle, dedicated cores, but with several requests running
    at once (inference_workers sessions' pools) or on a shared machine the spinning threads starve
    the working ones: measured on 2 busy cores, 64 clients got 21-43 requests/s with spinning and
    147-170 without, and even one client 11 vs 83. So it is off unless asked for.

    ``small_run_us``: see ``small_runs`` (0: off)."""
    if entry.error:
        raise ValueError(entry.error)
    options = session_options(intra_op, inter_op, spin)
    path = entry.model_file(version)
    shown = f"{entry.name}/{path.relative_to(entry.path)}"  # clients see repository paths only
    if not path.is_file():
        raise FileNotFoundError(f"{shown} does not exist")
    try:
        session = policy.session(str(path), options)
    except Exception as error:
        if not type(error).__module__.startswith("onnxruntime"):
            raise
        detail = str(error).replace(str(path), shown)
        raise ValueError(f"{shown} is not a loadable ONNX model: {detail}") from None
    provider = session.get_providers()[0]
    if entry.card is not None:
        inputs, outputs = list(entry.card.io.inputs), list(entry.card.io.outputs)
    elif entry.config.input and entry.config.output:
        inputs, outputs = config_specs(entry.config)
    else:
        inputs, outputs = _session_specs(session, entry.config.max_batch_size > 0)
    _check_io(entry, session, inputs, "input")
    _check_io(entry, session, outputs, "output")
    model = LoadedModel(entry, version, session, provider, inputs, outputs)
    if provider == CUDA:
        model.io_binding = policy.io_binding
        model.device = ("cuda", int(policy.cuda_options.get("device_id", "0")))
    if entry.card is not None:
        io_ = entry.card.io
        batch = [-1]
        for t in io_.text_inputs:
            _codec(model, t.tokenizer)
            model.inputs.append(TensorSpec(name=t.name, datatype="BYTES", shape=batch))
        for o in io_.text_outputs:
            _codec(model, o.tokenizer)
            model.outputs.append(TensorSpec(name=o.name, datatype="BYTES", shape=batch))
    if small_run_us and provider == CPU and (intra_op or available_cores()) > 1:
        small_runs(model, str(path), session_options(1, inter_op, spin), small_run_us)
    return model


def session_options(intra_op: int = 0, inter_op: int = 0, spin: bool = False) -> ort.SessionOptions:
    """The server's session options (``load`` says why each is set)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Every graph rewrite onnxruntime has (constant folding, fusions incl. attention and layout
    # transforms): sessions are made once and run many times.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One request's operators run in order (a batch's parallelism is within each operator); the
    # server runs several requests at once instead (inference_workers, instance counts).
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # The CPU arena keeps freed blocks for the next run instead of returning them to malloc;
    # memory patterns reuse one plan for runs of the same shapes (what batching produces).
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = True
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if intra_op:
        options.intra_op_num_threads = intra_op
    if inter_op:
        options.inter_op_num_threads = inter_op
    return options


# Timed runs of a card example at load (after one warm-up run).
EXAMPLE_RUNS = 5


def example_feeds(model: LoadedModel) -> dict[str, np.ndarray] | None:
    """The first card example that feeds the graph directly (no text inputs), as arrays."""
    card = model.entry.card
    if card is None:
        return None
    graph = set(model.graph_inputs)
    for example in card.examples:
        if {t.name for t in example.inputs} == graph:
            return {
                t.name: codecs.from_list(t.name, t.datatype, t.shape, t.data)
                for t in example.inputs
            }
    return None


def small_runs(
    model: LoadedModel, path: str, single: ort.SessionOptions, threshold_us: int
) -> float | None:
    """Give ``model`` a single-threaded session (``single``: options with 1 intra-op thread) when
    its card example runs in under ``threshold_us`` on its (multi-threaded) session, for the runs
    expected to stay under the threshold too: inputs of at most the example's elements times
    threshold / example time. Returns the example's median run time in microseconds (None: no
    example to time).

    Why: onnxruntime's pool threads do not spin (see ``load``), so each operator that splits
    its work wakes them and waits for them. On a run of a few hundred microseconds that costs
    more than it saves, worst on a busy machine where a woken thread may wait for a core:
    measured on 2 busy cores, the tiny `lin` model served with 2 threads spent 550-800 us in
    onnxruntime per request, with 1 thread 270-350 us (in-process, spinning: 180 us). Larger
    runs (merged batches, long inputs) keep the multi-threaded session, where threads pay off."""
    feeds = example_feeds(model)
    if feeds is None:
        return None
    names = model.graph_outputs
    try:
        model.session.run(names, feeds)
        times = []
        for _ in range(EXAMPLE_RUNS):
            began = time.perf_counter()
            model.session.run(names, feeds)
            times.append(time.perf_counter() - began)
            if times[-1] * 1e6 > 10 * threshold_us:  # clearly not small: no need for more
                break
    except Exception as error:  # noqa: BLE001 - the model still serves, multi-threaded
        log.warning("model %s: its example does not run (%s)", model.name, error)
        return None
    median = sorted(times)[len(times) // 2] * 1e6
    if median >= threshold_us:
        return median
    model.small_session = ort.InferenceSession(path, single, providers=[CPU])
    # The runs expected to stay under the threshold, taking the cost as proportional to the
    # input size (generous for such runs: most of their time is per-operator overhead).
    elements = sum(a.size for a in feeds.values())
    model.small_elements = max(elements, int(elements * threshold_us / max(median, 1.0)))
    log.info(
        "model %s: its example runs in %.0f us: runs of up to %d input elements use 1 thread",
        model.name,
        median,
        model.small_elements,
    )
    return median


def _codec(model: LoadedModel, tokenizer: str) -> TextCodec:
    if tokenizer not in model.text:
        io_ = model.entry.card.io  # type: ignore[union-attr]
        path = model.entry.path / tokenizer
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer {tokenizer} missing from {model.entry.name}/")
        pad = io_.pad_id if io_.pad_id is not None else 0
        model.text[tokenizer] = TextCodec(path, pad, io_.bos_id, io_.eos_id)
    return model.text[tokenizer]
