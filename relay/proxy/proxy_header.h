// relay/proxy/proxy_header.h — the PROXY protocol header (HAProxy's
// proxy-protocol.txt, versions 1 and 2) that a load balancer puts before
// the client's first byte to tell us who the client really is.
//
// The inbound listener, when it sits behind HAProxy (`send-proxy` or
// `send-proxy-v2`), reads this header before it greets the client: the
// source address it carries is the one the relay logs, rate-limits and
// checks relay permission against. So the parser is strict, and it is pure:
// no I/O, no state, any bytes in, a value out. It sits under a fuzzer
// (tests/fuzz/proxy_header_fuzz.cc).
//
// The caller accumulates what it has received on the connection and calls
// Parse on all of it after every read. The answer is kNeedMore until the
// header is complete, kDone with its length (the bytes after it are SMTP),
// or kError as soon as the bytes so far cannot start a valid header: a
// first byte other than 'P' (v1) or CR (v2) fails at once, so a client
// speaking SMTP straight to a PROXY listener is refused on its first octet.
// The answers are consistent as bytes arrive: once kError or kDone, any
// longer input gives the same answer (kDone with the same length and
// header), and the caller never holds more than kMaxV2Bytes before one.
//
// Version 1 (text), one line ending in CRLF, at most kMaxV1Bytes octets:
//   PROXY TCP4 <ipv4> <ipv4> <sport> <dport>\r\n
//   PROXY TCP6 <ipv6> <ipv6> <sport> <dport>\r\n
//   PROXY UNKNOWN[ <anything>]\r\n       (local: use the connection's own)
// Single spaces; addresses as inet_pton reads them for the family named
// (IPv4 dotted quad without leading zeros; IPv6 in any inet_pton form,
// including a dotted IPv4 tail, which stays AF_INET6); ports decimal
// 0..65535 without signs and, as the specification requires, without
// leading zeros ("025" is refused; "0" is a port). CR and LF appear only as
// the final CRLF: a bare LF or a CR followed by anything else is an error,
// also inside the ignored tail of UNKNOWN.
//
// Version 2 (binary): the 12-octet signature, ver_cmd (version 2; command
// 0 LOCAL or 1 PROXY), fam, a big-endian 16-bit length, then that many
// octets of addresses and TLVs.
//   - LOCAL (health checks from the proxy itself): local; fam and the
//     address block are ignored, as the specification says.
//   - PROXY with TCP over IPv4 (0x11, length >= 12) or IPv6 (0x21, length
//     >= 36): source and destination from the address block.
//   - PROXY with UNSPEC (0x00), UDP (0x12, 0x22) or UNIX (0x31, 0x32): local.
//     The specification lets a receiver use the connection's own addresses
//     for families it does not support; an SMTP relay has no use for a UDP
//     or a socket path as the client. Their address block is not read.
//   - PROXY with any other fam value: an error (the specification says
//     receivers must reject unassigned values).
//   - TLVs after the addresses are skipped unread: nothing here uses them.
//   - A length above kMaxV2Bytes - 16 is an error, decided from the first
//     16 octets, so a peer cannot make us buffer more (see kMaxV2Bytes).
//
// Usage (the listener, after each read into `in`):
//   proxy::Result r = proxy::Parse(in);
//   switch (r.status) {
//     case proxy::Status::kNeedMore: read more (with a deadline); break;
//     case proxy::Status::kError: log r.error; close; break;
//     case proxy::Status::kDone:
//       if (!r.header.local) client = r.header.source;
//       in.erase(0, r.consumed);  // the rest is the client's SMTP
//   }

#ifndef RINGPOST_RELAY_PROXY_PROXY_HEADER_H_
#define RINGPOST_RELAY_PROXY_PROXY_HEADER_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringpost::proxy {

struct Header {
  int version = 0;  // 1 or 2
  // v2 LOCAL, a v2 family we do not use, or v1 "PROXY UNKNOWN": use the
  // connection's own addresses (source and destination stay AF_UNSPEC).
  bool local = false;
  sockaddr_storage source{};  // the real client (AF_INET or AF_INET6, port set) when !local
  sockaddr_storage destination{};  // the address the client connected to, same family
};

enum class Status : uint8_t { kNeedMore, kDone, kError };

struct Result {
  Status status = Status::kNeedMore;
  size_t consumed = 0;  // kDone: the header's length; the rest of the input is SMTP
  Header header;        // kDone
  std::string error;    // kError: why, in words for a log line
};

// Parses the header at the start of `data`, all bytes received so far on the
// connection (the caller accumulates; stateless). See above.
Result Parse(std::string_view data);

// Whether a client's first bytes open like a PROXY header ("PROXY " or the
// v2 signature). The listener refuses a header from a peer outside
// proxy_trusted: it would be claiming to speak for another address.
bool LooksLikeHeader(std::string_view first_bytes);

// The longest v1 line, CRLF included: "PROXY UNKNOWN" with two full IPv6
// addresses and ports (the specification's worst case).
inline constexpr size_t kMaxV1Bytes = 107;

// The longest v2 header we accept: 16 fixed octets and an address/TLV block
// of at most 1024. The largest address block is UNIX's 216 octets; the rest
// leaves room for the TLVs HAProxy sends when asked (ALPN, authority up to
// 255 octets, unique-id up to 128, SSL version/cipher/CN) while bounding what
// a connection buffers before its first SMTP byte. A proxy sending more is
// misconfigured for a mail relay, and is told so in the log.
inline constexpr size_t kMaxV2Bytes = 16 + 1024;

}  // namespace ringpost::proxy

#endif  // RINGPOST_RELAY_PROXY_PROXY_HEADER_H_
