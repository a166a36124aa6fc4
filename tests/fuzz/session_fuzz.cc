// tests/fuzz/session_fuzz.cc — libFuzzer target: a whole inbound SMTP session.
//
// Input: u8 flags (bit 0 relaying allowed, bit 1 spool full at MAIL, bit 2
// small limits, bit 3 some commits fail, bit 4 shutdown at the end, bit 5
// idle timeout at the end, bit 6 STARTTLS offered, bit 7 AUTH offered), u8
// chunking seed, then, only if bit 6 or 7 is set, u8 TLS flags (bit 0
// require_tls, bit 1 require_auth, bit 2 implicit TLS: up before the
// banner), then the bytes a client sends. With STARTTLS offered those bytes
// are segments separated by kTlsMarker: when the session accepts STARTTLS,
// the rest of the current segment is plaintext the client sent before the
// handshake (dropped, as the host's handshake would swallow it), the host
// "handshakes", and the next segment is what the client sends over TLS.
// The host accepts one user (kUser, kPassword) and blocks the user
// "blocked".
// The session runs twice against a host that records everything: once fed
// in one piece (per segment), once in random chunks, each commit answered
// right after the Feed that produced it. Checks:
//   - the output is a sequence of well-formed replies (3 digits 2..5, " " or
//     "-", CRLF only at line ends, one code per multi-line reply);
//   - "250 ... queued as ID" appears exactly for the messages whose commit
//     succeeded, in submission order, and never for any other;
//   - every submitted message is one the client could legitimately send:
//     relaying allowed (or every recipient the postmaster, RCPT
//     TO:<Postmaster> being open to all), 1..max recipients each with a
//     domain, sender and recipients that parse, SMTPUTF8 set if any address
//     is not ASCII, content starting with the Received header and free of
//     bare CR/LF, content within the size limit (+ header), at most hops_max
//     Received: lines in its header section; its DSN fields (RFC 3461)
//     within their bounds, printable, NOTIFY and ORCPT either absent or one
//     per recipient, so that the spool takes it (queue::ValidateMessage);
//   - the two runs produce the same replies and the same messages: TCP may
//     split a client's stream anywhere;
//   - STARTTLS: the 220 is the last output before the handshake, StartTls
//     only when offered and at most once, and messages carry the TLS
//     description exactly when TLS was up; AUTH: Authenticate only when
//     offered and over TLS, with non-empty fields of at most 255 octets;
//     a message relayed for a client outside relay_networks names the
//     authenticated user; require_tls/require_auth hold for every message;
//     the password never appears in a reply.
// Input is held back while the session has paused it (as the shard does).
// Seeds: tests/fuzz/corpus/session/.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "queue/message_id.h"
#include "queue/record.h"
#include "relay/inbound/session.h"
#include "relay/smtp/command_parser.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::fuzz::FuzzInput;
using ringpost::fuzz::FuzzRng;
using ringpost::server::AuthVerdict;
using ringpost::server::IncomingMessage;
using ringpost::server::Session;
using ringpost::server::SessionLimits;

constexpr std::string_view kTlsMarker = std::string_view("\0TLS\0", 5);
constexpr std::string_view kTlsDescription = "TLSv1.3 TLS_AES_128_GCM_SHA256";
constexpr std::string_view kUser = "fuzz";
constexpr std::string_view kPassword = "p@ss w0rd!";
constexpr std::string_view k220 = "220 2.0.0 Ready to start TLS\r\n";

