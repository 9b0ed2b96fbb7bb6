"""Playbooks on disk: YAML loading with positions, lint, drills."""
