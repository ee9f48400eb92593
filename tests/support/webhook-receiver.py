#!/usr/bin/env python3
"""A webhook receiver for the tests: ivrctl's notifications, checked.

  webhook-receiver.py --listen ADDR:PORT --secret-file F --log FILE [--hang]

Each POST is answered 204 and written to FILE as one JSON line: the body's
fields, plus "signature_valid" (X-IVR-Signature equals sha256=HMAC-SHA256
of "<X-IVR-Timestamp>.<body>" under the secret, and the timestamp is within
five minutes). With --hang it accepts connections and never answers (a
receiver that is down in the worst way). Stopped by its pid.
"""
import argparse
import hashlib
import hmac
import json
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                    help="serve https with this certificate chain and key")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    secret = open(a.secret_file, "rb").read().splitlines()[0]

    if a.hang:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        s.listen(64)
        held = []
        while True:
            c, _ = s.accept()
            held.append(c)  # read nothing, answer nothing

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ts = self.headers.get("X-IVR-Timestamp", "")
            sig = self.headers.get("X-IVR-Signature", "")
            want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
            fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
            try:
                ev = json.loads(body)
            except ValueError:
                ev = {"unparsed": body.decode(errors="replace")}
            ev["signature_valid"] = fresh and hmac.compare_digest(sig, want)
            with open(a.log, "a") as f:
                f.write(json.dumps(ev) + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer((host, int(port)), Handler)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(*a.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