class RecordingHost : public ringpost::server::SessionHost {
 public:
  std::string& Output() override { return out; }
  void OutputReady() override {}
  uint64_t NewMessageId() override { return ++next_id; }
  absl::Status SpoolAvailable() override { return spool; }
  void Submit(std::unique_ptr<IncomingMessage> m) override {
    pending.push_back(m->id);
    submitted.push_back(std::move(m));
  }
  void CloseAfterOutput() override { closed = true; }
  void PauseInput() override { paused = true; }
  void ResumeInput() override { paused = false; }
  int64_t WallClockMs() override { return 1700000000000; }
  void OnRejected(std::string_view, std::string_view, int code, std::string_view,
                  std::string_view) override {
    FUZZ_CHECK(code >= 400);
    FUZZ_CHECK(code < 600);
  }
  void StartTls() override {
    FUZZ_CHECK(tls_available);
    FUZZ_CHECK(!tls_started);
    FUZZ_CHECK(out.size() >= k220.size());
    FUZZ_CHECK(std::string_view(out).substr(out.size() - k220.size()) == k220);
    tls_started = true;
    out_at_starttls = out.size();
  }
  AuthVerdict Authenticate(std::string_view user, std::string_view password) override {
    FUZZ_CHECK(auth_available);
    FUZZ_CHECK(tls_up);
    FUZZ_CHECK(!user.empty());
    FUZZ_CHECK(!password.empty());
    FUZZ_CHECK(user.size() <= 255);
    FUZZ_CHECK(password.size() <= 255);
    if (user == "blocked") return AuthVerdict::kBlocked;
    return user == kUser && password == kPassword ? AuthVerdict::kOk : AuthVerdict::kBad;
  }

  std::string out;
  uint64_t next_id = 0x1000;
  absl::Status spool;
  std::deque<uint64_t> pending;  // submitted, not yet answered
  std::vector<std::unique_ptr<IncomingMessage>> submitted;
  std::vector<uint64_t> committed_ok;
  bool closed = false;
  bool paused = false;
  bool tls_available = false;
  bool auth_available = false;
  bool tls_started = false;  // StartTls() was called
  size_t out_at_starttls = 0;
  bool tls_up = false;       // the driver called TlsEstablished()
};

bool Printable(std::string_view s) {
  for (const char c : s) {
    if (c < 32 || c > 126) return false;
  }
  return true;
}

// The message's DSN fields as the session must leave them, and the spool
// record the intake would make of it valid.
void CheckDsn(const IncomingMessage& m) {
  const ringpost::queue::DsnFields& d = m.dsn;
  FUZZ_CHECK(d.envid.size() <= ringpost::queue::kMaxEnvidBytes);
  FUZZ_CHECK(Printable(d.envid));
  FUZZ_CHECK(d.notify.empty() || d.notify.size() == m.recipients.size());
  FUZZ_CHECK(d.orcpt.empty() || d.orcpt.size() == m.recipients.size());
  for (const uint8_t n : d.notify) {
    FUZZ_CHECK(n <= ringpost::queue::kNotifyNever);
    FUZZ_CHECK((n & ringpost::queue::kNotifyNever) == 0 || n == ringpost::queue::kNotifyNever);
  }
  for (const std::string& o : d.orcpt) {
    if (o.empty()) continue;
    FUZZ_CHECK(o.size() <= ringpost::queue::kMaxOrcptBytes);
    FUZZ_CHECK(Printable(o));
    const size_t semi = o.find(';');
    FUZZ_CHECK(semi != std::string::npos && semi > 0 && semi + 1 < o.size());
  }
  ringpost::queue::MessageRecord record;
  record.id = m.id;
  record.sender = m.sender;
  record.recipients = m.recipients;
  record.body = m.content;
  record.dsn = d;
  FUZZ_CHECK(ringpost::queue::ValidateMessage(record).ok());
}

// Header lines beginning "Received:" (any case) before the first empty
// line, counted bytewise (independently of the session's scan).
size_t ReceivedLines(std::string_view content) {
  size_t count = 0;
  bool line_start = true;
  for (size_t i = 0; i < content.size(); ++i) {
    if (line_start) {
      if (content[i] == '\r') break;  // the empty line: end of the header
      std::string_view rest = content.substr(i, 9);
      std::string lower(rest);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "received:") ++count;
    }
    line_start = content[i] == '\n';
  }
  return count;
}

struct Run {
  std::string output;
  std::vector<std::string> messages;  // id, envelope and content, flattened
  std::vector<uint64_t> committed_ok;
};

