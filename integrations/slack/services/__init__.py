"""Sync services: read and write the database through the public core, talk to Slack through api.SlackApi.

They run in worker threads (jobs, answer listeners) or via asyncio.to_thread from the Bolt listeners,
and know nothing about Bolt.
"""

PLATFORM = "slack"  # subscriptions.platform and surveys.delivery_channel for everything posted here
