"""A real DNS server on loopback for tests (python3-dnslib), loaded with zone data.

Usage:
    with DNSServer({"example.com": [("TXT", "v=spf1 -all"), ("MX", "10 mx.example.com")],
                    "mx.example.com": [("A", "127.0.0.1")]},
                   timeout_names={"slow.example"}) as dns:
        ... dns.address -> "127.0.0.1:PORT"

Records are (TYPE, RDATA-in-zone-file-syntax) or (TYPE, RDATA, TTL). TXT rdata given
as a Python list of strings is sent as several character-strings. Names are
case-insensitive; a name with no records of the asked type gets NOERROR/NODATA,
an unknown name NXDOMAIN; a name in timeout_names is never answered (the client
times out); a name in servfail_names gets SERVFAIL. `queries` records (name, type).
Serves UDP and TCP on the same port.

For record mixes that zone syntax cannot express (the SPF test suites): add_rr()
takes a ready dnslib RR, add_txt() takes TXT character-strings as str or bytes
(an empty list is a TXT record with no strings; strings over 255 octets are
split), and drop_fn(name, qtype) -> bool decides per question whether to stay
silent. CNAME chains are followed (as a recursive resolver does), loops stop.
"""
import threading

from dnslib import QTYPE, RCODE, RR, TXT, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer as _DNSServer


def _norm(name):
    if isinstance(name, DNSLabel):  # raw labels: str() would escape spaces as \032
        return ".".join(lbl.decode("latin-1") for lbl in name.label).lower()
    return str(name).rstrip(".").lower()


class _Resolver(BaseResolver):
    def __init__(self, owner):
        self.owner = owner

    def resolve(self, request, handler):
        q = request.q
        name, qtype = _norm(q.qname), QTYPE[q.qtype]
        self.owner.queries.append((name, qtype))
        reply = request.reply()
        seen = set()
        while True:
            if name in self.owner.timeout_names:
                return None  # dnslib sends nothing when the resolver returns None
            if self.owner.drop_fn is not None and self.owner.drop_fn(name, qtype):
                return None
            if name in self.owner.servfail_names:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            recs = self.owner.zone.get(name)
            if recs is None:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            cname = None
            for rtype, rr in recs:
                if rtype == qtype:
                    reply.add_answer(rr)
                elif rtype == "CNAME" and qtype != "CNAME":
                    reply.add_answer(rr)
                    cname = _norm(rr.rdata.label)
            seen.add(name)
            if cname is None or cname in seen or len(seen) > 8:
                return reply
            name = cname


class _QuietLogger(DNSLogger):
    def __init__(self):
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data")


class DNSServer:
    def __init__(self, zone=None, timeout_names=(), servfail_names=(), host="127.0.0.1",
                 drop_fn=None):
        self.zone = {}
        self.drop_fn = drop_fn
        self.timeout_names = {_norm(n) for n in timeout_names}
        self.servfail_names = {_norm(n) for n in servfail_names}
        self.queries = []
        self.host = host
        for name, records in (zone or {}).items():
            for rec in records:
                self.add(name, *rec)

    def add(self, name, rtype, rdata, ttl=300):
        name = _norm(name)
        rtype = rtype.upper()
        if rtype == "TXT":
            parts = rdata if isinstance(rdata, (list, tuple)) else [rdata]
            # Build the record from zone syntax so long strings split correctly.
            text = " ".join('"%s"' % p.replace("\\", "\\\\").replace('"', '\\"') for p in parts)
            rr = RR.fromZone(f"{name}. {ttl} IN TXT {text}")[0]
        else:
            rr = RR.fromZone(f"{name}. {ttl} IN {rtype} {rdata}")[0]
        self.zone.setdefault(name, []).append((rtype, rr))

    def add_rr(self, name, rtype, rr):
        self.zone.setdefault(_norm(name), []).append((rtype.upper(), rr))

    def add_txt(self, name, strings, ttl=300):
        parts = []
        for p in strings:
            b = p if isinstance(p, bytes) else p.encode("utf-8")
            parts += [b[i:i + 255] for i in range(0, len(b), 255)] or [b""]
        name = _norm(name)
        self.add_rr(name, "TXT", RR(name + ".", QTYPE.TXT, ttl=ttl, rdata=TXT(parts)))

    def start(self):
        resolver = _Resolver(self)
        # Port 0 for UDP picks a free port; TCP then binds the same number, which
        # another process may hold already: then try another port.
        for attempt in range(50):
            self.udp = _DNSServer(resolver, address=self.host, port=0, logger=_QuietLogger())
            self.port = self.udp.server.server_address[1]
            try:
                self.tcp = _DNSServer(resolver, address=self.host, port=self.port, tcp=True,
                                      logger=_QuietLogger())
                break
            except OSError:
                self.udp.server.server_close()
                if attempt == 49:
                    raise
        for srv in (self.udp, self.tcp):
            # A dropped query (resolver returned None) ends in an exception in
            # the handler thread: that is the point, so keep it quiet.
            srv.server.handle_error = lambda request, client_address: None
            srv.start_thread()
        return self

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def stop(self):
        for srv in (self.udp, self.tcp):
            srv.server.shutdown()
            srv.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def query(address, name, qtype="A"):
    """Sends one query over UDP (for self-tests of the fixture)."""
    host, port = address.rsplit(":", 1)
    q = DNSRecord.question(name, qtype)
    return DNSRecord.parse(q.send(host, int(port), timeout=2))


if __name__ == "__main__":
    with DNSServer({"example.com": [("TXT", "v=spf1 -all"), ("A", "127.0.0.2")]}) as d:
        print(query(d.address, "example.com", "TXT"))
        print(threading.active_count())
