"""DMARC (RFC 7489) as a table: policy discovery, alignment, sp=, pct, invalid records.

DKIM signatures are made with dkimpy; the SPF result is given to `mxscreen auth` with
--spf/--mail-from (the SPF module evaluates it in the MX). pct sampling is made
deterministic with --dmarc-roll.
"""
import pytest

from authlib import auth, dkimpy_sign, record, rsa_key


def message(from_domain):
    return (f"From: Someone <someone@{from_domain}>\r\nTo: rcpt@example.org\r\n"
            f"Subject: dmarc\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
            f"Message-ID: <d@{from_domain}>\r\n\r\nbody\r\n").encode()


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    k = rsa_key(tmp_path_factory.mktemp("dmarc") / "k.pem")
    return k, record(k)


BASE = {
    "_dmarc.example.com": "v=DMARC1; p=reject; rua=mailto:agg@example.com",
    "_dmarc.strict.test": "v=DMARC1; p=quarantine; adkim=s; aspf=s",
    "_dmarc.shop.co.uk": "v=DMARC1; p=reject; sp=quarantine",
    "_dmarc.half.test": "v=DMARC1; p=reject; pct=50",
    "_dmarc.bad.test": "v=DMARC1; p=sometimes",
    "_dmarc.badrua.test": "v=DMARC1; p=bogus; rua=mailto:r@badrua.test",
    "_dmarc.two.test": ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
    "_dmarc.other.test": ["v=spf1 -all", "v=DMARC1; p=none; fo=1"],
}

# (name, From domain, DKIM signer d= or None, SPF mail-from domain or None, roll,
#  expected dmarc result, disposition or None, policy.dmarc or None)
CASES = [
    ("aligned SPF only", "example.com", None, "example.com", 0, "pass", "none", "reject"),
    ("aligned SPF, relaxed subdomain", "example.com", None, "bounce.example.com", 0, "pass",
     "none", "reject"),
    ("aligned DKIM only", "example.com", "example.com", None, 0, "pass", "none", "reject"),
    ("aligned DKIM, relaxed parent", "mail.example.com", "example.com", None, 0, "pass",
     "none", "reject"),
    ("neither aligned", "example.com", "other.test", "other.test", 0, "fail", "reject",
     "reject"),
    ("strict DKIM misaligned", "strict.test", "news.strict.test", None, 0, "fail",
     "quarantine", "quarantine"),
    ("strict SPF misaligned", "strict.test", None, "bounce.strict.test", 0, "fail",
     "quarantine", "quarantine"),
    ("strict exact", "strict.test", "strict.test", None, 0, "pass", "none", "quarantine"),
    ("subdomain uses sp=", "news.shop.co.uk", None, None, 0, "fail", "quarantine",
     "quarantine"),
    ("org fallback under co.uk", "deep.news.shop.co.uk", "shop.co.uk", None, 0, "pass", "none",
     "quarantine"),
    ("org domain itself uses p=", "shop.co.uk", None, None, 0, "fail", "reject", "reject"),
    ("co.uk sibling is not aligned", "shop.co.uk", "other.co.uk", "other.co.uk", 0, "fail",
     "reject", "reject"),
    ("pct sampled in", "half.test", None, None, 10, "fail", "reject", "reject"),
    ("pct sampled out", "half.test", None, None, 70, "fail", "quarantine", "reject"),
    ("invalid record ignored", "bad.test", None, None, 0, "none", None, None),
    ("bad p= with rua= is p=none", "badrua.test", None, None, 0, "fail", "none", "none"),
    ("two records: no DMARC", "two.test", None, None, 0, "none", None, None),
    ("other TXT records skipped", "other.test", None, None, 0, "fail", "none", "none"),
    ("no record", "nodmarc.test", "nodmarc.test", None, 0, "none", None, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_dmarc_table(key, case):
    name, from_dom, signer, spf_dom, roll, result, dis, policy = case
    k, rec = key
    zone = dict(BASE)
    msg = message(from_dom)
    if signer:
        zone[f"s._domainkey.{signer}"] = rec
        msg = dkimpy_sign(msg, "s", signer, k)
    args = ["--dmarc-roll", str(roll)]
    if spf_dom:
        args += ["--spf", "pass", "--mail-from", f"bounce@{spf_dom}"]
    ar = auth(msg, zone, *args)
    d = ar["dmarc"]
    assert d["result"] == result, (name, d)
    assert d["header.from"] == from_dom
    if dis:
        assert f"dis={dis}" in d["reason"], (name, d)
    assert d.get("policy.dmarc") == policy, (name, d)
    if spf_dom:
        assert ar["spf"] == {"result": "pass", "reason": "",
                             "smtp.mailfrom": f"bounce@{spf_dom}".split("@")[1]}


def test_from_edge_cases(key):
    # Several From fields: permerror. No From: permerror. Two mailboxes with
    # different domains: the worse of the two decides.
    two = b"From: a@example.com\r\nFrom: b@example.com\r\nSubject: x\r\n\r\nx\r\n"
    assert auth(two, BASE)["dmarc"]["result"] == "permerror"
    assert auth(b"Subject: x\r\n\r\nx\r\n", BASE)["dmarc"]["result"] == "permerror"
    both = b"From: a@nodmarc.test, \"B, Jr.\" <b@example.com>\r\nSubject: x\r\n\r\nx\r\n"
    d = auth(both, BASE, "--dmarc-roll", "0")["dmarc"]
    assert d["result"] == "fail" and d["header.from"] == "example.com"
    # Comments and a group in From.
    grp = b"From: team: a@example.com (Alice), <b@example.com>;\r\nSubject: x\r\n\r\nx\r\n"
    assert auth(grp, BASE, "--spf", "pass", "--mail-from",
                "x@example.com")["dmarc"]["result"] == "pass"


def test_spf_fail_is_not_aligned(key):
    ar = auth(message("example.com"), BASE, "--spf", "fail", "--mail-from", "a@example.com")
    assert ar["spf"]["result"] == "fail" and ar["dmarc"]["result"] == "fail"
