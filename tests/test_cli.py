"""The `nps-bot` command line: demo, migrate, digest --print."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory

from nps_bot.cli import main
from nps_bot.store.engine import MIGRATIONS


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


def test_migrate_says_what_it_did(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    assert main(["migrate"]) == 0
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    first = capsys.readouterr().out
    assert f"from schema none (new database) to {head}" in first
    assert main(["migrate"]) == 0
    assert f"is up to date (schema {head})" in capsys.readouterr().out


def test_errors_are_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["import", "nicereply", "--since", "01/02/2026"])
    assert exc.value.code == 2
    assert "'01/02/2026' is not a date like 2026-01-31" in capsys.readouterr().err
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/nps")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nps-bot: cannot use the database postgresql://nobody:***@127.0.0.1:1/nps:")
    assert len(err.strip().splitlines()) == 1 and "secret" not in err and "Traceback" not in err
    monkeypatch.setenv("NPS_BOT_PORT", "eighty")
    assert main(["migrate"]) == 2
    assert "invalid settings: NPS_BOT_PORT" in capsys.readouterr().err


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("serve", "worker", "migrate", "demo", "digest", "import"):
        assert f"    {command} " in out
