"""The control socket of the running server and the admin CLI that talks to it:
`mxscreen status|sessions|reload|ip` against a real `mxscreen serve`."""
import json
import os
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import mxscreen_bin
from smtpclient import session

REQUEST_MAX = 64 * 1024  # CONTROL_REQUEST_MAX, src/core/limits.h
CONNECTIONS_MAX = 16     # CONTROL_CONNECTIONS_MAX
TIMEOUT_SEC = 10         # CONTROL_TIMEOUT_SEC


def ctl(*args, var=None, user=None, caps=False):
    """Runs `mxscreen ARGS` (as user, optionally with CAP_DAC_OVERRIDE kept)."""
    argv = [mxscreen_bin(), *args]
    if var is not None:
        argv += ["-o", f"var_dir={var}"]
    if user:
        pre = ["setpriv", f"--reuid={user}", f"--regid={user if user != 'nobody' else 'nogroup'}",
               "--clear-groups"]
        if caps:
            pre += ["--inh-caps=+dac_override", "--ambient-caps=+dac_override"]
        argv = pre + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def ctl_json(*args, var):
    out = ctl(*args, "--json", var=var)
    assert out.returncode in (0, 1), out
    return json.loads(out.stdout)


def raw_request(sock_path, data: bytes, timeout=TIMEOUT_SEC + 5):
    """Sends bytes on a fresh connection and returns the server's answer object."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before taking it all
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    assert got.endswith(b"\n") and got.count(b"\n") == 1, got
    return json.loads(got)


def deliver(srv, rcpt="bob@example.com"):
    c = session(srv)
    assert c.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: hello\r\nFrom: a@sender.test\r\n\r\nA short note.\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    c.close()


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_status_and_sessions_see_a_session_and_a_delivery(mx):
    srv = mx(content_filter="no")
    st = ctl_json("status", var=srv.var)
    assert st["ok"] is True and st["pid"] == srv.proc.pid
    assert st["sessions"] == 0 and st["messages_delivered"] == 0
    assert st["hostname"] == "mx.test" and st["var_dir"] == str(srv.var)
    assert st["version"] and st["started"].endswith("Z") and 0 <= st["uptime_s"] < 60

    c = session(srv, ehlo="client.example")
    st = ctl_json("status", var=srv.var)
    assert st["sessions"] == 1
    assert st["connections"]["accepted"] >= 2  # wait_port's probe, then ours
    ss = ctl_json("sessions", var=srv.var)
    assert ss["count"] == 1 and len(ss["sessions"]) == 1
    one = ss["sessions"][0]
    assert one["ip"] == "127.0.0.1" and one["state"] == "ready"
    assert one["helo"] == "client.example" and one["tls"] is False
    assert 0 <= one["age_s"] < 30 and len(one["id"]) == 12
    assert one["id"] in srv.log_text()  # the same id as the session's log lines
    time.sleep(1.0)
    later = ctl_json("sessions", var=srv.var)["sessions"][0]
    assert later["id"] == one["id"] and later["age_s"] >= one["age_s"] + 0.8
    # Text rendering: a table with a header line and the session's row.
    out = ctl("sessions", var=srv.var)
    assert out.returncode == 0, out
    lines = out.stdout.splitlines()
    header = next(line for line in lines if line.strip().startswith("id "))
    assert "state" in header and "helo" in header
    assert any(one["id"] in line and "client.example" in line for line in lines)
    c.close()

    deliver(srv)
    assert wait_for(lambda: ctl_json("status", var=srv.var)["messages_delivered"] == 1)
    st = ctl_json("status", var=srv.var)
    assert st["store"]["dropped"] == 0 and st["store"]["failed"] == 0
    assert wait_for(lambda: ctl_json("sessions", var=srv.var)["count"] == 0)
    out = ctl("status", var=srv.var)
    assert out.returncode == 0
    assert "messages_delivered: 1" in out.stdout.splitlines()
    assert "connections:" in out.stdout and "  accepted: " in out.stdout
    assert '"ok"' not in out.stdout and "ok:" not in out.stdout


def test_status_shows_the_model(mx):
    srv = mx()
    st = ctl_json("status", var=srv.var)
    assert st["content_model"].endswith("mxscreen.model")


def test_options_before_and_after_the_arguments(mx, tmp_path):
    srv = mx(content_filter="no")
    conf = tmp_path / "ctl.conf"
    conf.write_text(f"var_dir = {srv.var}\n")
    for argv in (["-c", str(conf), "status", "--json"], ["status", "--json", "-c", str(conf)],
                 ["-o", f"var_dir={srv.var}", "status", "--json"],
                 ["status", "-o", f"var_dir={srv.var}", "--json"]):
        out = ctl(*argv)
        assert out.returncode == 0, (argv, out)
        assert json.loads(out.stdout)["ok"] is True


def test_reload_through_the_socket(mx, tmp_path):
    users = tmp_path / "users"
    users.write_text("bob@example.com\n")
    conf = tmp_path / "mx.conf"
    conf.write_text(f"recipients = {users}\n")
    srv = mx(config_file=conf, content_filter="no")
    old = session(srv)
    users.write_text("bob@example.com\nnewbie@example.com\n")
    out = ctl("reload", "-c", str(conf), var=srv.var)
    assert out.returncode == 0, out
    assert "reloaded: yes" in out.stdout
    assert "event=reload ok=1" in srv.log_text()
    new = session(srv)
    new.cmd("MAIL FROM:<a@sender.test>")
    assert new.cmd("RCPT TO:<newbie@example.com>")[0] == 250
    old.cmd("MAIL FROM:<a@sender.test>")
    assert old.cmd("RCPT TO:<newbie@example.com>")[0] == 550  # its generation stays

    # A broken config: ok=false with the reason, exit 1, the old config kept.
    conf.write_text(f"recipients = {users}\nsmtp_max_recipients = lots\n")
    out = ctl("reload", var=srv.var)
    assert out.returncode == 1, out
    assert "smtp_max_recipients" in out.stderr and out.stdout == ""
    assert "event=reload_failed" in srv.log_text()
    again = session(srv)
    again.cmd("MAIL FROM:<a@sender.test>")
    assert again.cmd("RCPT TO:<newbie@example.com>")[0] == 250
    assert ctl_json("status", var=srv.var)["ok"] is True


def test_socket_is_0600_and_foreign_uids_are_refused(mx):
    # var_dir under a traversable directory, so that only the socket's own mode
    # (and then the server's peer check) stands between another uid and the server.
    base = Path(tempfile.mkdtemp(prefix="mxs-ctl-"))
    try:
        base.chmod(0o755)
        srv = mx(var_dir=str(base / "var"), content_filter="no")
        sock = base / "var" / "control.sock"
        st = os.stat(sock)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == os.geteuid()
        # The kernel refuses a uid that may not write the socket.
        out = ctl("status", var=base / "var", user="nobody")
        assert out.returncode == 1, out
        assert "permission denied" in out.stderr
        # With the file permission bypassed (CAP_DAC_OVERRIDE), the server's
        # SO_PEERCRED check still refuses: neither root nor the server's uid.
        out = ctl("status", "--json", var=base / "var", user="nobody", caps=True)
        assert out.returncode == 1, out
        ans = json.loads(out.stdout)
        assert ans["ok"] is False and "permission denied" in ans["error"]
        assert "event=control_refused uid=65534" in srv.log_text()
        assert "event=control cmd=status uid=65534" not in srv.log_text()
        assert ctl_json("status", var=base / "var")["ok"] is True
        srv.stop()
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


def test_socket_belongs_to_run_user(mx):
    """Created after the privileges are dropped: owned by run_user, and that uid
    may talk to it as well as root."""
    base = Path(tempfile.mkdtemp(prefix="mxs-ctl-"))
    try:
        base.chmod(0o755)
        var = base / "var"
        var.mkdir()
        os.chown(var, 65534, 65534)
        srv = mx(var_dir=str(var), run_user="nobody", content_filter="no")
        st = os.stat(var / "control.sock")
        assert st.st_uid == 65534 and stat.S_IMODE(st.st_mode) == 0o600
        out = ctl("status", "--json", var=var, user="nobody")
        assert out.returncode == 0, out
        assert json.loads(out.stdout)["pid"] == srv.proc.pid
        assert ctl_json("status", var=var)["ok"] is True  # root
        srv.stop()
        assert not (var / "control.sock").exists()
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


def test_bad_requests_get_an_error_and_the_server_goes_on(mx):
    srv = mx(content_filter="no")
    sock = srv.var / "control.sock"
    cases = {
        b"hello\n": "bad request",
        b"{\"cmd\":\"status\",\"args\":[1]}\n": "\"args\"",
        b"{\"cmd\":\"status\",\"as\":\"root\"}\n": "unknown member",
        b"{\"cmd\":\"nosuch\"}\n": "unknown command 'nosuch' (known: status sessions ",
        b"{\"cmd\":\"status\",\"args\":[\"x\"]}\n": "usage: status",
        b"\n": "bad request",
    }
    for data, want in cases.items():
        ans = raw_request(sock, data)
        assert ans["ok"] is False and want in ans["error"], (data, ans)
    # Oversize, with and without a newline at the end.
    for data in (b"{\"cmd\":\"" + b"x" * REQUEST_MAX + b"\"}\n", b"[" * (REQUEST_MAX + 10)):
        ans = raw_request(sock, data)
        assert ans == {"ok": False, "error": f"bad request: longer than {REQUEST_MAX} octets"}
    # A request without its newline, then EOF, is still one request.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(sock))
        s.sendall(b"{\"cmd\":\"status\"}")
        s.shutdown(socket.SHUT_WR)
        assert json.loads(s.makefile("rb").read())["ok"] is True
    # Bytes after the request line are ignored (one request per connection).
    ans = raw_request(sock, b"{\"cmd\":\"sessions\"}\n{\"cmd\":\"reload\"}\n")
    assert ans["ok"] is True and "sessions" in ans
    assert "event=control cmd=reload" not in srv.log_text()
    assert ctl_json("status", var=srv.var)["ok"] is True
    c = session(srv)
    c.cmd("QUIT")


def test_connection_cap_and_timeout(mx):
    srv = mx(content_filter="no")
    sock = str(srv.var / "control.sock")
    idle = []
    try:
        for _ in range(CONNECTIONS_MAX):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            idle.append(s)
        time.sleep(0.3)  # let the loop accept them all
        ans = raw_request(sock, b"{\"cmd\":\"status\"}\n")
        assert ans["ok"] is False and ans["error"].startswith("busy"), ans
        # An idle connection is answered "timeout" and closed after CONTROL_TIMEOUT_SEC.
        t0 = time.time()
        idle[0].settimeout(TIMEOUT_SEC + 10)
        got = idle[0].makefile("rb").read()
        assert TIMEOUT_SEC - 1 <= time.time() - t0 <= TIMEOUT_SEC + 5
        assert json.loads(got) == {"ok": False, "error": "timeout: no complete request"}
    finally:
        for s in idle:
            s.close()
    assert wait_for(lambda: ctl("status", var=srv.var).returncode == 0)


def test_not_running_exits_3(mx, tmp_path):
    var = tmp_path / "var"
    out = ctl("status", var=var)
    assert out.returncode == 3, out
    assert "not running" in out.stderr and str(var / "control.sock") in out.stderr
    assert out.stdout == "" and out.stderr.count("\n") == 1
    # A socket left by a crashed server: connection refused, also "not running"...
    var.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(var / "control.sock"))
    stale.close()
    out = ctl("sessions", var=var)
    assert out.returncode == 3 and "connection refused" in out.stderr, out
    # ...and the next server replaces it.
    srv = mx(var_dir=str(var), content_filter="no")
    assert "event=control_stale_removed" in srv.log_text()
    assert ctl("status", var=var).returncode == 0
    srv.stop()
    assert not (var / "control.sock").exists()
    out = ctl("reload", var=var)
    assert out.returncode == 3 and "not running" in out.stderr


def test_a_crashed_server_leaves_a_socket_the_next_one_replaces(mx, tmp_path):
    srv = mx(content_filter="no")
    srv.kill9()
    assert (srv.var / "control.sock").exists()
    assert ctl("status", var=srv.var).returncode == 3
    again = mx(var_dir=str(srv.var), content_filter="no")
    assert ctl_json("status", var=srv.var)["pid"] == again.proc.pid


def test_disabled_and_usage_errors(mx):
    srv = mx(control_socket="", content_filter="no")
    assert not (srv.var / "control.sock").exists()
    out = ctl("status", "-o", "control_socket=", var=srv.var)
    assert out.returncode == 2 and "disabled" in out.stderr, out
    for argv in (["status", "extra"], ["sessions", "--reason", "x"], ["reload", "now"],
                 ["ip"], ["ip", "frob", "192.0.2.1"], ["ip", "show"],
                 ["ip", "show", "192.0.2.1", "192.0.2.2"], ["ip", "show", "192.0.2.1", "--reason", "x"],
                 ["ip", "list", "--reason", "x"], ["status", "--bogus"]):
        out = ctl(*argv, var=srv.var)
        assert out.returncode == 2, (argv, out)
        assert "usage: mxscreen" in out.stderr, (argv, out)


def test_ip_is_forwarded_and_rendered(mx):
    """`mxscreen ip ...` goes to the server as cmd "ip" with its words as args
    (--reason TEXT last); the reputation module answers, the CLI renders it."""
    srv = mx(content_filter="no")
    out = ctl("ip", "block", "192.0.2.0/24", "--reason", "spam run", "--json", var=srv.var)
    assert out.returncode == 0, out
    ans = json.loads(out.stdout)
    assert ans["ok"] is True and ans["cidr"] == "192.0.2.0/24"
    assert "event=control cmd=ip uid=0 ok=1" in srv.log_text()
    # Options before the words work the same.
    lst = ctl_json("ip", "list", var=srv.var)
    assert {"cidr": "192.0.2.0/24", "action": "block", "source": "operator",
            "reason": "spam run"} in lst["entries"]
    out = ctl("ip", "list", var=srv.var)
    lines = out.stdout.splitlines()
    assert lines[0] == "entries:" and lines[1].split() == ["cidr", "action", "source", "reason"]
    assert lines[2].split(None, 3) == ["192.0.2.0/24", "block", "operator", "spam run"]
    out = ctl("ip", "show", "192.0.2.7", var=srv.var)
    assert out.returncode == 0, out
    text = out.stdout.splitlines()
    assert "ip: 192.0.2.7" in text and "  reason: spam run" in text
    assert "  - kind: ip" in text and "    key: 192.0.2.7" in text  # a list of objects
    assert not any(line != line.rstrip() for line in text)
    # An error from the handler: exit 1, its message on stderr, nothing on stdout.
    out = ctl("ip", "show", "not-an-ip", var=srv.var)
    assert out.returncode == 1 and out.stdout == "", out
    assert out.stderr.startswith("mxscreen: ip: ") and out.stderr.count("\n") == 1
    out = ctl("ip", "unblock", "192.0.2.0/24", var=srv.var)
    assert out.returncode == 0 and "removed: yes" in out.stdout, out
    assert ctl_json("ip", "list", var=srv.var)["entries"] == []
