"""The include graph keeps the layout's promises (docs/architecture.md).

Runs over every source file of base/, dns/, queue/ and relay/ (the runfiles
of this test) and checks, from the #include "..." lines:

  - base/ includes nothing of ours but base/;
  - dns/ and queue/ include nothing from relay/;
  - relay/runtime/ (the ground floor) includes only itself and base/;
  - the outcome policy includes nothing of ours at all;
  - the owners (relay/inbound, relay/outbound, relay/delivery, relay/spool)
    never include relay/shard/: only the composition knows the owners;
  - no file includes itself through a chain (no include cycle);
  - no source file in relay/ is longer than 800 lines.
"""

import os
import re
import sys
import unittest

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
ROOTS = ("base", "dns", "queue", "relay")
MAX_LINES = 800


def load_sources():
    files = {}
    for root in ROOTS:
        for dirpath, _, names in os.walk(root):
            for name in names:
                if name.endswith((".h", ".cc")):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8") as f:
                        files[path] = f.read()
    return files


def ours(includes):
    return [i for i in includes if i.split("/", 1)[0] in ROOTS]


class LayeringTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = load_sources()
        cls.includes = {p: ours(INCLUDE.findall(text)) for p, text in cls.files.items()}

    def test_found_the_sources(self):
        self.assertIn("relay/shard/shard.cc", self.files)
        self.assertIn("dns/resolver.cc", self.files)
        self.assertIn("queue/spool.cc", self.files)
        self.assertGreater(len(self.files), 100)

    def check_prefixes(self, under, allowed, why):
        for path, incs in self.includes.items():
            if not path.startswith(under):
                continue
            for inc in incs:
                self.assertTrue(any(inc.startswith(a) for a in allowed),
                                f"{path} includes {inc}: {why}")

    def test_base_is_the_floor(self):
        self.check_prefixes("base/", ["base/"], "base/ depends on nothing of ours")

    def test_dns_and_queue_import_nothing_from_relay(self):
        for under in ("dns/", "queue/"):
            for path, incs in self.includes.items():
                if path.startswith(under):
                    for inc in incs:
                        self.assertFalse(inc.startswith("relay/"), f"{path} includes {inc}")

    def test_runtime_is_the_ground_floor(self):
        self.check_prefixes("relay/runtime/", ["relay/runtime/", "base/"],
                            "the io_uring runtime imports nothing above it")

    def test_protocol_parsers_are_pure(self):
        # Bytes in, decisions out: no I/O and nothing of the relay's above base/.
        self.check_prefixes("relay/proxy/", ["relay/proxy/", "base/"],
                            "the PROXY header parser is pure")
        self.check_prefixes("relay/admin/", ["relay/admin/", "base/"],
                            "the admin HTTP and metrics text code is pure")

    def test_outcome_policy_is_pure(self):
        for path in ("relay/delivery/outcome_policy.h", "relay/delivery/outcome_policy.cc"):
            incs = [i for i in self.includes[path] if i != "relay/delivery/outcome_policy.h"]
            self.assertEqual(incs, [], f"{path} includes {incs}")

    def test_owners_do_not_know_the_shard(self):
        for under in ("relay/inbound/", "relay/outbound/", "relay/delivery/", "relay/spool/"):
            for path, incs in self.includes.items():
                if path.startswith(under):
                    for inc in incs:
                        self.assertFalse(inc.startswith("relay/shard/"),
                                         f"{path} includes {inc}: owners take ports")

    def test_no_include_cycles(self):
        graph = {p: [i for i in incs if i in self.files] for p, incs in self.includes.items()}
        state = {}  # path -> 1 visiting, 2 done
        stack = []

        def visit(node):
            state[node] = 1
            stack.append(node)
            for nxt in graph.get(node, []):
                if state.get(nxt) == 1:
                    cycle = stack[stack.index(nxt):] + [nxt]
                    self.fail("include cycle: " + " -> ".join(cycle))
                if state.get(nxt) is None:
                    visit(nxt)
            stack.pop()
            state[node] = 2

        sys.setrecursionlimit(10000)
        for node in sorted(graph):
            if state.get(node) is None:
                visit(node)

    def test_relay_files_are_short(self):
        for path, text in self.files.items():
            if path.startswith("relay/"):
                lines = text.count("\n")
                self.assertLessEqual(lines, MAX_LINES, f"{path} has {lines} lines")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
