"""Per-model scheduling of onnxruntime runs, protocol-free: a bounded number of runs of a model at
once (its instance count), and dynamic batching (config.pbtxt's ``dynamic_batching``).

A model with ``dynamic_batching`` and ``max_batch_size > 0`` queues its requests; a collector takes
the first waiting request and keeps gathering the ones that can share its run (server/merging.py)
until their rows reach the largest preferred batch size that fits, or ``max_batch_size``, or
``max_queue_delay_microseconds`` has passed since the first one arrived (never longer: a lone
request runs after at most the delay). It only forms a group when one of the model's instances is
free, so while a run goes on the queue fills and the next run takes what came. The group runs as
one onnxruntime run on the shared executor and each request gets its own rows back.

Quiet models (``Policy.skip_when_quiet``, the server's dynamic_batching_skip_delay_when_quiet): a
request that arrives while no other request of its model is in the scheduler (queued, gathered,
running, or run but not yet answered), with an instance free and no sign of traffic in the last
``QUIET_AFTER_DELAYS`` max_queue_delays (no request arrived while another was in, no merged run
ended), runs at once, alone: waiting the delay would only delay it, since nothing suggests company
is coming. Under traffic every request gathers as above, so batching keeps its throughput; a
request arriving while the quiet one runs queues and gathers as usual. Triton waits the delay in
every case; ``skip_when_quiet=False`` does exactly that. The rule looks at overlap, not at arrival
times alone: a client sending one request after another (each answered before the next) is quiet
every time, whereas "no arrival within the delay" would make its requests alternate between
waiting and not whenever a round trip is shorter than the delay. A quiet request still runs on a
worker thread, never on the event loop: that would save the two thread hand-offs (about 250 us a
request on 2 busy cores), but a run that ends within a few loop turns answers its request before
the next request of a burst reaches the scheduler (gRPC hands calls to the loop one at a time),
so a burst would look like a string of quiet requests and never merge (seen: 8 identical
requests at once ran as 8 runs).

Deadlines and cancellation: a request whose deadline passes, or whose client goes away, while it
waits is taken out of the queue (DEADLINE_EXCEEDED / cancelled). Once a merged run has started, a
member that leaves just drops its share; the run is stopped only at the latest of its members'
deadlines, or when every member has left. A merged run that fails (onnxruntime rejects one
member's values) is run again member by member, so only the bad request fails.

Statistics (Triton's): execution_count counts runs, inference_count counts rows."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import onnxruntime as ort

from protos.gen.inference import model_config_pb2 as mc
from server.errors import DeadlineExceeded
from server.merging import Feeds, Layout
from server.messages import ModelStats
from server.runtime import LoadedModel

log = logging.getLogger("attentive.server")


# A model counts as busy for this many max_queue_delays after its last sign of traffic. With one
# delay, 32 closed-loop clients (threads of one Python process, 2 busy cores, `lin`, 1 ms delay)
# often left gaps longer than the delay between overlapping requests: 5-45 % of their requests
# found the model "quiet" and ran alone (1.25-1.7 rows a run; Triton's rule: 1.55-1.75); with 10,
# 4-5 of ~1,340 did (1.85-1.9 rows a run). A lone request that follows traffic within that time
# waits the delay, as with Triton.
QUIET_AFTER_DELAYS = 10


@dataclass(frozen=True)
class Policy:
    """A model's dynamic batching, from config.pbtxt."""

    max_batch_size: int
    preferred: tuple[int, ...]
    delay_s: float
    skip_when_quiet: bool = False  # a request that finds its model quiet runs at once
    quiet_after_delays: float = QUIET_AFTER_DELAYS

    @property
    def quiet_after_s(self) -> float:
        """How long the model counts as busy after its last sign of traffic."""
        return self.quiet_after_delays * self.delay_s

    @classmethod
    def of(
        cls, config: mc.ModelConfig, max_batch_size: int, skip_when_quiet: bool = False
    ) -> Policy | None:
        """None when the model does not batch dynamically."""
        if max_batch_size <= 0 or not config.HasField("dynamic_batching"):
            return None
        batching = config.dynamic_batching
        preferred = tuple(sorted(s for s in batching.preferred_batch_size if s > 0))
        delay = batching.max_queue_delay_microseconds / 1e6
        return cls(max_batch_size, preferred, delay, skip_when_quiet)

    @property
    def target(self) -> int:
        """Rows at which a group stops gathering: the largest preferred size that fits."""
        fitting = [s for s in self.preferred if s <= self.max_batch_size]
        return fitting[-1] if fitting else self.max_batch_size


