"""Freshdesk placeholders for `nps-bot template-link freshdesk`: the survey links in the "Ticket resolved"
e-mail notification to the requester (or an automation rule's "Send email to requester").

`{{ticket.id}}` [S]: Freshdesk's "Understanding dynamic content and placeholders" article (a partner's copy);
`{{ticket.requester.email}}` and `{{ticket.requester.name}}` [I] follow the same `ticket.requester.*` family
(`{{ticket.requester.firstname}}` is the one that article shows). Check them with "Insert placeholder".
"""

PLACEHOLDERS = {
    "ticket": "{{ticket.id}}",
    "email": "{{ticket.requester.email}}",
    "name": "{{ticket.requester.name}}",
}
