"""Help Scout variables for `nps-bot template-link helpscout`: the survey links in a workflow's "Send email to
customer" action (status closed) or a saved reply.

Help Scout offers the conversation **number** (`{%conversation.number%}`), not the id its webhooks carry, so
link surveys are kept under `number-<n>` ticket ids: they never collide with a webhook survey's id, and a
mailbox that uses both gets two surveys per conversation (manifests/helpscout/template-link.md).
[S] The `{%…%}` names come from FreeScout, which copies Help Scout's variables, and a team's published Help
Scout saved replies; not from a Help Scout reference page.
"""

PLACEHOLDERS = {
    "ticket": "number-{%conversation.number%}",
    "email": "{%customer.email%}",
    "name": "{%customer.fullName%}",
}