@dataclass
class Result:
    outputs: Feeds  # the request's own graph outputs
    began: int  # perf_counter_ns when its run started
    ended: int


@dataclass(eq=False)
class Pending:
    """A request waiting for (or in) a run."""

    feeds: Feeds
    outputs: list[str]
    deadline: float | None  # time.monotonic()
    key: object  # merging key (None: runs alone)
    rows: int
    future: asyncio.Future[Result]
    arrived: float = field(default_factory=time.monotonic)
    state: str = "queued"  # queued, grouped, running, done
    dropped: bool = False  # its client left (deadline, cancellation)
    run: Run | None = None


@dataclass(eq=False)
class Run:
    """One onnxruntime run of a group."""

    members: list[Pending]
    options: ort.RunOptions = field(default_factory=ort.RunOptions)

    def abandoned(self) -> bool:
        return all(m.dropped for m in self.members)


def execute(
    model: LoadedModel, feeds: Feeds, outputs: list[str], options: ort.RunOptions
) -> tuple[Feeds, int, int]:
    """On an executor thread: one onnxruntime run, timed."""
    began = time.perf_counter_ns()
    results = model.predict(feeds, outputs, options)
    return results, began, time.perf_counter_ns()


class Scheduler:
    """The runs of one loaded model version."""

    def __init__(
        self,
        model: LoadedModel,
        executor: Executor,
        runs: set[ort.RunOptions],
        stats: ModelStats,
        policy: Policy | None,
        instances: int | None,
    ) -> None:
        self.model = model
        self.executor = executor
        self.runs = runs  # every run in progress, for the server's terminate_runs
        self.stats = stats
        self.policy = policy
        self.layout = Layout(model) if policy is not None else None
        self.slots = asyncio.Semaphore(instances) if instances else None
        self._queue: dict[Pending, None] = {}  # insertion-ordered
        self._arrived = asyncio.Event()
        self._busy = 0  # groups formed whose run has not finished
        self._inside = 0  # requests in ``submit`` (not yet answered)
        self._traffic_until = 0.0  # time.monotonic() until which the model counts as busy
        self.quiet_starts = 0  # requests that found the model quiet and ran at once
        self._collector: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- requests ----

    def needed(self, outputs: list[str]) -> list[str]:
        return self.layout.needed(outputs) if self.layout is not None else outputs

    async def submit(self, feeds: Feeds, outputs: list[str], deadline: float | None) -> Result:
        """Run ``feeds`` (validated) for the graph ``outputs``; the request's own rows back."""
        if self.policy is None or self.layout is None:
            return await self._alone(feeds, outputs, deadline)
        arrived = time.monotonic()
        quiet = self._quiet(arrived)
        self._inside += 1
        try:
            if quiet:  # a group of one, run as a lone request is (what _gather would make)
                if self.slots is not None:
                    await self.slots.acquire()  # free (``_quiet`` checked): no wait
                self.quiet_starts += 1
                return await self._alone(feeds, self.layout.needed(outputs), deadline, True)
            loop = asyncio.get_running_loop()
            item = Pending(
                feeds,
                self.layout.needed(outputs),
                deadline,
                self.layout.key(feeds),
                self.layout.rows(feeds),
                loop.create_future(),
                arrived,
            )
            if item.rows > self.policy.max_batch_size:
                item.key = None
            self._queue[item] = None
            self._arrived.set()
            if self._collector is None or self._collector.done():
                self._collector = loop.create_task(self._collect(), name=f"batch {self.model.name}")
            return await self._answer(item)
        finally:
            self._inside -= 1

    async def _answer(self, item: Pending) -> Result:
        """Wait for ``item``'s rows until its deadline."""
        deadline = item.deadline
        timeout = None if deadline is None else deadline - time.monotonic()
        try:
            return await asyncio.wait_for(asyncio.shield(item.future), timeout)
        except TimeoutError:
            waited = item.state in ("queued", "grouped")
            self._drop(item)
            if waited:
                raise DeadlineExceeded(
                    f"the request's deadline passed while it waited for model '{self.model.name}'"
                ) from None
            raise DeadlineExceeded(
                f"model '{self.model.name}' did not finish before the request's deadline"
            ) from None
        except asyncio.CancelledError:
            self._drop(item)
            raise

    def _quiet(self, arrived: float) -> bool:
        """Whether a request arriving at ``arrived`` finds its model quiet, with an instance
        free; an arrival that finds company (another request of the model not yet answered,
        even one whose run is over) marks the model busy for the next ``quiet_after_s``."""
        assert self.policy is not None
        gathering = self._collector is not None and not self._collector.done()
        if self._inside or self._queue or self._busy or gathering:
            self._traffic_until = max(self._traffic_until, arrived + self.policy.quiet_after_s)
            return False
        if not self.policy.skip_when_quiet or arrived < self._traffic_until:
            return False
        return self.slots is None or not self.slots.locked()

    def _drop(self, item: Pending) -> None:
        item.dropped = True
        self._queue.pop(item, None)
        if item.run is not None and item.state == "running" and item.run.abandoned():
            item.run.options.terminate = True  # nobody waits for it any more

    async def _alone(
        self, feeds: Feeds, outputs: list[str], deadline: float | None, held: bool = False
    ) -> Result:
        """The request runs by itself once an instance is free (``held``: it holds one). Without
        batching, every request; with it, one that found its model quiet, whose outputs are
        then cut as a group of one's would be (merging.Layout.split)."""
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0 and not held:
            raise DeadlineExceeded("the request's deadline passed before inference started")
        if self.slots is not None and not held:
            try:
                await asyncio.wait_for(self.slots.acquire(), timeout)
            except TimeoutError:
                raise DeadlineExceeded(
                    f"the request's deadline passed while it waited for model '{self.model.name}'"
                ) from None
        self._busy += 1
        options = ort.RunOptions()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, execute, self.model, feeds, outputs, options)
        # The instance is free again when onnxruntime returns, not when the client stops waiting.
        future.add_done_callback(self._settled)
        self.runs.add(options)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            results, began, ended = await asyncio.wait_for(asyncio.shield(future), left)
        except TimeoutError:
            options.terminate = True
            raise DeadlineExceeded(
                f"model '{self.model.name}' did not finish before the request's deadline"
            ) from None
        except asyncio.CancelledError:
            options.terminate = True  # the client went away: stop onnxruntime too
            raise
        finally:
            self.runs.discard(options)
        self._count(Layout.rows(feeds) if self.model.entry.max_batch_size > 0 else 1)
        if self.layout is not None:
            results = self.layout.split(results, [feeds])[0]
        return Result(results, began, ended)

    def _settled(self, future: asyncio.Future[Any]) -> None:
        """A lone run ended: free its instance (and consume an error nobody waits for)."""
        self._busy -= 1
        if self.slots is not None:
            self.slots.release()
        if not future.cancelled():
            future.exception()

    def _count(self, rows: int) -> None:
        self.stats.execution_count += 1
        self.stats.inference_count += rows

    # ---- the collector ----

    async def _collect(self) -> None:
        """Form groups while requests wait; each group runs in its own task."""
        while self._queue:  # it ends when nothing waits; the next request starts another
            if self.slots is not None:
                await self.slots.acquire()
            try:
                group = await self._gather()
            except BaseException:
                if self.slots is not None:
                    self.slots.release()
                raise
            if not group:
                if self.slots is not None:
                    self.slots.release()
                continue
            self._busy += 1
            task = asyncio.get_running_loop().create_task(self._execute(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self, group: list[Pending], rows: int) -> int:
        """Move the queued requests that fit ``group`` into it, in arrival order."""
        assert self.policy is not None
        first = group[0]
        for item in list(self._queue):
            if rows >= self.policy.target:
                break
            if item.key is None or item.key != first.key:
                continue
            if rows + item.rows > self.policy.max_batch_size:
                continue
            del self._queue[item]
            item.state = "grouped"
            group.append(item)
            rows += item.rows
        return rows

    async def _gather(self) -> list[Pending]:
        """The next group: the first waiting request and those that join it in time."""
        assert self.policy is not None
        if not self._queue:
            return []
        first = next(iter(self._queue))
        del self._queue[first]
        first.state = "grouped"
        group = [first]
        if first.key is None:
            return group
        rows = self._take(group, first.rows)
        closes = first.arrived + self.policy.delay_s
        while rows < self.policy.target:
            left = closes - time.monotonic()
            if left <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                break
            rows = self._take(group, rows)
        return [m for m in group if not m.dropped]

    # ---- runs ----

    async def _execute(self, group: list[Pending]) -> None:
        assert self.layout is not None and self.policy is not None
        try:
            live = [m for m in group if not m.dropped]
            if not live:
                return
            run = Run(live)
            feeds = live[0].feeds if len(live) == 1 else self.layout.merge([m.feeds for m in live])
            try:
                results, began, ended = await self._run(run, feeds)
            except Exception as error:  # noqa: BLE001 - handed to the members
                if run.options.terminate or len(live) == 1:
                    self._fail(live, error, run.options.terminate)
                    return
                log.info(
                    "model %s: a run of %d requests failed (%s); running them one by one",
                    self.model.name,
                    len(live),
                    error,
                )
                for member in live:
                    await self._retry(member)
                return
            self._count(sum(m.rows for m in live))
            split = self.layout.split(results, [m.feeds for m in live])
            for member, own in zip(live, split, strict=True):
                self._finish(member, Result(own, began, ended))
        except Exception as error:  # noqa: BLE001 - a bug here must not leave requests waiting
            log.exception("model %s: batch failed", self.model.name)
            self._fail(group, error, False)
        finally:
            self._busy -= 1
            if len(group) > 1:  # a merged run: its members' clients may come back at once
                self._traffic_until = max(
                    self._traffic_until, time.monotonic() + self.policy.quiet_after_s
                )
            if self.slots is not None:
                self.slots.release()

    async def _run(self, run: Run, feeds: Feeds) -> tuple[Feeds, int, int]:
        """One onnxruntime run for ``run``'s members; stopped at the latest member's deadline."""
        outputs = list(dict.fromkeys(name for m in run.members for name in m.outputs))
        outputs.sort(key=self.model.graph_outputs.index)
        deadlines = [m.deadline for m in run.members]
        loop = asyncio.get_running_loop()
        timer = None
        if all(d is not None for d in deadlines):
            latest = max(d for d in deadlines if d is not None)
            timer = loop.call_later(max(0.0, latest - time.monotonic()), self._stop, run.options)
        for member in run.members:
            member.state, member.run = "running", run
        if run.abandoned():
            run.options.terminate = True
        self.runs.add(run.options)
        try:
            return await loop.run_in_executor(
                self.executor, execute, self.model, feeds, outputs, run.options
            )
        finally:
            self.runs.discard(run.options)
            if timer is not None:
                timer.cancel()

    @staticmethod
    def _stop(options: ort.RunOptions) -> None:
        options.terminate = True

    async def _retry(self, member: Pending) -> None:
        if member.dropped:
            return
        run = Run([member])
        try:
            results, began, ended = await self._run(run, member.feeds)
        except Exception as error:  # noqa: BLE001 - this member's own failure
            self._fail([member], error, run.options.terminate)
            return
        self._count(member.rows)
        assert self.layout is not None
        own = self.layout.split(results, [member.feeds])[0]
        self._finish(member, Result(own, began, ended))

    @staticmethod
    def _finish(member: Pending, result: Result) -> None:
        member.state = "done"
        if not member.dropped and not member.future.done():
            member.future.set_result(result)

    def _fail(self, members: list[Pending], error: BaseException, stopped: bool) -> None:
        if stopped:
            error = DeadlineExceeded(
                f"model '{self.model.name}' did not finish before the request's deadline"
            )
        for member in members:
            member.state = "done"
            if not member.dropped and not member.future.done():
                member.future.set_exception(error)

    # ---- shutdown ----

    def close(self) -> None:
        """Stop collecting (the server is closing); requests still queued are cancelled."""
        if self._collector is not None:
            self._collector.cancel()
        for task in list(self._tasks):
            task.cancel()
        for item in list(self._queue):
            if not item.future.done():
                item.future.cancel()
        self._queue.clear()


def describe(policy: Policy | None, instances: int | None) -> str:
    """How a model is scheduled, for the log."""
    runs = f"at most {instances} run(s) at once" if instances else "runs bounded by the workers"
    if policy is None:
        return f"no dynamic batching, {runs}"
    quiet = ", none when the model is quiet" if policy.skip_when_quiet else ""
    return (
        f"dynamic batching up to {policy.target} rows (max {policy.max_batch_size}), "
        f"{policy.delay_s * 1e6:.0f} us delay{quiet}, {runs}"
    )
