"""DMARC aggregate data (RFC 7489 7.2, Appendix C) recorded by the real server in its store.

Real SMTP sessions from different 127.0.0.x addresses against `mxscreen serve` with a loopback
DNS server publishing SPF, DKIM keys and DMARC policies. The stored rows are read back with
`mxscreen dmarc aggregate --json`, the Appendix C XML of `mxscreen dmarc report` and Python's
sqlite3 directly; restarts, SIGTERM drain,
kill -9 and a full queue are covered too.
"""
import datetime
import json
import re
import signal
import sqlite3
import subprocess
import time
from xml.etree import ElementTree

import dkim
import pytest

from authlib import dkimpy_private, dkimpy_sign, dns_zone, record, rsa_key, use_dns
from conftest import mxscreen_bin
from dnsserver import DNSServer
from smtpclient import session


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("aggkeys")
    keys = {"dkim": rsa_key(d / "dkim.pem"), "arc": rsa_key(d / "arc.pem")}
    zone = {
        "example.com": "v=spf1 ip4:127.0.0.0/8 -all",
        "other.test": "v=spf1 ip4:127.0.0.0/8 -all",
        "list.test": "v=spf1 ip4:127.0.0.0/8 -all",
        "s._domainkey.example.com": record(keys["dkim"]),
        "arc._domainkey.list.test": record(keys["arc"]),
        "_dmarc.example.com": "v=DMARC1; p=reject; rua=mailto:agg@example.com",
        "_dmarc.reject.test": "v=DMARC1; p=reject; adkim=s; rua=mailto:dmarc@reject.test",
        "_dmarc.quar.test": "v=DMARC1; p=quarantine; fo=1",
        "_dmarc.half.test": "v=DMARC1; p=reject; pct=0",
    }
    with DNSServer(dns_zone(zone)) as srv:
        use_dns(srv.address)
        yield keys, srv


def message(from_domain, subject="aggregate"):
    return (f"From: Someone <someone@{from_domain}>\r\nTo: user@example.org\r\n"
            f"Subject: {subject}\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
            f"Message-ID: <{subject}@{from_domain}>\r\n\r\nbody\r\n").encode()


