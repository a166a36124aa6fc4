"""The relay finds mail exchangers itself, against Debian's real unbound.

unbound serves a test zone on a loopback port; bundled sinks listen on
127.0.0.2, .3, .5 and .6 (one port, the relay's --dest_port). Each domain is
delivered, failed over, or bounced as RFC 5321 section 5 / RFC 7505 say, and
the delivery log names the address that took the mail.
"""
import os
import smtplib
import subprocess
import sys
import time
import unittest

from tests.lib import harness as h
from tests.lib.dns_server import UNBOUND, start_unbound, wait_dns

ZONE = [
    'local-zone: "example.test." static',
    'local-data: "example.test. 300 IN SOA ns.example.test. host.example.test. 1 3600 600 86400 60"',
    'local-data: "two.example.test. 300 IN MX 20 mx2.two.example.test."',
    'local-data: "two.example.test. 300 IN MX 10 mx1.two.example.test."',
    'local-data: "mx1.two.example.test. 300 IN A 127.0.0.2"',
    'local-data: "mx2.two.example.test. 300 IN A 127.0.0.3"',
    # The preferred MX refuses connections (nothing listens on 127.0.0.4).
    'local-data: "refuse.example.test. 300 IN MX 10 down.refuse.example.test."',
    'local-data: "refuse.example.test. 300 IN MX 20 up.refuse.example.test."',
    'local-data: "down.refuse.example.test. 300 IN A 127.0.0.4"',
    'local-data: "up.refuse.example.test. 300 IN A 127.0.0.5"',
    'local-data: "implicit.example.test. 300 IN A 127.0.0.6"',
    'local-data: "nullmx.example.test. 300 IN MX 0 ."',
    'local-data: "alias.example.test. 300 IN CNAME two.example.test."',
]


class RelayMx(unittest.TestCase):
    def test_mx_rules_against_real_unbound(self):
        self.assertTrue(os.access(UNBOUND, os.X_OK),
                        f"{UNBOUND} missing: tools/dev installs Debian's unbound")
        bins = h.Binaries(ARGV)
        wd = h.workdir("mx")
        # The sinks' port must be free on each of their addresses, and on
        # 127.0.0.4 too, where the "refuse" case expects a refused connect.
        mx_port = h.free_port(hosts=[f"127.0.0.{last}" for last in (2, 3, 4, 5, 6)])
        dns_port, relay_port = h.free_port(), h.free_port()
        unbound = start_unbound(wd, dns_port, ZONE)
        sinks = []
        relay = None
        try:
            wait_dns(dns_port)
            for last in (2, 3, 5, 6):
                name = f"sink{last}"
                p = h.Proc(name, [bins.sink, f"--listen=127.0.0.{last}:{mx_port}",
                                  f"--record_ids={wd}/{name}.ids",
                                  f"--report={wd}/{name}.json"], wd)
                sinks.append(p)
                h.wait_port(mx_port, host=f"127.0.0.{last}", proc=p)
            relay = h.start_relay(bins, wd, relay_port, None, f"--dns=127.0.0.1:{dns_port}",
                                  f"--dest_port={mx_port}", "--retry_min=60s",
                                  "--connect_timeout=2s")
            cases = ["two", "refuse", "implicit", "nullmx", "alias", "nx"]
            with smtplib.SMTP("127.0.0.1", relay_port, timeout=30) as s:
                for c in cases:
                    body = f"Subject: {c}\r\nX-Ringpost-Test-Id: {c}\r\n\r\n{c}\r\n"
                    s.sendmail("a@origin.test", [f"user@{c}.example.test"], body.encode())
            h.wait_for(lambda: sum(h.count_types(h.delivery_log(wd)).get(t, 0)
                                   for t in ("Delivery", "Bounce")) >= len(cases),
                       timeout=30, what="every case decided")
        finally:
            if relay:
                self.assertEqual(relay.stop(), 0, relay.stderr())
            for p in sinks:
                p.stop()
            unbound.stop()

        final = {}
        for r in h.delivery_log(wd):
            # (The bounces of nx and nullmx go to a@origin.test, which this
            # zone does not know: those fail too, from <>.)
            if r["type"] in ("Delivery", "Bounce") and r["sender"]:
                final[r["domain"].split(".")[0]] = r
        got = {k: (v["type"], v["peer"] if v["type"] == "Delivery" else v["enhanced"])
               for k, v in final.items()}
        self.assertEqual(got, {
            "two": ("Delivery", f"127.0.0.2:{mx_port}"),       # lowest preference
            "refuse": ("Delivery", f"127.0.0.5:{mx_port}"),    # next MX after refusal
            "implicit": ("Delivery", f"127.0.0.6:{mx_port}"),  # A record, no MX
            "alias": ("Delivery", f"127.0.0.2:{mx_port}"),     # CNAME followed
            "nullmx": ("Bounce", "5.1.10"),                    # RFC 7505
            "nx": ("Bounce", "5.1.2"),                         # NXDOMAIN
        })
        self.assertEqual(sorted(h.read_lines(f"{wd}/sink2.ids")), ["alias", "two"])
        self.assertEqual(h.read_lines(f"{wd}/sink5.ids"), ["refuse"])
        self.assertEqual(h.read_lines(f"{wd}/sink6.ids"), ["implicit"])
        self.assertEqual(h.read_lines(f"{wd}/sink3.ids"), [])


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
