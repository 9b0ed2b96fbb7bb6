"""Ownership: who owns which service, who is on call for each team, and how pages escalate.

Pure and clock-injected: every answer is for a time passed in. File formats (warroom YAML,
Backstage descriptors, iCalendar) are read outside the core, in bot/playbooks/.
"""

from bot.core.ownership.check import check_catalog
from bot.core.ownership.model import (
    Catalog,
    EscalationPolicy,
    Layer,
    Level,
    Override,
    Person,
    Restriction,
    Service,
    Target,
    Team,
)
from bot.core.ownership.oncall import CalendarSource, OnCall, Segment, Shift

__all__ = [
    "CalendarSource",
    "Catalog",
    "EscalationPolicy",
    "Layer",
    "Level",
    "OnCall",
    "Override",
    "Person",
    "Restriction",
    "Segment",
    "Service",
    "Shift",
    "Target",
    "Team",
    "check_catalog",
]
