"""The audit log: who logged in or failed to, who downloaded what, which values sent by a
browser were refused. One JSON object per line, appended and flushed at once, so a log
shipper or ``jq`` can follow it while the server runs."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

EVENTS = {
    "login": "a user logged in",
    "acknowledged": "a user acknowledged a notification's event (its key: notice)",
    "login_failed": "wrong password or unknown user",
    "login_throttled": "too many failed logins from this address or for this user",
    "logout": "a user logged out",
    "session_refused": "a request with a session token or cookie of another user, or expired,"
                       " or beyond the user's limit of open pages",
    "session_closed": "an open page's websocket closed: its login ended (logout, new "
                      "password, user removed, expiry)",
    "download": "a record table was downloaded",
    "rejected_value": "a value sent by the browser was refused (forged or out of bounds)",
    "rejected_query": "a URL query asked for something the user may not see",
    "access_refused": "a logged-in user's city is not in the served data (or their role needs "
                      "one and names none): their pages show nothing",
}


class AuditLog:
    """Appends events to ``path`` (JSON lines, UTF-8); ``path=None`` keeps them in memory
    only (``events``), for tests and for serving without a log."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else None
        self.events: list[dict] = []
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch(mode=0o600, exist_ok=True)

    def write(self, event: str, **fields) -> dict:
        """Record ``event`` (one of :data:`EVENTS`) with ``fields`` (user, ip, …)."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                  "event": event, **fields}
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self.events.append(record)
            del self.events[:-1000]
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as stream:
                    stream.write(line)
        return record


# The audit log of the server running in this process (in memory if none): set by the server,
# written by the pages.
_PROCESS_LOG = AuditLog(None)


def set_audit_log(audit: AuditLog) -> None:
    global _PROCESS_LOG
    _PROCESS_LOG = audit


def audit_log() -> AuditLog:
    """The audit log of the server running in this process (in memory if none)."""
    return _PROCESS_LOG
