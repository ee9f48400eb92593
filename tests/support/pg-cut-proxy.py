#!/usr/bin/env python3
"""A TCP proxy in front of PostgreSQL that loses one COMMIT's answer.

    pg-cut-proxy.py LISTEN_ADDR LISTEN_PORT SERVER_ADDR SERVER_PORT ARM_FILE

Passes every connection through, byte for byte.  While ARM_FILE exists,
the next COMMIT a client sends (extended protocol: the statement named by
a Parse of "COMMIT", then Bind, Execute, Sync) is passed to the server;
the server's answer (it committed) is swallowed and the client's
connection closed: the client cannot know whether its transaction
committed.  ARM_FILE is removed when that happens (one cut per arming).
Test code only; stopped by its pid.
"""
import os
import socket
import struct
import sys
import threading


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def server_to_client(server, client, cut):
    try:
        while True:
            data = server.recv(65536)
            if not data:
                break
            if cut.is_set():
                # the COMMIT's answer: the client never hears it
                if b"Z" in data:
                    break
                continue
            client.sendall(data)
    except OSError:
        pass
    finally:
        for s in (client, server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def client_to_server(client, server, arm, cut):
    commit_names = set()
    pending_commit = False
    try:
        # Startup: SSLRequest / GSSENCRequest (answered 'N' by the
        # server, relayed by the other thread), then the StartupMessage.
        while True:
            head = read_exact(client, 8)
            length, code = struct.unpack("!II", head)
            body = read_exact(client, length - 8)
            server.sendall(head + body)
            if code not in (80877103, 80877104):
                break
        while True:
            kind = read_exact(client, 1)
            length = struct.unpack("!I", read_exact(client, 4))[0]
            body = read_exact(client, length - 4)
            if kind == b"P":
                name, rest = body.split(b"\0", 1)
                query = rest.split(b"\0", 1)[0]
                if query.strip().upper() == b"COMMIT":
                    commit_names.add(name)
            elif kind == b"B":
                portal, rest = body.split(b"\0", 1)
                statement = rest.split(b"\0", 1)[0]
                pending_commit = statement in commit_names
            if kind == b"S" and pending_commit and os.path.exists(arm):
                os.unlink(arm)
                cut.set()  # the answer to what follows is swallowed
            server.sendall(kind + struct.pack("!I", length) + body)
            if cut.is_set():
                return
    except (EOFError, OSError):
        pass


def serve(listen, server_addr, arm):
    while True:
        client, _ = listen.accept()
        try:
            server = socket.create_connection(server_addr)
        except OSError:
            client.close()
            continue
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cut = threading.Event()
        threading.Thread(target=server_to_client,
                         args=(server, client, cut), daemon=True).start()
        threading.Thread(target=client_to_server,
                         args=(client, server, arm, cut), daemon=True).start()


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    listen = socket.socket()
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen.bind((sys.argv[1], int(sys.argv[2])))
    listen.listen(16)
    print("ready", flush=True)
    serve(listen, (sys.argv[3], int(sys.argv[4])), sys.argv[5])
    return 0


if __name__ == "__main__":
    sys.exit(main())
