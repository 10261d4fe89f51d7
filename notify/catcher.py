"""A local mail catcher and webhook log for the development stack (``kipsense run``).

Each e-mail is written as an ``.eml`` file into ``<dir>/mail/``; each webhook call is checked (signature,
timestamp) and appended as one JSON line to ``<dir>/webhook.log`` with ``signature_ok`` and whether its
idempotency key was new. Not for production: there the sender talks to the company's SMTP relay and
real webhook endpoints.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from kipsense.signing import check_body

log = logging.getLogger(__name__)


class _MailToFiles:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._n = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._n += 1
            name = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%f}-{self._n:05d}.eml"
        (self.folder / name).write_bytes(bytes(envelope.content))
        return "250 OK"


class Catcher:
    """Both receivers, started and stopped together."""

    def __init__(self, folder: Path, *, smtp_port: int, webhook_port: int, webhook_secret: bytes) -> None:
        self.folder = folder
        (folder / "mail").mkdir(parents=True, exist_ok=True)
        self._smtp = Controller(_MailToFiles(folder / "mail"), hostname="127.0.0.1", port=smtp_port)
        seen: set[str] = set()
        lock = threading.Lock()
        logfile = folder / "webhook.log"

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
                body = self.rfile.read(length)
                try:
                    stamp = int(self.headers.get("X-KipSense-Timestamp") or "0")
                except ValueError:
                    stamp = 0
                ok = check_body(
                    webhook_secret, timestamp=stamp, body=body, signature=self.headers.get("X-KipSense-Signature") or ""
                )
                key = self.headers.get("Idempotency-Key") or ""
                with lock:
                    new = key not in seen
                    seen.add(key)
                    with logfile.open("a") as out:
                        entry = {"at": time.time(), "signature_ok": ok, "idempotency_key": key, "new": new}
                        try:
                            entry["body"] = json.loads(body)
                        except ValueError:
                            entry["body"] = body.decode(errors="replace")
                        out.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", webhook_port), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, name="webhook-log", daemon=True)

    def start(self) -> None:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
        self._smtp.start()
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._smtp.stop()
