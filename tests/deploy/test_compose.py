"""docker-compose.yml and the Dockerfiles, checked without a Docker engine (none runs here):

- both compose files validate against the Compose Specification's JSON schema (the copy that
  check-jsonschema vendors), and Debian's docker-compose parses them where it is installed;
- every command and health check is an `attentive` subcommand that accepts its arguments;
- every path a Dockerfile copies or compose bind-mounts exists, and the server reads the volume
  the builder writes;
- the images install the project as `make run` does (pip, pyproject extras that `.[dev]`
  contains) and the builder runs `make run`'s build step;
- the GPU comes only from the override file; the server scales (no fixed container name) and the
  batch job reaches every replica through one DNS name with gRPC's round_robin.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from attentive.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
GPU = ROOT / "docker-compose.gpu.yml"
DOCKERFILES = {"serve": ROOT / "docker/serve.Dockerfile", "builder": ROOT / "docker/builder.Dockerfile"}  # fmt: skip
VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def defaults(value: str) -> str:
    """Compose interpolation with every variable unset: ${VAR:-default} -> default."""
    return VARIABLE.sub(lambda m: m.group(2) or "", value)


def services() -> dict[str, Any]:
    return load(COMPOSE)["services"]


def ours(service: dict[str, Any]) -> bool:
    """Built from one of our Dockerfiles (entrypoint `attentive`)."""
    return "build" in service


def test_compose_files_validate_against_the_compose_specification() -> None:
    from check_jsonschema.cli.main_command import main as check

    for path in (COMPOSE, GPU):
        with pytest.raises(SystemExit) as done:
            check(["--builtin-schema", "vendor.compose-spec", str(path)])
        assert done.value.code == 0, path


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_debian_docker_compose_parses_the_configuration() -> None:
    profiles = ["--profile", "build", "--profile", "batch", "--profile", "metrics"]
    for files in (["-f", str(COMPOSE)], ["-f", str(COMPOSE), "-f", str(GPU)]):
        done = subprocess.run(
            ["docker-compose", *files, *profiles, "config"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        config = yaml.safe_load(done.stdout)
        assert set(config["services"]) == {"builder", "server", "batch", "prometheus"}


def _parse(command: list[str]) -> argparse.Namespace:
    """Parse ``attentive <command...>`` with the subcommand's own parser (errors raise)."""
    name, *rest = command
    assert name in COMMANDS, f"{name} is not an attentive subcommand"
    module = __import__(f"attentive.commands.{COMMANDS[name][0]}", fromlist=["run"])
    parser = argparse.ArgumentParser(prog=f"attentive {name}", exit_on_error=False)
    module.add_arguments(parser)
    return parser.parse_args(rest)


def _dockerfile_command(path: Path, instruction: str) -> list[str]:
    import json

    line = next(x for x in path.read_text().splitlines() if x.startswith(instruction + " "))
    return json.loads(line[len(instruction) + 1 :])


def test_every_command_is_a_real_attentive_subcommand() -> None:
    commands = []
    for name, service in services().items():
        if ours(service):
            commands.append([defaults(c) for c in service["command"]])
        test = service.get("healthcheck", {}).get("test")
        if test:
            assert test[:2] == ["CMD", "attentive"], name
            commands.append(test[2:])
    for dockerfile in DOCKERFILES.values():
        assert _dockerfile_command(dockerfile, "ENTRYPOINT") == ["attentive"]
        commands.append(_dockerfile_command(dockerfile, "CMD"))
    assert {c[0] for c in commands} == {"build", "serve", "batch", "health"}
    for command in commands:
        _parse(command)
        with contextlib.redirect_stdout(io.StringIO()) as shown, pytest.raises(SystemExit) as done:
            main([command[0], "--help"])
        assert done.value.code == 0 and f"attentive {command[0]}" in shown.getvalue()


def test_batch_service_arguments_are_a_valid_batch_job() -> None:
    """The batch service's ATTENTIVE_BATCH_* variables, as the command reads them."""
    from attentive.batch.sender import target
    from attentive.batch.settings import BatchSettings

    env = {k: defaults(str(v)) for k, v in services()["batch"]["environment"].items()}
    settings = BatchSettings(**{k.removeprefix("ATTENTIVE_BATCH_").lower(): v for k, v in env.items()})  # fmt: skip
    assert settings.model == "transformer" and settings.attention is False
    assert str(settings.input).startswith("/input/") and str(settings.output).startswith("/output/")
    # one DNS name for every replica of `server`, resolved and round-robined by gRPC itself
    assert BatchSettings.split(settings.server) == ["dns:///server:8001"]
    assert target(["dns:///server:8001"]) == "dns:///server:8001"
    from attentive.batch.sender import SERVICE_CONFIG

    assert "round_robin" in SERVICE_CONFIG
    mounts = dict(reversed(defaults(v).rsplit(":", 2)[:2]) for v in services()["batch"]["volumes"])
    input_dir = ROOT / mounts["/input"]
    assert (input_dir / Path(str(settings.input)).name).is_file()  # the example input is there


