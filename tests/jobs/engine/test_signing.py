from __future__ import annotations

import hashlib
import hmac

from jobs.engine.signing import sign_v1, sign_v2, signature_header, verify, verify_v1

BODY = b'{"hello": "world"}'
URL = "https://hooks.example/billing?run=1"
T = 1_700_000_000


def _v2(header: str, *, method: str = "POST", url: str = URL, body: bytes = BODY, secrets=None, now=T) -> bool:
    return verify(header, method=method, url=url, body=body, secrets=secrets or ["whsec_a"], now=now)


def test_v2_signs_the_timestamp_method_url_and_body_on_separate_lines():
    expected = hmac.new(b"whsec_a", b"1700000000\nPOST\n" + URL.encode() + b"\n" + BODY, hashlib.sha256).hexdigest()

    assert sign_v2("post", URL, BODY, "whsec_a", T) == expected


def test_the_header_carries_v1_beside_v2_for_one_release():
    v1 = hmac.new(b"whsec_a", b"1700000000." + BODY, hashlib.sha256).hexdigest()

    assert sign_v1(BODY, "whsec_a", T) == v1
    assert (
        signature_header("POST", URL, BODY, ["whsec_a"], T)
        == f"t={T},v1={v1},v2={sign_v2('POST', URL, BODY, 'whsec_a', T)}"
    )


def test_the_url_is_signed_as_sent_without_user_info_or_fragment():
    assert sign_v2("GET", "https://user:pw@hooks.example/a#part", b"", "s", T) == sign_v2(
        "GET", "https://hooks.example/a", b"", "s", T
    )


def test_it_accepts_a_fresh_untampered_signature():
    header = signature_header("POST", URL, BODY, ["whsec_a"], T)

    assert _v2(header, now=T + 299)
    assert _v2(header, secrets=["whsec_other", "whsec_a"])
    assert verify_v1(header, BODY, ["whsec_a"], now=T)


def test_it_rejects_another_url_method_body_time_or_secret():
    header = signature_header("POST", URL, BODY, ["whsec_a"], T)

    assert not _v2(header, url="https://other-target.example/billing?run=1")
    assert not _v2(header, url=URL + "&extra=1")
    assert not _v2(header, method="PUT")
    assert not _v2(header, body=BODY + b" ")
    assert not _v2(header, now=T + 301)
    assert not _v2(header, now=T - 301)
    assert not _v2(header, secrets=["whsec_b"])
    assert not _v2(header.replace(f"t={T}", f"t={T + 1}"))


def test_during_rotation_either_secret_verifies():
    header = signature_header("POST", URL, BODY, ["whsec_new", "whsec_old"], T)

    assert (header.count(",v1="), header.count(",v2=")) == (2, 2)
    assert _v2(header, secrets=["whsec_new"])
    assert _v2(header, secrets=["whsec_old"])


def test_it_rejects_malformed_headers():
    valid = sign_v2("POST", URL, BODY, "whsec_a", T)
    for header in ("", "garbage", f"t={T}", f"v2={valid}", f"t=soon,v2={valid}", f"t={T},v1={valid}"):
        assert not _v2(header)
