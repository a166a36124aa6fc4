#!/usr/bin/env python3
"""Writes the seed corpus for dns/response_fuzzer.cc into response_corpus/.

Each file is one DNS reply to "example.test" (MX, A or AAAA), valid or
wrong in one way. The fuzzer uses the first two bytes as the expected ID.
Re-run after changing it:  python3 dns/testdata/make_response_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "response_corpus")

MX, A, AAAA, CNAME, SOA, TXT, OPT = 15, 1, 28, 5, 6, 16, 41


def name(dotted):
    out = b""
    for label in dotted.split(".") if dotted else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(owner, rtype, rdata, ttl=300, rclass=1, owner_wire=None):
    o = owner_wire if owner_wire is not None else name(owner)
    return o + struct.pack(">HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def ip4(text):
    return bytes(int(x) for x in text.split("."))


def soa(zone, minimum):
    return name("ns." + zone) + name("host." + zone) + struct.pack(">IIIII", 1, 3600, 600, 86400, minimum)


def reply(qtype, answers=(), authority=(), additional=(), rid=0x2a2a, flags=0x8180,
          qname="example.test", counts=None):
    q = name(qname) + struct.pack(">HH", qtype, 1)
    c = counts or (1, len(answers), len(authority), len(additional))
    hdr = struct.pack(">HHHHHH", rid, flags, *c)
    return hdr + q + b"".join(answers) + b"".join(authority) + b"".join(additional)


OPT_RR = b"\0" + struct.pack(">HHIH", OPT, 1232, 0, 0)
seeds = {}
seeds["mx_two"] = reply(MX, [
    rr("example.test", MX, struct.pack(">H", 10) + name("mx1.example.test")),
    rr("example.test", MX, struct.pack(">H", 20) + name("mx2.example.test")),
], additional=[rr("mx1.example.test", A, ip4("192.0.2.1")), OPT_RR])
# The same with compression pointers (owner -> question name at offset 12).
seeds["mx_compressed"] = reply(MX, [
    rr("", MX, struct.pack(">H", 10) + b"\x03mx1\xc0\x0c", owner_wire=b"\xc0\x0c"),
    rr("", A, ip4("192.0.2.7"), owner_wire=b"\xc0\x0c"),
])
seeds["mx_null"] = reply(MX, [rr("example.test", MX, struct.pack(">H", 0) + b"\0")])
seeds["mx_loop_local"] = reply(MX, [
    rr("example.test", MX, struct.pack(">H", 10) + name("self.example.test")),
    rr("self.example.test", A, ip4("127.0.0.9")),
])
seeds["mx_cname_chain"] = reply(MX, [
    rr("example.test", CNAME, name("b.example.test"), ttl=100),
    rr("b.example.test", CNAME, name("c.example.test"), ttl=50),
    rr("c.example.test", MX, struct.pack(">H", 5) + name("mx.c.example.test")),
])
seeds["mx_cname_loop"] = reply(MX, [
    rr("example.test", CNAME, name("b.example.test")),
    rr("b.example.test", CNAME, name("example.test")),
])
seeds["nxdomain_soa"] = reply(MX, authority=[rr("test", SOA, soa("test", 120), ttl=900)],
                              flags=0x8183)
seeds["nodata_soa"] = reply(MX, authority=[rr("example.test", SOA, soa("example.test", 60))])
seeds["servfail"] = reply(MX, flags=0x8182)
seeds["truncated"] = reply(A, flags=0x8380)
seeds["a_many"] = reply(A, [rr("example.test", A, ip4("10.0.0.%d" % i)) for i in range(1, 40)])
seeds["aaaa"] = reply(AAAA, [rr("example.test", AAAA, bytes(15) + b"\x01")])
seeds["txt_mixed"] = reply(A, [rr("example.test", TXT, b"\x05hello"),
                               rr("example.test", A, ip4("192.0.2.3"))])
# The answer's owner (at offset 30: header 12 + question 18) points at itself.
seeds["bad_compression_loop"] = reply(MX, [
    rr("", MX, struct.pack(">H", 10) + b"\0", owner_wire=b"\xc0\x1e"),
])
seeds["self_pointer_question"] = struct.pack(">HHHHHH", 0x2a2a, 0x8180, 1, 0, 0, 0) + \
    b"\xc0\x0c" + struct.pack(">HH", MX, 1)
seeds["counts_lie"] = reply(MX, [rr("example.test", MX, struct.pack(">H", 10) + name("mx.test"))],
                            counts=(1, 300, 300, 300))
seeds["label_too_long"] = reply(MX, [rr("", MX, struct.pack(">H", 10) + name("mx.test"),
                                        owner_wire=b"\x40" + b"a" * 64 + b"\0")])
seeds["rdata_short"] = reply(A, [rr("example.test", A, b"\x01\x02")])
seeds["header_only"] = struct.pack(">HHHHHH", 0x2a2a, 0x8180, 0, 0, 0, 0)
seeds["empty_after_id"] = b"\x2a\x2a"

os.makedirs(OUT, exist_ok=True)
for key, data in sorted(seeds.items()):
    with open(os.path.join(OUT, key), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {OUT}")
