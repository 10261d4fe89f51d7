"""The lock files pin every dependency of pyproject.toml, and the pins satisfy its version ranges, so the image
(requirements.lock) and CI (requirements-dev.lock, `make setup`) install the same versions."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _pins(name: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        package, sep, version = line.partition("==")
        assert sep, f"{name}: {raw!r} is not pinned with =="
        pins[canonicalize_name(package.split("[")[0])] = Version(version.strip())
    return pins


def _requirements(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(r) for r in names]


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", [None]), ("requirements-dev.lock", [None, "dev"])])
def test_every_requirement_is_pinned_within_its_range(lock: str, extras: list[str | None]) -> None:
    pins = _pins(lock)
    for extra in extras:
        for req in _requirements(extra):
            name = canonicalize_name(req.name)
            assert name in pins, f"{req.name} has no pin in {lock}: run `make lock`"
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"{lock} pins {req.name}=={pins[name]} outside {req.specifier}: run `make lock`"
            )


def test_runtime_pins_agree_between_the_lock_files() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    differing = {name: (v, dev.get(name)) for name, v in runtime.items() if dev.get(name) != v}
    assert not differing, f"the image and CI would run different versions: {differing}"
