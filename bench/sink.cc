// bench/sink.cc — the sink's shards and SMTP sessions. See sink.h.
//
// A session reads its input straight from the receive buffer: complete
// command lines are handled in place, DATA content streams through the
// DataScanner, BDAT chunks are counted off. Only an incomplete command line,
// or input that arrives while a delayed reply is pending, is copied into the
// session's `pending_` buffer (bounded: reading pauses above
// kPendingInputMax). Replies are appended to the stream's output and leave
// once per loop turn.
//
// After STARTTLS the same code runs on the channel's plaintext: `out_`
// points at the TLS session's plaintext buffer instead of the stream's
// output, and Flush() seals it into records first. A plaintext session pays
// one pointer and one branch per received chunk for this.
//
// Accounting for traffic-shaping tests costs a connection two relaxed
// atomic operations on the sink-wide open count (and the peak's, when it
// grows) and one getpeername(). It costs an accepted message, without
// --arrivals, two relaxed adds through counters the session looked up once
// (at its first message, and again after a new EHLO). With --arrivals it
// also takes its shard's arrival lock (uncontended but for WriteArrivals),
// reads the clock and interns the recipient domain.
#include "bench/sink.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include "base/check.h"
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <queue>
#include <random>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/str_cat.h"
#include "bench/counters.h"
#include "bench/header_scanner.h"
#include "bench/report_file.h"
#include "relay/tls/pipe.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/stream.h"
#include "relay/smtp/command_parser.h"
#include "relay/smtp/data_scanner.h"
#include "relay/smtp/reply.h"

namespace ringpost::bench {

using runtime::Loop;
using runtime::Stream;
using runtime::StreamHandler;
using runtime::Timer;

namespace {

// A command line, CRLF included. RFC 5321 allows 512; MAIL/RCPT with
// extension parameters need more, and the relay's own lines fit in this.
constexpr size_t kCommandLineMax = 1000;
constexpr size_t kPendingInputMax = 1 << 20;
constexpr uint32_t kRecipientsMax = 1000;
constexpr uint32_t kErrorsMax = 20;
constexpr uint64_t kStopGraceMs = 2000;

void AppendNumber(uint64_t n, std::string* out) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), n);
  CHECK(ec == std::errc());
  out->append(digits, end);
}

enum class Outcome { kAccept, kDrop, kFail5xx, kFail4xx, kFailFirstAttempt, kThrottle };

// Debian's Abseil has its own absl::string_view (no conversion from
// std::string_view): for hash lookups and StrCat.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr std::string_view kOtherKey = "other";
constexpr size_t kEhloNameOctetsMax = 255;

// Accepted messages per source key (a peer address, an EHLO name) on one
// shard, at most kSourceKeysMax keys, then "other". Only the loop thread
// inserts, so it looks up without a lock and inserts under mu_; other
// threads read under mu_. The counters live in nodes that never move: a
// session keeps a pointer to its own.
class SourceCounts {
 public:
  // Loop thread.
  RelaxedCounter* Find(std::string_view key) {
    const auto it = counts_.find(Av(key));
    if (it != counts_.end()) return &it->second;
    if (counts_.size() >= kSourceKeysMax) return &other_;
    std::lock_guard<std::mutex> lock(mu_);
    return &counts_.try_emplace(std::string(key)).first->second;
  }

  // Any thread: adds the non-zero counts to *out.
  void AddTo(absl::flat_hash_map<std::string, uint64_t>* out) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, counter] : counts_) {
      if (const uint64_t n = counter.Get(); n > 0) (*out)[key] += n;
    }
    if (const uint64_t n = other_.Get(); n > 0) (*out)[std::string(kOtherKey)] += n;
  }

 private:
  mutable std::mutex mu_;
  absl::node_hash_map<std::string, RelaxedCounter> counts_;  // inserts under mu_
  RelaxedCounter other_;
};

// The busiest kSourceKeysMax keys of `merged`, the rest summed as "other".
std::map<std::string, uint64_t> BoundedSources(
    const absl::flat_hash_map<std::string, uint64_t>& merged) {
  std::vector<std::pair<std::string_view, uint64_t>> keys;
  uint64_t other = 0;
  for (const auto& [key, n] : merged) {
    if (key == kOtherKey) {
      other += n;
    } else {
      keys.emplace_back(key, n);
    }
  }
  if (keys.size() > kSourceKeysMax) {
    std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    for (size_t i = kSourceKeysMax; i < keys.size(); ++i) other += keys[i].second;
    keys.resize(kSourceKeysMax);
  }
  std::map<std::string, uint64_t> out;
  for (const auto& [key, n] : keys) out.emplace(key, n);
  if (other > 0) out[std::string(kOtherKey)] += other;
  return out;
}

// One accepted message in the arrival log; strings are indices into the
// shard's table.
struct Arrival {
  int64_t realtime_ns;
  uint32_t peer;
  uint32_t ehlo;
  uint32_t domain;
};

// A shard's arrivals: fixed-size chunks that never move (one allocation
// per kChunkEntries messages) and a table of the distinct strings. The loop
// thread appends under mu_; a reader copies the chunk pointers, the size
// and the strings under mu_ and then reads the entries below that size
// without it (they are never written again).
class ArrivalLog {
 public:
  static constexpr uint32_t kNoId = UINT32_MAX;
  static constexpr size_t kChunkEntries = size_t{1} << 16;

  struct Snapshot {
    std::vector<const Arrival*> chunks;
    size_t size = 0;
    std::vector<std::string> strings;
    const Arrival& at(size_t i) const { return chunks[i / kChunkEntries][i % kChunkEntries]; }
  };

  // Loop thread. *peer_id and *ehlo_id cache the session's strings
  // (kNoId: not in the table yet).
  void Add(int64_t realtime_ns, std::string_view peer, uint32_t* peer_id,
           std::string_view ehlo, uint32_t* ehlo_id, std::string_view domain) {
    std::lock_guard<std::mutex> lock(mu_);
    if (*peer_id == kNoId) *peer_id = InternLocked(peer);
    if (*ehlo_id == kNoId) *ehlo_id = InternLocked(ehlo);
    const uint32_t domain_id = InternLocked(domain);
    if (size_ % kChunkEntries == 0) chunks_.push_back(std::make_unique<Arrival[]>(kChunkEntries));
    chunks_.back()[size_ % kChunkEntries] =
        Arrival{.realtime_ns = realtime_ns, .peer = *peer_id, .ehlo = *ehlo_id,
                .domain = domain_id};
    ++size_;
  }

