"""A worker SIGKILLed after its survey DM reached Slack but before the outcome was committed: the worker
that takes the survey over finds the DM (by its metadata, in conversations.history) and records it as
sent; the customer gets the survey once. Only that survey is looked for: the rest of the killed
worker's batch was never handed to Slack, so it is posted straight away."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from nps_bot.models import Customer
from nps_bot.store import create_engine_for
from nps_bot.store.schema import surveys
from tests.fakes.slack import Call, FakeSlack
from tests.support.worker_processes import Workers, all_final, posts_by_survey, schedule, wait_until, worker_env

SURVEYS = 6


def test_a_survey_posted_by_a_killed_worker_is_adopted_not_posted_again(
    any_db_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    ids = schedule(any_db_url, [Customer(email=f"c{n}@example.com") for n in range(SURVEYS)])
    for n in range(SURVEYS):
        fake_slack.add_user(f"U0CUST{n:04d}", f"c{n}@example.com")
    workers = Workers(tmp_path)
    env = worker_env(any_db_url, fake_slack)
    killed: list[Call] = []
    done = threading.Event()

    def kill_on_first_post(call: Call) -> None:
        if call.method == "chat.postMessage" and call.ok and not killed:
            killed.append(call)
            workers.kill_sender(call)  # the DM is in Slack; its sender never hears back
            done.set()

    fake_slack.on_call = kill_on_first_post
    engine = create_engine_for(any_db_url)
    try:
        workers.start("xoxb-victim", env)
        assert done.wait(30), workers.logs()
        assert workers.procs["xoxb-victim"].returncode == -9
        workers.start("xoxb-survivor", env)  # claims the victim's batch once its lease has run out
        wait_until(all_final(engine, SURVEYS), 30, "every survey delivered", workers)
    finally:
        workers.stop()
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(surveys).order_by(surveys.c.id))}
    engine.dispose()

    (dm,) = killed
    adopted = int(dm.params["metadata"]["event_payload"]["survey_id"])
    assert posts_by_survey(fake_slack) == {sid: 1 for sid in ids}, "each customer got the survey once"
    assert {r.state for r in rows.values()} == {"sent"}
    assert rows[adopted].delivery_ref == f"{dm.response['channel']}:{dm.response['ts']}", "the killed post is adopted"
    assert rows[adopted].attempts == 2
    (history,) = fake_slack.calls_to("conversations.history")
    assert history.token == "xoxb-survivor" and history.params.get("include_all_metadata") in (True, "true", "1")
    assert history.params["channel"] == dm.response["channel"], "looked for in the killed post's DM only"
    assert len(fake_slack.calls_to("conversations.open")) == 1
    assert all(r.post_attempted_at is None for r in rows.values()), "sent: nothing is left in doubt"
