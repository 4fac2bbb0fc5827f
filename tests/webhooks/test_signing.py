"""Standard Webhooks signing: the specification's published vector, and several secrets."""

from crm.webhooks import signing
from integrations.adapters import api as api_adapter
from integrations.emulator import signing as independent

# https://github.com/standard-webhooks/standard-webhooks (the reference libraries' tests).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
PAYLOAD = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specification_test_vector():
    assert signing.sign(SECRET, MSG_ID, TIMESTAMP, PAYLOAD) == EXPECTED
    headers = signing.signed_headers(SECRET, MSG_ID, PAYLOAD, timestamp=TIMESTAMP)
    assert headers == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": EXPECTED,
    }
    # The emulator's signer was written separately: both agree with the specification.
    assert independent.standard_webhooks_signature(SECRET, MSG_ID, TIMESTAMP, PAYLOAD) == EXPECTED


def test_the_vector_verifies_within_the_tolerance_only():
    headers = {
        "Webhook-Id": MSG_ID,
        "Webhook-Timestamp": str(TIMESTAMP),
        "Webhook-Signature": EXPECTED,
    }
    assert signing.verify_signature(SECRET, headers, PAYLOAD, now=TIMESTAMP + 299)
    assert not signing.verify_signature(SECRET, headers, PAYLOAD, now=TIMESTAMP + 301)
    assert not signing.verify_signature(SECRET, headers, PAYLOAD + b" ", now=TIMESTAMP)
    assert not signing.verify_signature("whsec_" + "A" * 32, headers, PAYLOAD, now=TIMESTAMP)


def test_two_secrets_sign_side_by_side_and_either_verifies():
    old, new = signing.secret_generate(), signing.secret_generate()
    headers = signing.signed_headers([new, old], MSG_ID, PAYLOAD, timestamp=TIMESTAMP)
    parts = headers["webhook-signature"].split(" ")
    assert parts == [
        signing.sign(new, MSG_ID, TIMESTAMP, PAYLOAD),
        signing.sign(old, MSG_ID, TIMESTAMP, PAYLOAD),
    ]
    for secret in (old, new):
        assert signing.verify_signature(secret, headers, PAYLOAD, now=TIMESTAMP)
    assert not signing.verify_signature(signing.secret_generate(), headers, PAYLOAD, now=TIMESTAMP)


def test_generated_secrets_are_whsec_and_32_random_bytes():
    secret = signing.secret_generate()
    assert secret.startswith("whsec_")
    assert len(signing.secret_key(secret)) == 32
    assert secret != signing.secret_generate()


def test_the_api_channel_uses_the_same_implementation():
    assert api_adapter.sign is signing.sign
    assert api_adapter.verify_signature is signing.verify_signature


def test_the_readme_receiver_example_verifies_the_vector(monkeypatch):
    """The README's ten-line verifier, run as written, accepts the spec's vector."""
    import re
    import time
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2] / "README.md"
    (code,) = [
        block
        for block in re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
        if "def verify(" in block
    ]
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    monkeypatch.setattr(time, "time", lambda: TIMESTAMP + 5)
    headers = {"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP)}
    assert namespace["verify"](SECRET, {**headers, "webhook-signature": EXPECTED}, PAYLOAD)
    assert namespace["verify"](
        SECRET, {**headers, "webhook-signature": f"v1,AAAA {EXPECTED}"}, PAYLOAD
    )
    assert not namespace["verify"](SECRET, {**headers, "webhook-signature": EXPECTED}, b"{}")