  // Any thread.
  Snapshot Take() const {
    Snapshot s;
    std::lock_guard<std::mutex> lock(mu_);
    s.size = size_;
    s.chunks.reserve(chunks_.size());
    for (const auto& c : chunks_) s.chunks.push_back(c.get());
    s.strings.assign(strings_.begin(), strings_.end());
    return s;
  }

 private:
  uint32_t InternLocked(std::string_view text) {
    const auto it = index_.find(Av(text));
    if (it != index_.end()) return it->second;
    CHECK(strings_.size() < kNoId);
    const uint32_t id = static_cast<uint32_t>(strings_.size());
    strings_.emplace_back(text);
    index_.emplace(Av(strings_.back()), id);  // a deque's elements never move
    return id;
  }

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Arrival[]>> chunks_;  // guarded by mu_
  size_t size_ = 0;                                 // guarded by mu_
  std::deque<std::string> strings_;                 // guarded by mu_
  absl::flat_hash_map<absl::string_view, uint32_t> index_;  // loop thread
};

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The peer's address as text ("127.0.0.2", "::1"; an IPv4-mapped IPv6
// address as IPv4), or "unknown".
std::string PeerAddress(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  char text[INET6_ADDRSTRLEN] = "unknown";
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, text, sizeof(text));
    } else if (ss.ss_family == AF_INET6) {
      const in6_addr& a = reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr;
      if (IN6_IS_ADDR_V4MAPPED(&a)) {
        inet_ntop(AF_INET, &a.s6_addr[12], text, sizeof(text));
      } else {
        inet_ntop(AF_INET6, &a, text, sizeof(text));
      }
    }
  }
  return text;
}

