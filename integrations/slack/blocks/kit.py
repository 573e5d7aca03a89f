"""The one Block Kit kit: text objects, blocks, escaping and Slack's size limits, all applied here.

Builders elsewhere in integrations.slack.blocks compose these and never cut or escape by hand:
anything too long is cut with "…" at the limit Slack documents, so a long comment or table can
never make Slack refuse the whole message (invalid_blocks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

Block = dict[str, Any]
Blocks = list[Block]

# Slack's documented limits (docs.slack.dev/reference/block-kit).
SECTION_TEXT = 3000
CONTEXT_TEXT = 2000  # per context element
CONTEXT_ELEMENTS = 10
FIELD_TEXT = 2000
FIELDS = 10
HEADER_TEXT = 150
BUTTON_TEXT = 75
ACTION_ELEMENTS = 25
BLOCK_ID = 255
ACTION_VALUE = 2000
VIEW_TITLE = 24  # modal title, submit and close
LABEL_TEXT = 2000
PLACEHOLDER_TEXT = 150
PRIVATE_METADATA = 3000
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100  # modals and App Home


def escape(text: str) -> str:
    """Slack mrkdwn control characters, so customer text cannot ping @channel or fake links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


EMPTY = "—"  # Slack refuses empty text objects: this stands in for nothing
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]{1,20})>")


def fit(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending in "…" when something was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_mrkdwn(text: str, limit: int) -> str:
    """Like `fit`, but never leaves half a link (`<https://…`) or half an escape (`&am`) at the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    opened, closed = cut.rfind("<"), cut.rfind(">")
    if opened > closed:
        cut = cut[:opened]
    cut = _PARTIAL_ENTITY.sub("", cut)
    if cut.count("```") % 2:  # close a code block cut open, or it swallows the formatting after it
        cut = _PARTIAL_ENTITY.sub("", cut[: limit - 5]) + "…```"
        return cut
    return cut + "…"


def mention(user_id: str | None) -> str:
    """A Slack user mention, or "" for anything that is not a user id (it must not become a link)."""
    return f"<@{user_id}>" if user_id and _MENTION.fullmatch(f"<@{user_id}>") else ""


def channel_ref(channel_id: str | None) -> str:
    return f"<#{channel_id}>" if channel_id and re.fullmatch(r"[CGD][A-Z0-9]{1,20}", channel_id) else ""


def mrkdwn(text: str, limit: int = SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": fit_mrkdwn(text, limit) or EMPTY}


def plain(text: str, limit: int = BUTTON_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": fit(text, limit) or EMPTY, "emoji": True}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def fields(*texts: str) -> Block:
    """A two-column section: one mrkdwn field per text."""
    return {"type": "section", "fields": [mrkdwn(t, FIELD_TEXT) for t in texts[:FIELDS]]}


def context(*texts: str) -> Block | None:
    """A small grey line; empty texts are skipped and None (dropped by `message`) if none is left."""
    elements = [mrkdwn(t, CONTEXT_TEXT) for t in texts if t][:CONTEXT_ELEMENTS]
    return {"type": "context", "elements": elements} if elements else None


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_TEXT)}


def divider() -> Block:
    return {"type": "divider"}


def button(action_id: str, label: str, value: str, *, primary: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id[:BLOCK_ID],
        "text": plain(label),
        "value": value[:ACTION_VALUE],
    }
    if primary:
        element["style"] = "primary"
    return element


def actions(block_id: str, elements: list[dict[str, Any]]) -> Block:
    return {"type": "actions", "block_id": block_id[:BLOCK_ID], "elements": elements[:ACTION_ELEMENTS]}


def code(text: str, room: int = SECTION_TEXT) -> str:
    """A ``` block (escaped) of at most `room` characters, cut at a line boundary."""
    body = escape(text)
    if len(body) > room - 6:
        body = body[: room - 10].rsplit("\n", 1)[0] + "\n…"
    return f"```{body}```"


def quote(text: str) -> str:
    """Escaped text as a mrkdwn block quote, every line quoted."""
    return "\n".join(f"> {line}" for line in escape(text).splitlines() or [""])


LINK_URL = 1000  # longer URLs are left out: a message quoting several would run into SECTION_TEXT
LINK_LABEL = 80


def link(url: str | None, label: str) -> str:
    """A web link shown as `label` (escaped, cut short), or `label` alone (escaped) for anything that is not a
    plain http(s) URL: a `|`, `<`, `>` or whitespace could break the mrkdwn or hide a second link."""
    shown = escape(fit(" ".join(label.split()), LINK_LABEL)).replace("|", "¦")
    if (
        not url
        or not url.lower().startswith(("https://", "http://"))
        or len(url) > LINK_URL
        or any(c in "|<>" or c.isspace() or not c.isprintable() for c in url)
    ):
        return ""
    return f"<{escape(url)}|{shown}>"


def present(*blocks: Block | None) -> Blocks:
    """The blocks that are there (builders such as `context` return None for nothing to show)."""
    return [b for b in blocks if b is not None]


def message(blocks: Iterable[Block | None], text: str) -> tuple[str, Blocks]:
    """A message's notification text and blocks: None entries dropped, at most MESSAGE_BLOCKS."""
    return fit(text, SECTION_TEXT), [b for b in blocks if b is not None][:MESSAGE_BLOCKS]


def home(blocks: Iterable[Block | None]) -> dict[str, Any]:
    return {"type": "home", "blocks": [b for b in blocks if b is not None][:VIEW_BLOCKS]}


def text_input(block_id: str, label: str, *, max_length: int, placeholder: str, **options: Any) -> Block:
    """An input block with a plain-text box whose action_id is its block_id (one box per block)."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block_id,
        "max_length": max_length,
        "placeholder": plain(placeholder, PLACEHOLDER_TEXT),
        **{k: v for k, v in options.items() if v is not None},
    }
    return {"type": "input", "block_id": block_id, "label": plain(label, LABEL_TEXT), "element": element}


def modal(
    callback_id: str, metadata: str, *, title: str, submit: str, close: str, blocks: Iterable[Block]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id[:BLOCK_ID],
        "private_metadata": metadata[:PRIVATE_METADATA],
        "title": plain(title, VIEW_TITLE),
        "submit": plain(submit, VIEW_TITLE),
        "close": plain(close, VIEW_TITLE),
        "blocks": list(blocks)[:VIEW_BLOCKS],
    }


def input_value(view: dict[str, Any], block_id: str) -> str:
    """What was typed into `text_input(block_id, ...)` of a submitted view ("" when nothing)."""
    return str(view["state"]["values"].get(block_id, {}).get(block_id, {}).get("value") or "")
