#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/ (tests/fuzz/corpus/<target>/).

Seeds are small, hand-picked inputs that reach each parser's interesting
states quickly: valid commands and every malformed shape we know, DATA
streams with each smuggling sequence, multi-line and broken replies, spool
files with real records (valid CRC32C) and damage, configuration files.
libFuzzer grows its own working corpus from these (tools/fuzz keeps that
outside the repository). Run from the repository root:

    python3 tests/fuzz/make_seeds.py

It only (re)writes files named seed-*; regress-* files (inputs that once
crashed or broke an invariant) and merged inputs are left alone.
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# --- CRC32C (Castagnoli), as queue/crc32c.cc computes it ---------------------
_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- queue/record.h format ----------------------------------------------------
RECORD_MAGIC = 0x31525052
FILE_MAGIC = 0x46535052


def frame(rtype, seq, payload):
    head = struct.pack("<IIQI", RECORD_MAGIC, rtype, seq, len(payload))
    crc = crc32c(payload, crc32c(head))
    pad = (-len(payload)) % 8
    return head + struct.pack("<I", crc) + payload + b"\0" * pad


FLAG_EXTENSIONS = 4


def extensions(envid=b"", ret=0, notify=(), orcpt=(), reports_on_id=0, reports_on=()):
    """The extension block (DSN parameters, bounce bookkeeping) of record.cc."""
    b = struct.pack("<B3xI", ret, len(envid)) + envid
    b += struct.pack("<I", len(notify)) + bytes(notify)
    b += struct.pack("<I", len(orcpt))
    for o in orcpt:
        b += struct.pack("<I", len(o)) + o
    b += struct.pack("<QI", reports_on_id, len(reports_on))
    b += b"".join(struct.pack("<I", r) for r in reports_on)
    return struct.pack("<I", len(b)) + b


def message(seq, msg_id, sender, rcpts, body, flags=0, queued_at=1700000000000, ext=b""):
    if ext:
        flags |= FLAG_EXTENSIONS
    p = struct.pack("<QqIIII", msg_id, queued_at, flags, len(sender), len(rcpts), len(body))
    p += sender
    for r in rcpts:
        p += struct.pack("<I", len(r)) + r
    p += ext + body
    return frame(1, seq, p)


def outcome(seq, msg_id, rcpt_index, kind):
    return frame(2, seq, struct.pack("<QIB3x", msg_id, rcpt_index, kind))


