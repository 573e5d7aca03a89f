"""Help Scout variables for `nps-bot template-link helpscout`: the survey links in a workflow's "Send email to
customer" action (status closed) or a saved reply.

Help Scout offers the conversation **number** (`{%conversation.number%}`), not the id its API uses, so
surveys are keyed `number-<n>` (`ticket_key`); the webhook connector keys them the same way, so a mailbox that
uses both gets one survey per conversation. The prefix keeps these keys apart from the bare conversation ids
that surveys made before were keyed by (ids and numbers are both integers).
[S] The `{%…%}` names come from FreeScout, which copies Help Scout's variables, and a team's published Help
Scout saved replies; not from a Help Scout reference page.
"""

from __future__ import annotations

NUMBER_PREFIX = "number-"

PLACEHOLDERS = {
    "ticket": f"{NUMBER_PREFIX}{{%conversation.number%}}",
    "email": "{%customer.email%}",
    "name": "{%customer.fullName%}",
}


def ticket_key(conversation_id: str, number: str | None) -> str:
    """The survey's ticket id for a conversation: `number-<n>` as the e-mail links write it, or the id for a
    payload without a number (Help Scout documents one on every conversation; nothing else can match it)."""
    return f"{NUMBER_PREFIX}{number}" if number and number.isascii() and number.isdigit() else conversation_id