// The EHLO/HELO argument's first word, at most kEhloNameOctetsMax octets,
// with every byte outside printable ASCII as '?': a JSON key and one field
// of an arrival line.
void SetEhloName(std::string_view argument, std::string* out) {
  out->clear();
  for (const char ch : argument) {
    if (ch == ' ' || ch == '\t' || out->size() == kEhloNameOctetsMax) break;
    const unsigned char u = static_cast<unsigned char>(ch);
    out->push_back(u > 0x20 && u < 0x7f ? ch : '?');
  }
  if (out->empty()) out->push_back('-');
}

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  for (const char ch : text) {
    const unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (u < 0x20 || u == 0x7f) {
      char esc[8];
      snprintf(esc, sizeof(esc), "\\u%04x", u);
      out->append(esc);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

std::string JsonCountObject(const std::map<std::string, uint64_t>& counts) {
  std::string out = "{";
  for (const auto& [key, n] : counts) {
    if (out.size() > 1) out.append(", ");
    AppendJsonString(key, &out);
    out.append(": ");
    AppendNumber(n, &out);
  }
  out.push_back('}');
  return out;
}

}  // namespace

class SinkSession;

// One thread: its loop, listener, sessions and counters.
class SinkShard {
 public:
  SinkShard(Sink* sink, int index) : sink_(sink), index_(index) {}

  struct alignas(64) Counters {
    RelaxedCounter messages, recipients, bytes, connections, rejected_4xx,
        rejected_5xx, dropped, rcpt_rejected, bdat_chunks, protocol_errors, tls_handshakes,
        tls_messages, connections_refused, throttled, arrivals_dropped;
  };

  // Runs on the shard's own thread; fulfils `ready` with the bound port or
  // the start-up error, then serves until stopped.
  void ThreadMain(sockaddr_storage addr, std::promise<absl::StatusOr<uint16_t>> ready);
  void RequestStop() {
    std::lock_guard<std::mutex> lock(loop_mu_);
    stop_requested_ = true;
    if (loop_ != nullptr) loop_->RequestStop();
  }

  // Loop-thread side, used by sessions.
  Loop* loop() { return loop_unlocked_; }
  const SinkOptions& options() const { return sink_->options(); }
  Counters& counters() { return counters_; }
  Sink* sink() { return sink_; }
  double Uniform() {
    return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
  }
  bool Roll(double rate) { return rate > 0 && Uniform() < rate; }
  // Unique over all shards: shard i hands out i+1, i+1+threads, ...
  uint64_t NextQueueNumber() {
    const uint64_t n = next_seq_++ * static_cast<uint64_t>(options().threads) +
                       static_cast<uint64_t>(index_) + 1;
    return n;
  }
  void RecordId(std::string_view id) { ids_.emplace_back(id.empty() ? "-" : id); }
  void Link(SinkSession* s);
  void Unlink(SinkSession* s);
  SourceCounts& peers() { return peers_; }
  SourceCounts& ehlo_names() { return ehlo_names_; }
  ArrivalLog& arrivals() { return arrivals_; }

  const Counters& counters() const { return counters_; }
  const std::vector<std::string>& ids() const { return ids_; }
  const SourceCounts& peers() const { return peers_; }
  const SourceCounts& ehlo_names() const { return ehlo_names_; }
  const ArrivalLog& arrivals() const { return arrivals_; }
  std::thread& thread() { return thread_; }

 private:
  void OnAccept(int fd);
  void OnStop();
  void MaybeQuit();

  Sink* sink_;
  int index_;
  std::thread thread_;
  std::mutex loop_mu_;
  Loop* loop_ = nullptr;  // guarded by loop_mu_ for other threads
  bool stop_requested_ = false;
  Loop* loop_unlocked_ = nullptr;  // loop thread only
  std::unique_ptr<runtime::Listener> listener_;
  SinkSession* sessions_ = nullptr;  // intrusive list head
  size_t session_count_ = 0;
  bool stopping_ = false;
  Timer stop_guard_;
  std::mt19937_64 rng_;
  uint64_t next_seq_ = 0;
  Counters counters_;
  std::vector<std::string> ids_;
  SourceCounts peers_;
  SourceCounts ehlo_names_;
  ArrivalLog arrivals_;  // --arrivals only
};

class SinkSession final : public StreamHandler {
 public:
  // `refused`: over max_connections; greeted 421 and closed.
  SinkSession(SinkShard* shard, int fd, bool refused)
      : shard_(shard),
        stream_(new Stream(shard->loop(), fd, this)),
        out_(&stream_->output()),
        scanner_(smtp::DataScanner::Limits{
            .line_octets_max = 1000,
            .message_octets_max = shard->options().max_size}),
        headers_(shard->options().id_header) {
    const SinkOptions& o = shard->options();
    want_headers_ = o.record_ids || o.fail_first_attempt_4xx;
    saving_ = !o.save_dir.empty();
    arrivals_ = !o.arrivals_path.empty();
    refused_ = refused;
    idle_timer_.context = this;
    idle_timer_.callback = [](Timer* t) { static_cast<SinkSession*>(t->context)->OnIdle(); };
    delay_timer_.context = this;
    delay_timer_.callback = [](Timer* t) {
      static_cast<SinkSession*>(t->context)->OnDelayDone();
    };
  }

  void Start() {
    if (refused_) {
      Reply("421 4.7.0 Too many connections\r\n");
      CloseAfterOutput();
      return;
    }
    peer_ = PeerAddress(stream_->fd());
    out().append("220 ").append(shard_->options().hostname).append(
        " ESMTP ringpost-sink\r\n");
    Flush();
    stream_->Start();
    ArmIdle();
  }

  // Shutdown: drop the connection; OnStreamClosed follows.
  void Abort() { stream_->Abort(-ECANCELED); }

  SinkSession* prev = nullptr;
  SinkSession* next = nullptr;

 private:
  // kStartTls: STARTTLS was answered 220; the rest of the plaintext input
  // is dropped and the TLS session begins once it is consumed.
  enum class State : uint8_t {
    kCommand, kSkipLine, kData, kBdat, kDelaying, kStartTls, kClosing
  };

  ~SinkSession() = default;

  std::string& out() { return *out_; }
  void Reply(std::string_view text) { out().append(text); }
  Loop* loop() { return shard_->loop(); }

  void ArmIdle() {
    const uint32_t s = shard_->options().idle_timeout_s;
    if (s > 0) loop()->timers().Arm(&idle_timer_, loop()->now_ms() + uint64_t{s} * 1000);
  }

  void OnIdle() {
    if (state_ == State::kClosing) return;
    Reply("421 4.4.2 sink: idle timeout, closing connection\r\n");
    CloseAfterOutput();
  }

  void CloseAfterOutput() {
    state_ = State::kClosing;
    if (tls_ != nullptr) tls_->Seal(&stream_->output());
    stream_->Close();
  }

  // Sends what this turn produced (replies go out once per turn).
  void Flush() {
    if (tls_ != nullptr) tls_->Seal(&stream_->output());
    stream_->Flush();
  }

  void OnStreamData(std::string_view data) override {
    if (state_ == State::kClosing) return;
    if (tls_ != nullptr) return OnTlsData(data);
    HandleInput(data);
  }

  void OnTlsData(std::string_view data) {
    const bool was_done = tls_->handshake_done();
    if (tls_->Receive(data, &stream_->output()) != tls::Channel::Result::kOk) {
      // A failed handshake or record, or the peer's close_notify: the alert
      // (if any) leaves, then the connection closes.
      state_ = State::kClosing;
      stream_->Close();
      return;
    }
    if (!was_done && tls_->handshake_done()) shard_->counters().tls_handshakes.Add();
    if (tls_->plain_in().empty()) {
      ArmIdle();
      Flush();  // handshake records
      return;
    }
    HandleInput(tls_->plain_in());
  }

  // Plaintext in, as received or as decrypted.
  void HandleInput(std::string_view data) {
    ArmIdle();
    if (pending_.empty()) {
      const size_t used = Consume(data);
      if (used < data.size() && state_ != State::kClosing) pending_.append(data.substr(used));
    } else {
      pending_.append(data);
      const size_t used = Consume(pending_);
      pending_.erase(0, used);
    }
    if (state_ == State::kClosing) {
      pending_.clear();
    } else if (state_ == State::kStartTls) {
      BeginTls();
    } else if (pending_.size() > kPendingInputMax && !paused_) {
      // Only a delayed reply lets input pile up; wait for it.
      paused_ = true;
      stream_->PauseReading();
    }
    Flush();
  }

  // After the 220 to STARTTLS has been queued (it leaves in plaintext).
  void BeginTls() {
    // RFC 3207 section 4: what the client pipelined after STARTTLS does not
    // count, and the session starts over.
    pending_.clear();
    state_ = State::kCommand;
    greeted_ = false;
    ResetTransaction();
    tls_ = std::make_unique<tls::Pipe>(tls::Channel::NewServer(shard_->sink()->tls_ctx()));
    out_ = &tls_->plain_out();
  }

  void OnStreamClosed(int) override {
    loop()->timers().Disarm(&idle_timer_);
    loop()->timers().Disarm(&delay_timer_);
    shard_->Unlink(this);  // may quit the loop; *this stays valid
    stream_->Release();
    shard_->sink()->ConnectionClosed();
    delete this;
  }

  // Handles as much of `in` as the state allows; returns the bytes used.
  // Every iteration consumes input or returns, so the loop is bounded by
  // in.size().
  size_t Consume(std::string_view in) {
    size_t used = 0;
    while (used < in.size()) {
      const std::string_view rest = in.substr(used);
      switch (state_) {
        case State::kCommand: {
          const size_t lf = rest.find('\n');
          if (lf == std::string_view::npos) {
            if (rest.size() < kCommandLineMax) return used;  // wait for more
            state_ = State::kSkipLine;  // overlong: discard to its end
            used = in.size();
            break;
          }
          used += lf + 1;
          std::string_view line = rest.substr(0, lf);
          if (lf + 1 > kCommandLineMax) {
            Error("500 5.5.2 Error: line too long\r\n");
          } else if (line.empty() || line.back() != '\r') {
            Error("500 5.5.2 Error: bare LF; command lines end with CRLF\r\n");
          } else {
            line.remove_suffix(1);
            if (line.find('\r') != std::string_view::npos) {
              Error("500 5.5.2 Error: bare CR; command lines end with CRLF\r\n");
            } else {
              HandleLine(line);
            }
          }
          break;
        }
        case State::kSkipLine: {
          const size_t lf = rest.find('\n');
          if (lf == std::string_view::npos) {
            used = in.size();
          } else {
            used += lf + 1;
            state_ = State::kCommand;
            Error("500 5.5.2 Error: line too long\r\n");
          }
          break;
        }
        case State::kData: {
          std::string* content = (want_headers_ && !headers_.done()) || saving_ ? &scratch_
                                                                               : nullptr;
          const smtp::DataScanner::Result r = scanner_.Scan(rest, content);
          used += r.consumed;
          if (content != nullptr) {
            TakeContent(scratch_);
            scratch_.clear();
          }
          if (r.status == smtp::DataScanner::Status::kDone) EndOfData(r.errors);
          break;
        }
        case State::kBdat: {
          const size_t n =
              static_cast<size_t>(std::min<uint64_t>(rest.size(), bdat_left_));
          used += n;
          bdat_left_ -= n;
          bdat_octets_ += n;
          if (bdat_reject_ == nullptr && bdat_octets_ <= shard_->options().max_size) {
            TakeContent(rest.substr(0, n));
          }
          if (bdat_left_ == 0) BdatChunkDone();
          break;
        }
        case State::kStartTls:
          return in.size();  // dropped: see BeginTls
        case State::kDelaying:
        case State::kClosing:
          return used;
      }
    }
    return used;
  }

  // Message content after unstuffing (DATA) or as sent (BDAT).
  void TakeContent(std::string_view content) {
    if (want_headers_ && !headers_.done()) headers_.Feed(content);
    if (saving_) content_.append(content);
  }

  void Error(std::string_view reply) {
    shard_->counters().protocol_errors.Add();
    Reply(reply);
    if (++errors_ >= kErrorsMax) {
      Reply("421 4.7.0 sink: too many errors, closing connection\r\n");
      CloseAfterOutput();
    }
  }

  void ResetTransaction() {
    in_mail_ = false;
    bdat_used_ = false;
    bdat_octets_ = 0;
    rcpts_ = 0;
    envelope_.clear();
    content_.clear();
  }

  void HandleLine(std::string_view line) {
    smtp::Command cmd;
    const smtp::ParseResult r = smtp::ParseCommand(line, &cmd);
    if (r != smtp::ParseResult::kOk) {
      shard_->counters().protocol_errors.Add();
      smtp::AppendReply(smtp::ReplyFor(r, cmd), &out());
      if (++errors_ >= kErrorsMax) {
        Reply("421 4.7.0 sink: too many errors, closing connection\r\n");
        CloseAfterOutput();
      }
      return;
    }
    switch (cmd.verb) {
      case smtp::Verb::kEhlo:
        greeted_ = true;
        Greeted(cmd.argument);
        ResetTransaction();
        out().append("250-").append(shard_->options().hostname).append("\r\n");
        out().append("250-PIPELINING\r\n250-SIZE ");
        AppendNumber(shard_->options().max_size, &out());
        out().append("\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n");
        if (tls_ == nullptr && shard_->sink()->tls_ctx() != nullptr) {
          out().append("250-STARTTLS\r\n");
        }
        out().append("250 ENHANCEDSTATUSCODES\r\n");
        return;
      case smtp::Verb::kHelo:
        greeted_ = true;
        Greeted(cmd.argument);
        ResetTransaction();
        out().append("250 ").append(shard_->options().hostname).append("\r\n");
        return;
      case smtp::Verb::kMail:
        return HandleMail(cmd);
      case smtp::Verb::kRcpt:
        return HandleRcpt(cmd);
      case smtp::Verb::kData:
        return HandleData();
      case smtp::Verb::kBdat:
        return HandleBdat(cmd);
      case smtp::Verb::kRset:
        ResetTransaction();
        Reply("250 2.0.0 Ok\r\n");
        return;
      case smtp::Verb::kNoop:
        Reply("250 2.0.0 Ok\r\n");
        return;
      case smtp::Verb::kQuit:
        Reply("221 2.0.0 Bye\r\n");
        CloseAfterOutput();
        return;
      case smtp::Verb::kHelp:
        Reply("214 2.0.0 ringpost sink: EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT\r\n");
        return;
      case smtp::Verb::kVrfy:
        Reply("252 2.5.2 Cannot VRFY user, but will accept message\r\n");
        return;
      case smtp::Verb::kExpn:
        return Error("502 5.5.1 Error: EXPN not implemented\r\n");
      case smtp::Verb::kStartTls:
        if (tls_ != nullptr) return Error("503 5.5.1 Error: TLS already active\r\n");
        if (shard_->sink()->tls_ctx() == nullptr) {
          Reply("454 4.7.0 TLS not available\r\n");
          return;
        }
        Reply("220 2.0.0 Ready to start TLS\r\n");
        state_ = State::kStartTls;
        return;
      case smtp::Verb::kAuth:
        return Error("502 5.5.1 Error: AUTH not implemented\r\n");
      case smtp::Verb::kUnknown:
        return Error("500 5.5.2 Error: command not recognized\r\n");
    }
  }

  // A new EHLO or HELO name: counters and arrivals look it up again.
  void Greeted(std::string_view argument) {
    SetEhloName(argument, &ehlo_);
    ehlo_messages_ = nullptr;
    ehlo_id_ = ArrivalLog::kNoId;
  }

  // This transaction is past the connection's throttle_after.
  bool Throttling(ThrottleAt at) const {
    const SinkOptions& o = shard_->options();
    return o.throttle_after > 0 && o.throttle_at == at && transactions_ > o.throttle_after;
  }

  void Throttle() {
    shard_->counters().throttled.Add();
    Reply(shard_->sink()->throttle_line());
    if (shard_->sink()->throttle_closes()) CloseAfterOutput();  // 421: RFC 5321 3.8
  }

  void HandleMail(const smtp::Command& cmd) {
    if (!greeted_) return Error("503 5.5.1 Error: send HELO/EHLO first\r\n");
    if (in_mail_) return Error("503 5.5.1 Error: nested MAIL command\r\n");
    const SinkOptions& o = shard_->options();
    if (o.throttle_after > 0 && o.throttle_at == ThrottleAt::kMail &&
        transactions_ >= o.throttle_after) {
      return Throttle();
    }
    if (cmd.has_size && cmd.size > shard_->options().max_size) {
      Reply("552 5.3.4 Message size exceeds fixed maximum message size\r\n");
      return;
    }
    ResetTransaction();
    in_mail_ = true;
    ++transactions_;
    if (saving_) envelope_.append("MAIL FROM:<").append(cmd.path).append(">\n");
    Reply("250 2.1.0 Ok\r\n");
  }

  void HandleRcpt(const smtp::Command& cmd) {
    if (!in_mail_) return Error("503 5.5.1 Error: need MAIL command\r\n");
    if (Throttling(ThrottleAt::kRcpt)) return Throttle();
    if (rcpts_ >= kRecipientsMax) {
      Reply("452 4.5.3 Error: too many recipients\r\n");
      return;
    }
    if (shard_->Roll(shard_->options().fail_rcpt_5xx)) {
      shard_->counters().rcpt_rejected.Add();
      Reply("550 5.1.1 sink: injected recipient rejection\r\n");
      return;
    }
    if (arrivals_ && rcpts_ == 0) first_domain_.assign(smtp::DomainOf(cmd.path));
    ++rcpts_;
    if (saving_) envelope_.append("RCPT TO:<").append(cmd.path).append(">\n");
    Reply("250 2.1.5 Ok\r\n");
  }

  void StartMessage() {
    headers_.Reset();
    content_.clear();
  }

  void HandleData() {
    if (!in_mail_) return Error("503 5.5.1 Error: need MAIL command\r\n");
    if (bdat_used_) return Error("503 5.5.1 Error: DATA after BDAT\r\n");
    if (rcpts_ == 0) return Error("554 5.5.1 Error: no valid recipients\r\n");
    Reply("354 End data with <CR><LF>.<CR><LF>\r\n");
    StartMessage();
    scanner_.Reset();
    state_ = State::kData;
  }

  void HandleBdat(const smtp::Command& cmd) {
    shard_->counters().bdat_chunks.Add();
    // RFC 3030: the chunk is read even when the command is refused.
    bdat_reject_ = nullptr;
    if (!in_mail_) {
      bdat_reject_ = "503 5.5.1 Error: need MAIL command\r\n";
    } else if (rcpts_ == 0) {
      bdat_reject_ = "554 5.5.1 Error: no valid recipients\r\n";
    } else if (!bdat_used_) {
      bdat_used_ = true;
      bdat_octets_ = 0;
      StartMessage();
    }
    bdat_left_ = cmd.bdat_size;
    bdat_last_ = cmd.bdat_last;
    if (bdat_left_ == 0) {
      BdatChunkDone();
    } else {
      state_ = State::kBdat;
    }
  }

  void BdatChunkDone() {
    state_ = State::kCommand;
    if (bdat_reject_ != nullptr) {
      const char* reply = bdat_reject_;
      bdat_reject_ = nullptr;
      if (bdat_last_) ResetTransaction();  // the client starts over
      Error(reply);
      return;
    }
    if (bdat_octets_ > shard_->options().max_size) {
      Reply("552 5.3.4 Message size exceeds fixed maximum message size\r\n");
      if (bdat_last_) {
        shard_->counters().rejected_5xx.Add();
        ResetTransaction();
      }
      return;
    }
    if (!bdat_last_) {
      out().append("250 2.0.0 ");
      AppendNumber(bdat_octets_, &out());
      out().append(" octets received\r\n");
      return;
    }
    headers_.Finish();
    EndOfMessage(bdat_octets_);
  }

  void EndOfData(uint32_t errors) {
    state_ = State::kCommand;
    headers_.Finish();
    if (errors != 0) {
      shard_->counters().rejected_5xx.Add();
      smtp::AppendReply(smtp::DataScanner::ReplyFor(errors), &out());
      ResetTransaction();
      return;
    }
    EndOfMessage(scanner_.content_octets());
  }

  // The message is complete and well-formed: decide its fate.
  void EndOfMessage(uint64_t octets) {
    const SinkOptions& o = shard_->options();
    message_octets_ = octets;
    Outcome outcome = Outcome::kAccept;
    if (Throttling(ThrottleAt::kData)) {
      outcome = Outcome::kThrottle;  // decided first: the rolls stay as without it
    } else if (shard_->Roll(o.drop)) {
      outcome = Outcome::kDrop;
    } else if (shard_->Roll(o.fail_5xx)) {
      outcome = Outcome::kFail5xx;
    } else if (shard_->Roll(o.fail_4xx)) {
      outcome = Outcome::kFail4xx;
    } else if (o.fail_first_attempt_4xx) {
      const std::string_view key = headers_.has_id()           ? headers_.id()
                                   : headers_.has_message_id() ? headers_.message_id()
                                                               : std::string_view();
      if (!key.empty() && shard_->sink()->FirstAttempt(std::string(key))) {
        outcome = Outcome::kFailFirstAttempt;
      }
    }
    if (o.delay_ms > 0) {
      delayed_ = outcome;
      state_ = State::kDelaying;
      loop()->timers().Arm(&delay_timer_, loop()->now_ms() + o.delay_ms);
      return;
    }
    Answer(outcome);
  }

  void OnDelayDone() {
    if (state_ != State::kDelaying) return;
    state_ = State::kCommand;
    Answer(delayed_);
    if (state_ != State::kClosing && !pending_.empty()) {
      const size_t used = Consume(pending_);
      pending_.erase(0, used);
    }
    if (state_ == State::kClosing) pending_.clear();
    if (state_ == State::kStartTls) BeginTls();
    if (paused_ && pending_.size() <= kPendingInputMax) {
      paused_ = false;
      stream_->ResumeReading();
    }
    Flush();
  }

  void Answer(Outcome outcome) {
    SinkShard::Counters& c = shard_->counters();
    switch (outcome) {
      case Outcome::kDrop:
        c.dropped.Add();
        ResetTransaction();
        CloseAfterOutput();
        return;
      case Outcome::kFail5xx:
        c.rejected_5xx.Add();
        Reply("550 5.7.1 sink: injected permanent failure\r\n");
        break;
      case Outcome::kFail4xx:
        c.rejected_4xx.Add();
        Reply("451 4.3.0 sink: injected temporary failure\r\n");
        break;
      case Outcome::kFailFirstAttempt:
        c.rejected_4xx.Add();
        Reply("451 4.3.0 sink: injected temporary failure (first attempt)\r\n");
        break;
      case Outcome::kThrottle:
        Throttle();
        break;
      case Outcome::kAccept: {
        const uint64_t n = shard_->NextQueueNumber();
        c.messages.Add();
        c.recipients.Add(rcpts_);
        c.bytes.Add(message_octets_);
        if (tls_ != nullptr) c.tls_messages.Add();
        CountSource();
        if (shard_->options().record_ids) shard_->RecordId(headers_.id());
        if (saving_) Save(n);
        out().append("250 2.0.0 Ok: queued as sink-");
        AppendNumber(n, &out());
        out().append("\r\n");
        break;
      }
    }
    ResetTransaction();
  }

  // An accepted message: its peer's and EHLO name's counters, its arrival.
  void CountSource() {
    if (peer_messages_ == nullptr) peer_messages_ = shard_->peers().Find(peer_);
    peer_messages_->Add();
    if (ehlo_messages_ == nullptr) ehlo_messages_ = shard_->ehlo_names().Find(ehlo_);
    ehlo_messages_->Add();
    if (!arrivals_) return;
    if (!shard_->sink()->ReserveArrival()) {
      shard_->counters().arrivals_dropped.Add();
      return;
    }
    shard_->arrivals().Add(RealtimeNs(), peer_, &peer_id_, ehlo_, &ehlo_id_, first_domain_);
  }

  // Debug mode only (--save_dir): plain blocking writes on the loop thread
  // are acceptable here; never enable it for a benchmark.
  void Save(uint64_t n) {
    std::string base = shard_->options().save_dir;
    base.append("/");
    AppendNumber(n, &base);
    absl::Status s = WriteFileAtomically(base + ".eml", content_);
    if (s.ok()) s = WriteFileAtomically(base + ".env", envelope_);
    if (!s.ok()) fprintf(stderr, "sink: cannot save message: %s\n", s.ToString().c_str());
  }

  SinkShard* shard_;
  Stream* stream_;
  std::string* out_;  // the stream's output; after STARTTLS, plaintext to seal
  std::unique_ptr<tls::Pipe> tls_;  // after STARTTLS
  State state_ = State::kCommand;
  std::string pending_;  // unconsumed input (partial line, delayed commands)
  bool paused_ = false;
  bool greeted_ = false;
  bool in_mail_ = false;
  uint32_t rcpts_ = 0;
  uint32_t errors_ = 0;
  // BDAT
  bool bdat_used_ = false;  // this transaction uses BDAT (DATA refused)
  bool bdat_last_ = false;
  uint64_t bdat_left_ = 0;
  uint64_t bdat_octets_ = 0;
  const char* bdat_reject_ = nullptr;  // reply once the chunk is read
  // The message.
  smtp::DataScanner scanner_;
  HeaderScanner headers_;
  bool want_headers_ = false;
  bool saving_ = false;
  std::string scratch_;   // content of one chunk, while headers are scanned
  std::string content_;   // whole message, --save_dir only
  std::string envelope_;  // --save_dir only
  uint64_t message_octets_ = 0;
  Outcome delayed_ = Outcome::kAccept;
  Timer idle_timer_;
  Timer delay_timer_;
  // Sources, throttling, arrivals.
  bool refused_ = false;
  bool arrivals_ = false;
  uint64_t transactions_ = 0;  // MAIL FROMs answered 250 on this connection
  std::string peer_;           // the peer's address, from accept
  std::string ehlo_;           // the last EHLO/HELO name (SetEhloName)
  RelaxedCounter* peer_messages_ = nullptr;  // looked up at the first message
  RelaxedCounter* ehlo_messages_ = nullptr;  // and after each EHLO/HELO
  std::string first_domain_;   // --arrivals: the transaction's first recipient's
  uint32_t peer_id_ = ArrivalLog::kNoId;  // --arrivals: in the shard's table
  uint32_t ehlo_id_ = ArrivalLog::kNoId;
};

void SinkShard::Link(SinkSession* s) {
  s->prev = nullptr;
  s->next = sessions_;
  if (sessions_ != nullptr) sessions_->prev = s;
  sessions_ = s;
  ++session_count_;
}

void SinkShard::Unlink(SinkSession* s) {
  if (s->prev != nullptr) s->prev->next = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  if (sessions_ == s) sessions_ = s->next;
  s->prev = s->next = nullptr;
  CHECK(session_count_ > 0);
  --session_count_;
  MaybeQuit();
}

void SinkShard::OnAccept(int fd) {
  const uint64_t open_before = sink_->ConnectionOpened();
  if (stopping_) {
    close(fd);
    sink_->ConnectionClosed();
    return;
  }
  counters_.connections.Add();
  const uint32_t max = options().max_connections;
  const bool refused = max > 0 && open_before >= max;
  if (refused) counters_.connections_refused.Add();
  auto* session = new SinkSession(this, fd, refused);
  Link(session);
  session->Start();
}

void SinkShard::OnStop() {
  stopping_ = true;
  if (listener_ != nullptr) listener_->Close();
  for (SinkSession* s = sessions_; s != nullptr; s = s->next) s->Abort();
  stop_guard_.context = loop_unlocked_;
  stop_guard_.callback = [](Timer* t) { static_cast<Loop*>(t->context)->Quit(); };
  loop_unlocked_->timers().Arm(&stop_guard_, loop_unlocked_->now_ms() + kStopGraceMs);
  MaybeQuit();
}

void SinkShard::MaybeQuit() {
  if (stopping_ && session_count_ == 0) loop_unlocked_->Quit();
}

void SinkShard::ThreadMain(sockaddr_storage addr,
                           std::promise<absl::StatusOr<uint16_t>> ready) {
  const SinkOptions& o = options();
  runtime::LoopOptions lo;
  lo.cpu = o.cpu >= 0 ? o.cpu + index_ : -1;
  lo.recv_buffers = o.recv_buffers;
  lo.recv_buffer_bytes = o.recv_buffer_bytes;
  auto loop = Loop::Create(lo);
  if (!loop.ok()) {
    ready.set_value(loop.status());
    return;
  }
  Loop* l = loop->get();
  loop_unlocked_ = l;
  rng_.seed(o.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index_));
  auto listener = runtime::Listener::Create(l, addr, 4096, [this](int fd) { OnAccept(fd); });
  if (!listener.ok()) {
    ready.set_value(listener.status());
    return;
  }
  listener_ = std::move(*listener);
  l->SetStopHandler([this] { OnStop(); });
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    loop_ = l;
    if (stop_requested_) l->RequestStop();
  }
  ready.set_value(listener_->port());
  l->Run();
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    loop_ = nullptr;
  }
  l->timers().Disarm(&stop_guard_);
  // Sessions still open after the grace period are abandoned with the
  // loop (their sockets close with the process).
  listener_.reset();
  loop->reset();
  loop_unlocked_ = nullptr;
}