def file_header(seq, kind):
    h = struct.pack("<IIQI", FILE_MAGIC, 1, seq, kind)
    h += struct.pack("<I", crc32c(h))
    return h + b"\0" * (4096 - len(h))


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def command_parser():
    lines = {
        "helo": b"HELO client.example.org",
        "ehlo": b"EHLO client.example.org",
        "ehlo-literal": b"EHLO [192.0.2.1]",
        "mail": b"MAIL FROM:<sender@example.org>",
        "mail-null": b"MAIL FROM:<>",
        "mail-params": b"MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME SMTPUTF8",
        "mail-space": b"mail from: <a@b.example> size=1",
        "mail-quoted": b'MAIL FROM:<"john..doe\\ x"@example.org>',
        "mail-route": b"MAIL FROM:<@relay1.example,@relay2.example:user@example.org>",
        "mail-utf8": "MAIL FROM:<j\u00f6rg@b\u00fccher.example> SMTPUTF8".encode(),
        "mail-badutf8": b"MAIL FROM:<j\xc3\x28rg@example.org>",
        "mail-dsn": b"MAIL FROM:<a@b.example> RET=HDRS ENVID=QQ314159",
        "mail-dsn-xtext": b"MAIL FROM:<a@b.example> ret=full envid=a+2Bb+20c+3D",
        "mail-dsn-lowerhex": b"MAIL FROM:<a@b.example> ENVID=a+2bb",
        "mail-dsn-long": b"MAIL FROM:<a@b.example> ENVID=" + b"e" * 99 + b"+41",
        "mail-dsn-repeated": b"MAIL FROM:<a@b.example> RET=FULL RET=HDRS",
        "rcpt": b"RCPT TO:<rcpt@example.com>",
        "rcpt-postmaster": b"RCPT TO:<Postmaster>",
        "rcpt-ipv4": b"RCPT TO:<user@[192.0.2.7]>",
        "rcpt-ipv6": b"RCPT TO:<user@[IPv6:2001:db8::1]>",
        "rcpt-notify": b"RCPT TO:<a@b.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b.example",
        "rcpt-notify-never": b"RCPT TO:<a@b.example> notify=never",
        "rcpt-notify-never-and": b"RCPT TO:<a@b.example> NOTIFY=NEVER,DELAY",
        "rcpt-orcpt-xtext": b"RCPT TO:<a@b.example> ORCPT=rfc822;first+2Blast+3D@b.example X=1",
        "rcpt-orcpt-bad": b"RCPT TO:<a@b.example> ORCPT=rfc822;a+0D+0A@b.example",
        "rcpt-orcpt-notype": b"RCPT TO:<a@b.example> ORCPT=a@b.example",
        "rcpt-null": b"RCPT TO:<>",
        "rcpt-noangle": b"RCPT TO:user@example.com",
        "rcpt-long-local": b"RCPT TO:<" + b"x" * 65 + b"@example.com>",
        "rcpt-long-domain": b"RCPT TO:<a@" + b"a" * 63 + (b"." + b"b" * 63) * 4 + b">",
        "data": b"DATA",
        "data-arg": b"DATA now",
        "bdat": b"BDAT 1000",
        "bdat-last": b"BDAT 0 LAST",
        "bdat-huge": b"BDAT 99999999999999999999999",
        "rset": b"RSET",
        "noop": b"NOOP whatever",
        "quit": b"QUIT",
        "help": b"HELP MAIL",
        "vrfy": b"VRFY postmaster",
        "expn": b"EXPN list",
        "starttls": b"STARTTLS",
        "auth": b"AUTH PLAIN AGFsaWNlAHNlY3JldA==",
        "unknown": b"XYZZY",
        "nul": b"MAIL FROM:<a\0@b.example>",
        "ctl": b"HELO a\x01b",
        "empty": b"",
        "spaces": b"     ",
        "too-long": b"NOOP " + b"a" * 600,
        "params-many": b"MAIL FROM:<a@b.example>" + b"".join(b" K%d=v" % i for i in range(10)),
        "size-overflow": b"MAIL FROM:<a@b.example> SIZE=18446744073709551616",
        "http": b"GET / HTTP/1.1",
    }
    for name, line in lines.items():
        write("command_parser", name, line)


def data_scanner():
    defaults = b"\0\0\0\0\0"      # default limits, random chunks (mode from 0)
    small = struct.pack("<HHB", 20, 200, 1)
    streams = {
        "simple": b"Subject: hi\r\n\r\nhello\r\n.\r\n",
        "empty": b".\r\n",
        "stuffed": b"..leading dot\r\n...two\r\n.\r\n",
        "pipelined": b"a\r\n.\r\nMAIL FROM:<x@y>\r\nb\r\n.\r\n",
        "smuggle-lf": b"a\r\n\n.\n\r\nMAIL FROM:<evil@x>\r\n.\r\n",
        "smuggle-cr": b"a\r\n\r.\r\r\nRCPT TO:<evil@x>\r\n.\r\n",
        "smuggle-lf-crlf": b"a\n.\r\nMAIL FROM:<evil@x>\r\n.\r\n",
        "smuggle-crlf-lf": b"a\r\n.\nMAIL FROM:<evil@x>\r\n.\r\n",
        "smuggle-dot-cr": b"a\r\n.\rX\r\n.\r\n",
        "bare-cr-at-end": b"a\r",
        "eightbit": "caf\u00e9\r\n.\r\n".encode(),
        "nul": b"a\0b\r\n.\r\n",
        "long-line": b"x" * 1200 + b"\r\n.\r\n",
        "no-end": b"Subject: x\r\n\r\nbody without end\r\n",
    }
    for name, data in streams.items():
        write("data_scanner", name, defaults + data)
    write("data_scanner", "small-limits", small + b"0123456789012345678901\r\n" * 12 + b".\r\n")


