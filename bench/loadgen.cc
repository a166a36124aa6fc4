// bench/loadgen.cc — load generator threads and SMTP client connections.
// See loadgen.h for the protocol behaviour and what is counted.
//
// Reply matching: every command sent pushes an Expect onto a bounded ring;
// replies pop it in order. A transaction's replies are contiguous on the
// wire and its last one (end of data, BDAT, a refused DATA, or in lock-step
// mode a refused MAIL or the last refused RCPT) finishes it, so the
// transaction a reply belongs to is always the oldest one open. Transactions
// live in a second ring of `inflight` slots: nothing is allocated per
// message; the output buffer, header scratch and reply text are reused.
//
// --tls: after the first EHLO the client sends STARTTLS and, on 220, starts
// a tls::Channel client (no verification: the bench's certificates are
// throwaway) and says EHLO again; from then on `out_` points at the TLS
// session's plaintext, which Flush() seals into records. Each thread has one
// ClientContext, so a reconnect resumes the session.
#include "bench/loadgen.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/counters.h"
#include "bench/message_generator.h"
#include "relay/tls/pipe.h"
#include "relay/runtime/loop.h"
#include "relay/runtime/stream.h"
#include "relay/smtp/reply_parser.h"
#include "relay/tls/context.h"

namespace ringpost::bench {

using runtime::Loop;
using runtime::Stream;
using runtime::StreamHandler;
using runtime::Timer;

namespace {

// Stop queueing new transactions while this much output waits to be sent.
constexpr size_t kOutputHighWater = 1 << 20;
constexpr uint64_t kReconnectBackoffMs = 100;
constexpr uint64_t kStopGraceMs = 1000;     // after an abort
constexpr uint64_t kDrainGraceMs = 10000;   // after --duration_s

// Invariant check that stays on in every build mode.
void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "loadgen: invariant violated: %s\n", what);
    abort();
  }
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void AppendNumber(uint64_t n, std::string* out) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), n);
  Check(ec == std::errc(), "number formatting");
  out->append(digits, end);
}

// A fixed-capacity FIFO.
template <typename T>
class Ring {
 public:
  explicit Ring(size_t capacity) : items_(capacity) {}
  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  T& front() { return items_[head_]; }
  T& back() { return items_[(head_ + count_ - 1) % items_.size()]; }
  T& push() {
    Check(count_ < items_.size(), "ring overflow");
    T& slot = items_[(head_ + count_) % items_.size()];
    ++count_;
    slot = T{};
    return slot;
  }
  void pop() {
    Check(count_ > 0, "pop from empty ring");
    head_ = (head_ + 1) % items_.size();
    --count_;
  }
  void clear() { head_ = count_ = 0; }

 private:
  std::vector<T> items_;
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace

class LoadgenClient;

// One thread: a loop, its connections, its share of the messages.
class LoadgenWorker {
 public:
  struct alignas(64) Counters {
    RelaxedCounter attempted, accepted, rejected_4xx, rejected_5xx, errors;
  };

  LoadgenWorker(const LoadgenOptions& options, int index, int connections,
                uint64_t first_message, uint64_t messages, double rate,
                const sockaddr_storage& target)
      : options_(options),
        index_(index),
        connections_(connections),
        first_(first_message),
        quota_(messages),
        rate_per_ms_(rate / 1000.0),
        target_(target),
        generator_(options.size) {}

  void ThreadMain(std::promise<absl::Status> ready, std::atomic<int>* running);
  void RequestStop() {
    std::lock_guard<std::mutex> lock(loop_mu_);
    stop_requested_ = true;
    if (loop_ != nullptr) loop_->RequestStop();
  }

  // --- loop thread, for clients ---
  enum class Claim { kOk, kWait, kNone };
  Claim ClaimMessage(LoadgenClient* client, uint64_t* index);
  bool HasWork() const { return !stopping_ && next_ < quota_; }
  bool aborting() const { return aborting_; }
  void ClientFinished();
  Loop* loop() { return loop_unlocked_; }
  const LoadgenOptions& options() const { return options_; }
  const sockaddr_storage& target() const { return target_; }
  const MessageGenerator& generator() const { return generator_; }
  Counters& counters() { return counters_; }
  const Counters& counters() const { return counters_; }
  std::string_view Date();
  void AppendId(uint64_t index, std::string* out) const {
    out->append(options_.id_prefix).push_back('-');
    AppendNumber(index, out);
  }
  void RecordAccepted(uint64_t index, uint64_t latency_us) {
    counters_.accepted.Add();
    latency_.Record(latency_us);
    if (options_.record_ids) {
      std::string id;
      AppendId(index, &id);
      ids_.push_back(std::move(id));
    }
  }
  void CountConnect(bool ok) { ok ? ++connects_ : ++connect_failures_; }
  tls::ClientContext* tls_context() { return tls_context_.get(); }

