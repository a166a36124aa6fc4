// tests/fuzz/session_fuzz.cc — libFuzzer target: a whole inbound SMTP session.
//
// Input: u8 flags (bit 0 relaying allowed, bit 1 spool full at MAIL, bit 2
// small limits, bit 3 some commits fail, bit 4 shutdown at the end, bit 5
// idle timeout at the end), u8 chunking seed, then the bytes a client sends.
// The session runs twice against a host that records everything: once fed
// in one piece, once in random chunks, each commit answered right after the
// Feed that produced it. Checks:
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
//     Received: lines in its header section;
//   - the two runs produce the same replies and the same messages: TCP may
//     split a client's stream anywhere.
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
#include "relay/inbound/session.h"
#include "relay/smtp/command_parser.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ringpost::fuzz::FuzzInput;
using ringpost::fuzz::FuzzRng;
using ringpost::server::IncomingMessage;
using ringpost::server::Session;
using ringpost::server::SessionLimits;

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
  // Neither is offered (ClientInfo defaults).
  void StartTls() override { FUZZ_CHECK(false); }
  ringpost::server::AuthVerdict Authenticate(std::string_view, std::string_view) override {
    FUZZ_CHECK(false);
    return ringpost::server::AuthVerdict::kBad;
  }

  std::string out;
  uint64_t next_id = 0x1000;
  absl::Status spool;
  std::deque<uint64_t> pending;  // submitted, not yet answered
  std::vector<std::unique_ptr<IncomingMessage>> submitted;
  std::vector<uint64_t> committed_ok;
  bool closed = false;
  bool paused = false;
};

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

Run RunSession(std::string_view text, uint8_t flags, bool chunked, uint64_t seed) {
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
  Session session(&host, &limits, "mx.fuzz",
                  ringpost::server::ClientInfo{"192.0.2.1", (flags & 1) != 0});
  session.Start();
  const int fail_every = (flags & 8) != 0 ? 3 : 0;
  int commits = 0;
  FuzzRng rng(seed);
  std::string_view rest = text;
  // Bounded: each round feeds at least one byte or answers commits; a paused
  // session with nothing to answer ends the run.
  for (size_t round = 0; round <= 2 * text.size() + 2 && !rest.empty(); ++round) {
    if (host.paused) {
      if (host.pending.empty()) break;
      CommitAll(&session, &host, fail_every, &commits);
      continue;
    }
    const size_t n = chunked ? std::min(rest.size(), rng.Between(1, 64)) : rest.size();
    session.Feed(rest.substr(0, n));
    rest.remove_prefix(n);
    CommitAll(&session, &host, fail_every, &commits);
  }
  CommitAll(&session, &host, fail_every, &commits);
  if ((flags & 16) != 0) session.Shutdown();
  if ((flags & 32) != 0) session.OnTimeout();

  Run run;
  run.output = std::move(host.out);
  run.committed_ok = host.committed_ok;
  for (const auto& m : host.submitted) {
    std::string flat = std::to_string(m->id) + "|" + m->sender;
    for (const auto& r : m->recipients) flat += "|" + r;
    flat += "|" + std::to_string(m->eight_bit) + "|" + m->content;
    run.messages.push_back(std::move(flat));

    // A message the client could legitimately have sent.
    FUZZ_CHECK(!m->recipients.empty());
    FUZZ_CHECK(m->recipients.size() <= limits.recipients_max);
    for (const auto& r : m->recipients) {
      FUZZ_CHECK((flags & 1) != 0 || r == limits.postmaster);
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
  const std::string_view text = in.Rest();

  const Run whole = RunSession(text, flags, false, 0);
  const Run chunked = RunSession(text, flags, true, seed);
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
