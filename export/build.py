"""`attentive build`: train what is missing or stale, export it, check parity, evaluate the
exported graph on the held-out split, and write the repository entry with its card.

A checkpoint is reused when its config fingerprint equals the preset's; a repository entry is
rebuilt when its card's training config differs from the checkpoint's.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnxruntime
import torch

from attentive.settings import Settings
from export import onnx as onnx_export
from export import parity, repository
from taxonomy.card import ExportProvenance, ModelCard, TrainingProvenance
from taxonomy.derive import derive_tags
from training import checkpoint, registry
from training.config import fingerprint, to_dict, with_overrides
from training.datasets import ensure_datasets
from training.spec import ModelSpec
from training.trainer import fit, seed_everything

PRESETS = ("tiny", "quick", "full")


@dataclass
class Built:
    name: str
    entry: Path
    trained: bool
    exported: bool
    card: ModelCard


def git_commit() -> str:
    """The checkout's commit (``-dirty`` with local changes); where there is no git checkout
    (a container image, a copied tree) ``ATTENTIVE_COMMIT`` names it, else ``unknown``. When set,
    ``ATTENTIVE_COMMIT`` wins: a copied tree may carry a stale ``.git`` of its own."""
    if os.environ.get("ATTENTIVE_COMMIT"):
        return os.environ["ATTENTIVE_COMMIT"]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def preset_config(spec: ModelSpec, preset: str) -> object:
    if preset not in spec.presets:
        raise KeyError(f"{spec.name}: unknown preset {preset!r}; valid: {', '.join(spec.presets)}")
    return with_overrides(spec.config(), spec.presets[preset])


def log(message: str) -> None:
    print(f"[build] {message}", file=sys.stderr, flush=True)


def train(
    spec: ModelSpec, preset: str, data_dir: Path, run_dir: Path, *, seed: int | None = None
) -> checkpoint.Checkpoint:
    config = preset_config(spec, preset)
    if seed is not None:
        config = with_overrides(config, {"train": {"seed": seed}})
    path = run_dir / "model.ckpt"
    if path.exists():
        ckpt = checkpoint.load(path, spec)
        if ckpt.fingerprint == fingerprint(config):
            return ckpt
        log(f"{spec.name}: checkpoint is stale (config changed), retraining")
        shutil.rmtree(run_dir)  # its tokenizer and other artefacts belong to the old config
    log(f"{spec.name}: training ({preset})")
    task = spec.task(config, data_dir, run_dir)
    seed_everything(config.train.seed)  # type: ignore[attr-defined]  # initial weights too
    model = spec.build(config)
    device = Settings().train_device
    result = fit(
        model,
        task,
        config.train,  # type: ignore[attr-defined]
        label=spec.name,
        device=device,
    )
    ckpt = checkpoint.Checkpoint(
        model=spec.name,
        preset=preset,
        config=config,
        state_dict=model.state_dict(),
        provenance={
            "seed": config.train.seed,  # type: ignore[attr-defined]
            "epochs": result.epochs,
            "steps": result.steps,
            "wall_time_s": round(result.wall_time_s, 1),
            "commit": git_commit(),
            "device": _describe(device),
            "validation": result.best,
        },
    )
    checkpoint.save(path, ckpt)
    log(f"{spec.name}: trained in {result.wall_time_s:.0f}s, best validation {result.best}")
    return ckpt


def _describe(device: str) -> str:
    if device.startswith("cuda"):
        return f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    return device


def export(
    spec: ModelSpec, ckpt: checkpoint.Checkpoint, data_dir: Path, run_dir: Path, repo: Path
) -> Built:
    task = spec.task(ckpt.config, data_dir, run_dir)
    model = checkpoint.rebuild(ckpt, spec)
    es = spec.export(model, ckpt.config, task)
    exported = onnx_export.to_onnx(es)
    check = parity.check(exported.model, es)
    tags = derive_tags(
        [layer.facets for layer in exported.layers],
        spec.card.structure,
        allow_no_attention=not exported.layers,  # a baseline without any AttentionLayer
    )
    provenance = ckpt.provenance
    card = ModelCard(
        name=spec.name,
        title=spec.card.title,
        citation=spec.card.citation,
        task=spec.card.task,
        dataset=spec.card.dataset,
        tags=tags,
        layers=exported.layers,
        io=es.io,
        examples=es.examples,
        training=TrainingProvenance(
            preset=ckpt.preset,
            seed=int(provenance["seed"]),
            epochs=float(provenance["epochs"]),
            steps=int(provenance["steps"]),
            wall_time_s=float(provenance["wall_time_s"]),
            commit=str(provenance["commit"]),
            device=str(provenance.get("device", "cpu")),
            config=to_dict(ckpt.config),
        ),
        export=ExportProvenance(
            opset=onnx_export.OPSET,
            attention_ops=exported.attention_ops,
            parity_max_abs_diff=check.max_abs_diff,
            parity_tolerance=es.tolerance,
            tokens_identical=check.tokens_identical,
            torch=torch.__version__,
            onnx=onnx.__version__,
            onnxruntime=onnxruntime.__version__,
        ),
        notes=spec.card.notes,
    )
    # Quality is measured on the exported graph, i.e. on what is served.
    scratch = run_dir / "model.onnx"
    onnx.save_model(exported.model, str(scratch))
    metrics = spec.evaluate(scratch, ckpt.config, task)
    card = card.model_copy(update={"metrics": metrics})
    config = repository.config_pbtxt(
        spec.name, es.io, es.preferred_batch_sizes, es.max_queue_delay_us
    )
    entry = repository.write_entry(repo, card, exported.model, config, es.files)
    return Built(spec.name, entry, False, True, card)


def is_current(entry: Path, ckpt: checkpoint.Checkpoint) -> bool:
    if not (entry / repository.VERSION / repository.MODEL_FILE).exists():
        return False
    try:
        card = repository.read_card(entry)
    except ValueError:
        return False
    return bool(card and card.training and card.training.config == to_dict(ckpt.config))


def build(
    models: list[str],
    preset: str,
    repo: Path,
    data_dir: Path,
    runs: Path,
    force: bool = False,
    jobs: int = 1,
) -> list[Built]:
    """Build ``models`` (in their order), ``jobs`` at a time.

    One model builds in this process. Several build each in a fresh process (forked from a warm
    forkserver, :func:`worker_context`), ``jobs`` at once: torch.export keeps state across
    exports in one process (a tiny RNNsearch exported after other recurrent models in the same
    worker came out with its source length fixed, and failed parity), and a fresh process per
    model makes every build independent of what ran before it.
    Each worker gets ``cores // jobs`` torch threads (``ATTENTIVE_TORCH_THREADS`` when set):
    threads beyond the free cores spin against each other and slow every build down."""
    ensure_datasets([d for name in models for d in registry.get(name).datasets], data_dir)
    jobs = max(1, min(jobs, len(models)))
    if len(models) == 1:
        torch.set_num_threads(worker_threads(1))
        return [build_one(models[0], preset, repo, data_dir, runs, force)]
    context = worker_context()
    with ProcessPoolExecutor(
        jobs,
        mp_context=context,
        initializer=_init_worker,
        initargs=(worker_threads(jobs),),
        max_tasks_per_child=1,
    ) as pool:
        # Longest training budget first, so the slowest model does not start last.
        order = sorted(models, key=lambda name: -_budget_minutes(name, preset))
        futures = {
            name: pool.submit(build_one, name, preset, repo, data_dir, runs, force)
            for name in order
        }
        try:
            return [futures[name].result() for name in models]
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise


def _budget_minutes(name: str, preset: str) -> float:
    train = getattr(preset_config(registry.get(name), preset), "train", None)
    return float(getattr(train, "max_minutes", None) or 0.0)


def worker_threads(jobs: int) -> int:
    override = os.environ.get("ATTENTIVE_TORCH_THREADS")
    return int(override) if override else max(1, (os.cpu_count() or 1) // jobs)


def worker_context() -> multiprocessing.context.BaseContext:
    """Fresh processes forked from a forkserver that imported :mod:`export.warm` (imports and
    one tiny export done once, no thread pools); ``spawn`` where there is no forkserver."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["export.warm"])
    return context


def _init_worker(threads: int) -> None:
    os.environ["ATTENTIVE_TORCH_THREADS"] = str(threads)  # read by the trainer
    torch.set_num_threads(threads)


def build_one(
    name: str, preset: str, repo: Path, data_dir: Path, runs: Path, force: bool = False
) -> Built:
    spec = registry.get(name)
    run_dir = runs / preset / name
    start = time.monotonic()
    if force:
        (run_dir / "model.ckpt").unlink(missing_ok=True)
    ckpt = train(spec, preset, data_dir, run_dir)
    entry = repo / name
    if not force and is_current(entry, ckpt):
        card = repository.read_card(entry)
        assert card is not None
        log(f"{name}: up to date in {entry}")
        return Built(name, entry, False, False, card)
    log(f"{name}: exporting")
    result = export(spec, ckpt, data_dir, run_dir, repo)
    ops = ", ".join(f"{k} x{v}" for k, v in result.card.export.attention_ops.items())  # type: ignore[union-attr]
    metrics = ", ".join(f"{m.name}={m.value:g} ({m.split})" for m in result.card.metrics)
    log(f"{name}: wrote {entry} [{ops}] {metrics} in {time.monotonic() - start:.0f}s")
    return result
