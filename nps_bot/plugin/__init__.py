"""The connector SDK: everything a help-desk, chat or e-mail integration needs from the core.

A third-party connector imports only this package (plus `nps_bot.models` for the value types):
the ports it implements, the vendor HTTP client, payload and authentication helpers.
"""
