from __future__ import annotations

import hashlib
import hmac

from jobs.signing import sign, signature_header, verify

BODY = b'{"hello": "world"}'
T = 1_700_000_000


def test_it_signs_t_dot_body_with_hmac_sha256():
    expected = hmac.new(b"whsec_a", b"1700000000." + BODY, hashlib.sha256).hexdigest()

    assert sign(BODY, "whsec_a", T) == expected
    assert signature_header(BODY, ["whsec_a"], T) == f"t={T},v1={expected}"


def test_it_accepts_a_fresh_untampered_signature():
    header = signature_header(BODY, ["whsec_a"], T)

    assert verify(header, BODY, ["whsec_a"], now=T + 299)
    assert verify(header, BODY, ["whsec_other", "whsec_a"], now=T)


def test_it_rejects_tampering_staleness_and_the_wrong_secret():
    header = signature_header(BODY, ["whsec_a"], T)

    assert not verify(header, BODY + b" ", ["whsec_a"], now=T)
    assert not verify(header, BODY, ["whsec_a"], now=T + 301)
    assert not verify(header, BODY, ["whsec_a"], now=T - 301)
    assert not verify(header, BODY, ["whsec_b"], now=T)
    assert not verify(header.replace(f"t={T}", f"t={T + 1}"), BODY, ["whsec_a"], now=T)


def test_during_rotation_either_secret_verifies():
    header = signature_header(BODY, ["whsec_new", "whsec_old"], T)

    assert header.count(",v1=") == 2
    assert verify(header, BODY, ["whsec_new"], now=T)
    assert verify(header, BODY, ["whsec_old"], now=T)


def test_it_rejects_malformed_headers():
    for header in ("", "garbage", f"t={T}", "v1=abc", f"t=soon,v1={sign(BODY, 'whsec_a', T)}"):
        assert not verify(header, BODY, ["whsec_a"], now=T)