  // --- after join ---
  const LatencyHistogram& latency() const { return latency_; }
  const std::vector<std::string>& ids() const { return ids_; }
  uint64_t connects() const { return connects_; }
  uint64_t connect_failures() const { return connect_failures_; }
  uint64_t tls_handshakes() const { return tls_handshakes_; }
  uint64_t tls_resumed() const { return tls_resumed_; }
  bool timed_out() const { return timed_out_; }
  bool duration_reached() const { return duration_reached_; }
  uint64_t finish_ns() const { return finish_ns_; }
  std::thread& thread() { return thread_; }

 private:
  void Abort();
  void OnRateTimer();
  void OnDuration();

  const LoadgenOptions& options_;
  const int index_;
  const int connections_;
  const uint64_t first_;   // global index of this thread's first message
  const uint64_t quota_;   // messages for this thread
  const double rate_per_ms_;
  const sockaddr_storage target_;
  MessageGenerator generator_;
  std::thread thread_;
  std::mutex loop_mu_;
  Loop* loop_ = nullptr;  // guarded by loop_mu_ for other threads
  bool stop_requested_ = false;

  // Loop thread state.
  Loop* loop_unlocked_ = nullptr;
  std::vector<std::unique_ptr<LoadgenClient>> clients_;
  int live_clients_ = 0;
  uint64_t next_ = 0;  // messages claimed
  uint64_t start_ms_ = 0;
  bool stopping_ = false;  // no new messages
  bool aborting_ = false;  // connections being torn down
  bool timed_out_ = false;
  bool duration_reached_ = false;
  std::vector<LoadgenClient*> parked_;  // waiting for a rate token
  std::vector<LoadgenClient*> waking_;
  Timer rate_timer_;
  Timer duration_timer_;
  Timer drain_timer_;
  Timer timeout_timer_;
  Timer stop_guard_;
  int64_t date_second_ = -1;
  std::string date_;
  Counters counters_;
  LatencyHistogram latency_;
  std::vector<std::string> ids_;
  uint64_t connects_ = 0;
  uint64_t connect_failures_ = 0;
  std::unique_ptr<tls::ClientContext> tls_context_;  // --tls
  uint64_t tls_handshakes_ = 0;  // from tls_context_, kept when it goes
  uint64_t tls_resumed_ = 0;
  uint64_t finish_ns_ = 0;
};

class LoadgenClient final : public StreamHandler {
 public:
  explicit LoadgenClient(LoadgenWorker* worker)
      : w_(worker),
        recipients_(static_cast<uint32_t>(worker->options().recipients)),
        txns_(static_cast<size_t>(worker->options().inflight)),
        expects_(static_cast<size_t>(worker->options().inflight) * (recipients_ + 3) + 4) {
    backoff_.context = this;
    backoff_.callback = [](Timer* t) { static_cast<LoadgenClient*>(t->context)->Connect(); };
  }

  ~LoadgenClient() {
    w_->loop()->timers().Disarm(&backoff_);
    if (stream_ != nullptr) stream_->Release();  // only after an abandoned stop
  }

  void Connect() {
    if (w_->aborting() || !w_->HasWork()) return Finish();
    state_ = State::kConnecting;
    runtime::Connect(w_->loop(), w_->target(), w_->options().connect_timeout_ms,
                     [this](int fd) { OnConnected(fd); });
  }

  // Stop: drop the connection now.
  void Abort() {
    switch (state_) {
      case State::kBackoff:
        w_->loop()->timers().Disarm(&backoff_);
        return Finish();
      case State::kConnecting:
      case State::kFinished:
        return;  // the connect completion finishes it
      default:
        if (stream_ != nullptr) {
          if (state_ != State::kQuitting) state_ = State::kClosing;
          stream_->Abort(-ECANCELED);
        }
        return;
    }
  }

