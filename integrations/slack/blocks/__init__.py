"""Block Kit builders: pure functions from data to Slack payloads (no database, no network).

Everything is built from `kit`, which owns escaping and Slack's size limits.
"""