def _copies(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            *srcs, _dest = line.split()[1:]
            sources += [s for s in srcs if not s.startswith("--")]
    return sources


def test_every_copied_and_mounted_path_exists() -> None:
    for dockerfile in DOCKERFILES.values():
        copied = _copies(dockerfile)
        assert "pyproject.toml" in copied
        for source in copied:
            assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for source in _copies(DOCKERFILES["serve"]) + _copies(DOCKERFILES["builder"]):
        assert source not in ignored
    volumes = set(load(COMPOSE)["volumes"])
    for name, service in services().items():
        for spec in service.get("volumes", []):
            source, target = defaults(spec).split(":")[:2]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {spec}"
            else:
                assert source in volumes, f"{name}: {spec}"
    for name in ("server", "batch"):  # the serving image has the packages these commands need
        assert services()[name]["build"]["dockerfile"] == "docker/serve.Dockerfile"
    assert services()["builder"]["build"]["dockerfile"] == "docker/builder.Dockerfile"


def test_server_reads_the_volume_the_builder_writes() -> None:
    s = services()
    builder_env, server_env = s["builder"]["environment"], s["server"]["environment"]
    assert f"models:{builder_env['ATTENTIVE_REPOSITORY']}" in s["builder"]["volumes"]
    assert f"models:{server_env['ATTENTIVE_REPOSITORY']}:ro" in s["server"]["volumes"]
    ports = [defaults(p) for p in s["server"]["ports"]]
    assert ports == [f"8001:{server_env['ATTENTIVE_GRPC_PORT']}", f"8002:{server_env['ATTENTIVE_METRICS_PORT']}"]  # fmt: skip
    prometheus = load(ROOT / "docker/prometheus.yml")
    (job,) = prometheus["scrape_configs"]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["server"] and str(sd["port"]) == server_env["ATTENTIVE_METRICS_PORT"]
    assert all("container_name" not in service for service in s.values())  # --scale server=N


def _extras_closure(extras: dict[str, list[str]], name: str) -> set[str]:
    found = {name}
    for requirement in extras[name]:
        match = re.fullmatch(r"attentive\[(\w+)\]", requirement.split(";")[0].strip())
        if match:
            found |= _extras_closure(extras, match.group(1))
    return found


def test_images_install_the_project_as_make_run_does() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q -e '.[dev]'" in makefile  # make run's install
    preset = re.search(r"^PRESET \?= (\w+)$", makefile, re.M)
    assert preset and "$(BIN)/attentive build --preset $(PRESET)" in makefile
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]  # fmt: skip
    installed = _extras_closure(extras, "dev")
    for kind, extra in (("serve", "serve"), ("builder", "train")):
        text = DOCKERFILES[kind].read_text()
        installs = re.findall(r"pip install[^\n]*?'\.\[(\w+)\]'", text)
        assert installs == [extra], kind
        assert extra in installed  # nothing the images install is outside make run's
    assert "torch" not in "".join(extras["serve"])  # the serving image has no torch
    builder_command = [defaults(c) for c in services()["builder"]["command"]]
    assert builder_command == ["build", "--preset", preset.group(1)]
    assert _dockerfile_command(DOCKERFILES["builder"], "CMD") == builder_command


def test_gpu_only_through_the_override() -> None:
    def reservations(service: dict[str, Any]) -> list[Any]:
        return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])  # fmt: skip

    assert not any(reservations(s) for s in services().values())
    gpu = load(GPU)["services"]["server"]
    (device,) = reservations(gpu)
    assert device["capabilities"] == ["gpu"]
    assert gpu["environment"]["ATTENTIVE_EXECUTION_PROVIDER"] == "cuda"
    base = defaults(gpu["build"]["args"]["BASE"])
    assert base.startswith("nvidia/cuda:") and "cudnn" in base and "runtime" in base
    serve = DOCKERFILES["serve"].read_text()
    assert "ARG BASE=python:3.11-slim" in serve and "FROM ${BASE}" in serve


def test_builder_passes_the_dataset_variables_and_their_empty_defaults_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from attentive.settings import DataSettings

    env = {k: defaults(str(v)) for k, v in services()["builder"]["environment"].items()}
    assert {"ATTENTIVE_ACCEPT_LICENCES", "ATTENTIVE_DATA_MIRRORS", "ATTENTIVE_OFFLINE"} <= set(env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    data = DataSettings()  # an unset ${VAR:-} reaches the container as "": read as unset
    assert (data.offline, data.data_mirrors, data.accept_licences) == (False, "", "")
    monkeypatch.setenv("ATTENTIVE_OFFLINE", "1")
    assert DataSettings().offline is True
