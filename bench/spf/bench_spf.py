"""SPF evaluations per second: mxscreen versus pyspf (python3-spf), same run, same DNS server.

The zone is a realistic record: an include chain (2 levels), a, mx with two
exchanges, ip4 ranges, and the client matches the last MX address, so one
evaluation asks 7 questions. Cold: every evaluation starts with an empty cache
(mxscreen clears its DNS cache; pyspf's per-query cache is fresh anyway). Warm:
mxscreen keeps its TTL cache; pyspf gets a memoizing DNS lookup (the fairest
equivalent, since it has no cross-query cache). Both run evaluations one after
another on one core, so the figures are latency-bound by the Python DNS server
for cold runs; the ratio is what to read.
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from dnsserver import DNSServer  # noqa: E402

import dns.resolver  # noqa: E402  (dnspython, a python3-spf dependency)
import spf  # noqa: E402

ZONE = {
    "example.com": [("TXT", "v=spf1 ip4:198.51.100.0/24 include:_spf.example.com mx -all")],
    "_spf.example.com": [("TXT", "v=spf1 ip4:203.0.113.0/28 include:_spf2.example.com ?all")],
    "_spf2.example.com": [("TXT", "v=spf1 a:relay.example.com ~all")],
    "relay.example.com": [("A", "203.0.113.200")],
    "example.com.mx": [],
}
ZONE["example.com"] += [("MX", "10 mx1.example.com"), ("MX", "20 mx2.example.com")]
ZONE["mx1.example.com"] = [("A", "192.0.2.10")]
ZONE["mx2.example.com"] = [("A", "192.0.2.20")]
del ZONE["example.com.mx"]
IP, SENDER, HELO = "192.0.2.20", "user@example.com", "mail.example.com"


def mxscreen(build, addr, n, cold):
    args = [os.path.join(build, "mxscreen"), "spf", "--ip", IP, "--helo", HELO, "--mail-from", SENDER,
            "--dns", addr, "--repeat", str(n)] + (["--cold"] if cold else [])
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    assert out.startswith("spf=pass"), out
    m = re.search(r"rate=([\d.]+)", out)
    return float(m.group(1))


def pyspf(addr, n, cold):
    host, port = addr.rsplit(":", 1)
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [host]
    r.port = int(port)
    dns.resolver.default_resolver = r
    lookup = spf.DNSLookup
    if not cold:
        memo = {}

        def cached(name, qtype, *a, **kw):
            key = (name.lower(), qtype)
            if key not in memo:
                memo[key] = list(lookup(name, qtype, *a, **kw))
            return memo[key]
        spf.DNSLookup = cached
    try:
        res = spf.check2(i=IP, s=SENDER, h=HELO)
        assert res[0] == "pass", res
        t0 = time.perf_counter()
        for _ in range(n):
            spf.check2(i=IP, s=SENDER, h=HELO)
        return n / (time.perf_counter() - t0)
    finally:
        spf.DNSLookup = lookup


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    n = int(os.environ.get("SPF_BENCH_N", "300"))
    with DNSServer(ZONE) as d:
        for label, cold in (("cold", True), ("warm", False)):
            mx = mxscreen(build, d.address, n if cold else n * 100, cold)
            py = pyspf(d.address, n if cold else n * 10, cold)
            print(f"spf {label}: mxscreen {mx:.0f} evals/s, pyspf {py:.0f} evals/s, ratio {mx / py:.1f}x")


if __name__ == "__main__":
    main()
