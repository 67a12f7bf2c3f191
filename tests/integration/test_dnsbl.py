"""DNSBL/DNSWL checks (src/reputation/dnsbl.c) against a real loopback DNS server,
through `mxscreen dnsbl`, which runs dnsbl_check_start() as the server does.

The zones answer with several codes, a code outside the filter, a refusal
(127.255.255.254), a wildcard answer outside 127.0.0.0/8, NXDOMAIN, SERVFAIL
and silence (timeout); each outcome is asserted.
"""
import json

import pytest

from authlib import mx
from dnsserver import DNSServer

IP = "192.0.2.1"
REV = "1.2.0.192"
IP6 = "2001:db8::1"
REV6 = ".".join(reversed("20010db8" + "0" * 23 + "1"))

BL = ("zen.test=127.0.0.[2..11]*3, bl.test*2, bl.test=127.0.0.4*5, limited.test, "
      "wild.test, gone.test, down.test, slow.test")
WL = "wl.test=127.0.[0..255].[1..3]*2"


@pytest.fixture(scope="module")
def dns():
    zone = {
        f"{REV}.zen.test": [("A", "127.0.0.2"), ("A", "127.0.0.4"), ("A", "127.0.0.12")],
        f"{REV6}.zen.test": [("A", "127.0.0.3")],
        f"{REV}.bl.test": [("A", "127.0.0.4")],
        f"{REV}.limited.test": [("A", "127.255.255.254")],
        f"{REV}.wild.test": [("A", "198.51.100.80")],
        f"{REV}.wl.test": [("A", "127.0.10.2")],
    }
    with DNSServer(zone, servfail_names=[f"{REV}.down.test"],
                   timeout_names=[f"{REV}.slow.test"]) as d:
        yield d


def dnsbl(dns, ip, *extra, bl=BL, wl=WL, rc=None):
    p = mx("dnsbl", "--ip", ip, "--dns", dns.address, "-o", f"dnsbl_zones={bl}",
           "-o", f"dnswl_zones={wl}", "-o", "dns_timeout_ms=300", "-o", "dns_tries=1",
           *extra, check=False)
    if rc is not None:
        assert p.returncode == rc, (p.returncode, p.stdout.decode(), p.stderr.decode())
    return p


def test_every_outcome(dns):
    p = dnsbl(dns, IP, "--json", rc=1)
    r = json.loads(p.stdout)
    assert r["ip"] == IP
    status = {z["zone"]: z["status"] for z in r["zones"]}
    assert status == {
        "zen.test": "listed", "bl.test": "listed", "limited.test": "refused",
        "wild.test": "wildcard", "gone.test": "not-listed", "down.test": "tempfail",
        "slow.test": "tempfail", "wl.test": "listed",
    }
    codes = {z["zone"]: z["codes"] for z in r["zones"]}
    assert codes["zen.test"] == ["127.0.0.2", "127.0.0.4", "127.0.0.12"]
    assert codes["limited.test"] == ["127.255.255.254"]
    assert codes["wild.test"] == []  # answers outside 127/8 are not codes
    hits = {h["symbol"]: (h["weight"], h["list"], h["code"]) for h in r["hits"]}
    assert hits == {
        # 127.0.0.12 is outside the item's filter: no hit
        "DNSBL_ZEN_TEST_2": (3, "block", "127.0.0.2"),
        "DNSBL_ZEN_TEST_4": (3, "block", "127.0.0.4"),
        # both items of bl.test match 127.0.0.4: 2 + 5
        "DNSBL_BL_TEST_4": (7, "block", "127.0.0.4"),
        "DNSWL_WL_TEST_2": (2, "allow", "127.0.10.2"),
    }
    assert r["block_weight"] == 13
    assert r["allow_weight"] == 2
    assert (r["tempfail"], r["refused"], r["wildcard"]) == (2, 1, 1)
    assert r["threshold"] == 3 and r["mode"] == "enforce"
    # The operator hears about the refusal and the wildcard.
    err = p.stderr.decode()
    assert "event=dnsbl_refused zone=limited.test" in err
    assert "event=dnsbl_wildcard zone=wild.test" in err and "answer=198.51.100.80" in err


def test_each_zone_asked_once(dns):
    dns.queries.clear()
    dnsbl(dns, IP, rc=1)
    names = [n for n, t in dns.queries if t == "A"]
    assert names.count(f"{REV}.bl.test") == 1  # named twice in the list, asked once
    assert names.count(f"{REV}.zen.test") == 1


def test_text_output(dns):
    out = dnsbl(dns, IP, rc=1).stdout.decode().splitlines()
    assert "zone=zen.test list=block status=listed codes=127.0.0.2,127.0.0.4,127.0.0.12" in out
    assert "symbol=DNSBL_BL_TEST_4 weight=7 zone=bl.test code=127.0.0.4" in out
    assert "zone=slow.test list=block status=tempfail" in out
    assert out[-1] == (f"ip={IP} block_weight=13 allow_weight=2 threshold=3 mode=enforce "
                       "tempfail=2 refused=1 wildcard=1")


def test_ipv6_and_mapped(dns):
    r = json.loads(dnsbl(dns, IP6, "--json", bl="zen.test=127.0.0.[2..11]*3", wl="",
                         rc=1).stdout)
    assert [h["symbol"] for h in r["hits"]] == ["DNSBL_ZEN_TEST_3"]
    # An IPv4-mapped client is asked about as IPv4.
    r = json.loads(dnsbl(dns, "::ffff:" + IP, "--json", bl="zen.test", wl="", rc=1).stdout)
    assert r["ip"] == IP
    assert r["block_weight"] == 3  # three codes, weight 1 each


def test_exit_codes(dns):
    # not listed anywhere
    p = dnsbl(dns, IP, bl="gone.test", wl="", rc=0)
    assert "block_weight=0" in p.stdout.decode()
    # only an allowlist hit: not a negative result
    dnsbl(dns, IP, bl="gone.test", rc=0)
    # nothing known: temporary failure
    dnsbl(dns, IP, bl="gone.test down.test", wl="", rc=3)
    dnsbl(dns, IP, bl="limited.test", wl="", rc=3)
    # a wildcard answer is no listing and no failure
    dnsbl(dns, IP, bl="wild.test", wl="", rc=0)
    # usage errors
    p = dnsbl(dns, "192.0.2.x", rc=2)
    assert b"not an IP address" in p.stderr
    p = dnsbl(dns, IP, bl="", wl="", rc=2)
    assert b"no zones" in p.stderr
    p = dnsbl(dns, IP, bl="zen.test*-1", rc=2)
    assert b"dnsbl_zones: 'zen.test*-1'" in p.stderr


def test_dry_run_mode_is_shown(dns):
    p = dnsbl(dns, IP, "-o", "dnsbl_mode=dry-run", "-o", "dnsbl_threshold=10", bl="bl.test",
              wl="", rc=1)
    assert "threshold=10 mode=dry-run" in p.stdout.decode()


def test_config_check_validates_zones():
    p = mx("config", "check", "-o", "dnswl_zones=wl.test=127.0.0.[9..1]", check=False)
    assert p.returncode == 2
    assert b"dnswl_zones: 'wl.test=127.0.0.[9..1]': bad return-code filter" in p.stderr
