"""The default postmortem template ships precompiled (bot/core/postmortem/default_compiled.py):
it must be exactly what Jinja2 makes of today's source, and render exactly as that does."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from postmortem_scenario import resolved_incident

from bot.core.postmortem import default_compiled, render
from bot.core.postmortem.template import DEFAULT_TEMPLATE

MODULE = Path(default_compiled.__file__)
REGENERATE = os.environ.get("WARROOM_REGENERATE_GOLDEN") == "1"


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    render.default_template.cache_clear()
    yield
    render.default_template.cache_clear()


def test_the_precompiled_module_is_what_jinja2_makes_of_the_source() -> None:
    source = render.default_module_source()
    if REGENERATE:
        MODULE.write_text(source, encoding="utf-8")
    assert MODULE.read_text(encoding="utf-8") == source, (
        "bot/core/postmortem/default_compiled.py is stale: regenerate it with "
        "WARROOM_REGENERATE_GOLDEN=1 pytest tests/core/test_postmortem_compiled.py"
    )


async def test_it_is_used_and_renders_as_the_template_compiled_from_source(
    fresh_cache: None,
) -> None:
    precompiled = render.default_template()
    assert precompiled.filename == default_compiled.__file__
    from_source = render.TRUSTED.from_string(DEFAULT_TEMPLATE)
    s = await resolved_incident()
    record, now = await s.service.record(1), s.clock.now()
    context = render.build_context(record, now)
    assert precompiled.render(context) == from_source.render(context)
    assert render.render_postmortem(record, now).startswith("# INC-1: Checkout")


def test_a_module_made_from_another_source_is_not_used(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(default_compiled, "FINGERPRINT", "made from another template")
    assert render.default_template().filename == "<template>"  # compiled from the source


def test_the_fingerprint_follows_the_source_and_the_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = render.default_fingerprint()
    monkeypatch.setattr(render, "DEFAULT_TEMPLATE", DEFAULT_TEMPLATE + "changed")
    assert render.default_fingerprint() != before
    monkeypatch.setattr(render, "DEFAULT_TEMPLATE", DEFAULT_TEMPLATE)
    monkeypatch.setitem(render._OPTIONS, "trim_blocks", False)
    assert render.default_fingerprint() != before