// Answers every pending commit; every `fail_every`-th fails (0: none).
void CommitAll(Session* s, RecordingHost* host, int fail_every, int* counter) {
  // Bounded: each iteration removes one pending commit.
  while (!host->pending.empty()) {
    const uint64_t id = host->pending.front();
    host->pending.pop_front();
    ++*counter;
    if (fail_every != 0 && *counter % fail_every == 0) {
      s->OnSubmitted(*counter % 2 == 0 ? absl::ResourceExhaustedError("full")
                                       : absl::InternalError("eio"),
                     id);
    } else {
      host->committed_ok.push_back(id);
      s->OnSubmitted(absl::OkStatus(), id);
    }
  }
}

// `text` cut at every kTlsMarker when STARTTLS is offered, else whole.
std::vector<std::string_view> Segments(std::string_view text, bool tls) {
  std::vector<std::string_view> segments;
  // Bounded: each iteration consumes a marker or ends.
  while (tls) {
    const size_t marker = text.find(kTlsMarker);
    if (marker == std::string_view::npos) break;
    segments.push_back(text.substr(0, marker));
    text.remove_prefix(marker + kTlsMarker.size());
  }
  segments.push_back(text);
  return segments;
}

Run RunSession(std::string_view text, uint8_t flags, uint8_t tls_flags, bool chunked,
               uint64_t seed) {
  SessionLimits limits;
  limits.postmaster = "postmaster@admin.fuzz";
  if ((flags & 4) != 0) {
    limits.hops_max = 3;
    limits.text_line_octets_max = 80;
    limits.message_octets_max = 2000;
    limits.recipients_max = 3;
    limits.errors_max = 5;
    limits.pending_input_max = 4096;
    limits.commits_in_flight_max = 2;
  }
  RecordingHost host;
  if ((flags & 2) != 0) host.spool = absl::ResourceExhaustedError("disk full");
  ringpost::server::ClientInfo client;
  client.address = "192.0.2.1";
  client.relay_allowed = (flags & 1) != 0;
  client.tls_available = host.tls_available = (flags & 64) != 0;
  client.auth_available = host.auth_available = (flags & 128) != 0;
  client.require_tls = (tls_flags & 1) != 0;
  client.require_auth = (tls_flags & 2) != 0;
  Session session(&host, &limits, "mx.fuzz", client);
  if ((tls_flags & 4) != 0) {
    session.TlsEstablished(kTlsDescription);
    host.tls_up = true;
  }
  session.Start();
  const int fail_every = (flags & 8) != 0 ? 3 : 0;
  int commits = 0;
  FuzzRng rng(seed);
  bool stuck = false;
  for (const std::string_view segment : Segments(text, client.tls_available)) {
    std::string_view rest = segment;
    // Bounded: each round feeds at least one byte or answers commits; a
    // paused session with nothing to answer ends the run.
    for (size_t round = 0; round <= 2 * segment.size() + 2 && !rest.empty(); ++round) {
      if (host.paused) {
        if (host.pending.empty()) {
          stuck = true;
          break;
        }
        CommitAll(&session, &host, fail_every, &commits);
      } else {
        const size_t n = chunked ? std::min(rest.size(), rng.Between(1, 64)) : rest.size();
        session.Feed(rest.substr(0, n));
        rest.remove_prefix(n);
        CommitAll(&session, &host, fail_every, &commits);
      }
      // The rest of the segment was sent before the handshake: gone.
      if (host.tls_started && !host.tls_up) break;
    }
    CommitAll(&session, &host, fail_every, &commits);
    if (host.tls_started && !host.tls_up) {
      FUZZ_CHECK(host.out.size() == host.out_at_starttls);  // the 220 was the last
      session.TlsEstablished(kTlsDescription);
      host.tls_up = true;
    }
    if (stuck) break;
  }
  if ((flags & 16) != 0) session.Shutdown();
  if ((flags & 32) != 0) session.OnTimeout();

  Run run;
  run.output = std::move(host.out);
  run.committed_ok = host.committed_ok;
  FUZZ_CHECK(run.output.find(kPassword) == std::string::npos);
  for (const auto& m : host.submitted) {
    std::string flat = std::to_string(m->id) + "|" + m->sender;
    for (const auto& r : m->recipients) flat += "|" + r;
    flat += "|" + std::to_string(m->eight_bit) + "|" + m->auth_user + "|" + m->tls + "|" +
            m->content;
    flat += "|" + m->dsn.envid + "|" + std::to_string(static_cast<int>(m->dsn.ret));
    for (const uint8_t n : m->dsn.notify) flat += "|" + std::to_string(n);
    for (const std::string& o : m->dsn.orcpt) flat += "|" + o;
    CheckDsn(*m);
    run.messages.push_back(std::move(flat));

    // TLS and AUTH as they were when the message was read.
    FUZZ_CHECK(m->tls.empty() || m->tls == kTlsDescription);
    FUZZ_CHECK(m->tls.empty() || host.tls_up);
    FUZZ_CHECK(m->auth_user.empty() || m->auth_user == kUser);
    FUZZ_CHECK(m->auth_user.empty() || !m->tls.empty());
    FUZZ_CHECK(!client.require_tls || !m->tls.empty());
    FUZZ_CHECK(!client.require_auth || !m->auth_user.empty());
    // Our Received header: the HELO name (no CR or LF) ends at the first
    // "([address])" CRLF; the TLS comment and protocol follow.
    constexpr std::string_view kFrom = "([192.0.2.1])\r\n\t";
    const size_t from = m->content.find(kFrom);
    FUZZ_CHECK(from != std::string::npos);
    const std::string_view after = std::string_view(m->content).substr(from + kFrom.size());
    FUZZ_CHECK(after.starts_with("(using ") == !m->tls.empty());
    constexpr std::string_view kWith = " (ringpost) with ";
    const size_t with = after.find(kWith);
    FUZZ_CHECK(with != std::string_view::npos);
    const std::string_view protocol = after.substr(with + kWith.size(), 8);
    FUZZ_CHECK(protocol.starts_with("ESMTPSA ") == !m->auth_user.empty());

    // A message the client could legitimately have sent.
    FUZZ_CHECK(!m->recipients.empty());
    FUZZ_CHECK(m->recipients.size() <= limits.recipients_max);
    for (const auto& r : m->recipients) {
      FUZZ_CHECK((flags & 1) != 0 || r == limits.postmaster || !m->auth_user.empty());
      FUZZ_CHECK(!ringpost::smtp::DomainOf(r).empty());
      ringpost::smtp::Command cmd;
      const std::string line = "RCPT TO:<" + r + ">";
      FUZZ_CHECK(ringpost::smtp::ParseCommand(line, &cmd) == ringpost::smtp::ParseResult::kOk);
      FUZZ_CHECK(!cmd.path_utf8 || m->smtputf8);
    }
    if (!m->sender.empty()) {
      ringpost::smtp::Command cmd;
      const std::string line = "MAIL FROM:<" + m->sender + ">";
      FUZZ_CHECK(ringpost::smtp::ParseCommand(line, &cmd) == ringpost::smtp::ParseResult::kOk);
      FUZZ_CHECK(!cmd.path_utf8 || m->smtputf8);
    }
    FUZZ_CHECK(ReceivedLines(m->content) <= limits.hops_max);
    FUZZ_CHECK(m->content.rfind("Received: ", 0) == 0);
    for (size_t i = 0; i < m->content.size(); ++i) {
      const char c = m->content[i];
      if (c == '\n') FUZZ_CHECK(i > 0 && m->content[i - 1] == '\r');
      if (c == '\r') FUZZ_CHECK(i + 1 < m->content.size() && m->content[i + 1] == '\n');
    }
    FUZZ_CHECK(m->content.size() <= limits.message_octets_max + 1024);
  }
  return run;
}

