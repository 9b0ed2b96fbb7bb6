"""Rendering a postmortem context through Jinja2: the default template or a playbook's own."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from bot.core import messages
from bot.core.model import IncidentRecord
from bot.core.postmortem.context import build_context
from bot.core.postmortem.escape import cell, inline, mermaid_label, quote, safe_text
from bot.core.postmortem.template import DEFAULT_TEMPLATE


class PostmortemTemplateError(Exception):
    """A playbook's postmortem template does not parse or fails while rendering; the
    message names the line and says what to fix."""


def _configure(env: jinja2.Environment) -> jinja2.Environment:
    env.filters.update(cell=cell, quote=quote, inline=inline, safe=safe_text, mermaid=mermaid_label)
    return env


_OPTIONS: dict[str, Any] = {
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
    "autoescape": False,  # HTML escaping is wrong for Markdown; `finalize` does our escaping
    # Everything a template prints passes through safe_text, so even an unfiltered
    # {{ event.text }} cannot ping @here or open an HTML comment.
    "finalize": safe_text,
    # A misspelt name is an error the playbook author sees, not a silently empty section.
    "undefined": jinja2.StrictUndefined,
}
# Our own template is trusted and rendered for every export: no sandbox overhead on 10,000
# rows. Playbook templates are written by any team, so they run sandboxed.
TRUSTED = _configure(jinja2.Environment(**_OPTIONS))
_SANDBOX = _configure(SandboxedEnvironment(**_OPTIONS))


def default_fingerprint() -> str:
    """What the precompiled default template was made from: its source, the options and
    filters it was compiled with, and the Jinja2 version (whose code generator it is)."""
    options = sorted((k, getattr(v, "__qualname__", repr(v))) for k, v in _OPTIONS.items())
    made_of = [DEFAULT_TEMPLATE, repr(options), repr(sorted(TRUSTED.filters)), jinja2.__version__]
    return hashlib.sha256("\0".join(made_of).encode()).hexdigest()


@lru_cache(maxsize=1)
def default_template() -> jinja2.Template:
    """The built-in template. Compiling it costs more than the rest of a `warroom export`
    process but the imports, so it comes precompiled (bot/core/postmortem/default_compiled.py, a
    module Python caches as bytecode); compiled here when that module is not the one this
    source, these options and this Jinja2 would give (tests/core/test_postmortem_compiled.py
    regenerates it with WARROOM_REGENERATE_GOLDEN=1)."""
    from bot.core.postmortem import default_compiled as module

    if module.FINGERPRINT != default_fingerprint():
        return TRUSTED.from_string(DEFAULT_TEMPLATE)
    globals_ = TRUSTED.make_globals(None)  # as from_string does
    return TRUSTED.template_class.from_module_dict(TRUSTED, vars(module), globals_)


_MODULE_HEAD = '''\
# ruff: noqa
# fmt: off
"""The default postmortem template, compiled by Jinja2: generated, do not edit. Made by
bot/core/postmortem/render.py default_module_source(); regenerate with
WARROOM_REGENERATE_GOLDEN=1 pytest tests/core/test_postmortem_compiled.py."""
from bot.core.postmortem.render import TRUSTED as environment

FINGERPRINT = "{fingerprint}"

'''


def default_module_source() -> str:
    """The text of bot/core/postmortem/default_compiled.py for this source and Jinja2."""
    code = TRUSTED.compile(DEFAULT_TEMPLATE, raw=True)
    return _MODULE_HEAD.format(fingerprint=default_fingerprint()) + code.rstrip("\n") + "\n"


@lru_cache(maxsize=64)
def compile_template(source: str) -> jinja2.Template:
    """Parse a playbook's template once; PostmortemTemplateError if it is not valid Jinja2."""
    try:
        return _SANDBOX.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        raise PostmortemTemplateError(
            messages.bad_postmortem_template(error.lineno, error.message or str(error))
        ) from None


def render_postmortem(record: IncidentRecord, now: datetime, template: str | None = None) -> str:
    """The postmortem of `record` as Markdown, as of `now` (open incidents are measured up
    to it). `template` is Jinja2 source (a playbook's `postmortem_template`); None renders
    the default. See bot.core.postmortem for the variables a template can use."""
    compiled = default_template() if template is None else compile_template(template)
    try:
        text = compiled.render(build_context(record, now))
    except jinja2.TemplateError as error:
        line = _template_line(error)
        raise PostmortemTemplateError(
            messages.bad_postmortem_template(line, getattr(error, "message", None) or str(error))
        ) from None
    return text.rstrip("\n") + "\n"


def _template_line(error: Exception) -> int | None:
    # Jinja rewrites the traceback so a frame points at the template's line.
    tb = error.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
