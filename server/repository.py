"""The model repository (docs/repository.md, Triton's layout): scan folders, parse config.pbtxt
into Triton's ModelConfig message, read card.json, and pick the versions to serve.

Scanning never raises for one bad model: the model's ``error`` says what is wrong and the others
are served."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format

from protos.gen.inference import model_config_pb2 as mc
from server.codecs import CONFIG_TO_DATATYPE
from taxonomy.card import CARD_FILE, ModelCard, TensorSpec

log = logging.getLogger("attentive.server")

CONFIG_FILE = "config.pbtxt"
DEFAULT_MODEL_FILE = "model.onnx"
# A model name is one folder of the repository: no separators, no '.' / '..', no leading '-'.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PLATFORMS = {"onnxruntime_onnx", ""}
BACKENDS = {"onnxruntime", ""}


@dataclass
class ModelEntry:
    name: str
    path: Path
    config: mc.ModelConfig
    card: ModelCard | None = None
    versions: list[int] = field(default_factory=list)  # served versions, ascending
    error: str | None = None  # why the model cannot be served

    def model_file(self, version: int) -> Path:
        return self.path / str(version) / (self.config.default_model_filename or DEFAULT_MODEL_FILE)

    @property
    def instances(self) -> int | None:
        """Runs of this model that may go at once: its instance_group counts summed (a group
        without a count is 1, as in Triton); None without instance_group (bounded only by the
        server's inference_workers)."""
        groups = self.config.instance_group
        return sum(max(1, g.count) for g in groups) if groups else None

    @property
    def max_batch_size(self) -> int:
        return self.card.io.max_batch_size if self.card else int(self.config.max_batch_size)


def parse_config(text: str, name: str) -> mc.ModelConfig:
    config = text_format.Parse(text, mc.ModelConfig())
    if not config.name:
        config.name = name
    return config


def config_specs(config: mc.ModelConfig) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs as TensorSpecs with the batch dimension (-1) when the model batches."""
    batch = [-1] if config.max_batch_size > 0 else []

    def spec(t: mc.ModelInput | mc.ModelOutput) -> TensorSpec:
        datatype = CONFIG_TO_DATATYPE.get(mc.DataType.Name(t.data_type), "BYTES")
        return TensorSpec.model_validate(
            {"name": t.name, "datatype": datatype, "shape": batch + list(t.dims)}
        )

    return [spec(t) for t in config.input], [spec(t) for t in config.output]


def _versions(folder: Path, config: mc.ModelConfig) -> list[int]:
    found = sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
    policy = config.version_policy.WhichOneof("policy_choice")
    if policy == "all":
        return found
    if policy == "specific":
        wanted = set(config.version_policy.specific.versions)
        return [v for v in found if v in wanted]
    latest = config.version_policy.latest.num_versions if policy == "latest" else 1
    return found[-max(1, latest) :]


def load_entry(folder: Path) -> ModelEntry:
    name = folder.name
    entry = ModelEntry(name=name, path=folder, config=mc.ModelConfig(name=name))
    try:
        config_path = folder / CONFIG_FILE
        if config_path.exists():
            entry.config = parse_config(config_path.read_text(encoding="utf-8"), name)
        if entry.config.name != name:
            raise ValueError(f"config.pbtxt names {entry.config.name!r}, folder is {name!r}")
        if entry.config.platform not in PLATFORMS or entry.config.backend not in BACKENDS:
            raise ValueError(
                f"platform {entry.config.platform!r} / backend {entry.config.backend!r}: "
                "only onnxruntime_onnx models are served"
            )
        if not entry.config.platform:
            entry.config.platform = "onnxruntime_onnx"
        card_path = folder / CARD_FILE
        if card_path.exists():
            entry.card = ModelCard.load(card_path)
            if entry.card.io.max_batch_size != entry.config.max_batch_size and config_path.exists():
                raise ValueError(
                    f"card max_batch_size {entry.card.io.max_batch_size} != config.pbtxt "
                    f"max_batch_size {entry.config.max_batch_size}"
                )
        entry.versions = _versions(folder, entry.config)
        if not entry.versions:
            raise ValueError("no version folder (e.g. 1/model.onnx) to serve")
    except Exception as error:  # noqa: BLE001 - one bad model must not stop the others
        entry.error = f"{type(error).__name__}: {error}"
    return entry


def scan(repository: Path) -> list[ModelEntry]:
    """Every model folder (a folder holding config.pbtxt or a numeric version folder), by name.

    Folders whose name is not a model name (MODEL_NAME) or that resolve outside the repository
    (a symlink) are skipped with a warning: a client could not name them, and the repository is
    the boundary of what the server reads."""
    repository = Path(repository)
    if not repository.is_dir():
        raise FileNotFoundError(f"model repository {repository} does not exist")
    root = repository.resolve()
    entries = []
    for folder in sorted(p for p in repository.iterdir() if p.is_dir()):
        if not MODEL_NAME.fullmatch(folder.name) or not folder.resolve().is_relative_to(root):
            log.warning("skipping %s: not a model name, or outside the repository", folder)
            continue
        is_model = (folder / CONFIG_FILE).exists() or any(
            p.is_dir() and p.name.isdigit() for p in folder.iterdir()
        )
        if is_model:
            entries.append(load_entry(folder))
    return entries
