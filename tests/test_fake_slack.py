"""Tests for the fake Slack Web API (tests/fakes/slack/), driven through the real slack_sdk clients."""

import json
import time
import urllib.request
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-test"
BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "How likely are you to recommend us?"}},
    {
        "type": "actions",
        "elements": [{"type": "button", "action_id": "nps_10", "text": {"type": "plain_text", "text": "10"}}],
    },
]


@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake_slack.base_url, retry_handlers=[])


@pytest.fixture
async def async_client(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(token=TOKEN, base_url=fake_slack.base_url, session=session, retry_handlers=[])


def _headers_lower(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


# ---------------------------------------------------------------------- lifecycle


def test_fixture_is_started_and_base_url_points_at_it(fake_slack: FakeSlack) -> None:
    assert fake_slack.base_url == f"http://127.0.0.1:{fake_slack.port}/api/"
    with urllib.request.urlopen(fake_slack.base_url + "api.test", data=b"") as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"ok": False, "error": "invalid_auth"}


def test_context_manager_stops_server() -> None:
    with FakeSlack() as fake:
        url = fake.base_url
        WebClient(token=TOKEN, base_url=url).auth_test()
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "auth.test", data=b"", timeout=1)


def test_auth_test_shape(client: WebClient, fake_slack: FakeSlack) -> None:
    resp = client.auth_test()
    assert resp["ok"] is True
    for key in ("url", "team", "user", "team_id", "user_id", "bot_id"):
        assert resp[key], key
    assert resp["user_id"] == fake_slack.bot_user_id
    (call,) = fake_slack.calls_to("auth.test")
    assert call.token == TOKEN
    assert call.headers["authorization"] == f"Bearer {TOKEN}"


# ---------------------------------------------------------------------- chat


def test_post_message_records_decoded_blocks_json_body(client: WebClient, fake_slack: FakeSlack) -> None:
    resp = client.chat_postMessage(channel="C0001", text="NPS?", blocks=BLOCKS)
    assert resp["channel"] == "C0001"
    assert resp["message"]["blocks"] == BLOCKS
    assert resp["message"]["ts"] == resp["ts"]
    (call,) = fake_slack.wait_for("chat.postMessage")
    assert call.headers["content-type"].startswith("application/json")
    assert call.params["blocks"] == BLOCKS
    assert call.params["text"] == "NPS?"
    assert call.ok


def test_post_message_form_encoded_blocks_are_decoded(client: WebClient, fake_slack: FakeSlack) -> None:
    client.api_call(
        "chat.postMessage",
        params={"channel": "C0001", "blocks": json.dumps(BLOCKS), "attachments": "[]"},
    )
    (call,) = fake_slack.calls_to("chat.postMessage")
    assert call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert call.params["blocks"] == BLOCKS
    assert call.params["attachments"] == []


def test_post_message_ts_increases_and_user_channel_becomes_dm(client: WebClient) -> None:
    first = client.chat_postMessage(channel="U0ALICE01", text="one")
    second = client.chat_postMessage(channel="C0001", text="two")
    assert first["channel"] == "D0ALICE01"
    assert first["ts"] == "1700000000.000100"
    assert float(second["ts"]) > float(first["ts"])


