"""SPF at MAIL FROM and Sender ID after DATA in real SMTP sessions.

Clients connect from 127.0.0.x source addresses; a loopback DNS server holds
zones that pass, fail (with an explanation), softfail, time out (the server
drops the query) and permerror. Reply codes and the Authentication-Results /
Received-SPF headers of the stored messages are asserted.
"""
import pytest

from conftest import split_stored
from dnsserver import DNSServer
from smtpclient import session

ZONE = {
    "pass.test": [("TXT", "v=spf1 ip4:127.0.0.2 -all")],
    "fail.test": [("TXT", "v=spf1 ip4:192.0.2.1 -all exp=why.fail.test")],
    "why.fail.test": [("TXT", "%{i} is not one of %{d}'s senders")],
    "soft.test": [("TXT", "v=spf1 ip4:192.0.2.1 ~all")],
    "broken.test": [("TXT", "v=spf1 ip4:127.0.0.2 foo:bar -all")],
    "nospf.test": [("A", "192.0.2.9")],
    "slow.test": [("A", "192.0.2.9")],
    "helo.test": [("TXT", "v=spf1 a -all"), ("A", "127.0.0.4")],
    "pra.test": [("TXT", "spf2.0/pra ip4:127.0.0.2 -all"), ("TXT", "v=spf1 -all")],
    "2.0.0.127.in-addr.arpa": [("PTR", "client2.pass.test")],
    "client2.pass.test": [("A", "127.0.0.2")],
    "3.0.0.127.in-addr.arpa": [("PTR", "liar.test")],
    "liar.test": [("A", "192.0.2.77")],
}


@pytest.fixture(scope="module")
def dns():
    with DNSServer(ZONE, timeout_names={"slow.test"}) as d:
        yield d


def start(mx, dns, **kw):
    kw.setdefault("dns_timeout_ms", "300")
    kw.setdefault("dns_tries", "1")
    return mx(dns_servers=dns.address, **kw)


def send(srv, source, mail_from, headers="From: a@pass.test\r\n", ehlo="client.test",
         rcpt="user@example.com"):
    c = session(srv, source=source, ehlo=ehlo)
    code, text = c.cmd(f"MAIL FROM:<{mail_from}>")
    if code != 250:
        c.cmd("QUIT")
        c.close()
        return code, text, None
    code2, text2 = c.cmd(f"RCPT TO:<{rcpt}>")
    assert code2 == 250, text2
    code3, _ = c.cmd("DATA")
    assert code3 == 354
    body = (headers + "Subject: t\r\n\r\nhello\r\n").encode()
    c.send(body + b".\r\n")
    code4, text4 = c.reply()
    c.cmd("QUIT")
    c.close()
    return code, text, (code4, text4, body)


def stored_headers(srv, rcpt, body):
    msgs = srv.messages(rcpt)
    assert msgs, "nothing stored"
    return split_stored(msgs[-1], body).decode()


def test_pass_stores_headers(mx, dns):
    srv = start(mx, dns)
    code, text, data = send(srv, "127.0.0.2", "a@pass.test")
    assert code == 250, text
    assert data[0] == 250, data[1]
    h = stored_headers(srv, "user@example.com", data[2])
    assert "spf=pass smtp.mailfrom=pass.test" in h
    assert "Received-SPF: pass (mx.test: domain of a@pass.test designates 127.0.0.2" in h
    assert "client-ip=127.0.0.2;" in h and 'envelope-from="a@pass.test"' in h
    assert "identity=mailfrom" in h
    # Sender ID: the From domain has a v=spf1 record that allows 127.0.0.2
    assert "sender-id=pass header.from=pass.test" in h
    # forward-confirmed reverse DNS shows in Received
    assert "(client2.pass.test [127.0.0.2])" in h


def test_fail_is_refused_with_explanation(mx, dns):
    srv = start(mx, dns)
    code, text, _ = send(srv, "127.0.0.2", "a@fail.test")
    assert code == 550, text
    assert "5.7.23" in text
    assert "127.0.0.2 is not one of fail.test's senders" in text
    assert "MXS-SPF-001" in text and "http://127.0.0.1:8025/help/MXS-SPF-001" in text


