"""DKIM interoperability with dkimpy (python3-dkim), both ways, and failure reasons.

Keys are published in the loopback DNS server; dkimpy verifies through it.
mxscreen's `auth` command gets the same records.
"""
import itertools

import dkim
import pytest

from authlib import (MESSAGE, auth, dkimpy_sign, dns_zone, ed_key, mx, record, rsa_key,
                     use_dns)
from dnsserver import DNSServer

CANONS = [(b"simple", b"simple"), (b"simple", b"relaxed"), (b"relaxed", b"simple"),
          (b"relaxed", b"relaxed")]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    k = {"rsa": rsa_key(d / "rsa.pem"), "ed": ed_key(d / "ed.pem"),
         "other": rsa_key(d / "other.pem"), "ed2": ed_key(d / "ed2.pem")}
    zone = {
        "rsa._domainkey.example.com": record(k["rsa"]),
        "ed._domainkey.example.com": record(k["ed"]),
        "_dmarc.example.com": "v=DMARC1; p=reject",
    }
    return k, zone


@pytest.fixture(scope="module")
def dnssrv(keys):
    _, zone = keys
    with DNSServer(dns_zone(zone)) as d:
        use_dns(d.address)
        yield d


@pytest.mark.parametrize("alg,canon", list(itertools.product(["rsa", "ed"], CANONS)))
def test_dkimpy_signed_verifies(keys, alg, canon):
    k, zone = keys
    a = b"ed25519-sha256" if alg == "ed" else b"rsa-sha256"
    msg = dkimpy_sign(MESSAGE, alg, "example.com", k[alg], canon=canon, algorithm=a)
    ar = auth(msg, zone)
    assert len(ar["dkim"]) == 1
    d = ar["dkim"][0]
    assert d["result"] == "pass", d
    assert d["header.d"] == "example.com" and d["header.s"] == alg
    assert d["header.a"] == a.decode()
    b = msg.split(b"b=")[-1].split(b"\r\n")[0][:8].decode()
    assert d["header.b"] == b
    assert ar["dmarc"]["result"] == "pass"


@pytest.mark.parametrize("alg", ["rsa", "ed"])
def test_dkimpy_length_and_oversigned(keys, alg):
    k, zone = keys
    a = b"ed25519-sha256" if alg == "ed" else b"rsa-sha256"
    include = [b"from", b"from", b"to", b"subject", b"subject", b"date", b"x-absent"]
    msg = dkimpy_sign(MESSAGE, alg, "example.com", k[alg], algorithm=a, include=include,
                      length=True)
    assert b"l=" in msg
    ar = auth(msg, zone)
    assert ar["dkim"][0]["result"] == "pass" and ar["dkim"][0]["reason"] == ""
    # Content appended after the l= count still passes, flagged.
    ar = auth(msg + b"P.S. appended by a list\r\n", zone)
    assert ar["dkim"][0]["result"] == "pass"
    assert "l=" in ar["dkim"][0]["reason"]
    # Over-signed From: a second From added on top breaks the signature.
    forged = b"From: Mallory <m@example.com>\r\n" + msg
    ar = auth(forged, zone)
    assert ar["dkim"][0]["result"] == "fail"
    # A header listed in h= but absent, added later: fails too.
    ar = auth(b"X-Absent: 1\r\n" + msg, zone)
    assert ar["dkim"][0]["result"] == "fail"


@pytest.mark.parametrize("alg,canon", list(itertools.product(["rsa", "ed"],
                                                             ["simple/simple", "relaxed/relaxed",
                                                              "relaxed/simple", "simple/relaxed"])))
def test_mxscreen_signed_verifies_in_dkimpy(keys, dnssrv, alg, canon):
    k, zone = keys
    signed = mx("dkim", "sign", "--domain", "example.com", "--selector", alg, "--key",
                str(k[alg]), "--canon", canon, stdin=MESSAGE).stdout
    assert signed.endswith(MESSAGE)
    assert dkim.verify(signed), signed[:400]
    # And through the CLI's LF input path (a file with bare LF line ends).
    lf = MESSAGE.replace(b"\r\n", b"\n")
    signed_lf = mx("dkim", "sign", "--domain", "example.com", "--selector", alg, "--key",
                   str(k[alg]), "--canon", canon, stdin=lf).stdout
    assert dkim.verify(signed_lf)
    assert auth(signed, zone)["dkim"][0]["result"] == "pass"


def test_mxscreen_signed_options_in_dkimpy(keys, dnssrv):
    k, _ = keys
    signed = mx("dkim", "sign", "--domain", "example.com", "--selector", "ed", "--key",
                str(k["ed"]), "--body-length", "--identity", "news@example.com",
                "--expire", "3600", "--headers", "from:from:subject:to",
                stdin=MESSAGE).stdout
    assert b"l=" in signed and b"x=" in signed and b"i=news@example.com" in signed
    assert dkim.verify(signed)


