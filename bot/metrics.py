"""Prometheus metrics, on a registry owned by the App (no process-global state)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "warroom_commands_total",
            "Slash commands handled",
            ["platform", "verb", "outcome"],
            registry=self.registry,
        )
        self.command_seconds = Histogram(
            "warroom_command_seconds",
            "Time to handle a slash command (after the ack)",
            ["platform"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe_command(self, platform: str, verb: str, outcome: str, seconds: float) -> None:
        # Labelled children looked up once: labels() takes a lock and builds a key per call,
        # which every command paid for.
        key = (platform, verb, outcome)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.commands.labels(platform, verb, outcome),
                self.command_seconds.labels(platform),
            )
        count, latency = children
        count.inc()
        latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