// ---------------------------------------------------------------------------

std::string SinkCountsJson(const SinkCounts& c) {
  return absl::StrCat(
      "{\"messages\": ", c.messages, ", \"recipients\": ", c.recipients,
      ", \"bytes\": ", c.bytes, ", \"connections\": ", c.connections,
      ", \"rejected_4xx\": ", c.rejected_4xx, ", \"rejected_5xx\": ", c.rejected_5xx,
      ", \"dropped\": ", c.dropped, ", \"rcpt_rejected\": ", c.rcpt_rejected,
      ", \"bdat_chunks\": ", c.bdat_chunks, ", \"protocol_errors\": ", c.protocol_errors,
      ", \"tls_handshakes\": ", c.tls_handshakes, ", \"tls_messages\": ", c.tls_messages,
      ", \"connections_open\": ", c.connections_open,
      ", \"connections_peak\": ", c.connections_peak,
      ", \"connections_refused\": ", c.connections_refused, ", \"throttled\": ", c.throttled,
      ", \"peers\": ", JsonCountObject(c.peers),
      ", \"ehlo_names\": ", JsonCountObject(c.ehlo_names), "}");
}

bool ParseThrottleAt(std::string_view text, ThrottleAt* out) {
  if (text == "mail") {
    *out = ThrottleAt::kMail;
  } else if (text == "rcpt") {
    *out = ThrottleAt::kRcpt;
  } else if (text == "data") {
    *out = ThrottleAt::kData;
  } else {
    return false;
  }
  return true;
}

