"""`warroom slack manifest` never invents or accepts a URL Slack cannot call (issue 12,
point 13)."""

from __future__ import annotations

import json

import pytest

from bot.__main__ import main


def test_no_url_is_an_error_in_http_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("warroom: slack manifest needs --url https://HOST")


@pytest.mark.parametrize("url", ["warroom.example.com", "http://warroom.example.com", "https://"])
def test_a_url_without_https_is_an_error(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest", "--url", url]) == 1
    assert f"--url {url!r} is not an https:// URL" in capsys.readouterr().err


def test_public_url_setting_and_socket_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WARROOM_PUBLIC_URL", "https://bot.example.org")
    assert main(["slack", "manifest"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert "https://bot.example.org/slack/events" in json.dumps(manifest)
    monkeypatch.delenv("WARROOM_PUBLIC_URL")
    assert main(["slack", "manifest", "--socket-mode"]) == 0
    assert "example.com" not in capsys.readouterr().out
