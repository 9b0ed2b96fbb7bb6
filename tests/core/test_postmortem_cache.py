"""The default postmortem template's code is kept in the user's cache between processes
(bot/core/postmortem/render.py): compiled once, loaded afterwards, rendering exactly as the
template compiled from its source does; a stale, broken or unwritable cache costs only the
compile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from postmortem_scenario import resolved_incident

from bot.core.postmortem import render
from bot.core.postmortem.template import DEFAULT_TEMPLATE


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """A cache of the test's own, and a record of every compile of the default template."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    seen: list[str] = []
    real = render.TRUSTED.compile

    def recording(source: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(render.TRUSTED, "compile", recording)
    render.default_template.cache_clear()
    yield seen
    render.default_template.cache_clear()


def fresh() -> Any:
    render.default_template.cache_clear()  # as a new process would
    return render.default_template()


async def test_compiled_once_then_loaded_and_renders_as_the_source(compiles: list[str]) -> None:
    first = fresh()
    assert compiles == [DEFAULT_TEMPLATE]
    assert render.cache_path().is_file()
    second = fresh()
    assert compiles == [DEFAULT_TEMPLATE]  # loaded, not compiled again
    s = await resolved_incident()
    record, now = await s.service.record(1), s.clock.now()
    context = render.build_context(record, now)
    from_source = render.TRUSTED.from_string(DEFAULT_TEMPLATE).render(context)
    assert first.render(context) == second.render(context) == from_source
    assert render.render_postmortem(record, now).startswith("# INC-1: Checkout")


def test_a_broken_cache_file_is_compiled_again_and_replaced(compiles: list[str]) -> None:
    path = render.cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00not marshal")
    fresh()
    assert compiles == [DEFAULT_TEMPLATE]
    fresh()
    assert len(compiles) == 1


async def test_an_unwritable_cache_only_costs_the_compile(
    compiles: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    s = await resolved_incident()
    record, now = await s.service.record(1), s.clock.now()
    assert fresh().render(render.build_context(record, now)).startswith("# INC-1: Checkout")
    fresh()
    assert len(compiles) == 2
    assert not render.cache_path().exists()


def test_the_fingerprint_follows_the_source_and_the_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = render.default_fingerprint()
    path = render.cache_path()
    monkeypatch.setattr(render, "DEFAULT_TEMPLATE", DEFAULT_TEMPLATE + "changed")
    assert render.default_fingerprint() != before
    assert render.cache_path() != path  # a changed template never loads the old code
    monkeypatch.setattr(render, "DEFAULT_TEMPLATE", DEFAULT_TEMPLATE)
    monkeypatch.setitem(render._OPTIONS, "trim_blocks", False)
    assert render.default_fingerprint() != before
