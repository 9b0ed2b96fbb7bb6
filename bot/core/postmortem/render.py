"""Rendering a postmortem context through Jinja2: the default template or a playbook's own."""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import types
from datetime import datetime
from functools import lru_cache
from pathlib import Path
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
    """What the cached code of the default template is made from: its source, the options and
    filters it was compiled with, and the Jinja2 version (whose code generator it is)."""
    options = sorted((k, getattr(v, "__qualname__", repr(v))) for k, v in _OPTIONS.items())
    made_of = [DEFAULT_TEMPLATE, repr(options), repr(sorted(TRUSTED.filters)), jinja2.__version__]
    return hashlib.sha256("\0".join(made_of).encode()).hexdigest()


def cache_path() -> Path:
    """Where the code Jinja2 makes of the default template is kept between processes: the
    user's cache folder, one file per fingerprint and Python version (marshal's format is
    the interpreter's own)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return Path(base) / "warroom" / f"postmortem-{default_fingerprint()[:24]}-{version}.code"


@lru_cache(maxsize=1)
def default_template() -> jinja2.Template:
    """The built-in template. Compiling it costs more than the rest of a `warroom export`
    process but the imports, so its code is kept in the user's cache (`cache_path()`): the
    first export after an install or an upgrade compiles it, later ones load it. A cache that
    cannot be read or written only costs the compile."""
    path = cache_path()
    code: object = None
    with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
        code = marshal.loads(path.read_bytes())
    if not isinstance(code, types.CodeType):
        code = TRUSTED.compile(DEFAULT_TEMPLATE)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written whole, then renamed: a concurrent export never reads half a file.
            partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            partial.write_bytes(marshal.dumps(code))
            os.replace(partial, path)
    return TRUSTED.template_class.from_code(TRUSTED, code, TRUSTED.make_globals(None))


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
