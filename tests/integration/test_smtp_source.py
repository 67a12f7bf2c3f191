"""Postfix smtp-source against the real server: bulk delivery and crash consistency."""
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from conftest import split_stored

SMTP_SOURCE = "/usr/sbin/smtp-source"


def message_file(tmp: Path, size=10 * 1024):
    lines = ["From: Load Test <load@sender.test>", "To: bob@example.com", "Subject: load test",
             "Message-ID: <load@sender.test>", "", ".a line that starts with a dot"]
    i = 0
    while sum(len(l) + 2 for l in lines) < size:
        lines.append(f"line {i:05d} " + "abcdefghij" * 6)
        i += 1
    path = tmp / "message.txt"
    path.write_text("\n".join(lines) + "\n")
    # smtp-source sends every line with CRLF (dot-stuffed) and one empty line before ".".
    expected = ("\r\n".join(lines) + "\r\n").encode() + b"\r\n"
    return path, expected


def all_stored(srv, rcpt):
    new = srv.mailbox(rcpt) / "new"
    return {p.name: p.read_bytes() for p in new.iterdir()} if new.is_dir() else {}


def test_smtp_source_1000_messages_20_connections(mx, tmp_path):
    assert os.access(SMTP_SOURCE, os.X_OK), "postfix smtp-source missing (scripts/install-deps)"
    srv = mx()
    path, expected = message_file(tmp_path)
    out = subprocess.run([SMTP_SOURCE, "-d", "-s", "20", "-m", "1000", "-F", str(path),
                          "-f", "load@sender.test", "-t", "bob@example.com",
                          f"{srv.host}:{srv.port}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    stored = all_stored(srv, "bob@example.com")
    assert len(stored) == 1000
    ids = set()
    for data in stored.values():
        added = split_stored(data, expected)
        ids.add(re.search(rb"X-Mxscreen-Id: (\S+)", added).group(1))
    assert len(ids) == 1000
    tmp_left = list((srv.mailbox("bob@example.com") / "tmp").iterdir())
    assert tmp_left == []


def test_kill9_during_load_loses_nothing_acknowledged(mx, tmp_path):
    """kill -9 while smtp-source sends 2,000 messages: every 250 seen is complete in new/."""
    srv = mx()
    path, expected = message_file(tmp_path, size=4096)
    proc = subprocess.Popen([SMTP_SOURCE, "-v", "-d", "-s", "20", "-m", "2000", "-F", str(path),
                             "-f", "load@sender.test", "-t", "bob@example.com",
                             f"{srv.host}:{srv.port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    acked = []
    reader = threading.Thread(target=lambda: acked.extend(
        m.group(1) for line in proc.stderr
        for m in [re.search(r"<<< 250 2\.0\.0 Ok: delivered as (\S+)", line)] if m))
    reader.start()
    # Let a good number of messages through, then kill the server mid-flight.
    new = srv.mailbox("bob@example.com") / "new"
    deadline = time.time() + 120
    while time.time() < deadline:
        if new.is_dir() and len(os.listdir(new)) >= 400:
            break
        time.sleep(0.05)
    srv.kill9()
    proc.wait(timeout=120)
    reader.join(timeout=60)
    assert len(acked) >= 100, f"only {len(acked)} acknowledged before the kill"
    assert len(acked) < 2000, "the server was killed too late to test anything"

    # Restart on the same var_dir: tmp/ leftovers of the crash are removed.
    srv.start()
    stored = all_stored(srv, "bob@example.com")
    by_id = {}
    for data in stored.values():
        added = split_stored(data, expected)  # complete, byte for byte
        by_id[re.search(rb"X-Mxscreen-Id: (\S+)", added).group(1).decode()] = data
    missing = [i for i in acked if i not in by_id]
    assert missing == [], f"{len(missing)} acknowledged messages missing"
    assert [p for p in (srv.mailbox("bob@example.com") / "tmp").iterdir()] == []
    # Stored but not acknowledged is possible only for messages in flight at the kill
    # (at most one per connection): the sender retries them, a duplicate at worst.
    assert len(acked) <= len(stored) <= len(acked) + 20
