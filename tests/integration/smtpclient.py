"""Tiny raw SMTP client for tests that need exact bytes on the wire."""
import socket
import time


class Raw:
    def __init__(self, host, port, source=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def reply(self):
        """Reads one (possibly multi-line) reply; returns (code, full text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed; got so far {lines!r} {self.buf!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(lines)

    def cmd(self, line: str):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True when the server closes the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        end = time.time() + timeout
        try:
            while time.time() < end:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        self.sock.close()


def session(srv, source=None, ehlo="client.test"):
    c = Raw(srv.host, srv.port, source=source)
    code, _ = c.reply()
    assert code == 220
    code, text = c.cmd(f"EHLO {ehlo}")
    assert code == 250, text
    return c
