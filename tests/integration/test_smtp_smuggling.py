"""SMTP smuggling: only CRLF.CRLF ends DATA; bare LF/CR never end or split a message.

Each variant is sent raw over a socket as a message that tries to smuggle a
second one. The assertion is the issue's: exactly one message stored (with the
smuggled text inside it, as content), or a 5xx and nothing stored.
"""
import pytest

from smtpclient import session

VARIANTS = {
    "lf-dot-lf": b"\n.\n",
    "lf-dot-crlf": b"\n.\r\n",
    "cr-dot-cr": b"\r.\r",
    "crlf-dot-lf": b"\r\n.\n",
    "lf-dot-cr": b"\n.\r",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
    "cr-dot-lf": b"\r.\n",
}

SMUGGLED = (b"MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
            b"From: ceo@example.com\r\nSubject: smuggled\r\n\r\nwire money\r\n")


def send_variant(srv, seq):
    c = session(srv)
    assert c.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: first\r\n\r\nhello" + seq + SMUGGLED + b".\r\n")
    code, text = c.reply()
    # After the real terminator the session is usable and in a clean state.
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    return code, text


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_smuggling_reject_mode(mx, name):
    srv = mx()
    code, text = send_variant(srv, VARIANTS[name])
    assert code == 550 and "5.6.0" in text and "MXS-SMTP-001" in text, text
    assert srv.messages("bob@example.com") == []
    assert srv.messages("victim@example.com") == []


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_smuggling_normalize_mode(mx, name):
    srv = mx(smtp_bare_newline="normalize")
    seq = VARIANTS[name]
    code, text = send_variant(srv, seq)
    assert srv.messages("victim@example.com") == []
    if b"\r" in seq.replace(b"\r\n", b""):
        # A bare CR is refused in both modes.
        assert code == 550 and "MXS-SMTP-001" in text, text
        assert srv.messages("bob@example.com") == []
    else:
        assert code == 250, text
        stored = srv.messages("bob@example.com")
        assert len(stored) == 1
        # The smuggled "second message" is content of the first one.
        assert b"Subject: smuggled" in stored[0] and b"wire money" in stored[0]
        assert b"\n" not in stored[0].replace(b"\r\n", b"")  # stored with CRLF only


def test_clean_message_with_dots_is_stored_unstuffed(mx):
    srv = mx()
    c = session(srv)
    c.cmd("MAIL FROM:<a@sender.test>")
    c.cmd("RCPT TO:<bob@example.com>")
    c.cmd("DATA")
    c.send(b"Subject: dots\r\n\r\n..one\r\n.two\r\n...\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    stored = srv.messages("bob@example.com")[0]
    assert stored.endswith(b"\r\n\r\n.one\r\ntwo\r\n..\r\n")