  // Starts what may start now: commands of the open transaction (lock-step),
  // new transactions, or QUIT when the work is done.
  void Pump() {
    if (state_ != State::kReady) return;
    // Each round sends one command or starts one transaction; bounded by
    // what the rings can hold.
    for (size_t round = 0; round < expects_capacity(); ++round) {
      if (awaiting_354_) break;
      if (!txns_.empty() && txns_.back().sent < CommandsBeforeBody()) {
        if (!pipelining_ && !expects_.empty()) break;
        SendCommand(txns_.back());
        continue;
      }
      if (txns_.size() >= inflight_) break;
      if (!pipelining_ && !expects_.empty()) break;
      if (!txns_.empty() && QueuedBytes() > kOutputHighWater) break;
      uint64_t index = 0;
      const LoadgenWorker::Claim claim = w_->ClaimMessage(this, &index);
      if (claim == LoadgenWorker::Claim::kWait) break;
      if (claim == LoadgenWorker::Claim::kNone) {
        if (txns_.empty() && expects_.empty()) SendQuit();
        break;
      }
      Txn& t = txns_.push();
      t.index = index;
      w_->counters().attempted.Add();
    }
    Flush();
  }

  bool parked = false;  // on the worker's rate wait list

 private:
  enum class State : uint8_t {
    kIdle, kConnecting, kGreeting, kEhlo, kHelo, kStartTls, kTlsHandshake, kReady, kQuitting,
    kClosing, kBackoff, kFinished
  };
  enum class Expect : uint8_t { kMail, kRcpt, kData, kDataEnd, kBdat, kRset, kQuit };
  struct Txn {
    uint64_t index = 0;
    uint64_t end_sent_ns = 0;
    uint32_t sent = 0;          // commands sent: MAIL, RCPT..., DATA/BDAT
    uint32_t rcpt_replies = 0;
    uint32_t rcpts_ok = 0;
    int mail_code = 0;
    int rcpt_fail_code = 0;
  };

  size_t expects_capacity() const {
    return static_cast<size_t>(w_->options().inflight) * (recipients_ + 3) + 4;
  }
  uint32_t CommandsBeforeBody() const { return recipients_ + 2; }
  std::string& out() { return *out_; }
  size_t QueuedBytes() const {
    return stream_->queued_bytes() + (tls_ != nullptr ? tls_->plain_out().size() : 0);
  }
  // Sends what this turn produced.
  void Flush() {
    if (tls_ != nullptr) tls_->Seal(&stream_->output());
    stream_->Flush();
  }

  void OnConnected(int fd) {
    if (fd < 0) return Failed(/*reached_ready=*/false);
    if (w_->aborting()) {
      close(fd);
      return Finish();
    }
    stream_ = new Stream(w_->loop(), fd, this);
    out_ = &stream_->output();
    state_ = State::kGreeting;
    reached_ready_ = false;
    stream_->Start();
  }

  void SendQuit() {
    out().append("QUIT\r\n");
    expects_.push() = Expect::kQuit;
    state_ = State::kQuitting;
  }

  // Appends the message's address, e.g. "user17@b.example".
  void AppendRecipient(uint64_t index, uint32_t j, std::string* out) const {
    const uint64_t r = index * recipients_ + j;
    const auto& domains = w_->options().rcpt_domains;
    out->append("user");
    AppendNumber(r, out);
    out->push_back('@');
    out->append(domains[r % domains.size()]);
  }

  // Headers of message `index` into hdr_; returns the total size.
  size_t BuildHeaders(uint64_t index) {
    id_.clear();
    w_->AppendId(index, &id_);
    to_.clear();
    AppendRecipient(index, 0, &to_);
    hdr_.clear();
    MessageFields f;
    f.from = w_->options().sender;
    f.to = to_;
    f.id = id_;
    f.date = w_->Date();
    f.sequence = index;
    w_->generator().AppendHeaders(f, &hdr_);
    body_octets_ = w_->generator().BodyLength(hdr_.size());
    return hdr_.size() + body_octets_;
  }

  void AppendContent() {
    out().append(hdr_);
    w_->generator().AppendBody(body_octets_, &out());
  }

