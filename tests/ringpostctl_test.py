"""Queue operations through `ringpostctl` against a real relay (two shards)
and the bundled sinks: suspend, resume, flush, bounce, delete, inspect,
summary. Every operation applies across the shards, and what changes mail
is journaled (a restart recovers nothing that was bounced or deleted).
"""
import json
import os
import subprocess
import sys
import unittest

from tests.lib import harness as h

SENDER = "sender@origin.test"


class Ctl(unittest.TestCase):
    def setUp(self):
        self.bins = h.Binaries(ARGV)
        self.ctl_bin = ARGV[4]
        self.wd = h.workdir("ctl")
        self.save_dir = os.path.join(self.wd, "notices")
        os.makedirs(self.save_dir)
        self.back_port = h.free_port()
        self.procs = [h.start_sink(self.bins, self.wd, self.back_port,
                                   f"--save_dir={self.save_dir}", name="back")]
        self.dest_port = h.free_port()
        # The first attempt of each message is deferred (451), later ones
        # delivered: flush has something to do.
        self.procs.append(h.start_sink(self.bins, self.wd, self.dest_port,
                                       "--fail_first_attempt_4xx", name="dest"))
        self.closed_port = h.free_port()
        self.spool = os.path.join(self.wd, "spool")
        self.relay = None
        self.start_relay()

    def start_relay(self, name="relay"):
        self.relay_port, self.admin_port = h.free_port(), h.free_port()
        self.relay = h.start_relay(
            self.bins, self.wd, self.relay_port, None, "--shards=2",
            f"--admin=127.0.0.1:{self.admin_port}", "--retry_min=1h", "--retry_max=1h",
            f"--route=origin.test=127.0.0.1:{self.back_port}",
            f"--route=dead.test=127.0.0.1:{self.closed_port}",
            f"--route=*=127.0.0.1:{self.dest_port}", spool=self.spool, name=name)
        h.wait_port(self.admin_port, proc=self.relay)

    def tearDown(self):
        if self.relay is not None:
            self.assertEqual(self.relay.stop(), 0, self.relay.stderr())
        for p in self.procs:
            p.stop()

    def ctl(self, *args, expect=0):
        p = subprocess.run([self.ctl_bin, f"--admin=127.0.0.1:{self.admin_port}", "--json",
                            *args], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, expect, f"ringpostctl {args}: {p.stdout} {p.stderr}")
        return json.loads(p.stdout) if expect == 0 else p

    def send(self, domain, n=1):
        rc, summary = h.run_loadgen(self.bins, self.wd, self.relay_port, f"--messages={n}",
                                    "--connections=1", f"--rcpt_domains={domain}",
                                    f"--sender={SENDER}", "--size=512", timeout=60)
        self.assertEqual(rc, 0, summary)

    def records(self, kind, domain):
        return [r for r in h.delivery_log(self.wd) if r["type"] == kind and r["domain"] == domain]

    def wait_records(self, kind, domain, n):
        h.wait_for(lambda: len(self.records(kind, domain)) >= n, timeout=30,
                   what=f"{n} {kind} records for {domain}")
        return self.records(kind, domain)

    def queued(self, domain):
        rows = [d for d in self.ctl("summary")["destinations"] if d["domain"] == domain]
        return rows[0] if rows else None

    def test_suspend_holds_and_resume_releases(self):
        self.assertEqual(self.ctl("suspend", "held.test"), {"suspended": "held.test", "until": None})
        self.send("held.test", 3)
        self.send("other.test", 2)
        # Other destinations go on (deferred once, by this sink).
        self.wait_records("TransientFailure", "other.test", 2)
        h.wait_for(lambda: (self.queued("held.test") or {}).get("queued") == 3, timeout=30,
                   what="three held recipients in the summary")
        row = self.queued("held.test")
        self.assertEqual(row["state"], "suspended")
        self.assertEqual(self.records("TransientFailure", "held.test"), [])
        [s] = self.ctl("summary")["suspensions"]
        self.assertEqual((s["name"], s["set_by"]), ("held.test", "operator"))
        # Resume: tried at once.
        self.assertEqual(self.ctl("resume", "held.test")["released"], 3)
        self.wait_records("TransientFailure", "held.test", 3)
        self.assertEqual(self.ctl("summary")["suspensions"], [])

    def test_suspend_for_a_while_ends_by_itself(self):
        out = self.ctl("suspend", "timed.test", "--for", "2s")
        self.assertIsNotNone(out["until"])
        self.send("timed.test", 1)
        [first] = self.wait_records("TransientFailure", "timed.test", 1)
        self.assertGreaterEqual(first["event_at"], out["until"][:19])

    def test_flush_retries_deferred_mail_now(self):
        self.send("flush.test", 2)
        self.wait_records("TransientFailure", "flush.test", 2)
        self.assertEqual(self.ctl("flush", "flush.test"), {"flushed": 2})
        delivered = self.wait_records("Delivery", "flush.test", 2)
        self.assertTrue(all(r["attempt"] == 2 for r in delivered), delivered)

    def test_bounce_domain_tells_the_sender_and_survives_a_restart(self):
        self.send("dead.test", 2)
        self.wait_records("TransientFailure", "dead.test", 2)
        self.assertEqual(self.ctl("bounce", "dead.test"), {"bounced": 2})
        bounces = self.wait_records("Bounce", "dead.test", 2)
        self.assertTrue(all(r["category"] == "operator" for r in bounces), bounces)
        h.wait_for(lambda: len(os.listdir(self.save_dir)) >= 4, timeout=30,
                   what="two bounce messages at the sender's sink")  # .eml + .env each
        self.assertEqual(self.relay.stop(), 0, self.relay.stderr())
        self.start_relay(name="relay-again")
        self.assertEqual(h.recovered_messages(self.relay), 0)

    def test_inspect_then_delete_by_id(self):
        self.send("dead.test", 1)
        [deferred] = self.wait_records("TransientFailure", "dead.test", 1)
        mid = deferred["id"]
        found = self.ctl("inspect", mid)
        self.assertEqual(found["id"], mid)
        [job] = found["jobs"]
        self.assertEqual(job["state"], "deferred")
        self.assertEqual(job["sender"], SENDER)
        self.assertEqual(job["attempts"], 1)
        self.assertIn("refused", job["last_reply"].lower())
        self.assertIsNotNone(job["next_attempt"])
        self.assertEqual(self.ctl("delete", "--id", mid), {"deleted": 1})
        [deleted] = self.wait_records("Bounce", "dead.test", 1)
        self.assertEqual(deleted["category"], "operator")
        self.ctl("inspect", mid, expect=1)  # nothing queued with that id now
        # No notice for a deletion: stopped, the relay has logged everything.
        self.assertEqual(self.relay.stop(), 0, self.relay.stderr())
        self.relay = None
        self.assertEqual(h.count_types(h.delivery_log(self.wd)).get("Notice", 0), 0)

    def test_bad_requests(self):
        p = subprocess.run([self.ctl_bin, f"--admin=127.0.0.1:{self.admin_port}", "frobnicate"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.ctl("bounce", expect=2)  # needs a selector
        self.ctl("suspend", "not a domain", expect=1)  # the relay answers 400


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
