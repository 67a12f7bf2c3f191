"""Operations: config check/dump, -o overrides, SIGHUP reload, SIGTERM drain, 451 on disk failure."""
import signal
import smtplib
import subprocess
import time

from conftest import free_port, mxscreen_bin
from dnsserver import DNSServer
from smtpclient import Raw, session


def run(*args):
    return subprocess.run([mxscreen_bin(), *args], capture_output=True, text=True, timeout=30)


def test_config_check_and_dump(tmp_path):
    conf = tmp_path / "mx.conf"
    conf.write_text("# test\nhostname = mx.example.net\nmessage_size_limit = 10m\n"
                    "smtp_command_timeout = 2m\n\nlocal_domains = a.test, b.test\n")
    out = run("config", "check", "-c", str(conf))
    assert out.returncode == 0 and "config ok" in out.stdout
    out = run("config", "dump", "-c", str(conf), "-o", "smtp_max_recipients=7")
    assert out.returncode == 0
    dump = dict(line.split(" = ", 1) for line in out.stdout.splitlines() if " = " in line)
    assert dump["hostname"] == "mx.example.net"
    assert dump["message_size_limit"] == str(10 * 1024 * 1024)
    assert dump["smtp_command_timeout"] == "120s"
    assert dump["smtp_max_recipients"] == "7"
    assert dump["local_domains"] == "a.test, b.test"
    # The dump is itself a valid config file that gives the same dump.
    (tmp_path / "dump.conf").write_text(out.stdout)
    again = run("config", "dump", "-c", str(tmp_path / "dump.conf"))
    assert again.stdout == out.stdout


def test_config_check_errors(tmp_path):
    bad = tmp_path / "bad.conf"
    cases = {
        "nosuch = 1\n": "unknown setting 'nosuch'",
        "message_size_limit = lots\n": "message_size_limit",
        "smtp_bare_newline = sometimes\n": "not one of reject|normalize",
        "this line has no equals\n": "expected 'name = value'",
        "tls_cert = /nonexistent/cert.pem\ntls_key = /nonexistent/key.pem\n": "cannot load certificate",
        "recipients = /nonexistent/users\n": "recipients",
    }
    for text, want in cases.items():
        bad.write_text(text)
        out = run("config", "check", "-c", str(bad))
        assert out.returncode == 2, text
        assert want in out.stderr, (text, out.stderr)
        assert out.stderr.count("\n") == 1  # one clear line
    out = run("config", "check", "-o", "smtp_max_recipients=0")
    assert out.returncode == 2 and "out of range" in out.stderr
    out = run("config", "check", "-c", str(tmp_path / "missing.conf"))
    assert out.returncode == 2 and "No such file" in out.stderr


def test_config_check_real_cert(tmp_path):
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=mx.test"],
                   check=True, capture_output=True)
    out = run("config", "check", "-o", f"tls_cert={crt}", "-o", f"tls_key={key}")
    assert out.returncode == 0, out.stderr
    other = tmp_path / "k2.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(other), "2048"], check=True, capture_output=True)
    out = run("config", "check", "-o", f"tls_cert={crt}", "-o", f"tls_key={other}")
    assert out.returncode == 2 and "does not match" in out.stderr


def test_ipv6_listener(mx):
    port6 = free_port("::1")
    srv2 = mx(smtp_listen=f"[::1]:{port6}, 127.0.0.1:{port6}")
    for host in ("::1", "127.0.0.1"):
        with smtplib.SMTP(host, port6) as s:
            assert s.ehlo("v6.test")[0] == 250
            assert s.sendmail("a@sender.test", ["bob@example.com"], b"Subject: v6\r\n\r\nx\r\n") == {}
    stored = srv2.messages("bob@example.com")
    assert len(stored) == 2
    assert any(b"[::1]" in m for m in stored)


def test_sighup_reloads_recipients_without_dropping_sessions(mx, tmp_path):
    users = tmp_path / "users"
    users.write_text("bob@example.com\n")
    srv = mx(recipients=str(users))
    old = session(srv)
    assert old.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    users.write_text("bob@example.com\nnewbie@example.com\n")
    srv.signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "event=reload ok=1" not in srv.log_text() and time.time() < deadline:
        time.sleep(0.05)
    assert "event=reload ok=1" in srv.log_text()
    new = session(srv)
    new.cmd("MAIL FROM:<a@sender.test>")
    assert new.cmd("RCPT TO:<newbie@example.com>")[0] == 250
    # The old session keeps the settings it started with, and is not dropped.
    assert old.cmd("RCPT TO:<newbie@example.com>")[0] == 550
    assert old.cmd("RCPT TO:<bob@example.com>")[0] == 250
    assert old.cmd("DATA")[0] == 354
    old.send(b"Subject: across reload\r\n\r\nx\r\n.\r\n")
    assert old.reply()[0] == 250


def wait_log(srv, text, timeout=10):
    deadline = time.time() + timeout
    while text not in srv.log_text() and time.time() < deadline:
        time.sleep(0.05)
    assert text in srv.log_text()


