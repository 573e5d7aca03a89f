"""Rotating NPS_BOT_SECRET_KEY: links signed with an earlier key keep working while that key is listed
in NPS_BOT_SECRET_KEY_PREVIOUS, new links use the current key, and a key dropped from the list stops
working (e-mail unsubscribe links and the help desk's survey links alike)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from nps_bot.surveys import unsubscribe
from nps_bot.surveys.template_link import ticket_link
from tests.support.app import Live

OLD, NEW = "the-key-before-rotation", "the-key-after-rotation"


@pytest.mark.parametrize(("previous", "accepted"), [([OLD], True), ([], False)], ids=["listed", "dropped"])
def test_an_unsubscribe_link_signed_with_an_earlier_key(
    make_live: Callable[..., Live], previous: list[str], accepted: bool
) -> None:
    live = make_live(secret_key=NEW, secret_key_previous=previous)
    token = unsubscribe.sign(OLD, "customer1@example.com")
    assert live.http.get(f"/unsubscribe/{token}").status_code == (200 if accepted else 404)
    assert live.http.post(f"/unsubscribe/{token}").status_code == (200 if accepted else 404)
    assert unsubscribe.is_unsubscribed(live.ctx.surveys, "customer1@example.com") is accepted
    new = unsubscribe.sign(NEW, "customer2@example.com")  # the current key works either way
    assert live.http.post(f"/unsubscribe/{new}").status_code == 200


@pytest.mark.parametrize(("previous", "status"), [([OLD], 303), ([], 403)], ids=["listed", "dropped"])
def test_a_help_desk_survey_link_signed_with_an_earlier_key(
    make_live: Callable[..., Live], previous: list[str], status: int
) -> None:
    live = make_live(secret_key=NEW, secret_key_previous=previous)
    link = urlsplit(ticket_link(live.url, OLD, "generic", "T-1", "customer1@example.com", 9))
    opened = live.http.get(f"{link.path}?{link.query}", follow_redirects=False)
    assert opened.status_code == status
    if status == 303:
        assert opened.headers["location"].startswith("/s/")


def test_the_current_key_is_tried_first_and_empty_keys_never(make_live: Callable[..., Live]) -> None:
    live = make_live(secret_key=NEW, secret_key_previous=[OLD, ""])
    assert live.ctx.settings.verifying_keys() == [NEW, OLD]
    # An empty key would verify a link anyone can sign: never offered, and verify refuses it alone.
    assert unsubscribe.verify([""], unsubscribe.sign(OLD, "customer1@example.com")) is None
