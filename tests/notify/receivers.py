"""Real receivers on loopback: an SMTP server (aiosmtpd) and an HTTP webhook receiver that checks signatures.

The webhook receiver verifies the HMAC itself (not with the platform's helper), refuses a bad signature with
401, can answer the first N requests with 500, can be slow, and handles each idempotency key once.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpReceiver:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.rcpt: list[list[str]] = []
        self.received_at: list[float] = []  # time.time() at each message's end of DATA
        self.port = free_port()
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(bytes(envelope.content), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.received_at.append(time.time())
            self.messages.append(parsed)
            self.rcpt.append(list(envelope.rcpt_tos))
        return "250 OK"

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@dataclass
class WebhookState:
    secret: bytes
    fail_first: int = 0
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[str, int] = field(default_factory=dict)  # per idempotency key, redeliveries included
    effects: list[str] = field(default_factory=list)  # what the receiver acted on: each key once
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class WebhookReceiver:
    def __init__(self, secret: bytes) -> None:
        self.state = WebhookState(secret=secret)
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stamp = self.headers.get("X-KipSense-Timestamp") or ""
                expected = "sha256=" + hmac.new(state.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                signature_ok = hmac.compare_digest(expected, self.headers.get("X-KipSense-Signature") or "")
                fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
                key = self.headers.get("Idempotency-Key") or ""
                if state.delay_s:
                    time.sleep(state.delay_s)
                with state.lock:
                    if not (signature_ok and fresh):
                        state.bad_signatures += 1
                        code = 401
                    elif state.fail_first > 0:
                        state.fail_first -= 1
                        code = 500
                    else:
                        state.requests.append({"key": key, "body": json.loads(body), "at": time.time()})
                        if key not in state.deliveries:  # the receiver acts once per idempotency key
                            state.effects.append(key)
                        state.deliveries[key] = state.deliveries.get(key, 0) + 1
                        code = 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
