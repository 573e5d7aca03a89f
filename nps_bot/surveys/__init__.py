"""Surveys: turning an Interaction into a scheduled survey, recording answers, wording and the hosted page."""
