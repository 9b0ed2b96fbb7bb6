"""The service catalog, as the rest of the core has always imported it.

The model lives in bot/core/ownership/ (catalog model, rotations, escalation); this module keeps
the names `Catalog`, `Team`, `Service`, `Resolved` and `check_catalog` where callers find them.
"""

from __future__ import annotations

from bot.core.ownership.check import check_catalog
from bot.core.ownership.model import Catalog, Person, Service, Team
from bot.core.ownership.resolve import Resolved

__all__ = ["Catalog", "Person", "Resolved", "Service", "Team", "check_catalog"]
