"""The API reference lists every registered attack, model, input transform and training method: the docs
hook generates those sections from the registries, and every API page is in the site's navigation."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hooks)


def test_every_registered_attack_has_a_section():
    from videoabnn.attacks import attack_class, list_attacks

    text = hooks.registry_markdown("attacks")
    for name in list_attacks():
        cls = attack_class(name)
        assert f"`{name}`" in text and f"## {cls.__name__}" in text


def test_every_registered_model_has_a_section_with_its_arguments():
    import inspect

    from videoabnn.models import get_entry, list_models

    text = hooks.registry_markdown("models")
    for name in list_models():
        section = text.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        builder = get_entry(name).builder
        if ":::" not in section:   # made at run time: the signature is written out
            assert all(p in section for p in inspect.signature(builder).parameters)


@pytest.mark.parametrize("kind", ["transforms", "methods"])
def test_defense_registries_have_sections(kind):
    from videoabnn.defenses.registry import OBJECTIVES
    from videoabnn.defenses.transforms import list_transforms

    names = list_transforms() if kind == "transforms" else list(OBJECTIVES)
    text = hooks.registry_markdown(kind)
    assert all(f"`{n}`" in text for n in names)


def test_unknown_registry_marker_is_an_error():
    with pytest.raises(ValueError, match="unknown registry 'attack'"):
        hooks.on_page_markdown("<!-- registry: attack -->\n")


def test_every_docs_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    listed = set(re.findall(r":\s+(\S+\.md)\s*$", nav, re.M))
    assert pages - listed == set() and listed - pages == set()
