"""Helpers shared by test modules (plain functions and classes; fixtures live in tests/conftest.py).

Test modules import from here, never from each other: ``app`` (the live app's secrets, ``Live``,
``generic_event``), ``slack`` (the app wired to the fake Slack; delivering and clicking a survey),
``slack_requests`` (signed inbound Slack requests).
"""
