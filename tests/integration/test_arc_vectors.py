"""Published ARC vectors through `mxscreen auth` and the loopback DNS server.

1. RFC 8617 Appendix B (data/rfc8617/appendix-b.eml, see the README there). The RFC gives no
   key for any selector and its signatures were made with 512-bit keys, which RFC 8301 3.2
   forbids to accept, so the chain cannot pass in any conforming verifier. What is checked:
   every ARC header parses and the structure is sound (the validator gets as far as the key
   lookups, and asks for exactly the three sealers' keys), each AMS body hash equals the
   RFC's bh= (with a stand-in key the AMS fails on the signature, not on the body hash), and
   the structural rules of RFC 8617 5.2 on mutations of the example.
2. The ARC vectors shipped in Debian's python3-dkim (dkim/tests/test_arc.py: a set sealed by
   dkimpy's arc_sign with the packaged 1024-bit test key, and one with h= in the ARC-Seal),
   read from the installed package at test time. Their t= is fixed and they carry no x=, so
   no clock needs pinning.
"""
import ast
import re
from pathlib import Path

import pytest

from authlib import mx, parse_ar, publish, record, rsa_key

RFC_MSG = (Path(__file__).parent / "data" / "rfc8617" / "appendix-b.eml").read_bytes()
RFC_SEALERS = {
    "dk-lists._domainkey.lists.example.org",
    "20120806._domainkey.gmail.example",
    "clochette._domainkey.clochette.example.org",
}
DKIMPY_TESTS = Path("/usr/lib/python3/dist-packages/dkim/tests")


def run(message, zone):
    """`mxscreen auth` over the loopback DNS server: (parsed results, TXT names asked)."""
    srv = publish(zone)
    srv.queries.clear()
    p = mx("auth", "--dns", srv.address, stdin=message, check=False)
    assert p.returncode == 0, p.stderr.decode()
    return parse_ar(p.stdout.decode()), {n for n, t in srv.queries if t == "TXT"}


def drop_sets(message, *instances):
    """The message without the ARC headers of the given instances (folded lines too)."""
    out, skip = [], False
    for line in message.split(b"\n"):
        if line[:1] not in (b" ", b"\t"):
            m = re.match(rb"ARC-(?:Seal|Message-Signature|Authentication-Results): i=(\d+);", line)
            skip = bool(m) and int(m.group(1)) in instances
        if not skip:
            out.append(line)
    return b"\n".join(out)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """Our own keys published at the RFC's selectors: a 2048-bit and a 512-bit one."""
    d = tmp_path_factory.mktemp("rfc8617")
    return {"2048": record(rsa_key(d / "k2048.pem")), "512": record(rsa_key(d / "k512.pem", 512))}


def test_rfc8617_example_without_keys():
    ar, asked = run(RFC_MSG, {})
    assert ar["dkim"] == [{"result": "permerror", "reason": "rsa-sha1 not accepted (RFC 8301 3.1)",
                           "header.d": "d1.example", "header.s": "origin2015"}]
    assert ar["dmarc"] == {"result": "none", "reason": "no DMARC record",
                           "header.from": "d1.example"}
    assert ar["arc"] == {"result": "fail",
                         "reason": "ARC-Message-Signature i=3: no key record"}
    # Structure passed (RFC 8617 5.2 steps 1-4): the three sealers' keys were looked up;
    # the rsa-sha1 signature was refused before its key lookup.
    assert RFC_SEALERS <= asked
    assert "origin2015._domainkey.d1.example" not in asked
    assert asked - RFC_SEALERS == {"_dmarc.d1.example"}


@pytest.mark.parametrize("newest", [3, 2, 1])
def test_rfc8617_body_hash_of_each_ams(standin, newest):
    # With a stand-in key each AMS gets past its body hash (the RFC's bh= is the relaxed
    # SHA-256 of the example body) and fails only on the signature, made with a key the RFC
    # does not publish. Dropping the newer sets makes each AMS the newest in turn.
    msg = drop_sets(RFC_MSG, *range(newest + 1, 4))
    ar, _ = run(msg, {n: standin["2048"] for n in RFC_SEALERS})
    assert ar["arc"] == {"result": "fail",
                         "reason": f"ARC-Message-Signature i={newest}: signature did not verify"}
    assert msg.count(b"ARC-Message-Signature: ") == newest
    # The control: another body fails on the body hash.
    ar, _ = run(msg.replace(b"Hey gang,", b"Hey all,"), {n: standin["2048"] for n in RFC_SEALERS})
    assert ar["arc"]["reason"] == f"ARC-Message-Signature i={newest}: body hash did not verify"