def reply_parser():
    replies = {
        "greeting": b"220 mx.example.com ESMTP\r\n",
        "ehlo": (b"250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                 b"250-8BITMIME\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n"
                 b"250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-AUTH PLAIN LOGIN\r\n"
                 b"250 BINARYMIME\r\n"),
        "pipelined": (b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <x@y>: no such user\r\n"
                      b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        "bare-lf": b"250 ok\n251 2.1.5 forwarded\n",
        "bare-code": b"250\r\n",
        "enhanced-mismatch": b"451 5.1.1 class differs\r\n",
        "bad-code": b"199 nope\r\n",
        "letters": b"2x0 nope\r\n",
        "bad-separator": b"250_ok\r\n",
        "code-mismatch": b"250-first\r\n251 second\r\n",
        "long-line": b"250 " + b"x" * 3000 + b"\r\n",
        "many-lines": b"250-x\r\n" * 130 + b"250 end\r\n",
        "garbage": b"\x00\xff\xfe HTTP/1.1 400 Bad Request\r\n",
        "partial": b"250-mx.example.com\r\n250-PIPE",
    }
    for name, data in replies.items():
        write("reply_parser", name, b"\0" + data)


def spool_records():
    seq = 7
    m1 = message(seq, 0x0400000000000001, b"sender@example.org",
                 [b"a@example.com", b"b@example.net"], b"Subject: x\r\n\r\nbody\r\n")
    m2 = message(seq, 0x0400000000000002, b"", [b"c@example.com"], b"", flags=3)
    o1 = outcome(seq, 0x0400000000000001, 0, 1)
    o2 = outcome(seq, 0x0400000000000001, 1, 2)
    zero = b"\0" * 24
    write("spool_records", "messages", bytes([0, seq]) + m1 + m2 + zero)
    write("spool_records", "messages-fixup", bytes([1, seq]) + m1 + m2 + zero)
    write("spool_records", "outcomes", bytes([2, seq]) + o1 + o2 + zero)
    damaged = bytearray(m1 + m2)
    damaged[40] ^= 0xFF
    write("spool_records", "damaged", bytes([0, seq]) + bytes(damaged) + zero)
    stale = m1 + message(seq - 1, 9, b"old@x", [b"r@x"], b"stale")
    write("spool_records", "stale-tail", bytes([0, seq]) + stale)
    torn = (m1 + m2)[: len(m1) + 30]
    write("spool_records", "torn", bytes([0, seq]) + torn)
    write("spool_records", "header", bytes([0, seq]) + file_header(seq, 1)[:64])
    dsn = message(seq, 0x0400000000000003, b"s@example.org", [b"a@example.com", b"b@example.net"],
                  b"Subject: dsn\r\n\r\n", ext=extensions(
                      envid=b"QQ314159", ret=2, notify=(3, 8),
                      orcpt=(b"rfc822;a@example.com", b"")))
    bounce = message(seq, 0x0400000000000004, b"", [b"s@example.org"], b"Subject: bounce\r\n\r\n",
                     ext=extensions(reports_on_id=0x0400000000000003, reports_on=(0, 1)))
    write("spool_records", "dsn", bytes([0, seq]) + m1 + dsn + bounce + zero)
    write("spool_records", "dsn-fixup", bytes([1, seq]) + dsn + bounce + zero)
    flagged_empty = message(seq, 5, b"", [b"c@example.com"], b"x", ext=extensions())
    write("spool_records", "dsn-flagged-empty", bytes([1, seq]) + flagged_empty + zero)


def spool_recovery():
    seq = 3
    ids = [0x0000000000000101 + i for i in range(3)]
    dat = (message(seq, ids[0], b"s@example.org", [b"a@example.com", b"b@example.com"],
                   b"Subject: one\r\n\r\n1\r\n")
           + message(seq, ids[1], b"", [b"c@example.com"], b"Subject: two\r\n\r\n2\r\n")
           + message(seq, ids[2], b"s@example.org", [b"d@example.com"], b"three\r\n")
           + b"\0" * 24)
    jnl = outcome(seq, ids[0], 0, 1) + outcome(seq, ids[2], 0, 2) + b"\0" * 24

    def seed(flags, dat_part, jnl_part):
        return bytes([flags, seq - 1]) + struct.pack("<H", len(dat_part)) + dat_part + jnl_part

    write("spool_recovery", "clean", seed(0, dat, jnl))
    write("spool_recovery", "fixup", seed(3, dat, jnl))
    write("spool_recovery", "no-journal", seed(16, dat, b""))
    write("spool_recovery", "recycled-header", seed(32, dat, jnl))
    torn = bytearray(dat)
    torn[len(dat) - 40] ^= 0x55
    write("spool_recovery", "torn", seed(0, bytes(torn), jnl))
    write("spool_recovery", "raw-garbage", seed(12, b"\x52\x50\x52\x31" * 64, b"\xff" * 100))
    all_done = (outcome(seq, ids[0], 1, 1) + outcome(seq, ids[1], 0, 1)) + jnl
    write("spool_recovery", "all-done", seed(0, dat, all_done))
    write("spool_recovery", "outcome-out-of-range",
          seed(0, dat, outcome(seq, ids[0], 7, 1) + outcome(seq, 999, 0, 1)))
    dup = dat[:-24] + message(seq, ids[0], b"dup@x", [b"r@x"], b"dup") + b"\0" * 24
    write("spool_recovery", "duplicate-id", seed(0, dup, jnl))
    dsn = dat[:-24] + message(seq, 0x0000000000000104, b"s@example.org",
                              [b"e@example.com", b"f@example.com"], b"four\r\n",
                              ext=extensions(envid=b"ID", ret=1, notify=(2, 6))) + b"\0" * 24
    write("spool_recovery", "dsn", seed(0, dsn, jnl))


def config():
    example = os.path.join(os.path.dirname(ROOT), "..", "..", "docs", "ringpost.example.toml")
    with open(example, "rb") as f:
        write("config", "example", f.read())
    docs = {
        "minimal": b'listen = ["127.0.0.1:2525"]\nspool = "/tmp/rp"\nroute = ["*=127.0.0.1:2526"]\n',
        "durations": b'retry_min = "1h30m"\nretry_max = "2d"\nidle_timeout = "250ms"\nmax_age = "0"\n',
        "bytes": b'max_message_size = "10MiB"\nsegment_bytes = "64K"\ncommit_max_bytes = 4096\n',
        "ipv6": b'listen = ["[::1]:25"]\nrelay_networks = ["2001:db8::/32", "10.0.0.0/8"]\n'
                b'route = ["example.com=[2001:db8::1]:587", "Example.ORG=mx.example.net"]\n',
        "bad-key": b'no_such_key = 1\n',
        "bad-value": b'shards = -1\nretry_min = "forever"\n',
        "wrong-type": b'listen = 25\nhostname = ["a", "b"]\n',
        "table": b'[server]\nlisten = "x"\n',
        "durability": b'durability = "none"\n',
        "strings": b'hostname = "relay\\nexample"\ntls_cert = "/a"\ntls_key = "/b"\n',
        "syntax": b'listen = ["unterminated\n',
        "dup": b'shards = 1\nshards = 2\n',
    }
    for name, data in docs.items():
        write("config", name, data)


def session():
    ehlo = b"EHLO client.test\r\n"
    txn = (b"MAIL FROM:<a@origin.test>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n"
           b"Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\n")
    transcripts = {
        "simple": ehlo + txn + b"QUIT\r\n",
        "pipelined": ehlo + txn * 5 + b"QUIT\r\n",
        "bdat": ehlo + b"MAIL FROM:<a@o.test>\r\nRCPT TO:<b@d.test>\r\n"
                b"BDAT 10\r\n0123456789BDAT 5 LAST\r\nab\r\n\r\nNOOP\r\n",
        "smuggling": ehlo + b"MAIL FROM:<a@o.test>\r\nRCPT TO:<b@d.test>\r\nDATA\r\n"
                     b"x\r\n\n.\nMAIL FROM:<e@o.test>\r\n.\r\nNOOP\r\n",
        "errors": b"HELO\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x>\r\nDATA\r\n\x00\xff\r\n"
                  b"NOOP\nNOOP\rX\r\n" + b"BAD\r\n" * 25,
        "limits": ehlo + b"MAIL FROM:<a@o.test> SIZE=99999999\r\nMAIL FROM:<a@o.test>\r\n"
                  + b"".join(b"RCPT TO:<r%d@d.test>\r\n" % i for i in range(5))
                  + b"DATA\r\n" + b"y" * 100 + b"\r\n.\r\n",
        "long-line": ehlo + b"NOOP " + b"z" * 3000 + b"\r\nNOOP\r\n",
        "dsn": ehlo + b"MAIL FROM:<a@o.test> RET=HDRS ENVID=QQ+2B314\r\n"
               b"RCPT TO:<b@d.test>\r\nRCPT TO:<c@d.test> NOTIFY=SUCCESS,DELAY\r\n"
               b"RCPT TO:<d@d.test> ORCPT=rfc822;d+2Bx@d.test NOTIFY=NEVER\r\n"
               b"RCPT TO:<Postmaster> NOTIFY=FAILURE\r\n"
               b"DATA\r\nSubject: dsn\r\n\r\nbody\r\n.\r\nQUIT\r\n",
        "dsn-errors": ehlo + b"MAIL FROM:<a@o.test> RET=FULL RET=FULL\r\n"
                      b"MAIL FROM:<a@o.test> ENVID=a+2b\r\nMAIL FROM:<a@o.test> ENVID=x\r\n"
                      b"RCPT TO:<b@d.test> NOTIFY=NEVER,FAILURE\r\n"
                      b"RCPT TO:<c@d.test> ORCPT=rfc822;c+0A\r\n"
                      b"RCPT TO:<d@d.test> XFOO=1 NOTIFY=DELAY\r\n"
                      b"RCPT TO:<e@d.test>\r\nRCPT TO:<f@d.test> ORCPT=rfc822;f@d.test\r\n"
                      b"BDAT 4 LAST\r\nab\r\nRSET\r\n" + txn,
    }
    for name, data in transcripts.items():
        write("session", name, bytes([1, 7]) + data)
    write("session", "small-limits-failing", bytes([1 | 4 | 8, 3]) + ehlo + txn * 4)
    write("session", "no-relay", bytes([0, 1]) + ehlo + txn)
    write("session", "spool-full", bytes([1 | 2, 1]) + ehlo + txn)
    write("session", "shutdown", bytes([1 | 16 | 32, 9]) + ehlo + txn[:60])
    write("session", "dsn-no-relay-small-limits", bytes([4, 5]) + ehlo
          + b"MAIL FROM:<a@o.test> ENVID=e\r\nRCPT TO:<x@d.test> NOTIFY=SUCCESS\r\n"
          + b"".join(b"RCPT TO:<postmaster> ORCPT=rfc822;p%d\r\n" % i for i in range(5))
          + b"DATA\r\nx\r\n.\r\n")


def bounce_rules():
    # Input: flags (1: no enhanced code given, 2: also the shipped rules),
    # code selector, rules text, NUL, reply (bounce_rules_fuzz.cc).
    conf = os.path.join(os.path.dirname(ROOT), "..", "..", "dist", "bounce_rules.conf")
    with open(conf, "rb") as f:
        shipped = f.read()
    small = (b"# test rules\n"
             b"invalid-recipient  user unknown\n"
             b"transient 4xx  try (?:again )?later\n"
             b"policy 5XX  \\bblock ?list(?:ed)?\\b\n"
             b"content  caf\xc3\xa9 \\x{263A}\n")
    gmail = (b"550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
             b"550-5.1.1 double-checking the recipient's email address for typos or\r\n"
             b"550 5.1.1 unnecessary spaces.")
    seeds = {
        "shipped-gmail": bytes([2, 6]) + shipped + b"\0" + gmail,
        "shipped-yahoo": bytes([3, 2]) + shipped + b"\0" +
                         b"421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred",
        "small-rules": bytes([2, 6]) + small + b"\0" + b"550 5.1.1 User unknown",
        "small-as-reply": bytes([0, 0x33]) + small,
        "class-filter": bytes([1, 3]) + small + b"\0" + b"450 Try again later",
        "no-code": bytes([0, 0x40]) + small + b"\0" + b"4.2.0 mailbox busy\n5.2.0 odd",
        "lf-lines": bytes([1, 6]) + small + b"\0" + b"5.7.26 This mail is\n5.7.26 unauthenticated",
        "unknown-category": bytes([0, 0]) + b"\n# c\nspam viagra\n",
        "bad-regex": bytes([0, 0]) + b"content (unclosed\n",
        "empty-match": bytes([0, 0]) + b"content x*\n",
        "class-2xx": bytes([0, 0]) + b"content 2xx queued\n",
        "no-regex": bytes([0, 0]) + b"policy 5xx   \n",
        "bad-utf8": bytes([2, 6]) + b"content caf\xe9\n\0" + b"550 caf\xe9 \xff\xfe",
        "long-reply": bytes([2, 6]) + small + b"\0" + b"550 " + b"a " * 6000,
        "pathological": bytes([0, 6]) + b"content (a|aa)+b\ncontent (?:x+x+)+y\n\0" + b"a" * 5000,
        "crlf-file": bytes([0, 6]) + small.replace(b"\n", b"\r\n") + b"\0" + b"552 Mailbox full",
    }
    for name, data in seeds.items():
        write("bounce_rules", name, data)


def dsn_report():
    # Input: flags (bits 0-1 kind, 2 RET=FULL, 3 no RET, 4 two recipients,
    # 5 max_age, 6 last attempt), u16 size_limit, code selector, then
    # NUL-separated fields and the original (dsn_report_fuzz.cc).
    def seed(flags, limit, code, fields, original):
        return bytes([flags]) + struct.pack("<H", limit) + bytes([code]) + \
            b"\0".join(fields) + b"\0" + original
    original = (b"From: Alice <alice@sender.example>\r\nTo: bob@example.com\r\n"
                b"Subject: Quarterly report\r\nMessage-ID: <o1@sender.example>\r\n\r\n"
                b"Hello Bob,\r\nthe numbers.\r\n")
    plain = [b"alice@sender.example", b"QQ314159", b"bob@example.com",
             b"rfc822;bob@example.com", b"mx.example.com",
             b"550-5.1.1 The email account that you tried to reach does not exist.\r\n"
             b"550 5.1.1 Please try double-checking.",
             b"The recipient's mail server says this address does not exist.",
             b"invalid-recipient", b"5.1.1", b"relay.example.net", b"<dsn-1@relay.example.net>"]
    hostile = [b"alice@sender.example>\r\nBcc: v@else.example", b"id\r\nAction: delivered",
               b"bob@example.com\r\nAction: delivered", b"utf-8;b\xc3\xb6b@example.com\r\n\r\nX: 1",
               b"mx\r\nStatus: 2.0.0", b"550 no\r\n\r\nAction: x\rStatus: 2.0.0\nbad \xff\x01",
               b"Bad\r\nBcc: v", b"policy\r\nX: 5", b"5.7.1\r\nX: y", b"relay\r\nX: 2",
               b"<a\r\nb@c>"]
    seeds = {
        "failure": seed(8, 50000, 6, plain, original),
        "failure-headers": seed(0 | 64, 50000, 6, plain, original),
        "failure-no-reply": seed(0, 50000, 0, plain[:5] + [b""] + plain[6:], original),
        "delay": seed(1 | 32 | 64, 50000, 4, plain, original),
        "delivered-two": seed(2 | 16 | 128, 50000, 1, plain, original),
        "relayed": seed(3, 50000, 1, plain, original),
        "full-cut": seed(4, 60, 6, plain, original),
        "hostile": seed(8 | 16 | 32, 50000, 6, hostile, original),
        "utf8": seed(8, 50000, 7, [b"m\xc3\xa4x@example.com", b"", b"j\xc3\xbcrgen@example.com",
                                   b"utf-8;j\xc3\xbcrgen@example.com", b"", b"550 5.1.1 unbekannt \xc3\xbc",
                                   b"Der Empf\xc3\xa4nger existiert nicht.", b"", b"", b"r", b"<m>"],
                     b"Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0\r\n"),
        "long": seed(8, 65535, 6, [b"a@b", b"e" * 3000, b"x@y", b"", b"h" * 1500,
                                   b"550 " + b"w " * 2000 + b"x" * 3000, b"because " * 300, b"c",
                                   b"", b"r", b"<m>"],
                     b"Subject: x\r\nX-Long: " + b"l" * 1200 + b"\r\n\r\nbody\r\n"),
        "boundary-in-content": seed(8, 50000, 6, plain,
                                    original + b"--=_ringpost_report_0000000000000000_0\r\n"),
    }
    for name, data in seeds.items():
        write("dsn_report", name, data)


def main():
    for f in (command_parser, data_scanner, reply_parser, spool_records, spool_recovery, config,
              session, bounce_rules, dsn_report):
        f()
    print(f"seeds written under {ROOT}", file=sys.stderr)


if __name__ == "__main__":
    main()
