"""Every limit of the foundation issue, tripped, with the exact reply asserted."""
import time

from smtpclient import Raw, session


def begin(srv, rcpts=1):
    c = session(srv)
    assert c.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    for i in range(rcpts):
        assert c.cmd(f"RCPT TO:<u{i}@example.com>")[0] == 250
    return c


def test_command_line_too_long(mx):
    srv = mx()
    c = session(srv)
    ok = "NOOP " + "x" * (512 - 2 - 5)  # exactly 512 octets with CRLF
    assert c.cmd(ok)[0] == 250
    code, text = c.cmd("NOOP " + "x" * (512 - 2 - 4))  # 513 octets
    assert code == 500 and text.startswith("500 5.5.2") and "MXS-SMTP-002" in text
    # A line far longer than any buffer, sent in one go: one reply, session still fine.
    code, text = c.cmd("MAIL FROM:<" + "a" * 100000 + "@x.test>")
    assert text.startswith("500 5.5.2")
    assert c.cmd("NOOP")[0] == 250


def test_text_line_too_long_is_a_fact_not_a_refusal(mx):
    """RFC 5321 4.5.3.1: servers should not limit line length where they can; Postfix,
    Exim and the big providers accept long lines. A line over 1000 octets is stored
    exactly as received and noted as the symbol LONG_LINE."""
    srv = mx()
    c = begin(srv)
    assert c.cmd("DATA")[0] == 354
    body = b"Subject: long\r\n\r\n" + b"y" * 998 + b"\r\n" + b"z" * 5000 + b"\r\n"
    c.send(body + b".\r\n")
    code, text = c.reply()
    assert code == 250, text
    stored = srv.messages("u0@example.com") + srv.messages("u0@example.com", junk=True)
    assert len(stored) == 1 and stored[0].endswith(body)
    assert b"LONG_LINE=" in stored[0].split(b"\r\n\r\n", 1)[0]
    # The 998-octet line alone carries no such symbol.
    c.cmd("MAIL FROM:<a@sender.test>")
    c.cmd("RCPT TO:<u1@example.com>")
    c.cmd("DATA")
    c.send(b"Subject: ok\r\n\r\n" + b"y" * 998 + b"\r\n.\r\n")
    assert c.reply()[0] == 250
    stored = srv.messages("u1@example.com") + srv.messages("u1@example.com", junk=True)
    assert len(stored) == 1 and b"LONG_LINE" not in stored[0]
    c.cmd("QUIT")


def test_text_line_too_long_refused_by_setting(mx):
    """smtp_long_lines=reject: a content refusal after the terminator, 550 5.6.0 (never
    500, which means an unknown command), nothing stored, the session goes on."""
    srv = mx(smtp_long_lines="reject")
    c = begin(srv)
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: long\r\n\r\n" + b"z" * 999 + b"\r\n.\r\n")
    code, text = c.reply()
    assert code == 550 and text.startswith("550 5.6.0") and "MXS-SMTP-002" in text, text
    assert srv.messages("u0@example.com") == [] and srv.messages("u0@example.com", junk=True) == []
    assert c.cmd("NOOP")[0] == 250
    c.cmd("QUIT")


def test_too_many_recipients(mx):
    srv = mx()
    c = begin(srv, rcpts=100)
    code, text = c.cmd("RCPT TO:<u100@example.com>")
    assert code == 452 and text.startswith("452 4.5.3") and "MXS-SMTP-006" in text
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: many\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    assert len(srv.messages("u99@example.com")) == 1
    assert srv.messages("u100@example.com") == []


def test_recipient_limit_setting(mx):
    srv = mx(smtp_max_recipients=2)
    c = begin(srv, rcpts=2)
    assert c.cmd("RCPT TO:<u2@example.com>")[1].startswith("452 4.5.3")


def test_message_size_declared(mx):
    srv = mx(message_size_limit=4096)
    c = session(srv)
    assert "SIZE 4096" in c.cmd("EHLO again")[1]
    code, text = c.cmd("MAIL FROM:<a@sender.test> SIZE=4097")
    assert code == 552 and text.startswith("552 5.3.4") and "MXS-SMTP-003" in text
    assert c.cmd("MAIL FROM:<a@sender.test> SIZE=4096")[0] == 250


def test_message_size_actual(mx):
    srv = mx(message_size_limit=4096)
    c = begin(srv)
    c.cmd("DATA")
    c.send(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100 + b".\r\n")
    code, text = c.reply()
    assert code == 552 and text.startswith("552 5.3.4")
    assert srv.messages("u0@example.com") == []
    assert c.cmd("NOOP")[0] == 250  # the session goes on


def test_command_timeout(mx):
    srv = mx(smtp_command_timeout=1)
    c = session(srv)
    t0 = time.time()
    code, text = c.reply()
    assert code == 421 and text.startswith("421 4.4.2") and "MXS-SMTP-010" in text
    assert 0.8 < time.time() - t0 < 5
    assert c.closed()


def test_data_timeout(mx):
    srv = mx(smtp_data_timeout=1, smtp_command_timeout=30)
    c = begin(srv)
    c.cmd("DATA")
    c.send(b"Subject: slow\r\n\r\npartial")
    code, text = c.reply()
    assert code == 421 and "4.4.2" in text
    assert c.closed()
    assert srv.messages("u0@example.com") == []


def test_session_limit(mx):
    srv = mx(smtp_session_limit=2)
    c = session(srv)
    t0 = time.time()
    while time.time() - t0 < 6:
        code, text = c.cmd("NOOP")
        if code != 250:
            break
        time.sleep(0.2)
    assert code == 421 and text.startswith("421 4.4.2") and "MXS-SMTP-011" in text
    assert c.closed()


def test_max_connections(mx):
    srv = mx(smtp_max_connections=3)
    held = [session(srv) for _ in range(3)]
    c = Raw(srv.host, srv.port)
    code, text = c.reply()
    assert code == 421 and text.startswith("421 4.7.0") and "MXS-SMTP-007" in text
    assert c.closed()
    held[0].cmd("QUIT")
    held[0].closed()
    time.sleep(0.2)
    again = Raw(srv.host, srv.port)
    assert again.reply()[0] == 220


def test_max_connections_per_ip(mx):
    srv = mx(smtp_max_connections_per_ip=2)
    held = [session(srv, source="127.0.0.1") for _ in range(2)]
    c = Raw(srv.host, srv.port, source="127.0.0.1")
    code, text = c.reply()
    assert code == 421 and text.startswith("421 4.7.0") and "MXS-SMTP-008" in text
    assert c.closed()
    other = Raw(srv.host, srv.port, source="127.0.0.2")  # another client IP is fine
    assert other.reply()[0] == 220
    assert len(held) == 2


def test_max_errors(mx):
    srv = mx(smtp_max_errors=3)
    c = session(srv)
    assert c.cmd("FROB")[0] == 500
    assert c.cmd("FROB")[0] == 500
    c.send(b"FROB\r\n")
    code, text = c.reply()
    assert code == 500
    code, text = c.reply()
    assert code == 421 and text.startswith("421 4.7.0") and "MXS-SMTP-009" in text
    assert c.closed()
