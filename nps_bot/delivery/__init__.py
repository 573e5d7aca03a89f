"""Delivery: the worker that claims due surveys and hands each to the first channel that reaches the customer."""