  void SendCommand(Txn& t) {
    const uint32_t k = t.sent++;
    if (k == 0) {
      out().append("MAIL FROM:<").append(w_->options().sender).append(">");
      if (size_ext_) {
        out().append(" SIZE=");
        AppendNumber(w_->options().size, &out());
      }
      out().append("\r\n");
      expects_.push() = Expect::kMail;
    } else if (k <= recipients_) {
      out().append("RCPT TO:<");
      AppendRecipient(t.index, k - 1, &out());
      out().append(">\r\n");
      expects_.push() = Expect::kRcpt;
    } else if (chunking_) {
      const size_t total = BuildHeaders(t.index);
      out().append("BDAT ");
      AppendNumber(total, &out());
      out().append(" LAST\r\n");
      AppendContent();
      t.end_sent_ns = NowNs();
      expects_.push() = Expect::kBdat;
    } else {
      out().append("DATA\r\n");
      expects_.push() = Expect::kData;
      awaiting_354_ = true;
    }
  }

  void SendBody(Txn& t) {
    BuildHeaders(t.index);
    AppendContent();  // no line starts with ".": nothing to stuff
    out().append(".\r\n");
    t.end_sent_ns = NowNs();
    expects_.push() = Expect::kDataEnd;
  }

  void OnStreamData(std::string_view data) override {
    if (tls_ != nullptr) return OnTlsData(data);
    if (!HandleReplies(data)) return;
    Pump();
    Flush();  // EHLO and other replies to the handshake
  }

  void OnTlsData(std::string_view data) {
    const bool was_done = tls_->handshake_done();
    if (tls_->Receive(data, &stream_->output()) != tls::Channel::Result::kOk) {
      WarnOnce(tls_->channel().error().c_str());
      ProtocolError();
      return;
    }
    if (!was_done && tls_->handshake_done()) {
      out().append("EHLO ").append(w_->options().helo).append("\r\n");
      state_ = State::kEhlo;
    }
    if (!HandleReplies(tls_->plain_in())) return;
    Pump();
    Flush();
  }

  // False when the connection is being dropped.
  bool HandleReplies(std::string_view data) {
    // Bounded: every Parse call consumes input or ends the loop.
    while (!data.empty()) {
      const smtp::ReplyParser::Result r = parser_.Parse(data, &reply_);
      data.remove_prefix(r.consumed);
      if (r.status == smtp::ReplyParser::Status::kNeedMore) break;
      if (r.status == smtp::ReplyParser::Status::kError) return ProtocolError();
      if (!HandleReply()) return false;
      // RFC 3207 section 4: nothing may follow the 220 to STARTTLS in
      // plaintext (it would be injected into the TLS session).
      if (state_ == State::kTlsHandshake && !data.empty()) return ProtocolError();
    }
    return true;
  }