def test_post_message_without_content_is_no_text(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.api_call("chat.postMessage", json={"channel": "C0001"})  # bypasses the sdk's missing-text warning
    assert exc.value.response["error"] == "no_text"


def test_update_and_ephemeral(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0001", text="v1")
    updated = client.chat_update(channel="C0001", ts=posted["ts"], text="v2")
    assert (updated["channel"], updated["ts"], updated["text"]) == ("C0001", posted["ts"], "v2")
    eph = client.chat_postEphemeral(channel="C0001", user="U0ALICE01", text="only you")
    assert float(eph["message_ts"]) > float(posted["ts"])


def test_channel_membership_rules(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("C0PUBLIC1", "feedback")
    fake_slack.add_channel("C0PRIVAT1", "leadership", is_private=True)
    fake_slack.add_channel("C0MEMBER1", "nps", is_member=True)

    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0PUBLIC1", text="hi")
    assert exc.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0PRIVAT1", text="hi")
    assert exc.value.response["error"] == "channel_not_found"
    assert client.chat_postMessage(channel="C0MEMBER1", text="hi")["ok"]
    assert client.chat_postMessage(channel="#nps", text="by name")["channel"] == "C0MEMBER1"

    fake_slack.scopes.add("chat:write.public")
    assert client.chat_postMessage(channel="C0PUBLIC1", text="hi")["ok"]
    with pytest.raises(SlackApiError) as exc:  # chat:write.public doesn't open private channels
        client.chat_postMessage(channel="C0PRIVAT1", text="hi")
    assert exc.value.response["error"] == "channel_not_found"

    assert [c.error for c in fake_slack.calls_to("chat.postMessage")] == [
        "not_in_channel",
        "channel_not_found",
        None,
        None,
        None,
        "channel_not_found",
    ]


def test_strict_channels_rejects_unknown_channels() -> None:
    with FakeSlack(strict_channels=True) as fake:
        client = WebClient(token=TOKEN, base_url=fake.base_url)
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel="C0NOPE001", text="hi")
        assert exc.value.response["error"] == "channel_not_found"
        assert client.chat_postMessage(channel="U0ALICE01", text="dm")["ok"]


def test_conversations_info_and_open(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("C0PUBLIC1", "feedback")
    fake_slack.add_channel("C0PRIVAT1", "leadership", is_private=True, is_member=True)
    info = client.conversations_info(channel="C0PUBLIC1")["channel"]
    assert (info["id"], info["name"], info["is_private"], info["is_member"]) == (
        "C0PUBLIC1",
        "feedback",
        False,
        False,
    )
    assert client.conversations_info(channel="C0PRIVAT1")["channel"]["is_private"] is True
    with pytest.raises(SlackApiError) as exc:
        client.conversations_info(channel="C0UNKNOWN")
    assert exc.value.response["error"] == "channel_not_found"

    assert client.conversations_open(users="U0ALICE01")["channel"]["id"] == "D0ALICE01"


# ---------------------------------------------------------------------- users


def test_lookup_by_email_hit_and_miss(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0ALICE01", "alice@example.com", name="alice", tz="Europe/Berlin", is_admin=True)
    user = client.users_lookupByEmail(email="ALICE@example.com")["user"]
    assert (user["id"], user["name"], user["tz"], user["is_admin"]) == (
        "U0ALICE01",
        "alice",
        "Europe/Berlin",
        True,
    )
    assert user["profile"]["email"] == "alice@example.com"
    assert user["tz_offset"] in (3600, 7200)

    with pytest.raises(SlackApiError) as exc:
        client.users_lookupByEmail(email="nobody@example.com")
    assert exc.value.response["error"] == "users_not_found"
    assert [c.params["email"] for c in fake_slack.calls_to("users.lookupByEmail")] == [
        "ALICE@example.com",
        "nobody@example.com",
    ]


def test_users_info(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0ALICE01", "alice@example.com")
    assert client.users_info(user="U0ALICE01")["user"]["name"] == "alice"
    with pytest.raises(SlackApiError) as exc:
        client.users_info(user="U0NOBODY1")
    assert exc.value.response["error"] == "user_not_found"


# ---------------------------------------------------------------------- auth


@pytest.mark.parametrize("token", ["bogus", "xoxa-2-nope", ""])
def test_invalid_token_is_invalid_auth(fake_slack: FakeSlack, token: str) -> None:
    client = WebClient(token=token or None, base_url=fake_slack.base_url)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0001", text="hi")
    assert exc.value.response.status_code == 200
    assert exc.value.response["error"] == "invalid_auth"
    (call,) = fake_slack.calls_to("chat.postMessage")
    assert call.token == (token or None)
    assert call.status == 200


def test_user_token_is_accepted(fake_slack: FakeSlack) -> None:
    resp = WebClient(token="xoxp-user", base_url=fake_slack.base_url).auth_test()
    assert resp["ok"] and "bot_id" not in resp


# ---------------------------------------------------------------------- views


def test_views_open_and_publish(client: WebClient, fake_slack: FakeSlack) -> None:
    modal = {"type": "modal", "callback_id": "nps_comment", "title": {"type": "plain_text", "text": "NPS"}}
    opened = client.views_open(trigger_id="123.456", view={**modal, "blocks": BLOCKS})["view"]
    assert opened["id"].startswith("V")
    assert opened["callback_id"] == "nps_comment"
    assert fake_slack.calls_to("views.open")[0].params["view"]["blocks"] == BLOCKS

    home = {"type": "home", "blocks": BLOCKS}
    first = client.views_publish(user_id="U0ALICE01", view=home)["view"]
    again = client.views_publish(user_id="U0ALICE01", view=home)["view"]
    assert first["id"] == again["id"] and first["type"] == "home"


def test_form_encoded_view_is_decoded(client: WebClient, fake_slack: FakeSlack) -> None:
    client.api_call("views.open", params={"trigger_id": "1.2", "view": json.dumps({"type": "modal", "blocks": []})})
    assert fake_slack.calls_to("views.open")[0].params["view"] == {"type": "modal", "blocks": []}


# ---------------------------------------------------------------------- failures


def test_429_without_retry_handler_surfaces(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=1)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0001", text="hi")
    assert exc.value.response.status_code == 429
    assert exc.value.response["error"] == "ratelimited"
    assert _headers_lower(exc.value.response.headers)["retry-after"] == "1"
    (call,) = fake_slack.calls_to("chat.postMessage")
    assert call.status == 429
    assert not call.ok
    # the failure was one-shot
    assert client.chat_postMessage(channel="C0001", text="hi")["ok"]


def test_429_is_retried_by_sync_rate_limit_handler(fake_slack: FakeSlack) -> None:
    client = WebClient(
        token=TOKEN,
        base_url=fake_slack.base_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake_slack.fail("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    resp = client.chat_postMessage(channel="C0001", text="hi")
    assert resp["ok"]
    assert time.monotonic() - started >= 1.0
    calls = fake_slack.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].params == calls[1].params


async def test_429_surfaces_in_async_client(async_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=1)
    with pytest.raises(SlackApiError) as exc:
        await async_client.chat_postMessage(channel="C0001", text="hi")
    assert exc.value.response.status_code == 429
    assert _headers_lower(exc.value.response.headers)["retry-after"] == "1"


async def test_429_is_retried_by_async_rate_limit_handler(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(
        token=TOKEN,
        base_url=fake_slack.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake_slack.fail("chat.postMessage", status=429, retry_after=1)
    resp = await client.chat_postMessage(channel="C0001", text="hi", blocks=BLOCKS)
    assert resp["ok"]
    calls = await fake_slack.wait_for_async("chat.postMessage", count=2)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].params["blocks"] == BLOCKS


def test_fail_times_and_server_errors(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail("users.info", status=500, times=2, error="internal_error")
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.users_info(user="U0ALICE01")
        assert exc.value.response.status_code == 500
        assert "retry-after" not in _headers_lower(exc.value.response.headers)
    with pytest.raises(SlackApiError) as exc:
        client.users_info(user="U0ALICE01")
    assert exc.value.response["error"] == "user_not_found"  # back to normal
    assert [c.status for c in fake_slack.calls_to("users.info")] == [500, 500, 200]


def test_fail_with_status_200_is_a_plain_api_error(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=200, error="is_archived")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0001", text="hi")
    assert exc.value.response.status_code == 200
    assert exc.value.response["error"] == "is_archived"


def test_respond_canned_answer(client: WebClient, fake_slack: FakeSlack) -> None:
    canned = {"ok": True, "members": ["U1", "U2"], "response_metadata": {"next_cursor": ""}}
    fake_slack.respond("conversations.members", canned)
    assert client.conversations_members(channel="C0001").data == canned
    assert client.conversations_members(channel="C0001").data == {"ok": True}  # unknown method default


def test_unknown_method_is_ok(client: WebClient) -> None:
    assert client.api_call("reactions.add", params={"name": "tada"}).data == {"ok": True}


def test_wait_for_timeout_lists_received_calls(client: WebClient, fake_slack: FakeSlack) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match=r"chat\.postMessage.*auth\.test\[200\]"):
        fake_slack.wait_for("chat.postMessage", timeout=0.1)


def test_reset_clears_calls_and_plans_but_keeps_directory(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0ALICE01", "alice@example.com")
    fake_slack.fail("auth.test", times=3)
    with pytest.raises(SlackApiError):
        client.auth_test()
    fake_slack.reset()
    assert fake_slack.calls == []
    assert client.auth_test()["ok"]
    assert client.users_info(user="U0ALICE01")["ok"]


# ---------------------------------------------------------------------- files


def test_upload_flow_stores_bytes(client: WebClient, fake_slack: FakeSlack) -> None:
    data = b"score,comment\n10,great\n"
    issued = client.files_getUploadURLExternal(filename="nps.csv", length=len(data))
    file_id, upload_url = issued["file_id"], issued["upload_url"]
    assert file_id.startswith("F")
    assert upload_url == f"http://127.0.0.1:{fake_slack.port}/upload/{file_id}"

    with urllib.request.urlopen(urllib.request.Request(upload_url, data=data, method="POST")) as resp:
        assert resp.status == 200
    assert fake_slack.uploads[file_id] == data

    done = client.files_completeUploadExternal(files=[{"id": file_id, "title": "NPS export"}], channel_id="C0001")
    assert done["files"][0]["id"] == file_id
    assert done["files"][0]["title"] == "NPS export"
    (call,) = fake_slack.calls_to("files.completeUploadExternal")
    assert call.params["files"] == [{"id": file_id, "title": "NPS export"}]


def test_complete_upload_without_bytes_is_file_not_found(client: WebClient) -> None:
    file_id = client.files_getUploadURLExternal(filename="x.csv", length=1)["file_id"]
    with pytest.raises(SlackApiError) as exc:
        client.files_completeUploadExternal(files=[{"id": file_id}])
    assert exc.value.response["error"] == "file_not_found"


def test_upload_to_unissued_url_is_404(fake_slack: FakeSlack) -> None:
    req = urllib.request.Request(fake_slack.upload_url("F0NOPE"), data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    assert exc.value.code == 404


def test_files_upload_v2_end_to_end(client: WebClient, fake_slack: FakeSlack) -> None:
    resp = client.files_upload_v2(channel="C0001", content=b"hello", filename="hello.txt", title="Hello")
    assert resp["file"]["title"] == "Hello"
    assert fake_slack.uploads == {resp["file"]["id"]: b"hello"}


async def test_async_files_upload_v2_end_to_end(async_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    resp = await async_client.files_upload_v2(channel="C0001", content=b"bytes!", filename="a.bin")
    assert fake_slack.uploads[resp["file"]["id"]] == b"bytes!"


# ---------------------------------------------------------------------- transport


async def test_async_client_reuses_keep_alive_connection(async_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0ALICE01", "alice@example.com")
    await async_client.auth_test()
    await async_client.users_lookupByEmail(email="alice@example.com")  # GET with query string
    await async_client.chat_postMessage(channel="C0001", text="hi", blocks=BLOCKS)
    calls = fake_slack.calls
    assert [c.method for c in calls] == ["auth.test", "users.lookupByEmail", "chat.postMessage"]
    assert len({c.connection for c in calls}) == 1
    assert calls[1].params == {"email": "alice@example.com"}
    assert calls[2].params["blocks"] == BLOCKS


def test_bolt_app_talks_to_fake(fake_slack: FakeSlack) -> None:
    from slack_bolt import App

    app = App(client=WebClient(token=TOKEN, base_url=fake_slack.base_url), signing_secret="secret")
    assert app.client.chat_postMessage(channel="C0001", text="hi")["ok"]
    assert [c.method for c in fake_slack.calls] == ["auth.test", "chat.postMessage"]