absl::Status ValidateThrottleReply(std::string_view reply) {
  const auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--throttle_reply must be one reply line, a 4xx or 5xx code, a space and text "
        "(e.g. \"451 4.7.0 Try again later\"): ",
        Av(why)));
  };
  if (reply.size() > kThrottleReplyOctetsMax) {
    return bad(absl::StrCat("longer than ", kThrottleReplyOctetsMax, " octets"));
  }
  if (reply.size() < 5 || reply[3] != ' ') return bad("no \"NNN text\"");
  if (reply[0] != '4' && reply[0] != '5') return bad("the code is not 4xx or 5xx");
  for (size_t i = 1; i < 3; ++i) {
    if (reply[i] < '0' || reply[i] > '9') return bad("the code is not three digits");
  }
  for (const char ch : reply.substr(4)) {
    if (ch == '\r' || ch == '\n') return bad("CR or LF in it (the sink adds the CRLF)");
    if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) {
      return bad("the text is not printable ASCII");
    }
  }
  return absl::OkStatus();
}

Sink::Sink(const SinkOptions& options) : options_(options) {}

Sink::~Sink() {
  RequestStop();
  Wait();
}

absl::StatusOr<std::unique_ptr<Sink>> Sink::Start(const SinkOptions& options) {
  if (options.threads < 1 || options.threads > 1024) {
    return absl::InvalidArgumentError("--threads must be between 1 and 1024");
  }
  for (double rate : {options.drop, options.fail_5xx, options.fail_4xx, options.fail_rcpt_5xx}) {
    if (!(rate >= 0.0 && rate <= 1.0)) {
      return absl::InvalidArgumentError("fault rates must be between 0 and 1");
    }
  }
  if (options.max_size == 0) return absl::InvalidArgumentError("--max_size must be > 0");
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (absl::Status s = ValidateThrottleReply(options.throttle_reply); !s.ok()) return s;
  std::unique_ptr<Sink> sink(new Sink(options));
  sink->throttle_line_ = absl::StrCat(options.throttle_reply, "\r\n");
  sink->throttle_closes_ = options.throttle_reply.starts_with("421");
  if (!options.tls_cert.empty()) {
    absl::StatusOr<tls::ServerContext::UniqueCtx> ctx =
        tls::NewServerCtx(options.tls_cert, options.tls_key);
    if (!ctx.ok()) return ctx.status();
    sink->tls_ctx_ = *std::move(ctx);
  }
  absl::Status s = sink->StartShard(0, 0);
  for (int i = 1; s.ok() && i < options.threads; ++i) s = sink->StartShard(i, sink->port_);
  if (!s.ok()) {
    sink->RequestStop();
    sink->Wait();
    return s;
  }
  return sink;
}

