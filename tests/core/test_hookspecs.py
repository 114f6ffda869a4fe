"""The hook contract stays documented, implemented and exercised.

Every hookspec says when it fires and how results combine, has a section in
docs/modules.md, is implemented by a test-only module, and is actually called
during a full test run. ``test_every_hook_is_exercised`` is moved to the end of
the run by ``tests/conftest.py`` and deselected when the run is partial.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from core.plugins import hookspecs
from core.plugins.hookspecs import HOOK_NAMES
from core.plugins.registry import ModuleRegistry
from tests.sample_addon import plugin as sample_addon
from tests.sample_module import plugin as sample_module

DOCS = Path(__file__).resolve().parents[2] / "docs" / "modules.md"
# How results combine, in the words the docstrings use.
COMBINING = re.compile(
    r"concatenated|first non-None result wins|return values are ignored|collects them",
    re.IGNORECASE,
)


def spec_of(name: str):
    return getattr(hookspecs, name)


def docstring(name: str) -> str:
    return " ".join((inspect.getdoc(spec_of(name)) or "").split())


def test_hook_names_are_the_atrium_hookspecs() -> None:
    marked = {
        name
        for name, value in vars(hookspecs).items()
        if callable(value) and hasattr(value, "atrium_spec")
    }
    assert set(HOOK_NAMES) == marked
    assert all(name.startswith("atrium_") for name in HOOK_NAMES)
    assert len(HOOK_NAMES) == len(set(HOOK_NAMES)) >= 7


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hookspec_docstring_says_when_it_fires_and_how_results_combine(name: str) -> None:
    doc = docstring(name)
    assert doc, f"{name} has no docstring"
    assert re.search(r"\bFires\b", doc), f"{name}'s docstring does not say when it fires"
    assert COMBINING.search(doc), f"{name}'s docstring does not say how results combine"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_firstresult_hooks_say_so(name: str) -> None:
    firstresult = spec_of(name).atrium_spec.get("firstresult", False)
    says_first = "first non-None result wins" in docstring(name)
    assert firstresult == says_first, f"{name}: firstresult={firstresult} but the doc disagrees"


def test_hookspec_arguments_are_typed() -> None:
    for name in HOOK_NAMES:
        signature = inspect.signature(spec_of(name))
        for parameter in signature.parameters.values():
            assert parameter.annotation is not inspect.Parameter.empty, (name, parameter.name)
        assert signature.return_annotation is not inspect.Signature.empty, name


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_is_documented_in_the_module_guide(name: str) -> None:
    guide = DOCS.read_text(encoding="utf-8")
    headings = re.findall(r"^#{2,4} .*$", guide, flags=re.MULTILINE)
    assert any(re.search(rf"\b{name}\b", heading) for heading in headings), (
        f"docs/modules.md has no heading for {name}"
    )
    section = guide.split(f"### {name}", 1)[1].split("\n#", 1)[0]
    for parameter in inspect.signature(spec_of(name)).parameters:
        assert parameter in section, f"the {name} section does not show its {parameter} argument"


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    guide = DOCS.read_text(encoding="utf-8")
    documented = re.findall(r"^### (atrium_[a-z_]+)", guide, flags=re.MULTILINE)
    assert sorted(documented) == sorted(HOOK_NAMES)


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_is_implemented_by_a_test_module(name: str, registry: ModuleRegistry) -> None:
    implementations = [
        getattr(module, name) for module in (sample_module, sample_addon) if hasattr(module, name)
    ]
    assert implementations, f"neither test module implements {name}"
    for function in implementations:
        assert hasattr(function, "atrium_impl"), f"{name} is not marked @hookimpl"
    impls = getattr(registry.pm.hook, name).get_hookimpls()
    owners = {registry.pm.get_name(impl.plugin) for impl in impls}
    assert owners & {"sample", "sampleaddon"}, f"{name} is not registered for the test modules"


def test_every_hook_is_exercised() -> None:
    """Runs last in a full run: every hook was called by some test (see tests/conftest.py)."""
    missing = sorted(set(HOOK_NAMES) - sample_module.CALLED)
    assert not missing, f"no test called these hooks: {missing}"
