"""The APScheduler job only drives the ticker: it starts and stops on the running loop."""

from __future__ import annotations


async def test_ticker_starts_and_stops_on_the_running_loop() -> None:
    from bot.core.clock import SystemClock
    from bot.schedule.ticker import Ticker
    from bot.store.reminders import MemoryReminders

    async def fire(reminder: object) -> None:
        raise AssertionError("nothing is due")

    ticker = Ticker(MemoryReminders(), fire, SystemClock(), name="t")
    ticker.start(interval=3600)
    assert ticker._scheduler is not None and ticker._scheduler.get_job("reminder-ticker")
    ticker.stop()
    assert ticker._scheduler is None
