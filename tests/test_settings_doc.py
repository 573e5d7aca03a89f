"""README's settings table is generated from the settings classes; it fails when the two disagree."""

from __future__ import annotations

from pathlib import Path

from nps_bot import settings_doc

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_settings_table_is_the_generated_one() -> None:
    generated = settings_doc.render_table()
    documented = settings_doc.readme_table(README.read_text(encoding="utf-8"))
    assert documented == generated, "README's settings table is stale: python -m nps_bot.settings_doc --write README.md"
    assert settings_doc._main(["--check", str(README)]) == 0


def test_every_main_table_setting_is_described_and_listed_once() -> None:
    names = [s.name for _, _, group in settings_doc.main_table() for s in group]
    assert len(names) == len(set(names))
    for _, _, group in settings_doc.main_table():
        for s in group:
            assert s.info.description, f"{s.cls.__name__}.{s.field} needs Field(description=...)"
    # Inbound and outbound secrets sit in different groups, each saying which way it works.
    groups = {s.name: key for key, _, group in settings_doc.main_table() for s in group}
    assert groups["NPS_BOT_GENERIC_SECRET"] == "inbound" and groups["NPS_BOT_WEBHOOK_SECRET"] == "results"
    assert {"SLACK_BOT_TOKEN", "NPS_BOT_DATABASE_URL", "NPS_BOT_SURVEY_DELAY"} <= set(names)


def test_a_stale_table_is_reported(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    stale.write_text(README.read_text(encoding="utf-8").replace("`1h`", "`2h`", 1), encoding="utf-8")
    assert settings_doc._main(["--check", str(stale)]) == 1
    assert settings_doc._main(["--write", str(stale)]) == 0
    assert settings_doc._main(["--check", str(stale)]) == 0