absl::Status Sink::StartShard(int index, uint16_t port) {
  auto addr = runtime::ParseHostPort(options_.listen);
  if (!addr.ok()) return addr.status();
  if (index > 0) {
    // Every shard binds the port the first one got (matters for port 0).
    if (addr->ss_family == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(&*addr)->sin6_port = htons(port);
    } else {
      reinterpret_cast<sockaddr_in*>(&*addr)->sin_port = htons(port);
    }
  }
  auto shard = std::make_unique<SinkShard>(this, index);
  std::promise<absl::StatusOr<uint16_t>> ready;
  std::future<absl::StatusOr<uint16_t>> result = ready.get_future();
  SinkShard* raw = shard.get();
  shard->thread() = std::thread(
      [raw, a = *addr, r = std::move(ready)]() mutable { raw->ThreadMain(a, std::move(r)); });
  shards_.push_back(std::move(shard));
  absl::StatusOr<uint16_t> bound = result.get();
  if (!bound.ok()) return bound.status();
  if (index == 0) port_ = *bound;
  return absl::OkStatus();
}

SinkCounts Sink::Counts() const {
  SinkCounts t;
  for (const auto& shard : shards_) {
    const SinkShard::Counters& c = shard->counters();
    t.messages += c.messages.Get();
    t.recipients += c.recipients.Get();
    t.bytes += c.bytes.Get();
    t.connections += c.connections.Get();
    t.rejected_4xx += c.rejected_4xx.Get();
    t.rejected_5xx += c.rejected_5xx.Get();
    t.dropped += c.dropped.Get();
    t.rcpt_rejected += c.rcpt_rejected.Get();
    t.bdat_chunks += c.bdat_chunks.Get();
    t.protocol_errors += c.protocol_errors.Get();
    t.tls_handshakes += c.tls_handshakes.Get();
    t.tls_messages += c.tls_messages.Get();
    t.connections_refused += c.connections_refused.Get();
    t.throttled += c.throttled.Get();
  }
  t.connections_open = connections_open_.load(std::memory_order_relaxed);
  t.connections_peak = connections_peak_.load(std::memory_order_relaxed);
  absl::flat_hash_map<std::string, uint64_t> peers, names;
  for (const auto& shard : shards_) {
    shard->peers().AddTo(&peers);
    shard->ehlo_names().AddTo(&names);
  }
  t.peers = BoundedSources(peers);
  t.ehlo_names = BoundedSources(names);
  return t;
}

