"""Packaging detail pyproject.toml cannot say: the repository's top-level migrations/ and
playbooks/ folders ship inside the distribution as bot/_shipped/migrations and
bot/_shipped/playbooks, so a non-editable install (pip, pipx, a container) can migrate its
database and has the shipped playbooks. The folders stay where they are in the repository; no
copy is committed. bot/shipped.py finds them in either place."""

from setuptools import find_packages, setup

SHIPPED = {
    "bot._shipped.migrations": "migrations",
    "bot._shipped.migrations.versions": "migrations/versions",
    "bot._shipped.playbooks": "playbooks",
}

setup(
    packages=[*find_packages(include=["bot", "bot.*"]), *SHIPPED],
    package_dir=SHIPPED,
    package_data={
        "bot._shipped.migrations": ["script.py.mako"],
        "bot._shipped.playbooks": ["*.yaml", "*.yml", "*.json"],
    },
)
