"""Helpers for the authentication tests: keys, dkimpy signing and verifying, `mxscreen auth`.

Keys are made with openssl; dkimpy (Debian python3-dkim) is the reference peer. Key and
DMARC records are published through the loopback DNS server of dnsserver.py; dkimpy
resolves through it (dnspython pointed at loopback). `mxscreen auth` gets the same zone.
"""
import base64
import re
import subprocess

import dkim
import dns.resolver

from conftest import mxscreen_bin

MESSAGE = (b"From: Alice Example <alice@example.com>\r\n"
           b"To: Bob <bob@example.org>\r\n"
           b"Subject: quarterly  report\r\n"
           b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
           b"Message-ID: <m1@example.com>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain\r\n"
           b"\r\n"
           b"Hello Bob,  \r\n"
           b"\r\n"
           b"the  figures are attached.\r\n"
           b"\r\n\r\n")


def rsa_key(path, bits=2048):
    subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt",
                    f"rsa_keygen_bits:{bits}", "-out", str(path)], check=True,
                   capture_output=True)
    return path


def ed_key(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(path)],
                   check=True, capture_output=True)
    return path


def dkimpy_private(path):
    """The private key as dkimpy wants it: PEM for RSA, the base64 seed for Ed25519."""
    pem = open(path, "rb").read()
    if b"BEGIN PRIVATE KEY" in pem and len(pem) < 200:
        der = subprocess.run(["openssl", "pkey", "-in", str(path), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        return base64.b64encode(der[-32:])
    return pem


def record(path):
    out = subprocess.run([mxscreen_bin(), "dkim", "record", "--key", str(path)], check=True,
                         capture_output=True, text=True).stdout.strip()
    return out


def mx(*args, stdin=b"", check=True):
    p = subprocess.run([mxscreen_bin(), "-o", "hostname=mx.test", *args], input=stdin,
                       capture_output=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"mxscreen {args} -> {p.returncode}: {p.stderr.decode()}")
    return p


def zone_args(zone):
    args = []
    for name, recs in zone.items():
        for r in recs if isinstance(recs, list) else [recs]:
            args += ["--txt", f"{name}={r}"]
    return args


def auth(message, zone, *extra, static=False, rc=0, **dns_kw):
    """Runs `mxscreen auth` with zone published on a loopback DNS server (or, with
    static=True, given as --txt records) and returns the parsed Authentication-Results."""
    if static:
        p = mx("auth", *zone_args(zone), *extra, stdin=message, check=False)
    else:
        d = publish(zone, **dns_kw)
        p = mx("auth", "--dns", d.address, *extra, stdin=message, check=False)
    assert p.returncode == rc, (p.returncode, p.stderr.decode())
    return parse_ar(p.stdout.decode())


def parse_ar(text):
    """{"dkim": [ {result, reason, header.d, ...} ], "dmarc": {...}, "arc": {...}, "spf": {...}}"""
    assert text.startswith("Authentication-Results: mx.test;"), text
    body = text.split(";", 1)[1]
    res = {"dkim": []}
    for part in re.split(r";\s*\r?\n\s*", body.strip().rstrip(";")):
        part = " ".join(part.split())
        m = re.match(r"([\w-]+)=(\w+)(?: \((.*?)\))?((?: [\w.-]+=\S+)*)$", part)
        assert m, part
        item = {"result": m.group(2), "reason": m.group(3) or ""}
        for kv in m.group(4).split():
            k, v = kv.split("=", 1)
            item[k] = v.strip('"')
        if m.group(1) == "dkim":
            res["dkim"].append(item)
        else:
            res[m.group(1)] = item
    return res


def chunks(txt):
    """A TXT value as character-strings of at most 255 octets (RFC 1035 3.3.14)."""
    return [txt[i:i + 255] for i in range(0, len(txt), 255)] or [""]


def dns_zone(zone):
    """{name: record or [records]} -> the zone of dnsserver.DNSServer."""
    return {n: [("TXT", chunks(r)) for r in (v if isinstance(v, list) else [v])]
            for n, v in zone.items()}


_server = None


def publish(zone, timeout_names=(), servfail_names=()):
    """Replaces the zone of the one loopback DNS server of this test process
    (started on first use: starting and stopping one per lookup costs a second)."""
    global _server
    from dnsserver import DNSServer, _norm
    if _server is None:
        _server = DNSServer().start()
    _server.zone = {}
    for name, records in dns_zone(zone).items():
        for rec in records:
            _server.add(name, *rec)
    _server.timeout_names = {_norm(n) for n in timeout_names}
    _server.servfail_names = {_norm(n) for n in servfail_names}
    return _server


def use_dns(address):
    """Points dnspython (and so dkimpy) at the loopback DNS server."""
    host, port = address.rsplit(":", 1)
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [host]
    r.port = int(port)
    r.lifetime = 3
    dns.resolver.default_resolver = r


def dkimpy_sign(message, selector, domain, keyfile, canon=(b"relaxed", b"relaxed"),
                algorithm=b"rsa-sha256", include=None, length=False):
    sig = dkim.sign(message, selector.encode(), domain.encode(), dkimpy_private(keyfile),
                    canonicalize=canon, signature_algorithm=algorithm,
                    include_headers=include, length=length)
    return sig + message