def test_failures_have_reasons(keys):
    k, zone = keys
    msg = dkimpy_sign(MESSAGE, "rsa", "example.com", k["rsa"])
    cases = {
        "body": (msg.replace(b"figures", b"numbers"), "body hash did not verify"),
        "header": (msg.replace(b"quarterly", b"annual"), "signature did not verify"),
    }
    for name, (m, why) in cases.items():
        d = auth(m, zone)["dkim"][0]
        assert (d["result"], d["reason"]) == ("fail", why), name
    # Wrong key: the selector publishes another key.
    wrong = dict(zone, **{"rsa._domainkey.example.com": record(k["other"])})
    d = auth(msg, wrong)["dkim"][0]
    assert (d["result"], d["reason"]) == ("fail", "signature did not verify")
    # Expired: signed with x= in the past (dkimpy's sign has no x=; mxscreen's has).
    signed = mx("dkim", "sign", "--domain", "example.com", "--selector", "ed", "--key",
                str(k["ed"]), "--expire", "60", "--time", "1000000000", stdin=MESSAGE).stdout
    d = auth(signed, zone)["dkim"][0]
    assert (d["result"], d["reason"]) == ("fail", "signature expired (x=)")
    # No key, revoked key.
    d = auth(msg, {})["dkim"][0]
    assert (d["result"], d["reason"]) == ("permerror", "no key record")
    d = auth(msg, {"rsa._domainkey.example.com": "v=DKIM1; p="})["dkim"][0]
    assert (d["result"], d["reason"]) == ("permerror", "key revoked (empty p=)")
    # rsa-sha1 (RFC 8301).
    sha1 = dkimpy_sign(MESSAGE, "rsa", "example.com", k["rsa"], algorithm=b"rsa-sha1")
    d = auth(sha1, zone)["dkim"][0]
    assert d["result"] == "permerror" and "RFC 8301" in d["reason"]


def test_short_rsa_key_refused(tmp_path):
    small = rsa_key(tmp_path / "small.pem", bits=768)
    msg = dkimpy_sign(MESSAGE, "small", "example.com", small)
    d = auth(msg, {"small._domainkey.example.com": record(small)})["dkim"][0]
    assert d["result"] == "permerror" and "1024" in d["reason"]


def test_multiple_signatures_each_result(keys):
    k, zone = keys
    once = dkimpy_sign(MESSAGE, "rsa", "example.com", k["rsa"])
    twice = dkimpy_sign(once, "ed", "example.com", k["ed"], algorithm=b"ed25519-sha256")
    thrice = dkimpy_sign(twice, "gone", "example.net", k["ed2"], algorithm=b"ed25519-sha256")
    ar = auth(thrice, zone)
    got = [(d["result"], d.get("header.s")) for d in ar["dkim"]]
    assert got == [("permerror", "gone"), ("pass", "ed"), ("pass", "rsa")]


def test_dkim_sign_usage_errors(keys, tmp_path):
    k, _ = keys
    p = mx("dkim", "sign", "--domain", "example.com", "--selector", "s", "--key",
           str(k["rsa"]), "--algorithm", "ed25519-sha256", stdin=MESSAGE, check=False)
    assert p.returncode == 2
    p = mx("dkim", "sign", "--domain", "example.com", "--selector", "s", "--key",
           str(tmp_path / "missing.pem"), stdin=MESSAGE, check=False)
    assert p.returncode == 2
    p = mx("dkim", "sign", "--domain", "example.com", "--selector", "s", "--key",
           str(k["rsa"]), stdin=b"Subject: no from\r\n\r\nx\r\n", check=False)
    assert p.returncode == 2 and b"From" in p.stderr


def test_dns_temporary_failures(keys):
    k, zone = keys
    msg = dkimpy_sign(MESSAGE, "rsa", "example.com", k["rsa"])
    ar = auth(msg, zone, rc=3, servfail_names=["rsa._domainkey.example.com"])
    assert ar["dkim"][0]["result"] == "temperror"
    assert ar["dmarc"]["result"] == "fail"  # no DKIM pass, no SPF: fail, not temperror
    ar = auth(msg, zone, rc=3, servfail_names=["_dmarc.example.com"])
    assert ar["dkim"][0]["result"] == "pass"
    assert ar["dmarc"]["result"] == "temperror"
    ar = auth(msg, zone, "-o", "dns_timeout_ms=200", "-o", "dns_tries=1", rc=3,
              timeout_names=["rsa._domainkey.example.com"])
    assert ar["dkim"][0]["result"] == "temperror"


def test_static_records_mode(keys):
    # --txt checks a record before it is published: no DNS at all.
    k, zone = keys
    msg = dkimpy_sign(MESSAGE, "ed", "example.com", k["ed"], algorithm=b"ed25519-sha256")
    ar = auth(msg, zone, static=True)
    assert ar["dkim"][0]["result"] == "pass" and ar["dmarc"]["result"] == "pass"


def test_spf_evaluated_with_ip(keys):
    k, zone = keys
    zone = dict(zone, **{"example.com": "v=spf1 ip4:192.0.2.0/24 -all"})
    ar = auth(MESSAGE, zone, "--ip", "192.0.2.7", "--helo", "mail.example.com",
              "--mail-from", "bounce@example.com")
    assert ar["spf"] == {"result": "pass", "reason": "", "smtp.mailfrom": "example.com"}
    assert ar["dkim"] == [{"result": "none", "reason": ""}]
    assert ar["dmarc"]["result"] == "pass"
    ar = auth(MESSAGE, zone, "--ip", "198.51.100.1", "--mail-from", "bounce@example.com")
    assert ar["spf"]["result"] == "fail" and ar["dmarc"]["result"] == "fail"
