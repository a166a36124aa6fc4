"""ringpostctl, the binary: exit codes and messages without a relay.

ringpostctl (argument 1) is run against a loopback port where nothing
listens (a socket bound to it and never listening, held for the test, so
the kernel refuses the connection and no other process can take the port):
exit 1, and stderr names the address and the reason. Usage errors exit 2
with the reason and the usage; --help exits 0. Talking to a real relay is
the business of the end-to-end tests in tests/.
"""

import socket
import subprocess
import sys
import unittest

CTL = None  # set from argv in __main__


def run(*args):
    p = subprocess.run([CTL, *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


class RingpostctlTest(unittest.TestCase):
    def setUp(self):
        self.hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.hold.bind(("127.0.0.1", 0))  # bound, never listening
        self.port = self.hold.getsockname()[1]
        self.admin = f"127.0.0.1:{self.port}"

    def tearDown(self):
        self.hold.close()

    def test_nothing_listening_exits_1_naming_the_address(self):
        for args in (["summary"], ["--json", "flush"], ["suspend", "gmail.com", "--for", "1h"]):
            code, out, err = run(f"--admin={self.admin}", "--timeout=5s", *args)
            self.assertEqual(code, 1, (args, out, err))
            self.assertEqual(out, "")
            self.assertEqual(err, f"ringpostctl: cannot connect to {self.admin}: "
                                  "Connection refused\n")

    def test_ipv6_loopback_names_it_too(self):
        try:
            hold6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            hold6.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        with hold6:
            admin = f"[::1]:{hold6.getsockname()[1]}"
            code, _, err = run("inspect", "0190a1", f"--admin={admin}")
            self.assertEqual(code, 1, err)
            self.assertEqual(err, f"ringpostctl: cannot connect to {admin}: Connection refused\n")

    def test_usage_errors_exit_2_with_the_reason_and_the_usage(self):
        for args, reason in (
                ([], "no command given"),
                (["status"], 'unknown command "status"'),
                (["suspend"], "suspend needs a DOMAIN"),
                (["suspend", "gmail.com", "--for", "soon"],
                 '--for: bad duration "soon": expected a number (e.g. 30s, 10m, 2h, 1d, 1h30m)'),
                (["bounce"], "bounce needs exactly one of DOMAIN, --id ID and --sender ADDR"),
                (["summary", "--admin=nowhere"],
                 'bad --admin "nowhere": no port (expected ADDR:PORT, e.g. 127.0.0.1:8025 '
                 "or [::1]:8025)"),
        ):
            code, out, err = run(*args)
            self.assertEqual(code, 2, (args, err))
            self.assertEqual(out, "")
            self.assertTrue(err.startswith(f"ringpostctl: {reason}\n\nusage: ringpostctl "), err)

    def test_help_exits_0_with_the_usage_on_stdout(self):
        code, out, err = run("--help")
        self.assertEqual(code, 0)
        self.assertEqual(err, "")
        self.assertTrue(out.startswith("usage: ringpostctl [--admin=ADDR:PORT] [--json] "
                                       "[--timeout=10s] COMMAND\n"), out)
        for command in ("summary", "suspend", "resume", "flush", "bounce", "delete", "inspect"):
            self.assertIn(f"\n  {command} ", out)


if __name__ == "__main__":
    CTL = sys.argv[1]
    unittest.main(argv=sys.argv[:1])