// Checks the reply syntax; returns the "queued as" ids in order.
std::vector<std::string> CheckReplies(std::string_view out) {
  std::vector<std::string> queued;
  int continuing = 0;  // code of an unfinished multi-line reply
  // Bounded: each iteration consumes one line.
  while (!out.empty()) {
    const size_t end = out.find("\r\n");
    FUZZ_CHECK(end != std::string_view::npos);
    const std::string_view line = out.substr(0, end);
    out.remove_prefix(end + 2);
    FUZZ_CHECK(line.size() >= 3);
    FUZZ_CHECK(line[0] >= '2' && line[0] <= '5');
    FUZZ_CHECK(line[1] >= '0' && line[1] <= '9');
    FUZZ_CHECK(line[2] >= '0' && line[2] <= '9');
    FUZZ_CHECK(line.find('\r') == std::string_view::npos);
    FUZZ_CHECK(line.find('\n') == std::string_view::npos);
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (continuing != 0) FUZZ_CHECK(code == continuing);
    const char sep = line.size() > 3 ? line[3] : ' ';
    FUZZ_CHECK(sep == ' ' || sep == '-');
    continuing = sep == '-' ? code : 0;
    constexpr std::string_view kQueued = "250 2.0.0 Ok: queued as ";
    if (line.substr(0, kQueued.size()) == kQueued) {
      queued.emplace_back(line.substr(kQueued.size()));
    }
  }
  FUZZ_CHECK(continuing == 0);
  return queued;
}

