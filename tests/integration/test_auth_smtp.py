"""DKIM, ARC and DMARC in real SMTP sessions: the stored message's
Authentication-Results is asserted field by field.

The client connects from 127.0.0.2; the loopback DNS server publishes the SPF
record, the DKIM keys and the DMARC policies. Messages are signed by dkimpy.
"""
import dkim
import pytest

from authlib import MESSAGE, dkimpy_private, dkimpy_sign, dns_zone, ed_key, parse_ar, record, \
    rsa_key, use_dns
from conftest import split_stored
from dnsserver import DNSServer
from smtpclient import session


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("authkeys")
    keys = {"rsa": rsa_key(d / "rsa.pem"), "ed": ed_key(d / "ed.pem"),
            "arc": rsa_key(d / "arc.pem")}
    zone = {
        "example.com": "v=spf1 ip4:127.0.0.2 -all",
        "rsa._domainkey.example.com": record(keys["rsa"]),
        "ed._domainkey.example.com": record(keys["ed"]),
        "arc._domainkey.list.test": record(keys["arc"]),
        "_dmarc.example.com": "v=DMARC1; p=reject; rua=mailto:dmarc@example.com",
        "other.test": "v=spf1 ip4:127.0.0.2 -all",
    }
    with DNSServer(dns_zone(zone)) as srv:
        use_dns(srv.address)
        yield keys, srv


def deliver(mx, srv, message, mail_from="bounce@example.com", **settings):
    server = mx(dns_servers=srv.address, dns_timeout_ms="500", dns_tries="1", **settings)
    c = session(server, source="127.0.0.2", ehlo="mail.example.com")
    for cmd, want in ((f"MAIL FROM:<{mail_from}>", 250), ("RCPT TO:<user@example.org>", 250),
                      ("DATA", 354)):
        code, text = c.cmd(cmd)
        assert code == want, (cmd, code, text)
    c.send(message + b".\r\n")
    code, text = c.reply()
    assert code == 250, text
    c.cmd("QUIT")
    c.close()
    msgs = server.messages("user@example.org")
    assert len(msgs) == 1
    return msgs[0], server


def results(stored, original):
    added = split_stored(stored, original).decode()
    ars = [f for f in added.split("\r\n") if f.startswith("Authentication-Results:")]
    assert len(ars) == 1, added  # one field per message
    start = added.index("Authentication-Results:")
    end = added.index("\r\n", start)
    while added[end + 2] in " \t":
        end = added.index("\r\n", end + 2)
    return parse_ar(added[start:end + 2])


def test_dkim_dmarc_spf_end_to_end(mx, env):
    keys, srv = env
    msg = dkimpy_sign(MESSAGE, "rsa", "example.com", keys["rsa"])
    msg = dkimpy_sign(msg, "ed", "example.com", keys["ed"], algorithm=b"ed25519-sha256")
    stored, _ = deliver(mx, srv, msg)
    ar = results(stored, msg)
    assert ar["spf"] == {"result": "pass", "reason": "", "smtp.mailfrom": "example.com"}
    assert ar["sender-id"]["result"] == "pass"
    assert [(d["result"], d["header.d"], d["header.s"], d["header.a"]) for d in ar["dkim"]] == [
        ("pass", "example.com", "ed", "ed25519-sha256"),
        ("pass", "example.com", "rsa", "rsa-sha256")]
    for d, sig in zip(ar["dkim"], msg.split(b"DKIM-Signature:")[1:]):
        b = sig.split(b" b=")[-1].replace(b"\r\n", b"").replace(b" ", b"")[:8].decode()
        assert d["header.b"] == b
    assert ar["dmarc"] == {"result": "pass", "reason": "p=reject sp=reject dis=none",
                           "header.from": "example.com", "policy.dmarc": "reject"}
    assert ar["arc"] == {"result": "none", "reason": "", "smtp.remote-ip": "127.0.0.2"}


def test_failures_end_to_end(mx, env):
    keys, srv = env
    msg = dkimpy_sign(MESSAGE, "rsa", "example.com", keys["rsa"]).replace(b"figures", b"numbers")
    # SPF for another domain passes but is not aligned; DKIM fails: DMARC fails.
    # Enforcement off, so the message is stored and its results can be read
    # (test_dmarc_reject_is_refused_with_reason covers the refusal).
    stored, server = deliver(mx, srv, msg, mail_from="x@other.test", dmarc_enforce="no")
    ar = results(stored, msg)
    assert ar["spf"]["result"] == "pass" and ar["spf"]["smtp.mailfrom"] == "other.test"
    assert ar["dkim"][0]["result"] == "fail"
    assert ar["dkim"][0]["reason"] == "body hash did not verify"
    assert ar["dmarc"]["result"] == "fail"
    assert "dis=reject" in ar["dmarc"]["reason"]
    assert "event=auth" in server.log_text() and "dmarc=fail" in server.log_text()