  static void WarnOnce(const char* what) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) fprintf(stderr, "loadgen: --tls: %s\n", what);
  }

  void StartTls(const smtp::EhloCapabilities& caps) {
    if (!caps.Has(smtp::kExtStartTls)) {
      WarnOnce("the server does not offer STARTTLS");
      ProtocolError();
      return;
    }
    out().append("STARTTLS\r\n");
    state_ = State::kStartTls;
  }

  // The server said 220 to STARTTLS: the ClientHello leaves in this turn.
  void BeginTls() {
    tls_ = std::make_unique<tls::Pipe>(tls::Channel::NewClient(
        w_->tls_context(), /*server_name=*/"", /*verify=*/false, w_->options().target));
    tls_->channel().Start(&stream_->output());
    out_ = &tls_->plain_out();
    state_ = State::kTlsHandshake;
  }

  // False when the connection is being dropped.
  bool HandleReply() {
    const int code = reply_.code;
    switch (state_) {
      case State::kGreeting:
        if (code != 220) return ProtocolError();
        out().append("EHLO ").append(w_->options().helo).append("\r\n");
        state_ = State::kEhlo;
        return true;
      case State::kEhlo:
        if (code != 250) {
          out().append("HELO ").append(w_->options().helo).append("\r\n");
          state_ = State::kHelo;
          return true;
        }
        if (w_->options().tls && tls_ == nullptr) {
          StartTls(smtp::ParseEhloCapabilities(reply_));
          return state_ == State::kStartTls;
        }
        Ready(smtp::ParseEhloCapabilities(reply_));
        return true;
      case State::kStartTls:
        if (code != 220) {
          WarnOnce("the server refused STARTTLS");
          return ProtocolError();
        }
        BeginTls();
        return true;
      case State::kHelo:
        if (code != 250) return ProtocolError();
        if (w_->options().tls) {
          WarnOnce("the server does not speak ESMTP, so no STARTTLS");
          return ProtocolError();
        }
        Ready(smtp::EhloCapabilities{});
        return true;
      case State::kReady:
      case State::kQuitting:
        break;
      default:
        return ProtocolError();
    }
    if (expects_.empty()) return ProtocolError();  // unsolicited reply
    const Expect e = expects_.front();
    expects_.pop();
    const bool ok = code >= 200 && code < 300;
    switch (e) {
      case Expect::kMail: {
        Txn& t = txns_.front();
        t.mail_code = code;
        if (!ok && !pipelining_) EndTransaction(code);  // nothing else was sent
        return true;
      }
      case Expect::kRcpt: {
        Txn& t = txns_.front();
        ++t.rcpt_replies;
        if (ok) {
          ++t.rcpts_ok;
        } else {
          t.rcpt_fail_code = code;
        }
        if (!pipelining_ && t.rcpt_replies == recipients_ && t.rcpts_ok == 0) {
          EndTransaction(code);
          SendRset();  // the server still holds the MAIL transaction
        }
        return true;
      }
      case Expect::kData:
        awaiting_354_ = false;
        if (code == 354) {
          SendBody(txns_.front());
        } else if (code / 100 == 2) {
          return ProtocolError();  // DATA needs 354 before the content
        } else {
          const bool mail_ok = txns_.front().mail_code / 100 == 2;
          EndTransaction(code);
          if (mail_ok) SendRset();
        }
        return true;
      case Expect::kDataEnd:
      case Expect::kBdat:
        EndTransaction(code);
        return true;
      case Expect::kRset:
        return true;
      case Expect::kQuit:
        stream_->Close();
        return false;
    }
    return true;
  }

  void SendRset() {
    out().append("RSET\r\n");
    expects_.push() = Expect::kRset;
  }

  // The oldest transaction is over; `code` is the reply that ended it.
  void EndTransaction(int code) {
    Txn& t = txns_.front();
    int outcome = code;
    if (t.mail_code / 100 != 2) {
      outcome = t.mail_code;
    } else if (t.rcpts_ok == 0 && t.rcpt_fail_code != 0) {
      outcome = t.rcpt_fail_code;
    }
    if (outcome / 100 == 2) {
      w_->RecordAccepted(t.index, (NowNs() - t.end_sent_ns) / 1000);
    } else if (outcome / 100 == 4) {
      w_->counters().rejected_4xx.Add();
    } else {
      w_->counters().rejected_5xx.Add();
    }
    txns_.pop();
  }

  void Ready(const smtp::EhloCapabilities& caps) {
    const LoadgenOptions& o = w_->options();
    pipelining_ = caps.Has(smtp::kExtPipelining);
    chunking_ = o.chunking && caps.Has(smtp::kExtChunking);
    if (o.chunking && !chunking_) {
      static std::atomic<bool> warned{false};
      if (!warned.exchange(true)) {
        fprintf(stderr, "loadgen: the server does not offer CHUNKING; using DATA\n");
      }
    }
    size_ext_ = caps.Has(smtp::kExtSize);
    inflight_ = pipelining_ ? static_cast<size_t>(o.inflight) : 1;
    state_ = State::kReady;
    reached_ready_ = true;
    failures_ = 0;
    w_->CountConnect(true);
  }

  bool ProtocolError() {
    state_ = State::kClosing;
    if (stream_ != nullptr) stream_->Abort(-EPROTO);
    return false;
  }

  void OnStreamClosed(int error) override {
    const State was = state_;
    stream_->Release();
    stream_ = nullptr;
    out_ = nullptr;
    tls_.reset();
    // Whatever was in flight has an unknown outcome.
    w_->counters().errors.Add(txns_.size());
    txns_.clear();
    expects_.clear();
    awaiting_354_ = false;
    parser_.Reset();
    if (was == State::kQuitting) return Finish();
    Failed(reached_ready_);
  }

  void Failed(bool reached_ready) {
    if (w_->aborting()) return Finish();
    if (!reached_ready) {
      ++failures_;
      w_->CountConnect(false);
    }
    if (!w_->HasWork()) return Finish();
    if (failures_ > w_->options().reconnect_attempts) {
      fprintf(stderr, "loadgen: giving up on a connection after %d failed attempts\n",
              failures_);
      return Finish();
    }
    if (failures_ == 0) return Connect();  // a working session was dropped
    state_ = State::kBackoff;
    w_->loop()->timers().Arm(&backoff_,
                             w_->loop()->now_ms() + kReconnectBackoffMs * failures_);
  }

  void Finish() {
    if (state_ == State::kFinished) return;
    state_ = State::kFinished;
    w_->ClientFinished();
  }

  LoadgenWorker* w_;
  const uint32_t recipients_;
  State state_ = State::kIdle;
  Stream* stream_ = nullptr;
  std::string* out_ = nullptr;  // the stream's output; with TLS, plaintext to seal
  std::unique_ptr<tls::Pipe> tls_;  // after STARTTLS (--tls)
  smtp::ReplyParser parser_;
  smtp::ServerReply reply_;
  bool pipelining_ = false;
  bool chunking_ = false;
  bool size_ext_ = false;
  bool awaiting_354_ = false;
  bool reached_ready_ = false;  // this session got past EHLO
  size_t inflight_ = 1;
  int failures_ = 0;  // consecutive sessions that never reached EHLO
  Ring<Txn> txns_;
  Ring<Expect> expects_;
  Timer backoff_;
  std::string id_;
  std::string to_;
  std::string hdr_;
  size_t body_octets_ = 0;
};

