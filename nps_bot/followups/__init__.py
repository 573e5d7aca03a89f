"""Follow-ups: channel subscriptions, scheduled digests, detractor alerts and the outbound-event outbox."""
