"""send() against the emulator: the documented request shapes and the error mapping."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from integrations.adapters import (
    AuthError,
    PolicyError,
    RateLimited,
    TransientError,
    get_adapter,
)
from integrations.adapters.base import Attachment, OutboundReply, SendResult
from integrations.adapters.email import EmailAdapter
from integrations.emulator.client import EmulatorClient

PAGE = "104000000000001"


def send(
    platform: str,
    reply: OutboundReply,
    emu: EmulatorClient,
    creds: dict[str, Any],
    http: httpx.Client,
) -> SendResult:
    account, credentials = creds[platform]
    return get_adapter(platform).send(
        http,
        base_url=emu.base_url,
        credentials=credentials,
        account_external_id=account,
        reply=reply,
    )


def dm(platform: str, recipient: str, **extra: Any) -> OutboundReply:
    return OutboundReply(
        thread_key=f"acct:{recipient}",
        recipient_external_id=recipient,
        conversation_kind="direct",
        text="Oui, expédié aujourd'hui ✅",
        client_ref="out-7f3c",
        **extra,
    )


def test_messenger_send_api_shape(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    result = send(
        "facebook", dm("facebook", "6000000000000001", parent_external_id="m_1"), emu, creds, http
    )
    recorded = emu.last_request("facebook")
    assert (recorded["method"], recorded["path"]) == ("POST", f"/v21.0/{PAGE}/messages")
    assert recorded["headers"]["authorization"] == "Bearer EAAG-page-token"
    assert recorded["body"] == {
        "recipient": {"id": "6000000000000001"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Oui, expédié aujourd'hui ✅", "metadata": "out-7f3c"},
    }
    assert result.external_message_id.startswith("m_")
    assert result.raw["recipient_id"] == "6000000000000001"


def test_messenger_human_agent_tag_and_attachments(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    reply = dm(
        "facebook",
        "6000000000000001",
        tag="HUMAN_AGENT",
        attachments=(Attachment(kind="image", url="https://cdn.example/a.png"),),
    )
    result = send("facebook", reply, emu, creds, http)
    text_call, image_call = (r["body"] for r in emu.requests("facebook"))
    assert (text_call["messaging_type"], text_call["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert image_call["message"] == {
        "attachment": {
            "type": "image",
            "payload": {"url": "https://cdn.example/a.png", "is_reusable": True},
        }
    }
    assert len(result.extra_external_ids) == 1


def test_facebook_private_and_public_comment_replies(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    comment = "122131676912594941_1213590066982748"
    common = {"thread_key": f"{PAGE}:post", "recipient_external_id": None, "text": "Bonjour 👋"}
    private = OutboundReply(
        conversation_kind="comment_thread", parent_external_id=comment, private_reply=True, **common
    )
    send("facebook", private, emu, creds, http)
    assert emu.last_request("facebook")["body"]["recipient"] == {"comment_id": comment}
    public = OutboundReply(conversation_kind="comment_thread", parent_external_id=comment, **common)
    result = send("facebook", public, emu, creds, http)
    recorded = emu.last_request("facebook")
    assert recorded["path"] == f"/v21.0/{comment}/comments"
    assert recorded["body"] == {"message": "Bonjour 👋"}
    assert result.external_message_id.startswith("1213590066982748_")


def test_instagram_dm_comment_reply_and_mention(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    ig = creds["instagram"][0]
    send("instagram", dm("instagram", "1300000000000001"), emu, creds, http)
    first = emu.last_request("instagram")
    assert first["path"] == f"/v21.0/{ig}/messages"
    assert first["body"]["recipient"] == {"id": "1300000000000001"}
    assert "messaging_type" not in first["body"]
    reply = OutboundReply(
        thread_key=f"{ig}:17900000000000002",
        recipient_external_id=None,
        conversation_kind="comment_thread",
        text="Merci ! Size M is back 🙌",
        parent_external_id="17865799348089039",
        root_external_id="17900000000000002",
    )
    result = send("instagram", reply, emu, creds, http)
    recorded = emu.last_request("instagram")
    assert recorded["path"] == "/v21.0/17865799348089039/replies"
    assert recorded["query"] == {"message": "Merci ! Size M is back 🙌"}
    assert result.external_message_id.isdigit()
    mention = OutboundReply(
        thread_key=f"{ig}:1791",
        recipient_external_id=None,
        conversation_kind="mention",
        text="Thanks for the shout-out!",
        parent_external_id="1789",
        root_external_id="1791",
    )
    send("instagram", mention, emu, creds, http)
    recorded = emu.last_request("instagram")
    assert recorded["path"] == f"/v21.0/{ig}/mentions"
    assert recorded["query"]["media_id"] == "1791"
    assert recorded["query"]["comment_id"] == "1789"


def test_whatsapp_message_shape(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    pnid = creds["whatsapp"][0]
    reply = dm(
        "whatsapp",
        "16505551234",
        parent_external_id="wamid.HBgL",
        attachments=(Attachment(kind="image", url="https://cdn.example/blue.jpg", caption="Bleu"),),
    )
    result = send("whatsapp", reply, emu, creds, http)
    text_call, image_call = emu.requests("whatsapp")
    assert text_call["path"] == f"/v21.0/{pnid}/messages"
    assert text_call["body"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Oui, expédié aujourd'hui ✅"},
        "context": {"message_id": "wamid.HBgL"},
        "biz_opaque_callback_data": "out-7f3c",
    }
    assert image_call["body"]["image"] == {
        "link": "https://cdn.example/blue.jpg",
        "caption": "Bleu",
    }
    assert result.external_message_id.startswith("wamid.")


def test_x_dm_and_reply_are_oauth1_signed(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    result = send("x", dm("x", "3001969357"), emu, creds, http)
    recorded = emu.last_request("x")
    assert recorded["path"] == "/2/dm_conversations/with/3001969357/messages"
    assert recorded["status"] == 201  # The emulator checked the OAuth 1.0a signature.
    assert recorded["headers"]["authorization"].startswith("OAuth ")
    assert recorded["body"] == {"text": "Oui, expédié aujourd'hui ✅"}
    assert result.raw["data"]["dm_conversation_id"] == "2244994945-3001969357"
    reply = OutboundReply(
        thread_key="2244994945:1799999999999999999",
        recipient_external_id="3001969357",
        conversation_kind="comment_thread",
        text="@furiouscamper sorry, looking into it",
        parent_external_id="1800000000000000001",
    )
    result = send("x", reply, emu, creds, http)
    assert emu.last_request("x")["body"] == {
        "text": "@furiouscamper sorry, looking into it",
        "reply": {"in_reply_to_tweet_id": "1800000000000000001"},
    }
    assert result.external_message_id.isdigit()


def test_x_refuses_a_bad_oauth_signature(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    account, credentials = creds["x"]
    with pytest.raises(AuthError):
        get_adapter("x").send(
            http,
            base_url=emu.base_url,
            credentials={**credentials, "consumer_secret": "wrong"},
            account_external_id=account,
            reply=dm("x", "3001969357"),
        )


def test_telegram_send_message_shape(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    bot, credentials = creds["telegram"]
    reply = OutboundReply(
        thread_key=f"{bot}:-100123:7",
        recipient_external_id="-100123",
        conversation_kind="direct",
        text="Expédié ✅",
        parent_external_id="-100123:43",
    )
    result = send("telegram", reply, emu, creds, http)
    recorded = emu.last_request("telegram")
    assert recorded["path"] == f"/bot{credentials['bot_token']}/sendMessage"
    assert recorded["body"] == {
        "chat_id": -100123,
        "message_thread_id": 7,
        "reply_parameters": {"message_id": 43, "allow_sending_without_reply": True},
        "text": "Expédié ✅",
    }
    assert result.external_message_id == "-100123:1001"


def test_youtube_reply_and_top_level_comment(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    from integrations.emulator.scenarios import youtube_comment, youtube_thread

    top = youtube_comment(
        "UgzAbc123",
        "Où l'acheter ?",
        author_channel="UCjane",
        author_name="@jane",
        published="2024-06-10T10:00:00Z",
        video_id="vid1",
    )
    emu.queue_youtube_threads("UCbrand", [youtube_thread("UgzAbc123", "UCbrand", "vid1", top)])
    reply = OutboundReply(
        thread_key="UCbrand:vid1",
        recipient_external_id=None,
        conversation_kind="comment_thread",
        text="Lien dans la description 🙂",
        parent_external_id="UgzAbc123.9xyz",
        root_external_id="vid1",
    )
    result = send("youtube", reply, emu, creds, http)
    recorded = emu.last_request("youtube")
    assert (recorded["path"], recorded["query"]) == ("/youtube/v3/comments", {"part": "snippet"})
    assert recorded["body"] == {
        "snippet": {"parentId": "UgzAbc123", "textOriginal": "Lien dans la description 🙂"}
    }
    assert recorded["headers"]["authorization"] == "Bearer ya29.test-token"
    assert result.external_message_id.startswith("UgzAbc123.")
    top_level = OutboundReply(
        thread_key="UCbrand:vid1",
        recipient_external_id=None,
        conversation_kind="comment_thread",
        text="Merci à tous !",
        root_external_id="vid1",
    )
    send("youtube", top_level, emu, creds, http)
    assert emu.last_request("youtube")["body"]["snippet"]["videoId"] == "vid1"
    assert emu.youtube_quota()["used"] == 100


def test_api_callback_is_signed(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    result = send("api", dm("api", "u-7", parent_external_id="msg-1"), emu, creds, http)
    recorded = emu.last_request("api")
    assert recorded["status"] == 201  # The emulated tool verified the Standard Webhooks signature.
    assert recorded["headers"]["webhook-id"] == "msg_out-7f3c"
    assert recorded["body"]["thread"] == "acct:u-7"
    assert recorded["body"]["parent"] == "msg-1"
    assert result.external_message_id.startswith("tool_")


def test_email_goes_out_over_smtp(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    reply = OutboundReply(
        thread_key="support@brand.example:<first@client.example>",
        recipient_external_id="jeanne@client.example",
        conversation_kind="email",
        text="Bonjour Jeanne,\n.\nVotre colis est parti 📦",
        subject="Re: Commande",
        parent_external_id="<second@client.example>",
        root_external_id="<first@client.example>",
        client_ref="out-42",
    )
    result = send("email", reply, emu, creds, http)
    recorded = emu.last_request("email")
    assert result.external_message_id == "<out-42@brand.example>"
    assert recorded["headers"]["message-id"] == "<out-42@brand.example>"
    assert recorded["headers"]["in-reply-to"] == "<second@client.example>"
    assert recorded["headers"]["references"] == "<first@client.example> <second@client.example>"
    assert recorded["body"]["rcpt_to"] == ["jeanne@client.example"]
    assert recorded["body"]["auth_user"] == "support@brand.example"
    assert (
        recorded["body"]["text"].replace("\r\n", "\n").strip()
        == "Bonjour Jeanne,\n.\nVotre colis est parti 📦"
    )


FAULT_CASES = [
    ("facebook", "rate_limit", RateLimited, "80006"),
    ("facebook", "server_error", TransientError, "2"),
    ("facebook", "policy", PolicyError, "10/2018278"),
    ("facebook", "auth", AuthError, "190"),
    ("instagram", "policy", PolicyError, "10/2534022"),
    ("instagram", "rate_limit", RateLimited, "80002"),
    ("whatsapp", "rate_limit", RateLimited, "80007"),
    ("whatsapp", "policy", PolicyError, "131047"),
    ("whatsapp", "server_error", TransientError, "2"),
    ("x", "rate_limit", RateLimited, "88"),
    ("x", "server_error", TransientError, None),
    ("x", "policy", PolicyError, None),
    ("telegram", "rate_limit", RateLimited, "429"),
    ("telegram", "server_error", TransientError, "502"),
    ("telegram", "policy", PolicyError, "403"),
    ("telegram", "auth", AuthError, "401"),
    ("youtube", "rate_limit", RateLimited, "quotaExceeded"),
    ("youtube", "server_error", TransientError, "backendError"),
    ("youtube", "policy", PolicyError, "forbidden"),
    ("api", "rate_limit", RateLimited, "rate_limit"),
    ("api", "server_error", TransientError, "server_error"),
    ("api", "policy", PolicyError, "policy"),
    ("email", "rate_limit", TransientError, "421"),
    ("email", "policy", PolicyError, "550"),
    ("email", "auth", AuthError, "535"),
]


def _reply_for(platform: str) -> OutboundReply:
    if platform == "youtube":
        return OutboundReply(
            thread_key="UCbrand:v",
            recipient_external_id=None,
            conversation_kind="comment_thread",
            text="hi",
            root_external_id="v",
        )
    if platform == "email":
        return OutboundReply(
            thread_key="m:<a@b>",
            recipient_external_id="jeanne@client.example",
            conversation_kind="email",
            text="hi",
            subject="Re",
        )
    return dm(platform, "16505551234" if platform == "whatsapp" else "123456789")


@pytest.mark.parametrize(
    ("platform", "kind", "error", "code"), FAULT_CASES, ids=[f"{c[0]}-{c[1]}" for c in FAULT_CASES]
)
def test_fault_maps_to_error_case(
    platform: str,
    kind: str,
    error: type[Exception],
    code: str | None,
    emu: EmulatorClient,
    creds: dict[str, Any],
    http: httpx.Client,
) -> None:
    emu.set_fault(platform, kind, count=1, retry_after=120)
    with pytest.raises(error) as raised:
        send(platform, _reply_for(platform), emu, creds, http)
    if code is not None:
        assert raised.value.code == code  # type: ignore[attr-defined]
    if error is RateLimited and platform != "youtube":
        assert raised.value.retry_after_seconds == pytest.approx(120, abs=2)  # type: ignore[attr-defined]
    # The fault was for one call only: the retry goes through.
    assert send(platform, _reply_for(platform), emu, creds, http).external_message_id


def test_youtube_quota_exhaustion_waits_until_pacific_midnight(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    emu.youtube_quota(limit=60, used=20)
    with pytest.raises(RateLimited) as raised:
        send("youtube", _reply_for("youtube"), emu, creds, http)
    assert 0 < raised.value.retry_after_seconds <= 25 * 3600  # type: ignore[operator]


def test_meta_invalid_token_is_an_auth_error(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    with pytest.raises(AuthError) as raised:
        get_adapter("facebook").send(
            http,
            base_url=emu.base_url,
            credentials={"page_access_token": "bogus"},
            account_external_id=PAGE,
            reply=dm("facebook", "1"),
        )
    assert raised.value.code == "190"


def test_network_failure_is_transient(http: httpx.Client, creds: dict[str, Any]) -> None:
    account, credentials = creds["telegram"]
    with pytest.raises(TransientError):
        get_adapter("telegram").send(
            http,
            base_url="http://127.0.0.1:9",
            credentials=credentials,
            account_external_id=account,
            reply=dm("telegram", "1"),
        )
    with pytest.raises(TransientError):
        EmailAdapter().send(
            http,
            base_url="",
            credentials={"smtp_host": "127.0.0.1", "smtp_port": 9},
            account_external_id="a@b.example",
            reply=_reply_for("email"),
        )


def test_recorded_requests_are_json(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    send("whatsapp", dm("whatsapp", "16505551234"), emu, creds, http)
    json.dumps(emu.requests())
