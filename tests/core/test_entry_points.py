"""Modules load through the ``atrium.modules`` entry-point group, as a pip-installed one would."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.plugins.registry import ENTRY_POINT_GROUP, ModuleRegistry, PluginError, discover


def install_distribution(site: Path, name: str, entry_points: dict[str, str]) -> None:
    """Write the metadata pip would leave behind for a distribution declaring entry points."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))


def test_an_installed_distribution_is_discovered_and_loaded(site: Path) -> None:
    install_distribution(
        site,
        "atrium_sample_modules",
        {"sample": "tests.sample_module.plugin", "sampleaddon": "tests.sample_addon.plugin"},
    )
    found = [
        c
        for c in discover()
        if c.source.startswith("entry point") and c.name in ("sample", "sampleaddon")
    ]
    assert {c.name for c in found} == {"sample", "sampleaddon"}
    registry = ModuleRegistry.build(found)
    assert registry.keys == ("sample", "sampleaddon")
    assert registry.modules["sample"].source == (
        f"entry point {ENTRY_POINT_GROUP}:sample = tests.sample_module.plugin"
    )


def test_an_entry_point_must_be_named_after_its_module_key(site: Path) -> None:
    install_distribution(site, "atrium_misnamed", {"notes": "tests.sample_module.plugin"})
    found = [c for c in discover() if c.source.startswith("entry point")]
    with pytest.raises(PluginError, match="the entry point is named 'notes'"):
        ModuleRegistry.build(found)