def test_fail_as_facts_by_setting(mx, dns):
    srv = start(mx, dns, spf_fail="facts")
    code, text, data = send(srv, "127.0.0.2", "a@fail.test")
    assert code == 250, text
    h = stored_headers(srv, "user@example.com", data[2])
    assert "spf=fail smtp.mailfrom=fail.test" in h
    assert "Received-SPF: fail" in h


def test_softfail_is_accepted_with_facts(mx, dns):
    srv = start(mx, dns)
    code, text, data = send(srv, "127.0.0.3", "a@soft.test", headers="From: b@soft.test\r\n")
    assert code == 250, text
    assert data[0] == 250
    h = stored_headers(srv, "user@example.com", data[2])
    assert "spf=softfail smtp.mailfrom=soft.test" in h
    assert "Received-SPF: softfail" in h
    assert "sender-id=softfail header.from=soft.test" in h
    # PTR 127.0.0.3 -> liar.test, which does not point back: not confirmed
    assert "(unknown [127.0.0.3])" in h


def test_no_spf_record_never_blocks(mx, dns):
    srv = start(mx, dns)
    code, text, data = send(srv, "127.0.0.2", "a@nospf.test", headers="From: a@nospf.test\r\n")
    assert code == 250, text
    h = stored_headers(srv, "user@example.com", data[2])
    assert "spf=none smtp.mailfrom=nospf.test" in h
    assert "sender-id=none" in h


def test_timeout_is_temporary(mx, dns):
    srv = start(mx, dns)
    code, text, _ = send(srv, "127.0.0.2", "a@slow.test")
    assert code == 451, text
    assert "4.4.3" in text and "MXS-SPF-002" in text


def test_permerror_facts_by_default_reject_by_setting(mx, dns):
    srv = start(mx, dns)
    code, text, data = send(srv, "127.0.0.2", "a@broken.test")
    assert code == 250, text
    h = stored_headers(srv, "user@example.com", data[2])
    assert "spf=permerror smtp.mailfrom=broken.test" in h
    assert "problem=" in h
    srv2 = start(mx, dns, spf_permerror="reject")
    code, text, _ = send(srv2, "127.0.0.2", "a@broken.test")
    assert code == 550 and "5.7.24" in text and "MXS-SPF-003" in text, text


def test_null_sender_checks_helo(mx, dns):
    srv = start(mx, dns)
    code, text, data = send(srv, "127.0.0.4", "", ehlo="helo.test")
    assert code == 250, text
    h = stored_headers(srv, "user@example.com", data[2])
    assert "spf=pass smtp.helo=helo.test" in h
    assert "identity=helo" in h
    code, text, _ = send(srv, "127.0.0.5", "", ehlo="helo.test")
    assert code == 550 and "5.7.23" in text


def test_sender_id_pra_scope(mx, dns):
    srv = start(mx, dns)
    # MAIL FROM passes; the PRA (Sender) is pra.test, whose spf2.0/pra record allows 127.0.0.2
    code, text, data = send(srv, "127.0.0.2", "a@pass.test",
                            headers="From: x@fail.test\r\nSender: s@pra.test\r\n")
    assert code == 250, text
    h = stored_headers(srv, "user@example.com", data[2])
    assert "sender-id=pass header.sender=pra.test" in h
    # two From mailboxes and no Sender: no PRA
    code, text, data = send(srv, "127.0.0.2", "a@pass.test",
                            headers="From: x@pass.test, y@pass.test\r\n")
    h = stored_headers(srv, "user@example.com", data[2])
    assert "sender-id=permerror" in h


def test_pipelined_commands_wait_for_spf(mx, dns):
    srv = start(mx, dns)
    c = session(srv, source="127.0.0.2")
    c.send(b"MAIL FROM:<a@fail.test>\r\nRCPT TO:<user@example.com>\r\nNOOP\r\n")
    code, text = c.reply()
    assert code == 550, text
    code, text = c.reply()
    assert code == 503, text  # no transaction: the refused MAIL did not start one
    code, text = c.reply()
    assert code == 250
    c.cmd("QUIT")
    c.close()