// ---------------------------------------------------------------------------

LoadgenWorker::Claim LoadgenWorker::ClaimMessage(LoadgenClient* client, uint64_t* index) {
  if (!HasWork()) return Claim::kNone;
  if (rate_per_ms_ > 0) {
    const uint64_t now = loop_unlocked_->now_ms();
    const double elapsed_ms = static_cast<double>(now - start_ms_);
    const uint64_t allowed = static_cast<uint64_t>(elapsed_ms * rate_per_ms_) + 1;
    if (next_ >= allowed) {
      if (!client->parked) {
        client->parked = true;
        parked_.push_back(client);
      }
      if (!rate_timer_.armed()) {
        const uint64_t due =
            start_ms_ + static_cast<uint64_t>(std::ceil(static_cast<double>(next_) / rate_per_ms_));
        loop_unlocked_->timers().Arm(&rate_timer_, std::max(due, now + 1));
      }
      return Claim::kWait;
    }
  }
  *index = first_ + next_++;
  return Claim::kOk;
}

void LoadgenWorker::OnRateTimer() {
  waking_.swap(parked_);
  for (LoadgenClient* c : waking_) {
    c->parked = false;
    c->Pump();
  }
  waking_.clear();
}

void LoadgenWorker::OnDuration() {
  stopping_ = true;
  duration_reached_ = next_ < quota_;
  // Idle connections quit now; busy ones after their replies. Those still
  // busy after the grace period are dropped.
  OnRateTimer();
  for (auto& c : clients_) c->Pump();
  drain_timer_.context = this;
  drain_timer_.callback = [](Timer* t) { static_cast<LoadgenWorker*>(t->context)->Abort(); };
  loop_unlocked_->timers().Arm(&drain_timer_, loop_unlocked_->now_ms() + kDrainGraceMs);
}

void LoadgenWorker::Abort() {
  if (aborting_) return;
  aborting_ = true;
  stopping_ = true;
  for (auto& c : clients_) c->Abort();
  stop_guard_.context = loop_unlocked_;
  stop_guard_.callback = [](Timer* t) { static_cast<Loop*>(t->context)->Quit(); };
  loop_unlocked_->timers().Arm(&stop_guard_, loop_unlocked_->now_ms() + kStopGraceMs);
}

void LoadgenWorker::ClientFinished() {
  Check(live_clients_ > 0, "client count");
  if (--live_clients_ == 0) {
    finish_ns_ = NowNs();
    loop_unlocked_->Quit();
  }
}

std::string_view LoadgenWorker::Date() {
  const int64_t now = static_cast<int64_t>(time(nullptr));
  if (now != date_second_) {
    date_second_ = now;
    date_ = FormatRfc5322Date(now);
  }
  return date_;
}

