"""The `nps-bot` command line: demo, migrate, digest --print, try, config."""

from __future__ import annotations

import os

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


def test_digest_on_a_new_database_prints_the_digest_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    monkeypatch.delenv("NPS_BOT_LOG_LEVEL", raising=False)
    assert main(["digest", "--print"]) == 0  # migrates the new database first, silently
    captured = capsys.readouterr()
    assert captured.out.startswith("NPS digest: last 7 days")
    assert "alembic" not in captured.err and "INFO" not in captured.err, captured.err
    monkeypatch.setenv("NPS_BOT_LOG_LEVEL", "INFO")  # asked for: the log is back
    assert main(["digest", "--print"]) == 0
    assert "database schema at head" in capsys.readouterr().err


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
    commands = (
        "serve", "worker", "migrate", "demo", "try", "digest", "import", "forget", "rollups", "intake", "template-link",
    )  # fmt: skip
    for command in (*commands, "config"):
        assert f"    {command} " in out, f"{command} has no help line"


def test_demo_is_quiet_and_can_keep_its_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    assert main(["demo", "--tickets", "12", "--seed", "3"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # the story only, no log
    assert "That database was temporary" in out and "nps-bot demo --database sqlite:///demo.db" in out
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    assert main(["demo", "--tickets", "12", "--seed", "3", "--database", url]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "Demo: 12 tickets closed, 12 surveys sent" in out
    assert f"kept in {url}" in out and f"NPS_BOT_DATABASE_URL={url} nps-bot digest --print --period 30d" in out
    # Played again on the same database: new tickets and customers, not duplicates or throttled ones.
    assert main(["demo", "--tickets", "12", "--seed", "3", "--database", url, "-v"]) == 0
    out, err = capsys.readouterr()
    assert "Demo: 12 tickets closed, 12 surveys sent" in out
    assert "[console] would send" in err  # -v: the service's log
    # The next command the demo names works on the kept data.
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", url)
    assert main(["digest", "--print", "--period", "30d"]) == 0
    digest = capsys.readouterr().out
    assert "NPS last 30 days" in digest and "answers" in digest and "No answers" not in digest.split("\n")[2]


def test_config_lists_settings_masks_secrets_and_names_their_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith(("NPS_BOT_", "SLACK_"))]:
        monkeypatch.delenv(name)
    (tmp_path / ".env").write_text("NPS_BOT_DATABASE_URL=postgresql://app:hunter2@db/nps\nSLACK_BOT_TOKEN=xoxb-1-2\n")
    monkeypatch.setenv("NPS_BOT_GENERIC_SECRET", "inbound-secret")
    monkeypatch.setenv("NPS_BOT_ZENDESK_SIGNING_SECRET", "zd-secret")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ")}
    assert rows["NPS_BOT_DATABASE_URL"] == ["postgresql://app:***@db/nps", ".env"]
    assert rows["SLACK_BOT_TOKEN"] == ["****", ".env"]
    assert rows["NPS_BOT_GENERIC_SECRET"] == ["****", "env"]
    assert rows["NPS_BOT_ZENDESK_SIGNING_SECRET"] == ["****", "env"]  # set, so listed outside the main table
    assert rows["NPS_BOT_PORT"] == ["8080", "default"] and rows["NPS_BOT_SURVEY_DELAY"] == ["1h", "default"]
    assert "NPS_BOT_FRESHDESK_DOMAIN" not in rows  # unset vendor settings: only with --all
    assert not any(word in out for word in ("hunter2", "xoxb-1-2", "inbound-secret", "zd-secret"))
    assert main(["config", "--all"]) == 0
    assert "NPS_BOT_FRESHDESK_DOMAIN" in capsys.readouterr().out


def test_try_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NPS_BOT_GENERIC_SECRET", raising=False)
    assert main(["try", "--email", "someone@example.com"]) == 2
    assert "NPS_BOT_GENERIC_SECRET is not set" in capsys.readouterr().err
    monkeypatch.setenv("NPS_BOT_GENERIC_SECRET", "s")
    assert main(["try", "--email", "someone@example.com", "--url", "http://127.0.0.1:1", "--wait", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nps-bot try: nothing answers at http://127.0.0.1:1") and len(err.splitlines()) == 1
    assert main(["try", "--email", "not-an-address"]) == 2


def test_try_explains_a_refused_signature_and_a_server_with_no_worker(
    make_live, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from nps_bot.store.schema import webhook_intake
    from tests.support.app import GENERIC_SECRET

    url = f"sqlite:///{tmp_path / 'try.db'}"
    live = make_live(database_url=url)  # no worker runs beside this server
    live.clock.set(datetime.now(UTC))  # `try` signs with the real time
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", url)
    monkeypatch.setenv("NPS_BOT_GENERIC_SECRET", "not-the-servers-secret")
    assert main(["try", "--email", "ana@example.com", "--url", live.url, "--wait", "1"]) == 1
    err = capsys.readouterr().err
    assert f"{live.url} refused the signature (signature does not match)" in err
    assert "the same NPS_BOT_GENERIC_SECRET" in err

    monkeypatch.setenv("NPS_BOT_GENERIC_SECRET", GENERIC_SECRET)
    assert main(["try", "--email", "ana@example.com", "--url", live.url, "--wait", "1"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("posted ticket TRY-") and ": queued" in out.splitlines()[0], (out, err)
    assert "is stored but still queued after 5 s: is a worker running?" in err
    assert "ana@example.com" not in err  # the address stays out of the error
    with live.ctx.engine.connect() as conn:  # stored, waiting for a worker
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_intake)).scalar_one() == 1


def test_intake_shows_the_queue_drains_it_and_requeues_failed_rows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from nps_bot.models import Customer, Interaction
    from nps_bot.store import create_engine_for, migrate
    from nps_bot.store.schema import webhook_intake
    from nps_bot.surveys.intake import encode

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", url)
    engine = create_engine_for(url)
    migrate(engine)
    now = datetime.now(UTC)
    closes = [
        Interaction(connector="generic", event_id=f"e{n}", ticket_id=f"T{n}", customer=Customer()) for n in (1, 2)
    ]
    with engine.begin() as conn:
        conn.execute(webhook_intake.insert(), [{"connector": "generic", "payload": encode([i], now)} for i in closes])
        conn.execute(webhook_intake.insert(), [{"connector": "generic", "payload": encode([closes[0]], now)}])
        conn.execute(webhook_intake.insert(), [{"connector": "generic", "payload": "{cut off"}])
    engine.dispose()

    assert main(["intake"]) == 0
    assert capsys.readouterr().out == "waiting: 4, failed: 0\n"
    assert main(["intake", "drain"]) == 0
    assert capsys.readouterr().out == (
        "scheduled the queued webhooks: 1 duplicate, 2 scheduled\n"
        "waiting: 0, failed: 1\n"
        "  1 failed with JSONDecodeError\n"
    )
    assert main(["intake", "retry"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "1 failed webhooks back in the queue; a worker schedules them", "waiting: 1, failed: 0",
    ]  # fmt: skip
    with create_engine_for(url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_intake)).scalar_one() == 1
