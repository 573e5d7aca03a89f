"""``files_upload_v2`` (digest chart, /nps export CSV) in its three steps: files.getUploadURLExternal,
a POST of the bytes to the upload URL it returned, files.completeUploadExternal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fakes.slack.transport import parse_multipart
from tests.fakes.slack.workspace import JSON, ApiError, PendingFile, Request, Workspace

if TYPE_CHECKING:
    from tests.fakes.slack.server import FakeSlack


def get_upload_url_external(fake: FakeSlack, req: Request) -> JSON:
    p = req.params
    try:
        length = int(p.get("length", ""))
    except ValueError:
        raise ApiError("invalid_arguments") from None
    if not p.get("filename"):
        raise ApiError("invalid_arguments")
    file_id = fake.next_id("F")
    with fake.lock:
        fake.pending_files[file_id] = PendingFile(file_id, str(p["filename"]), length, p.get("alt_txt"))
    return {"upload_url": fake.upload_url(file_id), "file_id": file_id}


def receive_upload(ws: Workspace, file_id: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """The upload URL itself (not a Web API method): stores the raw bytes, or the first file part."""
    content_type = headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        file_parts = [v for v in parse_multipart(content_type, body).values() if isinstance(v, bytes)]
        if file_parts:
            body = file_parts[0]
    with ws.lock:
        if file_id not in ws.pending_files:
            return 404, "Not Found"
        ws.uploads[file_id] = body
    return 200, f"OK - {len(body)}"


def complete_upload_external(ws: Workspace, req: Request) -> JSON:
    p = req.params
    files = p.get("files")
    if not isinstance(files, list) or not files:
        raise ApiError("invalid_arguments")
    if p.get("channel_id"):
        ws.check_can_post(ws.resolve_channel(str(p["channel_id"])))
    result = []
    with ws.lock:
        for f in files:
            file_id = f.get("id") if isinstance(f, dict) else None
            pending = ws.pending_files.get(str(file_id))
            if pending is None or file_id not in ws.uploads:
                raise ApiError("file_not_found")
            result.append(
                {
                    "id": file_id,
                    "title": f.get("title") or pending.filename,
                    "name": pending.filename,
                    "size": len(ws.uploads[file_id]),
                    "user": ws.bot_user_id,
                }
            )
    return {"files": result}


METHODS = {
    "files.getUploadURLExternal": get_upload_url_external,
    "files.completeUploadExternal": complete_upload_external,
}
