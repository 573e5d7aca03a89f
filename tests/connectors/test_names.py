"""Ids named at delivery (SurveyEnricher): Zendesk event webhooks carry the assignee and group ids only,
Help Scout dropdown fields may carry the option id only. The worker names them through the vendor API
before delivery (one call per unknown id, cached), never while the webhook waits for its answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
import respx

from tests.conftest import Live
from tests.connectors.helpers import (
    HELPSCOUT_API,
    HELPSCOUT_ENV,
    ZENDESK_ENV,
    fixture,
    load,
    post_helpscout,
    post_zendesk,
)
from tests.db_helpers import attributes_of
from tests.db_helpers import survey_rows as rows

USER_URL = "https://acme.zendesk.com/api/v2/users/8447388090494.json"
GROUP_URL = "https://acme.zendesk.com/api/v2/groups/8447320466430.json"

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def zendesk(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ZENDESK_ENV, delivery=["console"], survey_delay=timedelta(0))


def mock_names(router: respx.Router, *, status: int = 200) -> tuple[respx.Route, respx.Route]:
    router.route(host="127.0.0.1").pass_through()
    user = router.get(USER_URL).respond(status, json=fixture("zendesk", "api_user_show.json"))
    group = router.get(GROUP_URL).respond(status, json=fixture("zendesk", "api_group_show.json"))
    return user, group


def test_event_webhook_ids_are_named_when_the_survey_is_delivered(zendesk: Live) -> None:
    with respx.mock(assert_all_called=False) as router:
        user, group = mock_names(router)
        response = post_zendesk(zendesk, fixture("zendesk", "event_status_changed_solved.json"))
        assert zendesk.outcome(response)["status"] == "scheduled", response.text
        # The webhook is answered without a call to Zendesk.
        assert (user.call_count, group.call_count) == (0, 0)
        [row] = rows(zendesk)
        assert (row.agent_name, row.team) == ("8447388090494", "8447320466430")

        assert zendesk.worker().run_once() == 1

    [row] = rows(zendesk)
    assert row.state == "sent"
    assert (row.agent_id, row.agent_name, row.team) == ("8447388090494", "Ona Petraitė", "Billing")
    assert user.calls.last.request.headers["authorization"].startswith("Basic ")


def test_names_are_cached_one_call_per_unknown_id(zendesk: Live) -> None:
    second = load("zendesk", "event_status_changed_solved.json", {"id": "01JD0000000000000000000002"})
    second["detail"]["id"] = "35437"
    second["detail"]["requester_id"] = "8447388090496"  # another customer: not throttled
    with respx.mock(assert_all_called=False) as router:
        user, group = mock_names(router)
        post_zendesk(zendesk, fixture("zendesk", "event_status_changed_solved.json"))
        post_zendesk(zendesk, second, invocation="8350205583")
        assert zendesk.worker().run_once() == 2
    assert [(r.agent_name, r.team) for r in rows(zendesk)] == [("Ona Petraitė", "Billing")] * 2
    assert (user.call_count, group.call_count) == (1, 1)


def test_a_failed_lookup_never_stops_the_delivery(zendesk: Live) -> None:
    with respx.mock(assert_all_called=False) as router:
        mock_names(router, status=503)
        post_zendesk(zendesk, fixture("zendesk", "event_status_changed_solved.json"))
        assert zendesk.worker().run_once() == 1
    [row] = rows(zendesk)
    assert (row.state, row.agent_name, row.team) == ("sent", "8447388090494", "8447320466430")


def test_trigger_bodies_with_names_make_no_lookup(zendesk: Live) -> None:
    with respx.mock(assert_all_called=False) as router:
        user, group = mock_names(router)
        post_zendesk(zendesk, fixture("zendesk", "trigger_solved.json"))
        assert zendesk.worker().run_once() == 1
    assert (user.call_count, group.call_count) == (0, 0)


def test_helpscout_dropdown_option_id_is_stored_as_its_label(make_live: Callable[..., Live]) -> None:
    live = make_live(
        env=HELPSCOUT_ENV | {"NPS_BOT_HELPSCOUT_ATTRIBUTES": "Plan,Beers"},
        delivery=["console"],
        survey_delay=timedelta(0),
    )
    body = fixture("helpscout", "convo_status_closed.json")
    body["customFields"].append({"id": 104, "name": "Beers", "value": "168"})  # no "text": an option id only
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        router.post(f"{HELPSCOUT_API}/oauth2/token").respond(200, json=fixture("helpscout", "api_token.json"))
        fields = router.get(f"{HELPSCOUT_API}/mailboxes/85/fields").mock(
            return_value=httpx.Response(200, json=fixture("helpscout", "api_mailbox_fields.json"))
        )
        assert live.outcome(post_helpscout(live, body))["status"] == "scheduled"
        assert fields.call_count == 0
        [row] = rows(live)
        assert attributes_of(live, row.id)["Beers"] == "168"
        assert live.worker().run_once() == 1
    assert attributes_of(live, row.id) == {"Plan": "Pro", "Beers": "IPA", "language": "lt"}
    assert fields.call_count == 1
