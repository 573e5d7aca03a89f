"""Zendesk placeholders for `nps-bot template-link zendesk`: the survey links in a trigger's "Email user" action.

`{{ticket.id}}` is the id the webhook sends too, so a link and a webhook find the same survey. Source: Zendesk's
"Zendesk Support placeholders reference" (support.zendesk.com/hc/en-us/articles/4408886858138): `ticket.id`,
`ticket.requester.email`, `ticket.requester.name`; placeholders are case sensitive.
"""

PLACEHOLDERS = {"ticket": "{{ticket.id}}", "email": "{{ticket.requester.email}}", "name": "{{ticket.requester.name}}"}
