#!/usr/bin/python3
"""Slow HTTP clients against a runtime on loopback, and a readiness probe.

  slow-clients.py attack HOST PORT --source ADDR --sockets N --seconds S
      Keeps up to N sockets open from ADDR, each sending a request's
      headers one byte per second and never finishing them; a socket the
      server closes is opened again (at most 2,000 opens a second).  Stops
      after S seconds, closes everything, prints one JSON object: opened,
      closed_by_server, held_max (the most open at once, as far as the
      client can tell), held_end.
  slow-clients.py probe URL --source ADDR --seconds S --every MS
      GETs URL every MS ms for S seconds (1 s timeout each) and prints one
      JSON object: probes, ok (HTTP 200), failed, p50_ms, p99_ms, max_ms.

Loopback only: HOST and ADDR must be in 127.0.0.0/8.  Bounded in sockets,
in opens per second and in time.
"""
import ipaddress
import json
import selectors
import socket
import sys
import time
import urllib.parse


def loopback(addr):
    if not ipaddress.ip_address(addr) in ipaddress.ip_network("127.0.0.0/8"):
        sys.exit(f"slow-clients: {addr} is not a loopback address")
    return addr


def opt(args, name, default=None):
    if name in args:
        return args[args.index(name) + 1]
    if default is None:
        sys.exit(f"slow-clients: {name} is required")
    return default


def reap(sel, socks, events):
    """Closes the sockets the server closed (they read as EOF or an
    error); returns how many."""
    closed = 0
    for key, _ in events:
        s = key.fileobj
        try:
            data = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            del socks[s]
            closed += 1
    return closed


def attack(host, port, source, n, seconds):
    sel = selectors.DefaultSelector()
    head = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: "
    socks = {}  # socket -> bytes sent
    opened = closed = held_max = 0
    end = time.monotonic() + seconds
    last_drip = 0.0
    start = time.monotonic()
    while time.monotonic() < end:
        # at most 2,000 opens a second over the run
        budget = int(2000 * (time.monotonic() - start)) + 200 - opened
        while len(socks) < n and budget > 0:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((source, 0))
            s.setblocking(False)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                break
            socks[s] = 0
            sel.register(s, selectors.EVENT_READ)
            opened += 1
            budget -= 1
        closed += reap(sel, socks, sel.select(timeout=0.1))
        now = time.monotonic()
        if now - last_drip >= 1.0:
            last_drip = now
            for s in list(socks):
                i = socks[s]
                try:
                    s.send(head[i:i + 1] if i < len(head) else b"a")
                    socks[s] = i + 1
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    pass  # seen as EOF on the next round
        held_max = max(held_max, len(socks) if now - last_drip < 0.5 else 0)
    # What the server still holds: no more opens, and the EOFs of the
    # sockets it closed read first (one it refused just now is not held).
    quiet_until = time.monotonic() + 1.0
    while time.monotonic() < quiet_until:
        events = sel.select(timeout=0.3)
        if not events:
            break
        closed += reap(sel, socks, events)
    held_end = len(socks)
    for s in socks:
        s.close()
    print(json.dumps({"opened": opened, "closed_by_server": closed,
                      "held_max": held_max, "held_end": held_end}))


def probe(url, source, seconds, every_ms):
    u = urllib.parse.urlsplit(url)
    host, port = loopback(u.hostname), u.port or 80
    lat, ok, failed = [], 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            s = socket.create_connection((host, port), timeout=1.0,
                                         source_address=(source, 0))
            s.sendall(f"GET {u.path} HTTP/1.1\r\nHost: {host}\r\n"
                      "Connection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            if data.startswith(b"HTTP/1.1 200"):
                ok += 1
            else:
                failed += 1
        except OSError:
            failed += 1
        lat.append((time.monotonic() - t0) * 1000.0)
        time.sleep(max(0.0, every_ms / 1000.0 - (time.monotonic() - t0)))
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None
    print(json.dumps({"probes": len(lat), "ok": ok, "failed": failed,
                      "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                      "max_ms": round(lat[-1], 1) if lat else None}))


def main(argv):
    if len(argv) >= 4 and argv[1] == "attack":
        attack(loopback(argv[2]), int(argv[3]),
               loopback(opt(argv, "--source")),
               min(int(opt(argv, "--sockets")), 20000),
               min(float(opt(argv, "--seconds")), 120.0))
    elif len(argv) >= 3 and argv[1] == "probe":
        probe(argv[2], loopback(opt(argv, "--source")),
              min(float(opt(argv, "--seconds")), 120.0),
              max(int(opt(argv, "--every", "50")), 10))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