def test_forged_results_removed(mx, env):
    keys, srv = env
    forged = b"Authentication-Results: mx.test; dkim=pass header.d=bank.example\r\n"
    other = b"Authentication-Results: elsewhere.example; spf=pass\r\n"
    msg = forged + other + MESSAGE
    stored, _ = deliver(mx, srv, msg)
    assert b"bank.example" not in stored
    assert stored.endswith(other + MESSAGE)  # the other ADMD's result is kept


def test_arc_end_to_end(mx, env):
    keys, srv = env
    msg = dkimpy_sign(MESSAGE, "rsa", "example.com", keys["rsa"])
    msg = msg.replace(b"Subject: ", b"Subject: [list] ", 1)
    msg = b"Authentication-Results: list.test; dkim=pass header.d=example.com\r\n" + msg
    sets = dkim.arc_sign(msg, b"arc", b"list.test", dkimpy_private(keys["arc"]), b"list.test")
    msg = b"".join(sets) + msg
    stored, server = deliver(mx, srv, msg, mail_from="bounce@list.test",
                             arc_trusted_sealers="other.test, list.test")
    assert b"overridden by trusted ARC sealer list.test" in stored
    ar = results(stored, msg)
    assert ar["dkim"][0]["result"] == "fail"
    assert ar["arc"] == {"result": "pass", "reason": "i=1 chain=list.test",
                         "header.oldest-pass": "0", "smtp.remote-ip": "127.0.0.2"}


def test_disabled(mx, env):
    keys, srv = env
    msg = dkimpy_sign(MESSAGE, "rsa", "example.com", keys["rsa"])
    stored, _ = deliver(mx, srv, msg, dkim_check="no")
    ar = results(stored, msg)
    assert ar["dkim"] == [] and "dmarc" not in ar and "arc" not in ar
    assert ar["spf"]["result"] == "pass"


def send_raw(mx, srv, message, mail_from="bounce@list.test", **settings):
    server = mx(dns_servers=srv.address, dns_timeout_ms="500", dns_tries="1", **settings)
    c = session(server, source="127.0.0.2", ehlo="mail.example.com")
    assert c.cmd(f"MAIL FROM:<{mail_from}>")[0] == 250
    assert c.cmd("RCPT TO:<user@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(message + b".\r\n")
    reply = c.reply()
    c.cmd("QUIT")
    return reply, server


def test_dmarc_reject_is_refused_with_reason(mx, env):
    """p=reject and no aligned pass (a list changed the signed Subject, no trusted ARC)."""
    keys, srv = env
    msg = dkimpy_sign(MESSAGE, "rsa", "example.com", keys["rsa"])
    msg = msg.replace(b"Subject: ", b"Subject: [list] ", 1)
    (code, text), server = send_raw(mx, srv, msg)
    assert code == 550 and text.startswith("550 5.7.1"), text
    assert "MXS-DMARC-001" in text and "example.com publishes DMARC p=reject" in text
    assert server.messages("user@example.org") == []
    assert server.messages("user@example.org", junk=True) == []
    # An ARC chain from a sealer that is not trusted changes nothing.
    msg2 = b"".join(dkim.arc_sign(msg, b"arc", b"list.test", dkimpy_private(keys["arc"]),
                                  b"list.test")) + msg
    (code, text), _ = send_raw(mx, srv, msg2, arc_trusted_sealers="other.test")
    assert code == 550 and "MXS-DMARC-001" in text
    # With enforcement off, the failure is a fact only.
    (code, _), server = send_raw(mx, srv, msg, dmarc_enforce="no")
    assert code == 250 and len(server.messages("user@example.org")) == 1


def test_dmarc_quarantine_goes_to_junk(mx, env):
    keys, srv = env
    srv.add("_dmarc.quarantine.test", "TXT", "v=DMARC1; p=quarantine")
    msg = MESSAGE.replace(b"example.com>", b"quarantine.test>")
    assert b"quarantine.test" in msg
    (code, text), server = send_raw(mx, srv, msg)
    assert code == 250, text
    assert server.messages("user@example.org") == []
    junk = server.messages("user@example.org", junk=True)
    assert len(junk) == 1 and b"MXS-DMARC-002 dmarc=fail header.from=quarantine.test" in junk[0]
