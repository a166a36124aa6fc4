#!/usr/bin/env python3
"""Relay memory per idle session, plaintext and TLS.

    python3 bench/idle_memory.py [--bin bazel-bin] [--sessions 2000]

Starts one relay shard with a throwaway ECDSA P-256 certificate (made with
the `openssl` command), opens N plaintext sessions (banner and EHLO
answered) and then N implicit-TLS sessions (handshake, banner, EHLO), and
prints the growth of the relay's resident memory (VmRSS) per session of
each kind. Loopback only; every wait is bounded.
"""
import argparse
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="bazel-bin")
    ap.add_argument("--sessions", type=int, default=2000)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * a.sessions + 100), hard))
    with tempfile.TemporaryDirectory(prefix="rp-idle-") as d:
        cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost"], check=True,
                       capture_output=True, timeout=60)
        port, tls_port, admin = free_port(), free_port(), free_port()
        relay = subprocess.Popen(
            [os.path.join(a.bin, "relay/ringpost"), "--shards=1", f"--listen=127.0.0.1:{port}",
             f"--listen_tls=127.0.0.1:{tls_port}", f"--spool={d}/spool", "--drain_grace=0",
             "--route=*=127.0.0.1:9", "--hostname=relay.test", "--dns=127.0.0.1:9",
             f"--admin=127.0.0.1:{admin}", f"--tls_cert={cert}", f"--tls_key={key}",
             f"--max_connections_per_client={4 * a.sessions}"],
            stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        sys.exit("relay did not start")
                    time.sleep(0.1)

            def rss():
                with open(f"/proc/{relay.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS"):
                            return int(line.split()[1]) * 1024
                return 0

            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE

            def open_sessions(tls):
                out = []
                for _ in range(a.sessions):
                    s = socket.create_connection(("127.0.0.1", tls_port if tls else port),
                                                 timeout=10)
                    if tls:
                        s = ctx.wrap_socket(s, server_hostname="localhost")
                    f = s.makefile("rb")
                    f.readline()
                    s.sendall(b"EHLO client.test\r\n")
                    while f.readline()[3:4] != b" ":
                        pass
                    out.append(s)
                return out

            base = rss()
            plain = open_sessions(False)
            after_plain = rss()
            tls = open_sessions(True)
            after_tls = rss()
            print(f"relay VmRSS {base // 1024} KiB at start; per idle session: "
                  f"plaintext {(after_plain - base) / a.sessions:.0f} B, "
                  f"TLS {(after_tls - after_plain) / a.sessions:.0f} B "
                  f"({a.sessions} of each)")
            for s in plain + tls:
                s.close()
        finally:
            relay.terminate()
            relay.wait(30)


if __name__ == "__main__":
    main()