// Each reply line cut after its second space ("500 5.5.2 "), except the
// "queued as" lines, kept whole.
std::string ReplyCodes(std::string_view out) {
  std::string codes;
  // Bounded: each iteration consumes one line.
  while (!out.empty()) {
    const size_t end = std::min(out.find("\r\n"), out.size());
    std::string_view line = out.substr(0, end);
    out.remove_prefix(std::min(end + 2, out.size()));
    if (line.find("queued as") == std::string_view::npos) {
      const size_t sp = line.find(' ');
      const size_t sp2 = sp == std::string_view::npos ? sp : line.find(' ', sp + 1);
      line = line.substr(0, sp2);
    }
    codes.append(line);
    codes.push_back('\n');
  }
  return codes;
}

// For reports: printable ASCII as is, the rest as \xNN, a newline after LF.
std::string Escaped(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 32 && u < 127) {
      out.push_back(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
      if (c == '\n') out.push_back('\n');
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (256u << 10)) return 0;
  FuzzInput in(data, size);
  const uint8_t flags = in.U8();
  const uint8_t seed = in.U8();
  // Read only when TLS or AUTH is offered: older seeds keep their meaning.
  const uint8_t tls_flags = (flags & 0xC0) != 0 ? in.U8() : 0;
  const std::string_view text = in.Rest();

  const Run whole = RunSession(text, flags, tls_flags, false, 0);
  const Run chunked = RunSession(text, flags, tls_flags, true, seed);
  for (const Run* r : {&whole, &chunked}) {
    const std::vector<std::string> queued = CheckReplies(r->output);
    FUZZ_CHECK(queued.size() == r->committed_ok.size());
    for (size_t i = 0; i < queued.size(); ++i) {
      FUZZ_CHECK(queued[i] == ringpost::queue::FormatMessageId(r->committed_ok[i]));
    }
  }
  // Same replies (code and enhanced code; the "queued as" lines in full)
  // however the stream was split. The free text may differ: a line over
  // 2048 octets that also has a bare CR or LF is answered "line too long"
  // or "bare LF/CR received" depending on whether its end arrived with it
  // (both 500 5.5.2; docs/reliability.md).
  if (ReplyCodes(whole.output) != ReplyCodes(chunked.output)) {
    std::fprintf(stderr, "one piece:\n%s\nin chunks:\n%s\n", Escaped(whole.output).c_str(),
                 Escaped(chunked.output).c_str());
  }
  FUZZ_CHECK(ReplyCodes(whole.output) == ReplyCodes(chunked.output));
  FUZZ_CHECK(whole.messages == chunked.messages);
  return 0;
}
