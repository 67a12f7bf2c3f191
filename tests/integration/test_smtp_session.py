"""ESMTP session behaviour against the real server: smtplib, swaks, raw sockets."""
import smtplib
import ssl
import subprocess
from email.message import EmailMessage

from conftest import split_stored
from smtpclient import Raw, session


def make_message(subject="hello", body="Hello there.\r\n"):
    return (f"From: Alice <alice@sender.test>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@sender.test>\r\n\r\n{body}").encode()


def test_ehlo_advertises_extensions(mx):
    srv = mx()
    c = Raw(srv.host, srv.port)
    code, banner = c.reply()
    assert code == 220 and "mx.test" in banner
    code, text = c.cmd("EHLO client.test")
    assert code == 250
    for ext in ("PIPELINING", "SIZE 26214400", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8",
                "STARTTLS"):
        assert ext in text.split("\n")[1:] or any(l[4:] == ext for l in text.split("\n")), text
    assert "AUTH" not in text
    c.close()


def test_smtplib_plain_delivers_byte_exact(mx):
    srv = mx()
    msg = make_message("plain")
    with smtplib.SMTP(srv.host, srv.port) as s:
        s.ehlo("client.test")
        refused = s.sendmail("alice@sender.test", ["bob@example.com"], msg)
        assert refused == {}
    stored = srv.messages("bob@example.com")
    assert len(stored) == 1
    added = split_stored(stored[0], msg)
    assert added.startswith(b"Return-Path: <alice@sender.test>\r\n")
    assert b"Received: from client.test (unknown [127.0.0.1])" in added
    assert b"by mx.test (mxscreen) with ESMTP\r\n" in added
    assert b"for <bob@example.com>;" in added
    assert b"X-Mxscreen-Id: " in added


def test_smtplib_starttls(mx):
    srv = mx()
    msg = make_message("tls")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(srv.host, srv.port) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=ctx)
        assert code == 220
        s.ehlo("client.test")
        assert not s.has_extn("starttls")  # not offered twice
        s.sendmail("alice@sender.test", ["bob@example.com", "carol@example.org"], msg)
    for rcpt in ("bob@example.com", "carol@example.org"):
        stored = srv.messages(rcpt)
        assert len(stored) == 1
        added = split_stored(stored[0], msg)
        assert b"with ESMTPS (TLSv1.3 " in added
        assert b"for <" not in added  # two recipients: no `for` clause
    assert (srv.var / "tls" / "selfsigned.crt").exists()


