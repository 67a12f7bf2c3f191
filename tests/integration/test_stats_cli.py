"""`mxscreen stats`: the per-day statistics of the store (schema 2) read by the CLI.

The server creates (or migrates) the store; the rows are written with Python's sqlite3 as the
store writer would leave them (the SMTP pipeline that produces them is tested with it), then
read back with `mxscreen stats` in JSON and as a table, with every filter. A version-1 store
with DMARC data is migrated by the real server without losing that data.
"""
import json
import sqlite3
import subprocess

from conftest import mxscreen_bin

COUNTERS = ["connections", "rcpt", "data", "messages", "message_rcpts", "inbox", "junk",
            "reject", "tempfail", "limited", "trap_hits", "unknown_rcpt", "spf_pass", "spf_fail",
            "dkim_pass", "dkim_fail", "dmarc_pass", "dmarc_fail", "tls", "complaints"]


def stats(var, *args, before=False, rc=0):
    common = ["-o", f"var_dir={var}"]
    argv = [mxscreen_bin()] + (common + ["stats"] if before else ["stats"] + common) + list(args)
    p = subprocess.run(argv, capture_output=True, timeout=30)
    assert p.returncode == rc, (p.returncode, p.stderr.decode())
    return p


def rows(var, *args, **kw):
    doc = json.loads(stats(var, "--json", *args, **kw).stdout)
    assert doc["schema"] == 2
    return doc["rows"]


def fill(db_path):
    with sqlite3.connect(db_path) as db:
        # What the server recorded itself (its start-up probe connection) is not ours.
        db.execute("DELETE FROM stat_day")
        db.execute("DELETE FROM stat_reason")
        def put(kind, key, day, first, last, helo=None, mail_from=None, **n):
            vals = [n.get(c, 0) for c in COUNTERS]
            db.execute(f"INSERT INTO stat_day (key, day, kind, first_ts, last_ts, "
                       f"{', '.join(COUNTERS)}, helo, mail_from) VALUES "
                       f"({', '.join('?' * (len(COUNTERS) + 7))})",
                       [key, day, kind, first, last, *vals, helo, mail_from])
        put("ip", "192.0.2.1", "2026-03-01", 1772323200, 1772326800, "mx.sender.test",
            "a@sender.test", connections=3, messages=2, inbox=1, reject=1, tls=3, spf_pass=2)
        put("ip", "192.0.2.1", "2026-03-02", 1772409600, 1772409600, connections=1)
        put("net", "192.0.2.0/24", "2026-03-01", 1772323200, 1772326800, connections=4)
        put("domain", "sender.test", "2026-03-02", None, None, messages=5, junk=5)
        put("ip", "2001:db8::1", "2026-03-03", 1772496000, 1772496000, 'odd "helo" x',
            None, limited=7)
        db.execute("INSERT INTO stat_reason VALUES ('192.0.2.1', '2026-03-01', 'ip',"
                   " 'MXS-SPF-001', 1)")
        db.execute("INSERT INTO stat_reason VALUES ('192.0.2.1', '2026-03-01', 'ip',"
                   " 'MXS-REP-003', 4)")


def test_stats_rows_and_filters(mx):
    server = mx()
    server.stop()
    fill(server.var / "mxscreen.db")
    var = server.var

    all_rows = rows(var)
    assert [(r["key"], r["day"]) for r in all_rows] == [
        ("192.0.2.0/24", "2026-03-01"), ("192.0.2.1", "2026-03-01"),
        ("192.0.2.1", "2026-03-02"), ("2001:db8::1", "2026-03-03"),
        ("sender.test", "2026-03-02")]
    r = all_rows[1]
    assert r["kind"] == "ip"
    assert r["first_ts"] == 1772323200 and r["last_ts"] == 1772326800
    assert list(r["counters"]) == COUNTERS
    assert r["counters"]["connections"] == 3 and r["counters"]["tls"] == 3
    assert r["counters"]["junk"] == 0
    assert list(r["reasons"].items()) == [("MXS-REP-003", 4), ("MXS-SPF-001", 1)]
    assert r["reasons_left_off"] == 0
    assert r["helo"] == "mx.sender.test" and r["mail_from"] == "a@sender.test"
    assert all_rows[2]["helo"] is None
    assert all_rows[4]["first_ts"] == 0

    assert [r["key"] for r in rows(var, "--kind", "ip")] == ["192.0.2.1", "192.0.2.1",
                                                             "2001:db8::1"]
    assert [r["key"] for r in rows(var, "--kind", "domain")] == ["sender.test"]
    assert len(rows(var, "--kind", "net", "--key", "192.0.2.1")) == 0
    # Keys are matched as stored (lower case): the option is lowered.
    assert [r["day"] for r in rows(var, "--key", "2001:DB8::1")] == ["2026-03-03"]
    assert [r["day"] for r in rows(var, "--key", "192.0.2.1", "--from", "2026-03-02")] == \
        ["2026-03-02"]
    assert len(rows(var, "--from", "2026-03-02", "--to", "2026-03-02")) == 2
    assert len(rows(var, "--to", "2026-03-01")) == 2
    assert len(rows(var, "--limit", "3", before=True)) == 3

    # The table: a header, one line per row, the other counters and reasons after the columns.
    text = stats(var, before=True).stdout.decode().splitlines()
    assert text[0].split()[:6] == ["DAY", "KIND", "KEY", "CONN", "RCPT", "MSGS"]
    assert len(text) == 6
    line = text[2].split()
    assert line[:6] == ["2026-03-01", "ip", "192.0.2.1", "3", "0", "2"]
    assert "tls=3" in line and "spf_pass=2" in line
    assert "reasons=MXS-REP-003:4,MXS-SPF-001:1" in line
    assert "first=00:00:00Z" in line and "last=01:00:00Z" in line
    assert "helo=mx.sender.test" in line
    assert text[4].endswith('helo="odd \\"helo\\" x"')


