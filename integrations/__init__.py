"""Adapters for the outside world: help desks, chat platforms and delivery channels."""
