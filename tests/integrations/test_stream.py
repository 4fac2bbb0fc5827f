"""The emulator's webhook streams redeliver until answered 2xx, as the platforms do."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

from integrations.emulator import scenarios


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first two POSTs, then 200; 401 to bodies marked refuse."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.bodies.append(body)
        status = 401 if b"refuse" in body else 503 if len(server.bodies) <= 2 else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    server.bodies = []
    Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def _wait_done(emu, stream_id):
    deadline = time.monotonic() + 20
    while not (status := emu.stream_status(stream_id))["done"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


def test_a_stream_redelivers_on_5xx_until_accepted(emu, creds):
    server, url = _receiver()
    page, _ = creds["facebook"]
    payload = scenarios.page_envelope(
        page, messaging=[scenarios.messenger_message(page, "6001", "m_1", "hello")]
    )
    try:
        stream_id = emu.stream(
            [{"platform": "facebook", "account": page, "target_url": url, "payload": payload}],
            threads=1,
            max_backoff=0.2,
        )
        status = _wait_done(emu, stream_id)
    finally:
        server.shutdown()
    assert status["accepted"] == 1
    assert status["attempts"] == 3
    assert status["statuses"] == {"503": 2, "200": 1}
    assert emu.stream_outcomes(stream_id) == [
        {"attempts": 3, "statuses": ["503", "503", "200"], "accepted": True}
    ]
    # The same signed bytes each time: the endpoint can deduplicate redeliveries.
    assert len(set(server.bodies)) == 1


def test_a_stream_gives_up_on_a_refusal_of_the_delivery_itself(emu, creds):
    server, url = _receiver()
    page, _ = creds["facebook"]
    server.bodies.extend([b"", b""])  # past the receiver's two 503s
    try:
        stream_id = emu.stream(
            [
                {
                    "platform": "facebook",
                    "account": page,
                    "target_url": url,
                    "payload": {"object": "page", "refuse": True, "entry": []},
                }
            ]
        )
        status = _wait_done(emu, stream_id)
    finally:
        server.shutdown()
    assert (status["accepted"], status["refused"], status["attempts"]) == (0, 1, 1)