def test_rfc8617_512_bit_keys_refused(standin):
    ar, _ = run(RFC_MSG, {n: standin["512"] for n in RFC_SEALERS})
    assert ar["arc"] == {"result": "fail", "reason":
                         "ARC-Message-Signature i=3: RSA key shorter than 1024 bits (RFC 8301 3.2)"}


# Mutations of the RFC example, each breaking one structural rule of RFC 8617 (4.1, 4.2.1,
# 5.2 steps 2-4): decided before any key is fetched.
STRUCTURE = {
    "cv=pass on instance 1": ((b"i=1; a=rsa-sha256; cv=none;", b"i=1; a=rsa-sha256; cv=pass;"),
                              "ARC-Seal i=1 without cv=none"),
    "cv=none on instance 2": ((b"i=2; a=rsa-sha256; cv=pass;", b"i=2; a=rsa-sha256; cv=none;"),
                              "ARC-Seal i>1 without cv=pass"),
    "newest seal cv=fail": ((b"i=3; a=rsa-sha256; cv=pass;", b"i=3; a=rsa-sha256; cv=fail;"),
                            "newest ARC-Seal says cv=fail"),
    "unknown cv": ((b"i=2; a=rsa-sha256; cv=pass;", b"i=2; a=rsa-sha256; cv=maybe;"),
                   "ARC-Seal i=2: bad cv="),
    "instance 4 for 3": ((b"ARC-Seal: i=3;", b"ARC-Seal: i=4;"),
                         "missing or duplicate ARC header for an instance"),
    "instance 51": ((b"ARC-Authentication-Results: i=3;", b"ARC-Authentication-Results: i=51;"),
                    "ARC header without a valid instance (i=)"),
    "instance 0": ((b"ARC-Message-Signature: i=1;", b"ARC-Message-Signature: i=0;"),
                   "ARC header without a valid instance (i=)"),
    "ARC-Seal signed by an AMS": ((b"h=message-id:date:from:to:subject; s=20120806",
                                   b"h=message-id:date:from:to:subject:arc-seal; s=20120806"),
                                  "ARC-Message-Signature i=2: ARC-Seal in h= (RFC 8617 4.1.2)"),
    "AMS without bh=": ((b"12345; bh=KWSe46TZKCcDbH4klJPo+tjk5LWJnVRlP5pvjXFZYLQ=; b=CVoG44",
                         b"12345; b=CVoG44"),
                        "ARC-Message-Signature i=2: required ARC tag missing"),
}


@pytest.mark.parametrize("case", sorted(STRUCTURE))
def test_rfc8617_structure(case):
    (old, new), reason = STRUCTURE[case]
    assert RFC_MSG.count(old) == 1, case
    ar, asked = run(RFC_MSG.replace(old, new), {})
    assert ar["arc"] == {"result": "fail", "reason": reason}
    assert not asked & RFC_SEALERS  # no key was fetched


def test_rfc8617_set_missing():
    ar, _ = run(drop_sets(RFC_MSG, 2), {})
    assert ar["arc"] == {"result": "fail",
                         "reason": "missing or duplicate ARC header for an instance"}


def dkimpy_vectors():
    """The ARC header lists in python3-dkim's own tests, by test name."""
    tree = ast.parse((DKIMPY_TESTS / "test_arc.py").read_text())
    found = {}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
            for st in ast.walk(fn):
                if (isinstance(st, ast.Assign) and isinstance(st.value, ast.List)
                        and isinstance(st.targets[0], ast.Name)
                        and st.targets[0].id in ("expected_sig", "sig_lines")):
                    found[fn.name] = ast.literal_eval(st.value)
    return found


# dkimpy's verdicts (its asserts) and ours, field by field.
DKIMPY_EXPECTED = {
    "test_signs_and_verifies": {"result": "pass", "reason": "i=1 chain=example.com",
                                "header.oldest-pass": "0"},
    "test_fails_h_in_as": {"result": "fail",
                           "reason": "ARC-Seal i=1: h= in ARC-Seal (RFC 8617 4.1.3)"},
}


def test_dkimpy_packaged_vectors():
    vectors = dkimpy_vectors()
    assert set(vectors) == set(DKIMPY_EXPECTED), "python3-dkim's ARC tests changed"
    message = (DKIMPY_TESTS / "data" / "test.message").read_bytes()
    key = (DKIMPY_TESTS / "data" / "test.txt").read_text().strip()
    for name, sets in sorted(vectors.items()):
        ar, _ = run(b"".join(sets) + message, {"test._domainkey.example.com": key})
        assert ar["arc"] == DKIMPY_EXPECTED[name], name
        assert ar["dkim"] == [{"result": "none", "reason": ""}]
    print(f"python3-dkim ARC vectors: {len(vectors)} run, {len(vectors)} as expected")
