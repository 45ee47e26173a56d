"""The data plane: what the server does, independent of the protocol that asks for it.

Loads the repository's models (each failure recorded, never fatal), answers health, metadata,
configuration, statistics and repository questions, runs inference off the event loop with the
client's deadline, and answers taxonomy questions from the same repository."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from protos.gen.inference import model_config_pb2 as mc
from server import repository, runtime
from server.batching import Policy, Scheduler, describe
from server.codecs import datatype_of
from server.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    ModelUnavailable,
    Overloaded,
    ShuttingDown,
)
from server.messages import (
    IndexEntry,
    InferRequest,
    InferResponse,
    ModelMetadata,
    ModelStats,
    ServerMetadata,
    Tensor,
    TensorMetadata,
)
from server.runtime import LoadedModel
from server.settings import ServerSettings
from server.validate import (
    Limits,
    feeds_for,
    infer_parameters,
    model_name,
    output_names,
    repository_name,
    shown,
)
from taxonomy.query import CardEntry, Coverage, Query, coverage, filter_cards, find_card, load_cards

log = logging.getLogger("attentive.server")

SERVER_NAME = "attentive"
SERVER_VERSION = "0.1.0"
EXTENSIONS = ["model_repository", "model_configuration", "statistics", "attentive_taxonomy"]


@dataclass
class ModelState:
    entry: repository.ModelEntry
    state: str = "UNAVAILABLE"  # READY, UNAVAILABLE, LOADING, UNLOADING
    reason: str = ""
    loaded: dict[int, LoadedModel] | None = None


class DataPlane:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.repository = Path(settings.repository)
        self.policy = runtime.policy_for(settings)
        self.executor = ThreadPoolExecutor(settings.inference_workers, thread_name_prefix="ort")
        # Loads get their own thread: a (re)load never waits behind busy inference workers.
        self.loader = ThreadPoolExecutor(1, thread_name_prefix="load")
        self.limits = Limits.of(settings)
        self.inflight = 0  # inference requests admitted and not yet answered
        self.rejected = 0  # refused for max_concurrent_requests
        self._locks: dict[str, asyncio.Lock] = {}
        self._runs: set[ort.RunOptions] = set()  # onnxruntime runs in progress
        self.models: dict[str, ModelState] = {}
        self.stats: dict[tuple[str, str], ModelStats] = {}
        self.pending: Counter[tuple[str, str]] = Counter()
        self.cards: list[CardEntry] = []
        self.started = False
        self.stopping = False

    # ---- lifecycle ----

    async def load_all(self) -> None:
        """Scan the repository and load every model; one failure never stops the others."""
        self.cards = load_cards(self.repository)
        for entry in repository.scan(self.repository):
            self.models[entry.name] = ModelState(entry, "LOADING")
        for name, state in list(self.models.items()):
            try:
                loaded = await self._open(state.entry)
            except Exception as error:  # noqa: BLE001 - reported, and the others still load
                self.models[name] = ModelState(
                    state.entry, "UNAVAILABLE", f"failed to load: {error}"
                )
                log.error("model %s failed to load: %s", name, error)
            else:
                self.models[name] = ModelState(state.entry, "READY", "", loaded)
        self.started = True
        ready = [n for n, s in self.models.items() if s.state == "READY"]
        log.info("serving %d of %d models: %s", len(ready), len(self.models), ", ".join(ready))

    async def _open(self, entry: repository.ModelEntry) -> dict[int, LoadedModel]:
        """Sessions for every served version of ``entry``; raises with the reason."""
        loop = asyncio.get_running_loop()
        loaded: dict[int, LoadedModel] = {}
        for version in entry.versions or [0]:
            loaded[version] = await loop.run_in_executor(
                self.loader,
                runtime.load,
                entry,
                version,
                self.policy,
                self.settings.intra_op_threads
                or runtime.intra_op_threads(self._runs_at_once(entry)),
                self.settings.inter_op_threads,
                self.settings.spin_wait,
                # a thread count the operator chose stands for every run
                0 if self.settings.intra_op_threads else self.settings.small_run_threshold_us,
            )
        for version, model in loaded.items():
            self.stats.setdefault((entry.name, str(version)), ModelStats(entry.name, str(version)))
            log.info("model %s version %d ready on %s", entry.name, version, model.provider)
        return loaded

    def _runs_at_once(self, entry: repository.ModelEntry) -> int:
        """How many runs of ``entry`` may go at once: its instances, at most the workers."""
        workers = self.settings.inference_workers
        return min(entry.instances or workers, workers)

    async def load(self, name: str) -> None:
        """(Re)load one model from the repository, rereading its folder.

        A model that is serving keeps serving its previous load until the new one is ready, then
        the two swap in one step: no request fails, and requests in flight finish on the version
        they started with. If the reload fails the previous load keeps serving (as Triton does)
        and the caller is told why; a model that was not serving becomes UNAVAILABLE with the
        reason."""
        model_name(name)
        folder = self.repository / name
        if not folder.is_dir():
            raise ModelNotFound(f"model '{name}' is not in the repository {self.repository}")
        if not folder.resolve().is_relative_to(self.repository.resolve()):
            raise InvalidInput(f"model_name '{name}': its folder resolves outside the repository")
        async with self._locks.setdefault(name, asyncio.Lock()):
            loop = asyncio.get_running_loop()
            entry = await loop.run_in_executor(self.loader, repository.load_entry, folder)
            old = self.models.get(name)
            serving = old if old is not None and old.state == "READY" and old.loaded else None
            if serving is None:
                self.models[name] = ModelState(entry, "LOADING")
            try:
                loaded = await self._open(entry)
            except Exception as error:  # noqa: BLE001 - the caller gets the reason
                if serving is not None:
                    serving.reason = f"reload failed, serving the previous load: {error}"
                    log.error("model %s %s", name, serving.reason)
                    raise ModelUnavailable(
                        f"model '{name}': reload failed ({error}); the previous load keeps serving"
                    ) from None
                self.models[name] = ModelState(entry, "UNAVAILABLE", f"failed to load: {error}")
                log.error("model %s failed to load: %s", name, error)
                raise ModelUnavailable(f"model '{name}': failed to load: {error}") from None
            self.models[name] = ModelState(entry, "READY", "", loaded)  # the swap
            self.cards = await loop.run_in_executor(self.loader, load_cards, self.repository)

    async def unload(self, name: str) -> None:
        """Stop serving ``name``; requests in flight finish on the sessions they hold."""
        async with self._locks.setdefault(model_name(name), asyncio.Lock()):
            state = self._state(name)
            self.models[name] = ModelState(state.entry, "UNAVAILABLE", "unloaded")
        log.info("model %s unloaded", name)

    def begin_shutdown(self) -> None:
        self.stopping = True

    async def drained(self, timeout_s: float, poll_s: float = 0.02) -> bool:
        """Wait until every admitted inference request is answered (True) or ``timeout_s``
        passes (False)."""
        deadline = time.monotonic() + timeout_s
        while self.inflight and time.monotonic() < deadline:
            await asyncio.sleep(poll_s)
        return not self.inflight

    def terminate_runs(self) -> int:
        """Tell every onnxruntime run in progress to stop (the grace period is over)."""
        runs = list(self._runs)
        for options in runs:
            options.terminate = True
        return len(runs)

    def close(self) -> None:
        for state in self.models.values():
            for model in (state.loaded or {}).values():
                if model.scheduler is not None:
                    model.scheduler.close()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.loader.shutdown(wait=True, cancel_futures=True)

    # ---- health and metadata ----

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        """Ready once every model has been tried (those that load are ready), until shutdown.

        A model that fails to load is reported (ModelReady false, RepositoryIndex reason) but
        does not hold the server back: the others serve."""
        return self.started and not self.stopping

    def loadable_failures(self) -> list[str]:
        return [n for n, s in self.models.items() if s.state != "READY"]

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata(SERVER_NAME, SERVER_VERSION, list(EXTENSIONS))

    def _state(self, name: str) -> ModelState:
        model_name(name)
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFound(f"unknown model '{name}'; models: {known}")
        return self.models[name]

    def model(self, name: str, version: str = "") -> LoadedModel:
        """The ready model version (latest if ``version`` is empty)."""
        state = self._state(name)
        served = state.entry.versions
        if version and not (version.isascii() and version.isdigit() and int(version) in served):
            listed = ", ".join(map(str, served)) or "none"
            raise ModelNotFound(
                f"model '{name}' has no version {shown(version)}; versions: {listed}"
            )
        if state.state != "READY" or not state.loaded:
            raise ModelUnavailable(
                f"model '{name}' is not ready ({state.state.lower()}: {state.reason or 'n/a'})"
            )
        return state.loaded[int(version)] if version else state.loaded[max(state.loaded)]

    def model_ready(self, name: str, version: str = "") -> bool:
        try:
            self.model(name, version)
        except (ModelNotFound, ModelUnavailable):
            return False
        return not self.stopping

    def serving(self, name: str) -> bool:
        """model_ready for names the server found itself (never raises)."""
        try:
            return self.model_ready(name)
        except InvalidInput:
            return False

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        model = self.model(name, version)
        return ModelMetadata(
            name=name,
            versions=[str(v) for v in model.entry.versions],
            platform=model.entry.config.platform or "onnxruntime_onnx",
            inputs=[TensorMetadata(t.name, t.datatype, list(t.shape)) for t in model.inputs],
            outputs=[TensorMetadata(t.name, t.datatype, list(t.shape)) for t in model.outputs],
        )

    def model_config(self, name: str, version: str = "") -> mc.ModelConfig:
        """config.pbtxt as served, plus what the server chose (provider, completed io)."""
        model = self.model(name, version)
        config = mc.ModelConfig()
        config.CopyFrom(model.entry.config)
        if not config.input or not config.output:
            from server.codecs import DATATYPE_TO_CONFIG

            batch = 1 if config.max_batch_size > 0 else 0
            del config.input[:], config.output[:]
            graph_in = {a.name for a in model.session.get_inputs()}
            for t in model.inputs:
                if t.name in graph_in:
                    config.input.add(
                        name=t.name,
                        data_type=mc.DataType.Value(DATATYPE_TO_CONFIG[t.datatype]),
                        dims=t.shape[batch:],
                    )
            graph_out = {a.name for a in model.session.get_outputs()}
            for t in model.outputs:
                if t.name in graph_out:
                    config.output.add(
                        name=t.name,
                        data_type=mc.DataType.Value(DATATYPE_TO_CONFIG[t.datatype]),
                        dims=t.shape[batch:],
                    )
        on_gpu = model.provider == runtime.CUDA
        del config.instance_group[:]
        config.instance_group.add(
            name=f"{name}_0",
            kind=mc.ModelInstanceGroup.KIND_GPU if on_gpu else mc.ModelInstanceGroup.KIND_CPU,
            count=self._runs_at_once(model.entry),
            gpus=[0] if on_gpu else [],
        )
        config.parameters["execution_provider"].string_value = model.provider
        batching = self.settings.dynamic_batching and config.HasField("dynamic_batching")
        config.parameters["dynamic_batching"].string_value = "on" if batching else "off"
        config.parameters["taxonomy"].string_value = "card" if model.entry.card else "unknown"
        return config

    def statistics(self, name: str = "", version: str = "") -> list[ModelStats]:
        if not name:
            return [self.stats[k] for k in sorted(self.stats)]
        self._state(name)
        picked = [s for (n, v), s in sorted(self.stats.items()) if n == name]
        if version:
            picked = [s for s in picked if s.version == version]
            if not picked:
                raise ModelNotFound(f"model '{name}' has no version '{version}'")
        return picked

    def repository_index(self, ready_only: bool = False, name: str = "") -> list[IndexEntry]:
        repository_name(name)
        out = []
        for name, state in sorted(self.models.items()):
            if ready_only and state.state != "READY":
                continue
            versions = state.entry.versions or [0]
            for v in versions:
                out.append(IndexEntry(name, str(v) if v else "", state.state, state.reason))
        return out

    def ready_models(self) -> dict[tuple[str, str], tuple[bool, str]]:
        out = {}
        for name, state in self.models.items():
            for v in state.entry.versions or [0]:
                loaded = (state.loaded or {}).get(v)
                out[(name, str(v))] = (loaded is not None, loaded.provider if loaded else "")
        return out

    # ---- inference ----

    async def infer(self, request: InferRequest, deadline: float | None = None) -> InferResponse:
        """Validate, run off the event loop, assemble. ``deadline``: time.monotonic() limit."""
        if self.stopping:
            raise ShuttingDown("server is shutting down; not accepting new requests")
        if self.inflight >= self.settings.max_concurrent_requests:
            self.rejected += 1
            raise Overloaded(
                f"server busy: {self.inflight} requests in flight (max_concurrent_requests "
                f"{self.settings.max_concurrent_requests}); retry later"
            )
        timeout = infer_parameters(request.parameters)
        if timeout is not None:
            until = time.monotonic() + timeout
            deadline = until if deadline is None else min(deadline, until)
        model = self.model(request.model_name, request.model_version)
        key = (model.name, str(model.version))
        stats = self.stats[key]
        start = time.perf_counter_ns()
        self.pending[key] += 1
        self.inflight += 1
        try:
            response = await self._infer(model, request, deadline, stats, start)
        except BaseException:
            stats.fail.add(time.perf_counter_ns() - start)
            raise
        finally:
            self.pending[key] -= 1
            self.inflight -= 1
        stats.success.add(time.perf_counter_ns() - start)
        stats.last_inference_ms = int(time.time() * 1000)
        return response

    async def _infer(
        self,
        model: LoadedModel,
        request: InferRequest,
        deadline: float | None,
        stats: ModelStats,
        start: int,
    ) -> InferResponse:
        feeds = feeds_for(model, request.inputs, self.limits)
        names = output_names(model, request.outputs)
        text_outputs = model.text_outputs
        wanted = set(names)
        wanted.update(text_outputs[n].ids_output for n in names if n in text_outputs)
        needed = [n for n in model.graph_outputs if n in wanted]
        prepared = time.perf_counter_ns()
        stats.compute_input.add(prepared - start)
        if deadline is not None and deadline <= time.monotonic():
            raise DeadlineExceeded("the request's deadline passed before inference started")
        result = await self._scheduler(model).submit(feeds, needed, deadline)
        results, began, ended = result.outputs, result.began, result.ended
        stats.queue.add(max(0, began - prepared))
        stats.compute_infer.add(ended - began)
        outputs = []
        for name in names:
            if name in text_outputs:
                t = text_outputs[name]
                text = model.text[t.tokenizer].decode(results[t.ids_output])
                outputs.append(Tensor(name, "BYTES", list(text.shape), text))
            else:
                array = results[name]
                outputs.append(Tensor(name, datatype_of(array), list(array.shape), array))
        stats.compute_output.add(time.perf_counter_ns() - max(ended, prepared))
        return InferResponse(model.name, str(model.version), request.id, outputs)

    def _scheduler(self, model: LoadedModel) -> Scheduler:
        """The model's scheduler, made on its first request (on the event loop)."""
        if model.scheduler is None:
            entry = model.entry
            policy = Policy.of(
                entry.config,
                entry.max_batch_size,
                self.settings.dynamic_batching_skip_delay_when_quiet,
            )
            if not self.settings.dynamic_batching:
                policy = None
            stats = self.stats[(model.name, str(model.version))]
            model.scheduler = Scheduler(
                model, self.executor, self._runs, stats, policy, entry.instances
            )
            log.info(
                "model %s version %d: %s",
                model.name,
                model.version,
                describe(policy, entry.instances),
            )
        return model.scheduler

    # ---- taxonomy ----

    def list_models(
        self, all_of: Mapping[str, Sequence[str]], any_of: Mapping[str, Sequence[str]]
    ) -> list[CardEntry]:
        try:
            query = Query(all_of=all_of, any_of=any_of)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        return filter_cards(self.cards, query)

    def card(self, name: str) -> CardEntry:
        model_name(name, "name")
        try:
            return find_card(self.cards, name)
        except LookupError as error:
            raise ModelNotFound(str(error)) from None

    def coverage(self) -> Coverage:
        return coverage(self.cards)
