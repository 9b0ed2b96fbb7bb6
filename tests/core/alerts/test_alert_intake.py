"""AlertIntake over in-memory ports: routing, grouping, offers, storms, re-fires."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from alert_payloads import alert, later, notification, resolved

from bot.alerts_web import parse
from bot.chat.console.chat import ConsoleChat
from bot.core.alerts.intake import AlertIntake
from bot.core.alerts.owners import Incidents
from bot.core.alerts.rules import Rules
from bot.core.alerts.storm import window_start
from bot.core.clock import ManualClock
from bot.core.commands import Declare
from bot.core.model import EventKind, Incident, Invocation, Severity, State
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService
from bot.playbooks.catalog_loader import load_catalog
from bot.playbooks.loader import load_library
from bot.store.alerts import MemoryAlerts
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders

ROOT = Path(__file__).resolve().parents[3]


class RoundTripStore(MemoryStore):
    """The memory store, but creating an incident gives other tasks a turn first, as a real
    database round trip does (the window in which two groups could both declare)."""

    async def create_incident(self, incident: Incident) -> Incident:
        await asyncio.sleep(0)
        return await super().create_incident(incident)


class Harness:
    def __init__(self, rules: Rules | None = None) -> None:
        self.clock = ManualClock(later(2))
        self.store = RoundTripStore()
        self.chat = ConsoleChat(lambda line: None)
        self.service = IncidentService(
            self.store, {"console": self.chat}, self.clock, announce_channel="alerts"
        )
        catalog = load_catalog(ROOT / "catalog.example.yaml")
        self.service.runner = PlaybookRunner(
            self.service, load_library(ROOT / "playbooks"), MemoryReminders(), catalog
        )
        self.alerts = MemoryAlerts(self.store)
        self.intake = AlertIntake(
            Incidents(self.service, catalog, self.service.runner.pager),
            self.alerts,
            self.clock,
            rules,
        )

    async def send(self, body: dict[str, Any], source: str = "alertmanager") -> Any:
        return await self.intake.handle(parse(json.dumps(body).encode(), source))

    async def alert_events(self, number: int = 1) -> list[str]:
        return [e.text for e in await self.store.timeline(number) if e.kind is EventKind.ALERT]

    def said(self, channel: str) -> list[str]:
        return [t for c, t in self.chat.posts if c == channel]


@pytest.fixture
def h() -> Harness:
    return Harness()


async def test_critical_alert_for_a_catalog_service_declares_sev2_and_pages_the_owner(
    h: Harness,
) -> None:
    outcome = await h.send(notification([alert()]))
    [incident] = await h.store.list_incidents()
    assert outcome.incident == "INC-1" and outcome.action == "declare"
    assert (incident.severity, incident.service) == (Severity.SEV2, "checkout")
    assert incident.title == "HighErrorRate: Error rate above 5%"
    channel = h.chat.channels[incident.channel_name or ""]
    assert "bob" in channel.members  # payments' on-call
    assert await h.alert_events() == ["Alert firing: HighErrorRate: Error rate above 5%"]
    assert "Alert firing: HighErrorRate: Error rate above 5%" in h.said(channel.name)


async def test_a_group_is_one_incident_and_each_alert_is_recorded_once_per_status(
    h: Harness,
) -> None:
    pods = [alert(pod=f"p{i}", starts=later(i)) for i in range(3)]
    await h.send(notification(pods[:1]))
    await h.send(notification(pods[:2]))
    await h.send(notification(pods))
    await h.send(notification(pods))  # re-sent at group_interval: nothing new
    assert len(await h.store.list_incidents()) == 1
    assert len(await h.alert_events()) == 3
    h.clock.advance(minutes=10)
    await h.send(notification([resolved(pods[0], later(8)), *pods[1:]]))
    await h.send(notification([resolved(p, later(9)) for p in pods]))
    await h.send(notification([resolved(p, later(9)) for p in pods]))
    events = [e for e in await h.store.timeline(1) if e.kind is EventKind.ALERT]
    assert [e.data["status"] for e in events].count("firing") == 3
    assert [e.data["status"] for e in events].count("resolved") == 3
    channel = (await h.store.get_incident(1)).channel_name  # type: ignore[union-attr]
    assert h.said(channel or "").count("all 3 alerts resolved; /incident resolve?") == 1
    assert (await h.store.get_incident(1)).state is State.INVESTIGATING  # type: ignore[union-attr]


async def test_groups_of_one_service_arriving_together_make_one_incident(h: Harness) -> None:
    bodies = [notification([alert(f"Alert{i}", pod=f"p{i}")]) for i in range(4)]
    outcomes = await asyncio.gather(*(h.send(b) for b in bodies))
    assert {o.incident for o in outcomes} == {"INC-1"}
    assert len(await h.store.list_incidents()) == 1
    assert len(await h.alert_events()) == 4
    assert len(h.intake._lock) == 0  # no lock left behind


async def test_critical_alert_attaches_to_the_services_open_incident(h: Harness) -> None:
    await h.service.declare(
        Invocation("zoe", "console", "general"),
        Declare("Checkout slow", Severity.SEV3, service="checkout"),
    )
    outcome = await h.send(notification([alert()]))
    assert outcome.incident == "INC-1" and len(await h.store.list_incidents()) == 1
    assert await h.alert_events() == ["Alert firing: HighErrorRate: Error rate above 5%"]
    assert any(t.startswith("Alerts attached") for t in h.said("inc-1-checkout-slow"))


async def test_other_alerts_are_offered_to_the_owning_team_and_can_be_declared(
    h: Harness,
) -> None:
    warning = alert("SlowRequests", severity="warning", summary="p99 above 2s")
    outcome = await h.send(notification([warning]))
    assert outcome.incident is None and outcome.action == "offer"
    assert await h.store.list_incidents() == []
    [offer] = h.said("alerts")
    assert offer.startswith("Alert for checkout (payments on call: @bob): SlowRequests")
    assert "Silence: http://alertmanager:9093/#/silences/new?filter=" in offer
    second = alert("SlowRequests", severity="warning", summary="p99 above 2s", pod="b")
    await h.send(notification([warning, second]))
    assert len(h.said("alerts")) == 1  # the offer is redrawn, not posted again
    assert "2 firing, 0 resolved." in h.chat.messages["1"][1]
    incident = await h.intake.declare_offer(outcome.group_id, "carol")
    assert incident.declared_by == "carol" and incident.service == "checkout"
    assert await h.alert_events() == ["Alert firing: SlowRequests: p99 above 2s"] * 2
    assert "Declared as INC-1." in h.chat.messages["1"][1]
    # Later notifications of the group go to the incident now.
    await h.send(notification([resolved(warning, later(5)), second]))
    assert (await h.alert_events())[-1] == "Alert resolved: SlowRequests: p99 above 2s"


async def test_alert_for_an_unknown_service_is_offered_without_an_owner(h: Harness) -> None:
    await h.send(notification([alert(service="nope")]))
    assert await h.store.list_incidents() == []
    assert h.said("alerts")[0].startswith("Alert for an unknown service (no owning team found)")


async def test_a_storm_makes_one_incident_per_group_and_one_more_line(h: Harness) -> None:
    groups: list[list[dict[str, Any]]] = [[], [], []]
    services = ["checkout", "database", "checkout"]
    names = ["HighErrorRate", "ReplicationLag", "PodCrashLooping"]
    for i in range(1000):
        g = i % 3
        groups[g].append(alert(names[g], service=services[g], pod=f"p{i}", starts=later(i / 100)))
        if i % 50 == 49 or i == 999:
            for members in groups:
                if members:
                    await h.send(notification(members))
    incidents = await h.store.list_incidents()
    assert len(incidents) == 2  # the third group attached to checkout's open incident
    recorded = sum([len(await h.alert_events(i.number)) for i in incidents], 0)
    assert recorded == 1000
    posts = [(c, t) for c, t in h.chat.posts if c.startswith("inc-")]
    alert_lines = [line for _, t in posts for line in t.splitlines() if line.startswith("Alert ")]
    assert len(alert_lines) == 2 * 20  # the per-team budget (payments, dba) per window
    more = [(c, t) for c, t in posts if "more alerts" in t]
    assert len(more) == 2  # one "and N more alerts" message per team's incident...
    # ...counting up in place: together they account for every alert not shown.
    counts = [
        int(text.split()[2])
        for c, text in h.chat.messages.values()
        if c.startswith("inc-") and "more alerts" in text
    ]
    assert sum(counts) == 1000 - 40
    assert len(posts) < 60


async def test_storm_windows_roll_over_on_the_clock(h: Harness) -> None:
    from datetime import timedelta

    pods = [alert(pod=f"p{i}", starts=later(i / 100)) for i in range(30)]
    await h.send(notification(pods[:25]))
    await h.send(notification(pods))

    def state() -> tuple[int, list[int]]:
        posts = [t for c, t in h.chat.posts if c.startswith("inc-")]
        lines = [x for t in posts for x in t.splitlines() if x.startswith("Alert firing")]
        counts = [
            int(t.split()[2])
            for c, t in h.chat.messages.values()
            if c.startswith("inc-") and "more alerts" in t
        ]
        return len(lines), counts

    assert state() == (20, [10])  # posted at 5, edited to 10
    # Windows are fixed (the same key in every replica): the last second of this one.
    end = window_start(h.clock.now(), timedelta(minutes=10)) + timedelta(minutes=10)
    h.clock.advance(end - h.clock.now() - timedelta(seconds=1))
    await h.send(notification([*pods, alert(pod="x0", starts=later(11))]))
    assert state() == (20, [11])
    h.clock.advance(timedelta(seconds=1))  # the next window: a fresh budget
    fresh = [alert(pod=f"y{i}", starts=later(12)) for i in range(25)]
    await h.send(notification([*pods, alert(pod="x0", starts=later(11)), *fresh]))
    assert state() == (40, [11, 5])


async def test_rule_that_resolves_and_refire_after_resolution_declares_again() -> None:
    rules = Rules.model_validate(
        {
            "rules": [
                {
                    "match": {"alertname": "HighErrorRate"},
                    "action": "declare",
                    "severity": "sev1",
                    "resolve": True,
                }
            ],
            "default": {"action": "offer"},
        }
    )
    h = Harness(rules)
    first = alert()
    await h.send(notification([first]))
    incident = await h.store.get_incident(1)
    assert incident is not None and incident.severity is Severity.SEV1
    await h.send(notification([resolved(first, later(5))]))
    incident = await h.store.get_incident(1)
    assert incident is not None and incident.state is State.RESOLVED
    again = alert(starts=later(30))
    outcome = await h.send(notification([again]))
    assert outcome.incident == "INC-2"


async def test_grafana_notification_declares_with_its_title(h: Harness) -> None:
    from alert_payloads import grafana

    outcome = await h.send(grafana([alert()]), source="grafana")
    assert outcome.incident == "INC-1"
    incident = await h.store.get_incident(1)
    assert incident is not None and incident.title == "[FIRING:1] HighErrorRate"


async def test_postmortem_has_an_alerts_section_and_time_to_detect(h: Harness) -> None:
    from bot.core.postmortem import render_postmortem

    # The alert started at 09:00; the notification arrives (and declares) at 09:02.
    first = alert()
    await h.send(notification([first]))
    h.clock.advance(minutes=5)
    await h.send(notification([resolved(first, later(6))]))
    markdown = render_postmortem(await h.service.record(1), h.clock.now())
    assert "## Alerts" in markdown
    assert (
        "First alert at 2026-11-30 09:00:00 UTC; time to detect (first alert to declaration): "
        "2m 00s." in markdown
    )
    assert (
        "| 2026-11-30 09:00:00 UTC | T-2m 00s | HighErrorRate | firing | Error rate above 5% |"
        in markdown
    )
    assert "| 2026-11-30 09:06:00 UTC | T+4m 00s | HighErrorRate | resolved |" in markdown
    # An incident without alerts has no such section (the default document is unchanged).
    await h.service.declare(Invocation("zoe", "console", "general"), Declare("Other"))
    assert "## Alerts" not in render_postmortem(await h.service.record(2), h.clock.now())


def test_report_gains_time_to_detect() -> None:
    from bot.core.model import Incident
    from bot.core.report import build_report, formatter

    declared = later(10)
    incidents = [
        Incident(
            1,
            "a",
            Severity.SEV2,
            State.INVESTIGATING,
            declared,
            "alerts",
            "console",
            service="checkout",
        ),
        Incident(2, "b", Severity.SEV3, State.INVESTIGATING, declared, "zoe", "console"),
    ]
    report = build_report(incidents, later(60), None, {1: later(4)})
    assert (report.total.detected, report.total.ttd_median) == (1, later(10) - later(4))
    markdown = formatter("md")(report)
    assert "## Time to detect" in markdown
    assert "| All incidents | 1 | 6m 00s | 6m 00s |" in markdown
    assert "| checkout | 1 | 6m 00s | 6m 00s |" in markdown
    assert json.loads(formatter("json")(report))["total"]["ttd_median_s"] == 360
    assert "## Time to detect" not in formatter("md")(build_report(incidents, later(60), None))


async def test_an_offer_goes_to_the_services_or_its_teams_channel() -> None:
    from bot.playbooks.catalog_loader import load_catalog_text

    text = (
        "teams:\n  - name: payments\n    oncall: [bob]\n    channel: payments-alerts\n"
        "services:\n  - name: checkout\n    owner: payments\n"
        "  - name: ledger\n    owner: payments\n    channel: ledger-team\n"
    )
    catalog, problems = load_catalog_text(text, "c.yaml")
    assert catalog is not None, problems
    h = Harness()
    h.intake.incidents.catalog = catalog
    await h.send(notification([alert(severity="warning")]))
    await h.send(notification([alert("Lag", service="ledger", severity="warning")]))
    assert h.said("payments-alerts")[0].startswith("Alert for checkout (payments on call: @bob)")
    assert h.said("ledger-team")[0].startswith("Alert for ledger (payments on call: @bob)")
    assert h.said("alerts") == []


TO_ONCALL = {"rules": [], "default": {"action": "offer", "to": "oncall"}}


async def test_an_offer_to_oncall_is_a_direct_message_whose_button_declares() -> None:
    h = Harness(Rules.model_validate(TO_ONCALL))
    outcome = await h.send(notification([alert(severity="warning")]))
    assert outcome.action == "offer" and h.said("alerts") == []
    [offer] = h.said("@bob")  # payments' on-call, in the bot's direct channel with bob
    assert offer.startswith("Alert for checkout (payments on call: @bob): HighErrorRate")
    assert "Silence: http://alertmanager:9093/#/silences/new?filter=" in offer
    assert "Declare it with the button" in offer
    incident = await h.intake.declare_offer(outcome.group_id, "bob")
    assert incident.declared_by == "bob" and incident.service == "checkout"
    # The direct message is redrawn in place: declared, no button.
    [text] = [t for c, t in h.chat.messages.values() if c == "@bob"]
    assert "Declared as INC-1." in text
    stored = await h.alerts.get(outcome.group_id)
    assert stored is not None and stored[0].data["offered_to"] == "bob"


async def test_an_offer_to_oncall_goes_to_the_channel_when_nobody_is_on_call() -> None:
    from bot.playbooks.catalog_loader import load_catalog_text

    text = (
        "teams:\n  - name: payments\n    members: [bob]\n    channel: payments-alerts\n"
        "    rotation:\n      - members: [bob]\n        start: 2026-11-30T08:00:00Z\n"
        "        length: 1d\n        restrict: {days: [mon], from: '08:00', to: '08:30'}\n"
        "services:\n  - name: checkout\n    owner: payments\n"
    )
    catalog, problems = load_catalog_text(text, "c.yaml")
    assert catalog is not None, problems
    h = Harness(Rules.model_validate(TO_ONCALL))
    h.intake.incidents.catalog = catalog  # 09:02 on a Monday: outside bob's half hour
    await h.send(notification([alert(severity="warning")]))
    assert [c for c, _ in h.chat.posts] == ["payments-alerts"]
    [offer] = h.said("payments-alerts")
    assert offer.startswith("Alert for checkout (payments): HighErrorRate")
    assert offer.endswith(
        "(Not sent to an on-call by direct message: nobody is on call for payments now; "
        "check the team's rotation in the catalog.)"
    )


async def test_alerts_alertmanager_truncated_are_said_and_on_the_timeline(h: Harness) -> None:
    pods = [alert(pod=f"p{i}") for i in range(2)]
    body = notification(pods) | {"truncatedAlerts": 3}
    await h.send(body)
    await h.send(body)  # re-sent at group_interval: nothing new to say or record
    channel = (await h.store.get_incident(1)).channel_name  # type: ignore[union-attr]
    said = "... and 3 more alerts not sent by Alertmanager (its max_alerts); see Alertmanager."
    assert h.said(channel or "").count(said) == 1
    [entry] = [e for e in await h.store.timeline(1) if e.data.get("status") == "truncated"]
    assert (entry.kind, entry.text, entry.data["truncated"]) == (EventKind.ALERT, said, 3)
    await h.send(notification(pods) | {"truncatedAlerts": 5})
    assert h.said(channel or "")[-1].startswith("... and 5 more alerts not sent by")
    # The postmortem's alert table lists it; time to detect still counts only firing alerts.
    from bot.core.postmortem import render_postmortem

    markdown = render_postmortem(await h.service.record(1), h.clock.now())
    assert "| truncated | ... and 3 more alerts not sent by Alertmanager" in markdown


async def test_an_offer_says_how_many_alerts_alertmanager_truncated(h: Harness) -> None:
    warning = alert("SlowRequests", severity="warning", summary="p99 above 2s")
    outcome = await h.send(notification([warning]) | {"truncatedAlerts": 1})
    [offer] = h.said("alerts")
    assert "1 firing, 0 resolved.\n... and 1 more alert not sent by Alertmanager" in offer
    await h.send(notification([warning]) | {"truncatedAlerts": 4})  # redrawn in place
    assert "... and 4 more alerts not sent by" in h.chat.messages["1"][1]
    incident = await h.intake.declare_offer(outcome.group_id, "carol")
    said = [e.text for e in await h.store.timeline(incident.number) if e.kind is EventKind.ALERT]
    assert said == [
        "Alert firing: SlowRequests: p99 above 2s",
        "... and 4 more alerts not sent by Alertmanager (its max_alerts); see Alertmanager.",
    ]
