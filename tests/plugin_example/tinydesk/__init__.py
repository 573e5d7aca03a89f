"""TinyDesk: a made-up help desk that POSTs {"ticket": "...", "email": "...", "closed": true}
with a shared token in `X-Tiny-Token`. Everything it needs comes from nps_bot's public ports."""

from __future__ import annotations

import hmac

from nps_bot.models import Customer, Interaction
from nps_bot.plugin.ports import Parsed, Unauthorized, WebhookRequest, json_object

TOKEN = "tiny-secret"


class TinyDesk:
    name = "tinydesk"

    def verify(self, request: WebhookRequest) -> None:
        if not hmac.compare_digest(request.headers.get("x-tiny-token", ""), TOKEN):
            raise Unauthorized("bad X-Tiny-Token")

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_object(request.body)
        if not data.get("closed"):
            return Parsed(ignored="ticket not closed")
        ticket = str(data["ticket"])
        return Parsed(
            [
                Interaction(
                    connector=self.name,
                    event_id=f"{ticket}:closed",
                    ticket_id=ticket,
                    customer=Customer(email=data.get("email")),
                )
            ]
        )


def create(app: object) -> TinyDesk:
    return TinyDesk()
