"""Privacy and permissions over Slack, end to end: signed commands in, response_url out."""

from __future__ import annotations

from conftest import ALICE, BOB, GENERAL, SlackBot

TITLE = "Leaked credentials for payroll-db"


async def test_outsiders_get_private_and_nothing_else(bot: SlackBot) -> None:
    await bot.command(f"declare sev2 --private {TITLE}")
    await bot.settle()
    asked = [
        "list",
        "list --all",
        "show INC-1",
        "timeline INC-1",
        "tasks INC-1",
        "postmortem INC-1",
    ]
    answers = []
    for text in asked:
        response = await bot.command(text, user=BOB, channel=GENERAL)
        await bot.settle()
        # Reads are answered in their ack; the rest through the response_url.
        answers.append(response.json()["text"] if response.text else bot.peer.responses[-1]["text"])
    assert len(answers) == len(asked)
    for answer in answers:
        assert "payroll" not in answer and "Leaked" not in answer and ALICE not in answer
        assert "inc-1-" not in answer
    assert all(a.startswith("INC-1 is private.") for a in answers[2:]), answers
    assert all("1 private incident" in a for a in answers[:2]), answers
    assert all(r["response_type"] == "ephemeral" for r in bot.peer.responses)
    assert len(bot.peer.responses) == 2  # alice's declare, bob's postmortem


async def test_a_passer_by_cannot_steer_a_public_incident(bot: SlackBot) -> None:
    await bot.command("declare sev2 Checkout down")
    await bot.settle()
    channel = bot.peer.channel_named("inc-1-checkout-down")["id"]
    for text in (f"role commander @{BOB}", "sev sev4", "resolve false alarm"):
        await bot.command(text, user=BOB, channel=channel)
    await bot.settle()
    refusals = [r["text"] for r in bot.peer.responses][1:]
    assert len(refusals) == 3 and all(r.startswith("Only the commander (<@") for r in refusals)
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.is_open and incident.severity == "sev2"
    roles = await bot.app.store.roles(1)
    assert [(r.role, r.user) for r in roles] == [("commander", ALICE)]
