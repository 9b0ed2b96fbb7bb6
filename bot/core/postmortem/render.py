"""Rendering a postmortem context through Jinja2: the default template or a playbook's own."""

from __future__ import annotations

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
_TRUSTED = _configure(jinja2.Environment(**_OPTIONS))
_SANDBOX = _configure(SandboxedEnvironment(**_OPTIONS))
_DEFAULT = _TRUSTED.from_string(DEFAULT_TEMPLATE)


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
    compiled = _DEFAULT if template is None else compile_template(template)
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