def test_sighup_switches_dns_servers_for_new_sessions(mx, tmp_path):
    """A changed dns_servers takes effect on reload: new sessions ask the new
    server; a session from before the reload finishes on the old resolver."""
    fail_zone = {"sender.test": [("TXT", "v=spf1 ip4:192.0.2.1 -all")]}
    with DNSServer({}) as empty, DNSServer(fail_zone) as strict:
        conf = tmp_path / "mx.conf"
        conf.write_text(f"dns_servers = {empty.address}\n")
        srv = mx(config_file=conf, dns_servers=None)
        old = session(srv)
        conf.write_text(f"dns_servers = {strict.address}\n")
        srv.signal(signal.SIGHUP)
        wait_log(srv, "event=reload ok=1")
        assert f'event=dns_reconfigured servers="{strict.address}"' in srv.log_text()
        new = session(srv)
        code, text = new.cmd("MAIL FROM:<a@sender.test>")
        assert code == 550 and "5.7.23" in text, text
        code, text = old.cmd("MAIL FROM:<a@sender.test>")
        assert code == 250, text  # SPF none on the old generation's (empty) server
        # An unchanged dns_servers keeps the resolver (and its cache).
        srv.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while srv.log_text().count("event=reload ok=1") < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert srv.log_text().count("event=reload ok=1") == 2
        assert srv.log_text().count("event=dns_reconfigured") == 1
        old.cmd("QUIT")
        new.cmd("QUIT")


def test_sighup_with_broken_config_keeps_running(mx, tmp_path):
    conf = tmp_path / "mx.conf"
    conf.write_text("smtp_max_recipients = 5\n")
    srv = mx(config_file=conf)
    conf.write_text("smtp_max_recipients = banana\n")
    srv.signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "event=reload_failed" not in srv.log_text() and time.time() < deadline:
        time.sleep(0.05)
    assert "event=reload_failed" in srv.log_text()
    c = session(srv)
    assert c.cmd("NOOP")[0] == 250


def test_sigterm_lets_session_finish_then_exits(mx):
    srv = mx(shutdown_timeout=10)
    c = session(srv)
    assert c.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    srv.signal(signal.SIGTERM)
    time.sleep(0.3)
    # New connections are no longer accepted...
    try:
        r = Raw(srv.host, srv.port, timeout=2)
        code, _ = r.reply()
        assert code == 421
    except (ConnectionError, OSError):
        pass
    # ...but the running session completes its message.
    assert c.cmd("RCPT TO:<bob@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: during shutdown\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("QUIT")[0] == 221
    assert srv.proc.wait(timeout=10) == 0
    assert len(srv.messages("bob@example.com")) == 1


def test_sigterm_deadline_closes_idle_sessions(mx):
    srv = mx(shutdown_timeout=1)
    c = session(srv)
    srv.signal(signal.SIGTERM)
    code, text = c.reply()
    assert code == 421 and text.startswith("421 4.3.2") and "MXS-SMTP-014" in text
    assert srv.proc.wait(timeout=10) == 0


def test_disk_failure_is_451_and_no_partial_copy(mx):
    srv = mx()
    # A file where example.org's mail directory should be: delivery there must fail.
    (srv.var / "mail").mkdir(parents=True, exist_ok=True)
    (srv.var / "mail" / "example.org").write_text("not a directory")
    c = session(srv)
    c.cmd("MAIL FROM:<a@sender.test>")
    assert c.cmd("RCPT TO:<bob@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<carol@example.org>")[0] == 250
    c.cmd("DATA")
    c.send(b"Subject: fails\r\n\r\nx\r\n.\r\n")
    code, text = c.reply()
    assert code == 451 and text.startswith("451 4.3.0") and "MXS-SMTP-012" in text
    assert srv.messages("bob@example.com") == []  # no partial delivery
    assert list((srv.mailbox("bob@example.com") / "tmp").iterdir()) == []
    assert "event=delivery_failed" in srv.log_text()
    # The session goes on and a good recipient alone works.
    c.cmd("MAIL FROM:<a@sender.test>")
    c.cmd("RCPT TO:<bob@example.com>")
    c.cmd("DATA")
    c.send(b"Subject: works\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250


def test_second_server_on_same_var_dir_refuses(mx):
    srv = mx()
    out = subprocess.run([mxscreen_bin(), "serve", "-o", f"var_dir={srv.var}",
                          "-o", "smtp_listen=127.0.0.1:1"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0 and "another mxscreen serves this var_dir" in out.stderr


def test_generated_docs_are_current():
    """docs/configuration.md, docs/reasons.md and docs/symbols.md are generated; they must
    match the code."""
    from conftest import ROOT
    assert run("config", "doc").stdout == (ROOT / "docs" / "configuration.md").read_text(), \
        "run `make docs`"
    assert run("reasons").stdout == (ROOT / "docs" / "reasons.md").read_text(), "run `make docs`"
    assert run("symbols").stdout == (ROOT / "docs" / "symbols.md").read_text(), "run `make docs`"


def _peer_cert_cn(srv):
    import ssl as _ssl
    ctx = _ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = _ssl.CERT_NONE
    with smtplib.SMTP(srv.host, srv.port) as s:
        s.ehlo("client.test")
        s.starttls(context=ctx)
        der = s.sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                         capture_output=True, check=True)
    return out.stdout.decode()


def test_sighup_reloads_certificate(mx, tmp_path):
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"

    def make(cn):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(crt),
                        "-days", "2", "-subj", f"/CN={cn}"], check=True, capture_output=True)

    make("first.test")
    srv = mx(tls_cert=str(crt), tls_key=str(key))
    assert "first.test" in _peer_cert_cn(srv)
    make("second.test")
    srv.signal(signal.SIGHUP)
    deadline = time.time() + 10
    while srv.log_text().count("event=reload ok=1") < 1 and time.time() < deadline:
        time.sleep(0.05)
    assert "second.test" in _peer_cert_cn(srv)
