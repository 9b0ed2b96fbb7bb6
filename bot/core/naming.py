"""Channel names: `inc-<number>-<slug of title>`, lower-case, at most 80 characters."""

from __future__ import annotations

import re
import unicodedata

MAX_CHANNEL_NAME = 80  # Slack's limit; Mattermost allows 64 for the URL name, see adapters
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    # Fold accents to ASCII so "Déploiement échoué" becomes "deploiement-echoue", not "d-ploiement".
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", ascii_text.lower()).strip("-")


def channel_name(
    number: int, title: str, *, attempt: int = 1, limit: int = MAX_CHANNEL_NAME
) -> str:
    """The channel name for an incident; `attempt` > 1 adds a `-N` suffix after a collision.

    The slug is cut (at a word boundary when possible) so prefix, slug and suffix fit `limit`.
    """
    prefix = f"inc-{number}"
    suffix = f"-{attempt}" if attempt > 1 else ""
    room = limit - len(prefix) - len(suffix) - 1  # 1 for the dash before the slug
    slug = slugify(title)
    if len(slug) > room:
        cut = slug[:room]
        # Prefer ending on a whole word unless that would throw away most of the slug.
        if "-" in cut and slug[room : room + 1] != "-" and cut.rfind("-") > room // 2:
            cut = cut[: cut.rfind("-")]
        slug = cut.strip("-")
    return f"{prefix}-{slug}{suffix}" if slug else f"{prefix}{suffix}"