def test_smtputf8_address(mx):
    srv = mx()
    msg = "From: jörg@sender.test\r\nSubject: ü\r\n\r\nGrüße\r\n".encode()
    with smtplib.SMTP(srv.host, srv.port) as s:
        s.ehlo("client.test")
        s.sendmail("jörg@sender.test", ["bob@example.com"], msg,
                   mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    stored = srv.messages("bob@example.com")
    added = split_stored(stored[0], msg)
    assert b"with UTF8SMTP" in added


def test_swaks_pipeline_and_tls(mx):
    srv = mx()
    body = "Line one\nLine two\n.leading dot\n"
    out = subprocess.run(
        ["swaks", "--server", f"{srv.host}:{srv.port}", "--from", "a@sender.test",
         "--to", "bob@example.com", "--pipeline", "--tls", "--helo", "swaks.test",
         "--header", "Subject: swaks", "--body", body],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250 2.0.0 Ok: delivered as" in out.stdout
    stored = srv.messages("bob@example.com")
    assert len(stored) == 1
    assert b"Subject: swaks\r\n" in stored[0]
    # swaks dot-stuffs the leading dot; we store it unstuffed.
    assert b"\r\n.leading dot\r\n" in stored[0]
    assert b"with ESMTPS" in stored[0]


def test_command_replies(mx):
    srv = mx()
    c = Raw(srv.host, srv.port)
    c.reply()
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 503  # before EHLO
    assert c.cmd("HELO client.test") == (250, "250 mx.test")
    assert c.cmd("NOOP")[1] == "250 2.0.0 OK"
    assert c.cmd("VRFY bob")[1].startswith("252 2.5.2")
    code, text = c.cmd("HELP")
    assert code == 214 and text.startswith("214-2.0.0")
    assert c.cmd("EXPN list")[1].startswith("502 5.5.1")
    assert c.cmd("AUTH PLAIN x")[1].startswith("502 5.5.1")
    assert c.cmd("FROB")[1].startswith("500 5.5.1")
    assert c.cmd("RCPT TO:<bob@example.com>")[1].startswith("503 5.5.1")
    assert c.cmd("DATA")[1].startswith("503 5.5.1")
    assert c.cmd("MAIL FROM:<a@b.test>")[1].startswith("250 2.1.0")
    assert c.cmd("MAIL FROM:<a@b.test>")[1].startswith("503 5.5.1")  # nested
    assert c.cmd("RSET")[1] == "250 2.0.0 OK"
    assert c.cmd("MAIL FROM:<>")[1].startswith("250 2.1.0")
    assert c.cmd("DATA")[1].startswith("554 5.5.1")  # no valid recipients
    assert c.cmd("QUIT")[1].startswith("221 2.0.0")
    assert c.closed()


def test_recipient_checks(mx, tmp_path):
    users = tmp_path / "users"
    users.write_text("# valid users\nbob@example.com\nCarol@Example.ORG\n")
    srv = mx(recipients=str(users))
    c = session(srv)
    assert c.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    code, text = c.cmd("RCPT TO:<nobody@example.com>")
    assert code == 550 and text.startswith("550 5.1.1") and "MXS-SMTP-005" in text
    assert "http://127.0.0.1:8025/help/MXS-SMTP-005" in text
    code, text = c.cmd("RCPT TO:<bob@elsewhere.test>")
    assert text.startswith("550 5.7.1") and "Relay access denied" in text and "MXS-SMTP-004" in text
    assert c.cmd("RCPT TO:<carol@example.org>")[1].startswith("250 2.1.5")
    assert c.cmd("RCPT TO:<BOB@example.com>")[1].startswith("250 2.1.5")
    assert c.cmd("RCPT TO:<postmaster>")[1].startswith("250 2.1.5")
    assert c.cmd("RCPT TO:<postmaster@example.org>")[1].startswith("250 2.1.5")
    assert c.cmd("RCPT TO:<bad address>")[1].startswith("501 5.1.3")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    assert len(srv.messages("bob@example.com")) == 1
    assert len(srv.messages("carol@example.org")) == 1
    assert len(srv.messages("postmaster@example.com")) == 1
    assert len(srv.messages("postmaster@example.org")) == 1


def test_duplicate_recipient_delivered_once(mx):
    srv = mx()
    c = session(srv)
    c.cmd("MAIL FROM:<a@sender.test>")
    assert c.cmd("RCPT TO:<bob@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<Bob@Example.com>")[0] == 250
    c.cmd("DATA")
    c.send(b"Subject: dup\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    assert len(srv.messages("bob@example.com")) == 1


def test_utf8_address_needs_smtputf8(mx):
    srv = mx()
    c = session(srv)
    code, text = c.cmd("MAIL FROM:<jörg@sender.test>")
    assert code == 553 and "5.6.7" in text and "MXS-SMTP-013" in text
    assert c.cmd("MAIL FROM:<jörg@sender.test> SMTPUTF8")[0] == 250
    assert c.cmd("RCPT TO:<bøb@example.com>")[0] == 250
    c.cmd("QUIT")


def test_pipelined_commands_after_data_wait_for_its_reply(mx):
    """RFC 2920: commands after the end of DATA in the same packet run after its reply."""
    srv = mx()
    c = session(srv)
    c.send(b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: one\r\n\r\n1\r\n.\r\nMAIL FROM:<b@sender.test>\r\nRCPT TO:<bob@example.com>\r\n"
           b"DATA\r\n")
    codes = [c.reply() for _ in range(4)]
    assert codes[0][0] == 250 and "delivered as" in codes[0][1]
    assert [x[0] for x in codes[1:]] == [250, 250, 354]
    c.send(b"Subject: two\r\n\r\n2\r\n.\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    msgs = srv.messages("bob@example.com")
    assert len(msgs) == 2


def test_starttls_discards_pipelined_plaintext(mx):
    """RFC 3207 4.2 / CVE-2011-0411: commands sent with STARTTLS must not run after TLS starts."""
    srv = mx()
    c = session(srv)
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
    code, _ = c.reply()
    assert code == 220
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(c.sock, server_hostname="mx.test")
    tls.sendall(b"RCPT TO:<bob@example.com>\r\n")
    data = tls.recv(4096)
    # Had the injected MAIL run, this RCPT would be accepted; it must be "send HELO first".
    assert data.startswith(b"503 5.5.1"), data
    tls.close()