def test_stats_usage_and_missing_store(tmp_path):
    var = tmp_path / "var"
    assert b"no store" in stats(var, rc=2).stderr
    for bad in (["--kind", "asn"], ["--from", "2026-02-30"], ["--limit", "-1"], ["extra"],
                ["--to"]):
        err = stats(var, *bad, rc=2).stderr
        assert b"usage" in err or b"is not" in err, err


V1_SCHEMA = """
CREATE TABLE dmarc_policy (day TEXT NOT NULL, domain TEXT NOT NULL, adkim TEXT NOT NULL,
 aspf TEXT NOT NULL, p TEXT NOT NULL, sp TEXT NOT NULL, pct INTEGER NOT NULL, fo TEXT NOT NULL,
 rua TEXT NOT NULL, PRIMARY KEY (day, domain)) WITHOUT ROWID;
CREATE TABLE dmarc_row (id INTEGER PRIMARY KEY, day TEXT NOT NULL, domain TEXT NOT NULL,
 source_ip TEXT NOT NULL, header_from TEXT NOT NULL, envelope_from TEXT NOT NULL,
 disposition TEXT NOT NULL, dkim TEXT NOT NULL, spf TEXT NOT NULL, reason TEXT NOT NULL,
 comment TEXT NOT NULL, auth_key TEXT NOT NULL, count INTEGER NOT NULL,
 UNIQUE (day, domain, source_ip, header_from, envelope_from, disposition, dkim, spf,
  reason, comment, auth_key));
CREATE TABLE dmarc_auth (row_id INTEGER NOT NULL REFERENCES dmarc_row(id) ON DELETE CASCADE,
 seq INTEGER NOT NULL, method TEXT NOT NULL, domain TEXT NOT NULL, selector TEXT NOT NULL,
 scope TEXT NOT NULL, result TEXT NOT NULL, PRIMARY KEY (row_id, seq)) WITHOUT ROWID;
INSERT INTO dmarc_policy VALUES ('2025-06-01', 'example.com', 'r', 'r', 'reject', 'reject',
 100, '0', 'mailto:a@example.com');
INSERT INTO dmarc_row VALUES (1, '2025-06-01', 'example.com', '192.0.2.4', 'example.com',
 'example.com', 'reject', 'fail', 'fail', '', '', 'k', 7);
PRAGMA user_version = 1;
"""


def test_server_migrates_v1_store(mx, tmp_path):
    var = tmp_path / "v1var"
    var.mkdir()
    with sqlite3.connect(var / "mxscreen.db") as db:
        db.executescript(V1_SCHEMA)
    # The CLI refuses to read a store of another version and says what to do.
    assert b"schema version 1" in stats(var, rc=3).stderr
    server = mx(var_dir=str(var))
    server.stop()
    assert "schema=2" in server.log_text()
    with sqlite3.connect(var / "mxscreen.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("SELECT count FROM dmarc_row").fetchall() == [(7,)]
    p = subprocess.run([mxscreen_bin(), "dmarc", "aggregate", "--json", "-o", f"var_dir={var}"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    assert [r["count"] for r in json.loads(p.stdout)["rows"]] == [7]
    # Statistics of the new schema: at most the server's own probe connection from loopback.
    assert all(r["key"].startswith("127.") for r in rows(var))
