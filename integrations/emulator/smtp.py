"""A minimal SMTP submission server that records what it receives (RFC 5321 subset).

Enough for ``smtplib``: EHLO/HELO, AUTH PLAIN and LOGIN (checked against the registered
email accounts), MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT. No STARTTLS:
the sink only listens on loopback. Faults queued for ``email`` answer MAIL FROM with 421
(rate limit), 451 (server error), 550 (policy) or 535 (auth).
"""

from __future__ import annotations

import base64
import binascii
import socketserver
import threading
from email import policy
from email.parser import BytesParser
from typing import Any

from .state import EmulatorState

_FAULT_REPLIES = {
    "rate_limit": "421 4.7.0 Too many messages, slow down",
    "server_error": "451 4.3.0 Temporary local problem, try again later",
    "policy": "550 5.7.1 Message rejected: recipient refuses mail",
    "auth": "535 5.7.8 Authentication credentials invalid",
}
_MAX_MESSAGE = 10 * 1024 * 1024


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: SmtpSink

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("utf-8") + b"\r\n")

    def readline_text(self) -> str | None:
        raw = self.rfile.readline(65536)
        return raw.decode("utf-8", "replace").rstrip("\r\n") if raw else None

    def handle(self) -> None:
        state = self.server.state
        self.reply("220 emulator.causerie.test ESMTP ready")
        mail_from: str | None = None
        recipients: list[str] = []
        authenticated_as: str | None = None
        while True:
            line = self.readline_text()
            if line is None:
                return
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250-emulator.causerie.test")
                self.reply("250-8BITMIME")
                self.reply(f"250-SIZE {_MAX_MESSAGE}")
                self.reply("250 AUTH PLAIN LOGIN")
            elif verb == "HELO":
                self.reply("250 emulator.causerie.test")
            elif verb == "AUTH":
                authenticated_as = self._auth(argument)
            elif verb == "MAIL":
                fault = state.take_fault("email")
                if fault is not None:
                    self.reply(_FAULT_REPLIES[fault.kind])
                    continue
                mail_from = (
                    argument.partition(":")[2].split()[0].strip("<>") if ":" in argument else ""
                )
                recipients = []
                self.reply("250 2.1.0 OK")
            elif verb == "RCPT":
                if mail_from is None:
                    self.reply("503 5.5.1 MAIL first")
                    continue
                recipients.append(argument.partition(":")[2].strip().strip("<>"))
                self.reply("250 2.1.5 OK")
            elif verb == "DATA":
                if not recipients:
                    self.reply("503 5.5.1 RCPT first")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = self._read_data()
                queue_id = f"Q{state.next_number():08d}"
                self._record(mail_from or "", recipients, data, authenticated_as, queue_id)
                self.reply(f"250 2.0.0 OK queued as {queue_id}")
                mail_from, recipients = None, []
            elif verb == "RSET":
                mail_from, recipients = None, []
                self.reply("250 2.0.0 OK")
            elif verb == "NOOP":
                self.reply("250 2.0.0 OK")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Command not recognised")

    def _auth(self, argument: str) -> str | None:
        mechanism, _, initial = argument.partition(" ")
        try:
            if mechanism.upper() == "PLAIN":
                if not initial:
                    self.reply("334 ")
                    initial = self.readline_text() or ""
                _, username, password = base64.b64decode(initial).decode("utf-8").split("\0", 2)
            elif mechanism.upper() == "LOGIN":
                self.reply("334 VXNlcm5hbWU6")
                username = base64.b64decode(self.readline_text() or "").decode("utf-8")
                self.reply("334 UGFzc3dvcmQ6")
                password = base64.b64decode(self.readline_text() or "").decode("utf-8")
            else:
                self.reply("504 5.5.4 Unrecognised authentication type")
                return None
        except (binascii.Error, UnicodeDecodeError, ValueError):
            self.reply("501 5.5.2 Cannot decode response")
            return None
        account = self.server.state.find_account(
            "email", smtp_username=username, smtp_password=password
        )
        refused = self.server.state.take_fault("email", kinds=("auth",))
        if account is None or refused is not None:
            self.reply(_FAULT_REPLIES["auth"])
            return None
        self.reply("235 2.7.0 Authentication successful")
        return username

    def _read_data(self) -> bytes:
        lines: list[bytes] = []
        size = 0
        while True:
            raw = self.rfile.readline(1_000_000)
            if not raw or raw in (b".\r\n", b".\n"):
                break
            # RFC 5321 §4.5.2: a leading dot was doubled by the client.
            lines.append(raw[1:] if raw.startswith(b"..") else raw)
            size += len(raw)
            if size > _MAX_MESSAGE:
                break
        return b"".join(lines)

    def _record(
        self, mail_from: str, recipients: list[str], data: bytes, user: str | None, queue_id: str
    ) -> None:
        message = BytesParser(policy=policy.default).parsebytes(data)
        headers: dict[str, Any] = {k.lower(): str(v) for k, v in message.items()}
        body_part = message.get_body(preferencelist=("plain",))
        self.server.state.record(
            {
                "platform": "email",
                "account": mail_from,
                "method": "SMTP",
                "path": "DATA",
                "query": {},
                "headers": headers,
                "body": {
                    "mail_from": mail_from,
                    "rcpt_to": recipients,
                    "auth_user": user,
                    "queue_id": queue_id,
                    "text": body_part.get_content() if body_part is not None else None,
                },
                "raw_body": data.decode("utf-8", "replace"),
                "status": 250,
                "response": {"queue_id": queue_id},
            }
        )


class SmtpSink(socketserver.ThreadingTCPServer):
    """The SMTP side of the emulator, sharing the HTTP side's state."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        self.state = state
        super().__init__(address, _SmtpHandler)

    def start(self) -> threading.Thread:
        """Serve in a daemon thread."""
        thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="emulator-smtp", daemon=True
        )
        thread.start()
        return thread
