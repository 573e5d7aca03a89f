"""The OAuth scopes each Slack Web API method and event we use needs (docs.slack.dev method pages).

tests/test_manifest.py scans this package for the methods it calls and checks that the manifest
asks for exactly these scopes: no missing scope at run time, no scope we do not need.
"""

from __future__ import annotations

METHOD_SCOPES: dict[str, frozenset[str]] = {
    "chat_postMessage": frozenset({"chat:write"}),
    "chat_update": frozenset({"chat:write"}),
    "chat_postEphemeral": frozenset({"chat:write"}),
    "views_open": frozenset(),
    "views_publish": frozenset(),
    # users.lookupByEmail needs users:read.email, which Slack only grants together with users:read.
    "users_lookupByEmail": frozenset({"users:read", "users:read.email"}),
    "users_info": frozenset({"users:read"}),
    # Private channels only show up for members (groups:read); public ones need channels:read.
    "conversations_info": frozenset({"channels:read", "groups:read"}),
    "conversations_open": frozenset({"im:write"}),
    # Only on survey DMs (to find one an interrupted attempt posted): im:history.
    "conversations_history": frozenset({"im:history"}),
    "files_upload_v2": frozenset({"files:write"}),
}
EVENT_SCOPES: dict[str, frozenset[str]] = {"message.im": frozenset({"im:history"}), "app_home_opened": frozenset()}
COMMAND_SCOPES = frozenset({"commands"})
# Not tied to one method: lets digests and alerts post to public channels without an invite.
POSTING_SCOPES = frozenset({"chat:write.public"})