void LoadgenWorker::ThreadMain(std::promise<absl::Status> ready, std::atomic<int>* running) {
  runtime::LoopOptions lo;
  lo.cpu = options_.cpu >= 0 ? options_.cpu + index_ : -1;
  lo.recv_buffers = options_.recv_buffers;
  lo.recv_buffer_bytes = options_.recv_buffer_bytes;
  auto loop = Loop::Create(lo);
  if (!loop.ok()) {
    finish_ns_ = NowNs();
    running->fetch_sub(1);
    ready.set_value(loop.status());
    return;
  }
  Loop* l = loop->get();
  loop_unlocked_ = l;
  start_ms_ = l->now_ms();
  l->SetStopHandler([this] { Abort(); });
  rate_timer_.context = this;
  rate_timer_.callback = [](Timer* t) { static_cast<LoadgenWorker*>(t->context)->OnRateTimer(); };
  timeout_timer_.context = this;
  timeout_timer_.callback = [](Timer* t) {
    auto* w = static_cast<LoadgenWorker*>(t->context);
    w->timed_out_ = true;
    w->Abort();
  };
  l->timers().Arm(&timeout_timer_, start_ms_ + uint64_t{options_.timeout_s} * 1000);
  if (options_.duration_s > 0) {
    duration_timer_.context = this;
    duration_timer_.callback = [](Timer* t) {
      static_cast<LoadgenWorker*>(t->context)->OnDuration();
    };
    l->timers().Arm(&duration_timer_, start_ms_ + uint64_t{options_.duration_s} * 1000);
  }
  if (options_.tls) {
    // Default options: the system CA bundle, unused (no verification).
    tls_context_ = std::make_unique<tls::ClientContext>(tls::ClientContext::Options());
  }
  for (int i = 0; i < connections_; ++i) clients_.push_back(std::make_unique<LoadgenClient>(this));
  live_clients_ = connections_;
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    loop_ = l;
    if (stop_requested_) l->RequestStop();
  }
  ready.set_value(absl::OkStatus());
  for (auto& c : clients_) c->Connect();
  if (live_clients_ > 0) l->Run();
  if (finish_ns_ == 0) finish_ns_ = NowNs();
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    loop_ = nullptr;
  }
  for (Timer* t : {&rate_timer_, &duration_timer_, &drain_timer_, &timeout_timer_, &stop_guard_}) {
    l->timers().Disarm(t);
  }
  clients_.clear();
  if (tls_context_ != nullptr) {
    tls_handshakes_ = tls_context_->handshakes();
    tls_resumed_ = tls_context_->resumed();
    tls_context_.reset();
  }
  loop->reset();
  loop_unlocked_ = nullptr;
  running->fetch_sub(1);
}

// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<std::string>> ParseDomainList(const std::string& text) {
  std::vector<std::string> domains;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    if (item.empty() || item.find_first_of(" <>@\r\n\t") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad domain list '", text, "': want a.example,b.example"));
    }
    domains.push_back(std::move(item));
    start = comma + 1;
  }
  return domains;
}

std::string LoadgenResult::ToJson() const {
  return absl::StrFormat(
      "{\"messages\": %d, \"attempted\": %d, \"rejected_4xx\": %d, \"rejected_5xx\": %d, "
      "\"errors\": %d, \"seconds\": %.3f, \"msgs_per_sec\": %.1f, "
      "\"latency_us\": {\"p50\": %d, \"p90\": %d, \"p99\": %d, \"p999\": %d, \"max\": %d}, "
      "\"requested\": %d, \"connects\": %d, \"connect_failures\": %d, \"timed_out\": %s, "
      "\"duration_reached\": %s, \"tls_handshakes\": %d, \"tls_resumed\": %d}",
      accepted, attempted, rejected_4xx, rejected_5xx, errors, seconds, MessagesPerSecond(),
      latency_us.Percentile(0.50), latency_us.Percentile(0.90), latency_us.Percentile(0.99),
      latency_us.Percentile(0.999), latency_us.max(), requested, connects, connect_failures,
      timed_out ? "true" : "false", duration_reached ? "true" : "false", tls_handshakes,
      tls_resumed);
}

Loadgen::Loadgen(const LoadgenOptions& options) : options_(options) {}

Loadgen::~Loadgen() {
  if (!waited_) {
    RequestStop();
    Wait();
  }
}