def send(server, source, msg, mail_from):
    c = session(server, source=source, ehlo="mail.example.com")
    assert c.cmd(f"MAIL FROM:<{mail_from}>")[0] == 250
    assert c.cmd("RCPT TO:<user@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(msg + b".\r\n")
    reply = c.reply()
    c.cmd("QUIT")
    c.close()
    return reply


def start(mx, srv, var=None, **settings):
    extra = {"var_dir": str(var)} if var else {}
    server = mx(dns_servers=srv.address, dns_timeout_ms="500", dns_tries="1", **extra, **settings)
    if var:
        server.var = var  # shared by the servers of one test (restart)
    return server


def aggregate(server, *args):
    p = subprocess.run([mxscreen_bin(), "dmarc", "aggregate", "-o", f"var_dir={server.var}",
                        "--json", *args], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)


def report(server, domain, day):
    p = subprocess.run([mxscreen_bin(), "-o", f"var_dir={server.var}", "-o", "hostname=mx.test",
                        "dmarc", "report", "--domain", domain, "--day", day],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ElementTree.fromstring(p.stdout)


def db_rows(server):
    with sqlite3.connect(server.var / "mxscreen.db") as db:
        return db.execute("SELECT source_ip, domain, header_from, envelope_from, disposition,"
                          " dkim, spf, reason, comment, count FROM dmarc_row"
                          " ORDER BY source_ip, id").fetchall()


def wait_rows(server, n, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = aggregate(server)["rows"]
        if sum(r["count"] for r in rows) >= n:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"store has {aggregate(server)} after {timeout}s, wanted {n} messages")


def by_ip(rows):
    out = {}
    for r in rows:
        out.setdefault(r["source_ip"], []).append(r)
    return out


def test_rows_from_real_sessions(mx, env, tmp_path):
    keys, srv = env
    var = tmp_path / "var"
    server = start(mx, srv, var, store_flush_ms="50", arc_trusted_sealers="list.test")
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")

    # Aligned pass (DKIM and SPF), twice from the same source: one row, count 2.
    signed = dkimpy_sign(message("example.com"), "s", "example.com", keys["dkim"])
    for _ in range(2):
        code, text = send(server, "127.0.0.2", signed, "bounce@example.com")
        assert code == 250, text
    # p=reject, nothing aligned: refused with 550, recorded with disposition reject.
    code, text = send(server, "127.0.0.3", message("reject.test"), "x@other.test")
    assert code == 550 and "MXS-DMARC-001" in text, text
    # p=quarantine: delivered to Junk, recorded with disposition quarantine.
    code, text = send(server, "127.0.0.4", message("quar.test"), "x@other.test")
    assert code == 250, text
    assert len(server.messages("user@example.org", junk=True)) == 1
    # p=reject pct=0: always sampled out, quarantined instead.
    code, text = send(server, "127.0.0.5", message("half.test"), "x@other.test")
    assert code == 250, text
    assert len(server.messages("user@example.org", junk=True)) == 2
    # p=reject overridden by a trusted ARC sealer (a mailing list): delivered to the Inbox.
    listed = b"Authentication-Results: list.test; spf=pass smtp.mailfrom=reject.test\r\n" + \
        message("reject.test", "[list] aggregate")
    listed = b"".join(dkim.arc_sign(listed, b"arc", b"list.test", dkimpy_private(keys["arc"]),
                                    b"list.test")) + listed
    code, text = send(server, "127.0.0.6", listed, "bounce@list.test")
    assert code == 250, text
    assert len(server.messages("user@example.org")) == 3
    # No DMARC record for the From domain: nothing to report, nothing recorded.
    code, text = send(server, "127.0.0.7", message("nodmarc.test"), "x@other.test")
    assert code == 250, text

    rows = by_ip(wait_rows(server, 6))
    assert set(rows) == {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"}
    assert all(len(v) == 1 for v in rows.values()), rows
    ok = rows["127.0.0.2"][0]
    assert ok == {"day": today, "domain": "example.com", "source_ip": "127.0.0.2", "count": 2,
                  "header_from": "example.com", "envelope_from": "example.com",
                  "disposition": "none", "dkim": "pass", "spf": "pass", "reason": "",
                  "comment": "", "auth_results": {
                      "dkim": [{"domain": "example.com", "selector": "s", "result": "pass"}],
                      "spf": {"domain": "example.com", "scope": "mfrom", "result": "pass"}}}
    rej = rows["127.0.0.3"][0]
    assert (rej["domain"], rej["disposition"], rej["dkim"], rej["spf"], rej["count"]) == \
        ("reject.test", "reject", "fail", "fail", 1)
    assert rej["envelope_from"] == "other.test" and rej["reason"] == ""
    assert rej["auth_results"] == {"dkim": [], "spf": {"domain": "other.test", "scope": "mfrom",
                                                       "result": "pass"}}
    quar = rows["127.0.0.4"][0]
    assert (quar["domain"], quar["disposition"], quar["reason"]) == ("quar.test", "quarantine", "")
    half = rows["127.0.0.5"][0]
    assert (half["domain"], half["disposition"], half["reason"]) == \
        ("half.test", "quarantine", "sampled_out")
    arc = rows["127.0.0.6"][0]
    assert (arc["domain"], arc["disposition"], arc["reason"], arc["comment"]) == \
        ("reject.test", "none", "trusted_forwarder", "arc=pass sealer=list.test")
    assert arc["envelope_from"] == "list.test"

    pols = {p["domain"]: p for p in aggregate(server)["policies"]}
    assert set(pols) == {"example.com", "reject.test", "quar.test", "half.test"}
    assert pols["reject.test"] == {"day": today, "domain": "reject.test", "adkim": "s",
                                   "aspf": "r", "p": "reject", "sp": "reject", "pct": 100,
                                   "fo": "0", "rua": "mailto:dmarc@reject.test"}
    assert pols["half.test"]["pct"] == 0 and pols["quar.test"]["fo"] == "1"

    # Filters, and the same data read with sqlite3 directly.
    only = aggregate(server, "--domain", "reject.test", "--day", today)
    assert sorted(r["source_ip"] for r in only["rows"]) == ["127.0.0.3", "127.0.0.6"]
    assert [p["domain"] for p in only["policies"]] == ["reject.test"]
    assert aggregate(server, "--day", "2000-01-01") == {"schema": 2, "policies": [], "rows": []}
    direct = db_rows(server)
    assert direct[0] == ("127.0.0.2", "example.com", "example.com", "example.com", "none",
                         "pass", "pass", "", "", 2)
    assert [(r[0], r[4], r[9]) for r in direct] == [
        ("127.0.0.2", "none", 2), ("127.0.0.3", "reject", 1), ("127.0.0.4", "quarantine", 1),
        ("127.0.0.5", "quarantine", 1), ("127.0.0.6", "none", 1)]

    # The RFC 7489 Appendix C report of reject.test for today.
    root = report(server, "reject.test", today)
    assert root.tag == "feedback" and root.findtext("version") == "1.0"
    meta = root.find("report_metadata")
    assert meta.findtext("org_name") == "mx.test"
    assert meta.findtext("email") == "postmaster@mx.test"
    begin = int(datetime.datetime.strptime(today, "%Y-%m-%d").replace(
        tzinfo=datetime.timezone.utc).timestamp())
    assert (int(meta.findtext("date_range/begin")), int(meta.findtext("date_range/end"))) == \
        (begin, begin + 86399)
    pp = root.find("policy_published")
    assert [(e.tag, e.text) for e in pp] == [("domain", "reject.test"), ("adkim", "s"),
                                             ("aspf", "r"), ("p", "reject"), ("sp", "reject"),
                                             ("pct", "100"), ("fo", "0")]
    recs = {r.findtext("row/source_ip"): r for r in root.findall("record")}
    assert set(recs) == {"127.0.0.3", "127.0.0.6"}
    r3 = recs["127.0.0.3"]
    assert [(e.tag, e.text) for e in r3.find("row/policy_evaluated")] == [
        ("disposition", "reject"), ("dkim", "fail"), ("spf", "fail")]
    assert r3.findtext("row/count") == "1"
    assert [(e.tag, e.text) for e in r3.find("identifiers")] == [
        ("envelope_from", "other.test"), ("header_from", "reject.test")]
    assert [(e.tag, e.text) for e in r3.find("auth_results/spf")] == [
        ("domain", "other.test"), ("scope", "mfrom"), ("result", "pass")]
    r6 = recs["127.0.0.6"].find("row/policy_evaluated")
    assert (r6.findtext("disposition"), r6.findtext("reason/type"),
            r6.findtext("reason/comment")) == ("none", "trusted_forwarder",
                                               "arc=pass sealer=list.test")
    ok = report(server, "example.com", today).find("record/auth_results/dkim")
    assert [(e.tag, e.text) for e in ok] == [("domain", "example.com"), ("selector", "s"),
                                             ("result", "pass")]
    p = subprocess.run([mxscreen_bin(), "-o", f"var_dir={server.var}", "dmarc", "report",
                        "--domain", "nodmarc.test", "--day", today], capture_output=True)
    assert p.returncode == 1 and b"nothing recorded" in p.stderr and p.stdout == b""

    # Restarted on the same var_dir: the data is still there and counts go on.
    assert server.stop() == 0
    again = start(mx, srv, var, store_flush_ms="50")
    assert by_ip(aggregate(again)["rows"])["127.0.0.2"][0]["count"] == 2
    code, _ = send(again, "127.0.0.2", signed, "bounce@example.com")
    assert code == 250
    deadline = time.time() + 10
    while by_ip(aggregate(again)["rows"])["127.0.0.2"][0]["count"] != 3:
        assert time.time() < deadline, aggregate(again)
        time.sleep(0.05)


def test_text_output_and_usage(mx, env):
    _, srv = env
    server = start(mx, srv, store_flush_ms="50")
    assert send(server, "127.0.0.3", message("reject.test"), "x@other.test")[0] == 550
    wait_rows(server, 1)
    p = subprocess.run([mxscreen_bin(), "dmarc", "aggregate", "-o", f"var_dir={server.var}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("policy day=") and " domain=reject.test adkim=s " in lines[0]
    assert lines[1].startswith("row day=") and " source_ip=127.0.0.3 count=1 " in lines[1]
    assert " disposition=reject dkim=fail spf=fail reason=- comment=- " in lines[1]
    assert lines[1].endswith(" auth_spf=other.test/mfrom/pass")
    for bad in (["--day", "2026-02-30"], ["--day", "yesterday"], ["--bogus"]):
        p = subprocess.run([mxscreen_bin(), "dmarc", "aggregate", "-o",
                            f"var_dir={server.var}", *bad], capture_output=True, timeout=30)
        assert p.returncode == 2, bad
    p = subprocess.run([mxscreen_bin(), "dmarc", "aggregate", "-o",
                        f"var_dir={server.tmp}/none"], capture_output=True, timeout=30)
    assert p.returncode == 2 and b"no store" in p.stderr


def test_sigterm_drain_flushes(mx, env):
    """With a flush interval far away, only the SIGTERM drain writes the rows."""
    _, srv = env
    server = start(mx, srv, store_flush_ms="60000", store_batch_max="1000")
    for ip in ("127.0.0.3", "127.0.0.8"):
        assert send(server, ip, message("reject.test"), "x@other.test")[0] == 550
    time.sleep(0.3)
    assert db_rows(server) == []  # still queued
    server.signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0
    assert [(r[0], r[4], r[9]) for r in db_rows(server)] == [
        ("127.0.0.3", "reject", 1), ("127.0.0.8", "reject", 1)]
    # the two DMARC rows and the reputation records (statistics, snapshots) of the session,
    # all in the one drain transaction
    m = re.search(r"event=store_close written=(\d+) batches=1 dropped=0 failed=0", server.log_text())
    assert m and int(m.group(1)) >= 2, server.log_text()


def test_kill9_keeps_flushed_rows(mx, env):
    _, srv = env
    server = start(mx, srv, store_flush_ms="50")
    assert send(server, "127.0.0.3", message("reject.test"), "x@other.test")[0] == 550
    wait_rows(server, 1)
    server.kill9()
    assert [(r[0], r[9]) for r in db_rows(server)] == [("127.0.0.3", 1)]


def test_queue_full_is_counted_and_logged(mx, env):
    _, srv = env
    server = start(mx, srv, store_flush_ms="60000", store_batch_max="100", store_queue_max="1")
    for ip in ("127.0.0.3", "127.0.0.9"):
        assert send(server, ip, message("reject.test"), "x@other.test")[0] == 550
    assert server.stop() == 0
    log = server.log_text()
    assert "event=store_queue_full" in log and "record=dmarc dropped_total=1" in log
    # the second DMARC row was dropped, and so were the reputation records queued at shutdown
    m = re.search(r"event=store_close written=1 batches=1 dropped=(\d+) failed=0", log)
    assert m and int(m.group(1)) >= 1, log
    assert [r[0] for r in db_rows(server)] == ["127.0.0.3"]


def test_several_author_domains(mx, env):
    """One From with two author domains: one row per domain with a DMARC record, each with the
    disposition the message got; the domain whose policy did not decide says so."""
    _, srv = env
    server = start(mx, srv, store_flush_ms="50")
    msg = message("example.com").replace(b"From: Someone <someone@example.com>",
                                         b"From: a@example.com, b@reject.test, c@nodmarc.test")
    code, text = send(server, "127.0.0.10", msg, "bounce@example.com")
    assert code == 550 and "reject.test publishes DMARC p=reject" in text, text
    rows = {r["header_from"]: r for r in wait_rows(server, 2)}
    assert set(rows) == {"example.com", "reject.test"}
    assert (rows["reject.test"]["disposition"], rows["reject.test"]["spf"],
            rows["reject.test"]["reason"]) == ("reject", "fail", "")
    assert (rows["example.com"]["disposition"], rows["example.com"]["spf"],
            rows["example.com"]["reason"], rows["example.com"]["comment"]) == \
        ("reject", "pass", "other", "several author domains; the policy of reject.test applied")


def test_report_with_hostile_values_is_well_formed(mx, env):
    """Whatever the store holds, `dmarc report` writes well-formed XML 1.0 (Python's expat parses
    it): markup characters are escaped; C0 controls but tab and LF, CR, U+FFFE/U+FFFF and bytes
    that are not UTF-8 are written as U+FFFD, and stderr says how many."""
    _, srv = env
    server = start(mx, srv, store_flush_ms="50")
    assert send(server, "127.0.0.3", message("reject.test"), "x@other.test")[0] == 550
    day = wait_rows(server, 1)[0]["day"]
    assert server.stop() == 0
    domain = "a<b>&c\"d'e]]>.test"
    with sqlite3.connect(server.var / "mxscreen.db") as db:
        db.execute("UPDATE dmarc_policy SET domain = ?, fo = '<!--'", (domain,))
        db.execute("UPDATE dmarc_row SET domain = ?, header_from = ?, envelope_from = ?,"
                   " reason = 'other', comment = ?",
                   (domain, "tab\tlf\ncr\rctl\x01\x1f", "<![CDATA[x]]>&amp;",
                    "del\x7f nel\x85 é \U0001F600 \ufffe\uffff"))
        db.execute("UPDATE dmarc_auth SET domain = CAST(? AS TEXT)",
                   (b"bad\xff\xc3(\xed\xa0\x80.test",))
    p = subprocess.run([mxscreen_bin(), "-o", f"var_dir={server.var}", "-o", "hostname=mx.test",
                        "dmarc", "report", "--domain", domain, "--day", day],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    assert b"10 characters XML cannot carry written as U+FFFD" in p.stderr, p.stderr
    root = ElementTree.fromstring(p.stdout)
    assert root.findtext("report_metadata/report_id") == f"mx.test!{domain}!{day}"
    assert root.findtext("policy_published/domain") == domain
    assert root.findtext("policy_published/fo") == "<!--"
    rec = root.find("record")
    assert rec.findtext("identifiers/header_from") == "tab\tlf\ncr\ufffdctl\ufffd\ufffd"
    assert rec.findtext("identifiers/envelope_from") == "<![CDATA[x]]>&amp;"
    assert rec.findtext("row/policy_evaluated/reason/comment") == \
        "del\x7f nel\x85 é \U0001F600 \ufffd\ufffd"
    assert rec.findtext("auth_results/spf/domain") == "bad\ufffd\ufffd(\ufffd\ufffd\ufffd.test"
