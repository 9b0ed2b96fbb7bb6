"""The Backstage sample catalog drives a scripted console incident from the outside: the
on-call from its .ics is paged by DM, the runbook and the dependencies' owners are posted,
typos get "did you mean", the ack stops the escalation."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.core.ownership import OnCall
from bot.playbooks.catalog_loader import load_catalog

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "backstage"


def test_scripted_console_incident_on_the_backstage_sample(tmp_path: Path) -> None:
    catalog = load_catalog(SAMPLE)
    team = catalog.team("payments")
    assert team is not None
    oncall, _ = OnCall(catalog).at(team, datetime.now(UTC))
    assert oncall in ("ana", "bob")
    script = (
        "/incident declare sev1 service:chekout Checkout returns 500s\n"
        "/incident declare sev1 service:checkout Checkout returns 500s\n"
        "/join #inc-1-checkout-returns-500s\n"
        "/incident oncall\n"
        "/incident page payments-db\n"
        "/incident page paymnts\n"
        f"/as {oncall}\n"
        "/incident ack\n"
        "/incident resolve fixed\n"
    )
    env = {
        **os.environ,
        "WARROOM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
        "WARROOM_CATALOG": str(SAMPLE),
        "WARROOM_PLAYBOOKS": str(tmp_path / "none"),
    }
    env.pop("WARROOM_ANNOUNCE_CHANNEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--user", "zoe"],
        input=script, text=True, capture_output=True, env=env, cwd=tmp_path, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    channel = "[#inc-1-checkout-returns-500s]"
    expected = [
        "no such service 'chekout'; did you mean 'checkout'?",
        f"{channel} warroom: Paging payments (owner of checkout) on call: @{oncall}.",
        f"[@{oncall}] (direct message) warroom: warroom paged you into INC-1 (sev1)",
        f"{channel} warroom: Runbook for checkout: https://wiki.example.com/runbooks/checkout",
        f"{channel} warroom: checkout depends on: payments-db (dba).",
        f"@{oncall} until ",
        "[@dave] (direct message)",
        "no such team or service 'paymnts'; did you mean 'payments'?",
        f"{channel} warroom: {oncall} acknowledged INC-1: escalation stopped.",
    ]
    for line in expected:
        assert line in out, f"{line!r} not in:\n{out}"
    assert out.index(expected[1]) < out.index(expected[-1])
