"""Shared fixtures for the integration tests.

Every test starts the real `mxscreen serve` (the binary named by $MXSCREEN,
normally the ASan+UBSan check build) on free loopback ports with a temporary
var_dir, and talks to it with real clients. A server that cannot start fails
the test; nothing is skipped.
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_empty_dns = None


def empty_dns_address():
    """A loopback DNS server that knows no name (NXDOMAIN for all): the default
    resolver of every test server, so SPF, Sender ID and reverse DNS never touch
    live DNS. Tests that need zone data pass their own dns_servers."""
    global _empty_dns
    if _empty_dns is None:
        from dnsserver import DNSServer
        _empty_dns = DNSServer({}).start()
    return _empty_dns.address


def mxscreen_bin():
    path = os.environ.get("MXSCREEN") or str(ROOT / "build-check" / "mxscreen")
    if not os.access(path, os.X_OK):
        pytest.fail(f"mxscreen binary not found at {path}; run `make check`")
    return path


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=15.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
                s.recv(512)  # banner
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Server:
    """A running `mxscreen serve` with its own var_dir and log."""

    def __init__(self, tmp: Path, overrides: dict, config_file=None):
        self.tmp = tmp
        self.var = tmp / "var"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.settings = {
            "var_dir": str(self.var),
            "smtp_listen": f"{self.host}:{self.port}",
            "hostname": "mx.test",
            "local_domains": "example.com, example.org",
            "portal_url": "http://127.0.0.1:8025",
            "dns_servers": empty_dns_address(),
            # Every test client is a stranger to a fresh server, whose warm-up allowance
            # (rate_limit_new, 60 recipients/hour) would limit the load tests; the tests of
            # sending limits set these themselves.
            "rate_limit_new": 1000000,
            "rate_limit_good": 1000000,
        }
        self.settings.update({k: str(v) for k, v in overrides.items()})
        # None: do not pass the setting with -o (the config file decides).
        for k in [k for k, v in overrides.items() if v is None]:
            del self.settings[k]
        first = self.settings["smtp_listen"].split(",")[0].strip()
        host, port = first.rsplit(":", 1)
        self.host, self.port = host.strip("[]"), int(port)
        self.config_file = config_file
        self.log_path = tmp / f"mxscreen-{self.port}.log"
        self.proc = None

    def argv(self):
        args = [mxscreen_bin(), "serve"]
        if self.config_file:
            args += ["-c", str(self.config_file)]
        for k, v in self.settings.items():
            args += ["-o", f"{k}={v}"]
        return args

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=self.log)
        if not wait_port(self.host, self.port, proc=self.proc):
            self.stop()
            pytest.fail(f"mxscreen did not start; log:\n{self.log_text()}")
        return self

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        return self.proc.returncode if self.proc else None

    def mailbox(self, addr, junk=False):
        local, domain = addr.rsplit("@", 1)
        box = self.var / "mail" / domain.lower() / local.lower()
        return box / ".Junk" if junk else box

    def messages(self, addr, junk=False):
        new = self.mailbox(addr, junk) / "new"
        if not new.is_dir():
            return []
        return [p.read_bytes() for p in sorted(new.iterdir())]


@pytest.fixture
def mx(tmp_path):
    """Factory: mx(**settings) starts a server; all are stopped at teardown.

    Teardown also fails the test if the server did not exit cleanly (for the
    sanitizer build, a leak or UB report makes the exit code non-zero).
    """
    servers = []

    def start(config_file=None, **overrides):
        srv = Server(tmp_path / f"s{len(servers)}", overrides, config_file)
        srv.tmp.mkdir(parents=True, exist_ok=True)
        servers.append(srv)
        return srv.start()

    yield start
    bad = []
    for srv in servers:
        killed = srv.proc is not None and srv.proc.returncode == -9
        rc = srv.stop()
        if not killed and rc not in (0, None):
            bad.append((srv.port, rc, srv.log_text()[-4000:]))
    if bad:
        pytest.fail(f"mxscreen exited badly: {bad}")


def split_stored(stored: bytes, original: bytes):
    """Checks stored = our trace headers + original, byte for byte; returns the headers."""
    assert stored.endswith(original), "stored message does not end with the original bytes"
    added = stored[: len(stored) - len(original)]
    names = [line.split(b":", 1)[0] for line in added.split(b"\r\n") if line and line[:1] not in (b" ", b"\t")]
    allowed = {b"Return-Path", b"Received", b"X-Mxscreen-Id", b"Authentication-Results",
               b"Received-SPF", b"X-Mxscreen-SCL", b"X-Mxscreen-Reasons", b"X-Mxscreen-Verdict",
               b"X-Mxscreen-Symbols"}
    assert set(names) <= allowed, f"unexpected added headers: {names}"
    return added
