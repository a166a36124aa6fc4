"""Debian's real unbound on a loopback port, serving a static test zone.

Tests that need the relay to resolve MX records start it with their own
zone lines (unbound.conf `local-zone`/`local-data`); names outside the zone
get no answer from upstream (there is none), names inside it that have no
data get NXDOMAIN.
"""
import os
import socket
import struct
import time

from tests.lib import harness as h

UNBOUND = "/usr/sbin/unbound"


def start_unbound(wd, port, zone):
    conf = os.path.join(wd, "unbound.conf")
    with open(conf, "w") as f:
        f.write("server:\n")
        for line in [
            "verbosity: 1", "interface: 127.0.0.1", f"port: {port}", "do-ip4: yes",
            "do-ip6: no", "do-udp: yes", "do-tcp: yes", "do-daemonize: no",
            'username: ""', 'chroot: ""', f'directory: "{wd}"', 'pidfile: ""',
            'logfile: ""', "use-syslog: no", "num-threads: 1",
            "access-control: 127.0.0.0/8 allow", "do-not-query-localhost: no",
            'module-config: "iterator"', *zone,
        ]:
            f.write(f"  {line}\n")
        f.write("remote-control:\n  control-enable: no\n")
    return h.Proc("unbound", [UNBOUND, "-d", "-c", conf], wd)


def wait_dns(port, timeout=15, name=b"\x07example\x04test\x00"):
    """unbound answers: a raw UDP query for `name` (wire form) SOA gets a reply."""
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    query += name + struct.pack(">HH", 6, 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            try:
                s.sendto(query, ("127.0.0.1", port))
                if s.recv(512)[:2] == b"\x12\x34":
                    return
            except OSError:
                pass
        time.sleep(0.1)
    raise TimeoutError("unbound did not answer")
