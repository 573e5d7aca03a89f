"""The `nps-bot` command line: demo, migrate, digest --print."""

from __future__ import annotations

import pytest

from nps_bot.cli import main


def test_demo_plays_the_whole_story(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--tickets", "30", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "Demo: 30 tickets closed, 30 surveys sent" in out
    assert "/nps score 30d by team" in out
    assert "NPS last 30 days:" in out and "Team" in out and "too few answers" in out


def test_migrate_then_digest_print(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    chart = tmp_path / "trend.png"
    assert main(["digest", "--print", "--period", "7d", "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "Detractors followed up within 48 h" in out
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["digest", "--print", "--period", "yesterday"]) == 2
    assert "unknown period" in capsys.readouterr().out