uint64_t Sink::ConnectionOpened() {
  const uint64_t before = connections_open_.fetch_add(1, std::memory_order_relaxed);
  // Every value the count takes on its way up is some increment's result,
  // so the maximum of those results is the exact peak.
  uint64_t peak = connections_peak_.load(std::memory_order_relaxed);
  while (before + 1 > peak &&
         !connections_peak_.compare_exchange_weak(peak, before + 1, std::memory_order_relaxed)) {
  }
  return before;
}

void Sink::ConnectionClosed() {
  const uint64_t before = connections_open_.fetch_sub(1, std::memory_order_relaxed);
  CHECK(before > 0);
}

bool Sink::ReserveArrival() {
  const uint64_t max = options_.max_arrivals;
  if (arrivals_reserved_.load(std::memory_order_relaxed) >= max) return false;
  return arrivals_reserved_.fetch_add(1, std::memory_order_relaxed) < max;
}

absl::Status Sink::WriteArrivals() const {
  const std::string& path = options_.arrivals_path;
  if (path.empty()) return absl::OkStatus();
  std::vector<ArrivalLog::Snapshot> logs;
  logs.reserve(shards_.size());
  uint64_t dropped = 0;
  for (const auto& shard : shards_) {
    logs.push_back(shard->arrivals().Take());
    dropped += shard->counters().arrivals_dropped.Get();
  }
  const std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "we");
  if (f == nullptr) {
    return absl::UnavailableError(absl::StrCat("open ", tmp, ": ", strerror(errno)));
  }
  // Merge by time; each shard's entries are taken in their own order, so
  // a step of the wall clock never reorders one thread's arrivals.
  using Head = std::pair<int64_t, size_t>;  // (time, shard): ties by shard
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heads;
  std::vector<size_t> next(logs.size(), 0);
  for (size_t i = 0; i < logs.size(); ++i) {
    if (logs[i].size > 0) heads.emplace(logs[i].at(0).realtime_ns, i);
  }
  const auto field = [](const std::vector<std::string>& strings, uint32_t id) {
    return strings[id].empty() ? std::string_view("-") : std::string_view(strings[id]);
  };
  constexpr size_t kWriteChunk = size_t{1} << 20;
  std::string buf;
  buf.reserve(kWriteChunk + 1024);
  bool ok = true;
  while (!heads.empty()) {
    const size_t i = heads.top().second;
    heads.pop();
    const ArrivalLog::Snapshot& log = logs[i];
    const Arrival& a = log.at(next[i]);
    absl::StrAppend(&buf, a.realtime_ns, " ", Av(field(log.strings, a.peer)), " ",
                    Av(field(log.strings, a.ehlo)), " ", Av(field(log.strings, a.domain)), "\n");
    if (++next[i] < log.size) heads.emplace(log.at(next[i]).realtime_ns, i);
    if (buf.size() >= kWriteChunk) {
      ok = ok && fwrite(buf.data(), 1, buf.size(), f) == buf.size();
      buf.clear();
    }
  }
  if (dropped > 0) absl::StrAppend(&buf, "# dropped ", dropped, "\n");
  ok = ok && fwrite(buf.data(), 1, buf.size(), f) == buf.size();
  const int write_errno = errno;
  if (fclose(f) != 0 || !ok) {
    const int err = ok ? errno : write_errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("write ", tmp, ": ", strerror(err)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("rename to ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

void Sink::RequestStop() {
  for (auto& shard : shards_) shard->RequestStop();
}

void Sink::Wait() {
  if (joined_) return;
  for (auto& shard : shards_) {
    if (shard->thread().joinable()) shard->thread().join();
  }
  joined_ = true;
}

std::vector<std::string> Sink::AcceptedIds() const {
  CHECK(joined_);
  std::vector<std::string> ids;
  for (const auto& shard : shards_) {
    ids.insert(ids.end(), shard->ids().begin(), shard->ids().end());
  }
  return ids;
}

bool Sink::FirstAttempt(const std::string& id) {
  std::lock_guard<std::mutex> lock(seen_mu_);
  return seen_ids_.insert(id).second;
}

}  // namespace ringpost::bench