absl::StatusOr<std::unique_ptr<Loadgen>> Loadgen::Start(const LoadgenOptions& options) {
  auto target = runtime::ParseHostPort(options.target);
  if (!target.ok()) return target.status();
  if (options.connections < 1 || options.connections > 100000) {
    return absl::InvalidArgumentError("--connections must be between 1 and 100000");
  }
  if (options.messages < 1) return absl::InvalidArgumentError("--messages must be >= 1");
  if (options.recipients < 1 || options.recipients > 1000) {
    return absl::InvalidArgumentError("--recipients must be between 1 and 1000");
  }
  if (options.inflight < 1 || options.inflight > 1024) {
    return absl::InvalidArgumentError("--inflight must be between 1 and 1024");
  }
  if (options.threads < 1 || options.threads > 256) {
    return absl::InvalidArgumentError("--threads must be between 1 and 256");
  }
  if (!(options.rate >= 0)) return absl::InvalidArgumentError("--rate must be >= 0");
  if (options.rcpt_domains.empty()) return absl::InvalidArgumentError("no recipient domains");
  if (options.timeout_s == 0) return absl::InvalidArgumentError("--timeout_s must be > 0");
  if (options.size > (uint64_t{1} << 30)) return absl::InvalidArgumentError("--size above 1 GiB");

  std::unique_ptr<Loadgen> lg(new Loadgen(options));
  LoadgenOptions& o = lg->options_;
  if (o.id_prefix.empty()) o.id_prefix = absl::StrCat("lg-", getpid());
  const int threads = std::min(o.threads, o.connections);
  lg->start_ns_ = NowNs();
  uint64_t first = 0;
  for (int i = 0; i < threads; ++i) {
    const int conns = o.connections / threads + (i < o.connections % threads ? 1 : 0);
    const uint64_t msgs = o.messages / static_cast<uint64_t>(threads) +
                          (static_cast<uint64_t>(i) < o.messages % static_cast<uint64_t>(threads)
                               ? 1 : 0);
    const double rate =
        o.rate * static_cast<double>(msgs) / static_cast<double>(o.messages);
    lg->workers_.push_back(
        std::make_unique<LoadgenWorker>(o, i, conns, first, msgs, rate, *target));
    first += msgs;
  }
  lg->running_ = threads;
  absl::Status status;
  for (auto& w : lg->workers_) {
    std::promise<absl::Status> ready;
    std::future<absl::Status> result = ready.get_future();
    LoadgenWorker* raw = w.get();
    std::atomic<int>* running = &lg->running_;
    w->thread() = std::thread([raw, running, r = std::move(ready)]() mutable {
      raw->ThreadMain(std::move(r), running);
    });
    status = result.get();
    if (!status.ok()) break;
  }
  if (!status.ok()) {
    lg->RequestStop();
    lg->Wait();
    return status;
  }
  return lg;
}

bool Loadgen::done() const { return running_.load() == 0; }

LoadgenProgress Loadgen::Progress() const {
  LoadgenProgress p;
  for (const auto& w : workers_) {
    const LoadgenWorker::Counters& c = w->counters();
    p.attempted += c.attempted.Get();
    p.accepted += c.accepted.Get();
    p.rejected_4xx += c.rejected_4xx.Get();
    p.rejected_5xx += c.rejected_5xx.Get();
    p.errors += c.errors.Get();
  }
  return p;
}

void Loadgen::RequestStop() {
  for (auto& w : workers_) w->RequestStop();
}

LoadgenResult Loadgen::Wait() {
  Check(!waited_, "Loadgen::Wait called twice");
  waited_ = true;
  for (auto& w : workers_) {
    if (w->thread().joinable()) w->thread().join();
  }
  LoadgenResult r;
  r.requested = options_.messages;
  const LoadgenProgress p = Progress();
  r.attempted = p.attempted;
  r.accepted = p.accepted;
  r.rejected_4xx = p.rejected_4xx;
  r.rejected_5xx = p.rejected_5xx;
  r.errors = p.errors;
  uint64_t finish_ns = start_ns_;
  for (auto& w : workers_) {
    r.latency_us.Merge(w->latency());
    r.connects += w->connects();
    r.connect_failures += w->connect_failures();
    r.tls_handshakes += w->tls_handshakes();
    r.tls_resumed += w->tls_resumed();
    r.timed_out = r.timed_out || w->timed_out();
    r.duration_reached = r.duration_reached || w->duration_reached();
    finish_ns = std::max(finish_ns, w->finish_ns());
    if (options_.record_ids) {
      r.accepted_ids.insert(r.accepted_ids.end(), w->ids().begin(), w->ids().end());
    }
  }
  r.seconds = static_cast<double>(finish_ns - start_ns_) / 1e9;
  return r;
}

}  // namespace ringpost::bench
