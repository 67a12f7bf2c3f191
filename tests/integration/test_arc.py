"""ARC chains built with dkimpy's ARC signer (arcsign) over 1-3 hops, and broken ones.

Each hop adds its Authentication-Results, may change the message (a mailing list
tags the subject and adds a footer), then seals with dkimpy.arc_sign, which looks the
earlier keys up through the loopback DNS server. mxscreen must agree with dkimpy's
arc_verify on every chain.
"""
import dkim
import pytest

from authlib import MESSAGE, auth, dkimpy_private, dkimpy_sign, dns_zone, record, rsa_key, \
    use_dns
from dnsserver import DNSServer


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("arckeys")
    keys = {"origin": rsa_key(d / "origin.pem")}
    zone = {"s._domainkey.example.com": record(keys["origin"]),
            "_dmarc.example.com": "v=DMARC1; p=reject"}
    for i in (1, 2, 3):
        keys[i] = rsa_key(d / f"hop{i}.pem")  # dkimpy's ARC signer reads RSA PEM only
        zone[f"arc._domainkey.hop{i}.example"] = record(keys[i])
    with DNSServer(dns_zone(zone)) as srv:
        use_dns(srv.address)
        yield keys, zone


def hop(msg, i, keys, modify=False):
    """One forwarding hop: results header, optional list-style changes, then the ARC set."""
    arc = ""
    if i > 1:  # the hop verifies the chain it received and records it (RFC 8617 5.1.2)
        cv, _, _ = dkim.arc_verify(msg)
        arc = "; arc=" + (cv or b"fail").decode()
    if modify:
        msg = msg.replace(b"Subject: ", b"Subject: [list] ", 1)
        msg = msg + b"--\r\nlist footer\r\n"
    msg = (f"Authentication-Results: hop{i}.example; dkim=pass header.d=example.com; "
           f"spf=pass smtp.mailfrom=example.com{arc}\r\n").encode() + msg
    sets = dkim.arc_sign(msg, b"arc", f"hop{i}.example".encode(), dkimpy_private(keys[i]),
                         f"hop{i}.example".encode())
    return b"".join(sets) + msg


def chain(env, hops, modify=()):
    keys, _ = env
    msg = dkimpy_sign(MESSAGE, "s", "example.com", keys["origin"])
    for i in range(1, hops + 1):
        msg = hop(msg, i, keys, modify=i in modify)
    return msg


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_chain_validates(env, hops):
    msg = chain(env, hops)
    cv, _, why = dkim.arc_verify(msg)
    assert cv == dkim.CV_Pass, why
    ar = auth(msg, env[1])
    assert ar["arc"]["result"] == "pass", ar
    sealers = ":".join(f"hop{i}.example" for i in range(1, hops + 1))
    assert ar["arc"] == {"result": "pass", "reason": f"i={hops} chain={sealers}",
                         "header.oldest-pass": "0"}
    assert ar["dkim"][0]["result"] == "pass"


def test_modified_in_transit_keeps_arc(env):
    # Hop 2 is a mailing list that changes the message: DKIM and AMS(1) break,
    # the chain still validates and oldest-pass says from where it vouches.
    msg = chain(env, 3, modify=(2,))
    cv, _, why = dkim.arc_verify(msg)
    assert cv == dkim.CV_Pass, why
    ar = auth(msg, env[1])
    assert ar["dkim"][0]["result"] == "fail"
    assert ar["dmarc"]["result"] == "fail"
    assert ar["arc"] == {"result": "pass",
                         "reason": "i=3 chain=hop1.example:hop2.example:hop3.example",
                         "header.oldest-pass": "2"}


def test_broken_chains_fail(env):
    good = chain(env, 2)
    cases = {
        # Body changed after the last seal: the newest AMS no longer verifies.
        "body": good + b"tampered\r\n",
        # A sealed ARC-Authentication-Results changed: the seals no longer verify.
        "aar": good.replace(b"ARC-Authentication-Results: i=1; hop1.example;",
                            b"ARC-Authentication-Results: i=1; hop1.example; x=1;", 1),
        # An ARC header removed: instance 2 is incomplete.
        "missing": b"\r\n".join(l for l in good.split(b"\r\n")
                                if not l.startswith(b"ARC-Authentication-Results: i=2")),
    }
    for name, msg in cases.items():
        ar = auth(msg, env[1])
        assert ar["arc"]["result"] == "fail", (name, ar["arc"])
        cv, _, _ = dkim.arc_verify(msg)
        assert cv != dkim.CV_Pass, name
    # The reason names the first signature that failed, in RFC 8617 5.2 order
    # (newest AMS, then the seals newest first), and that signature's own reason.
    assert auth(cases["body"], env[1])["arc"]["reason"] == \
        "ARC-Message-Signature i=2: body hash did not verify"
    assert auth(cases["aar"], env[1])["arc"]["reason"] == \
        "ARC-Seal i=2: signature did not verify"
    assert auth(cases["missing"], env[1])["arc"]["reason"] == \
        "missing or duplicate ARC header for an instance"


def test_sealer_says_fail(env):
    keys, zone = env
    broken = chain(env, 1) + b"changed after sealing\r\n"
    # Hop 2 finds the chain broken and seals cv=fail: the chain is over.
    msg = hop(broken, 2, keys)
    assert b"cv=fail" in msg
    ar = auth(msg, zone)
    assert ar["arc"]["result"] == "fail"
    assert "cv=fail" in ar["arc"]["reason"]


def test_no_arc(env):
    assert auth(MESSAGE, env[1])["arc"]["result"] == "none"
