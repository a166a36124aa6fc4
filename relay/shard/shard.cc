// shard.cc — see shard.h for the path of a message through the shards.
#include "relay/shard/shard.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include "base/check.h"
#include <cstring>
#include <cstdio>
#include <random>
#include <utility>

#include "absl/hash/hash.h"
#include "relay/smtp/command_parser.h"

namespace ringpost {
namespace {

uint64_t ToMs(absl::Duration d) {
  return static_cast<uint64_t>(absl::ToInt64Milliseconds(d));
}

std::string PeerAddress(int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

// "[192.0.2.1]" or "[IPv6:2001:db8::1]": the socket's own address as an
// RFC 5321 4.1.3 address literal, for EHLO.
std::string LocalAddressLiteral(int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  char buf[INET6_ADDRSTRLEN] = {};
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
      return std::string("[") + buf + "]";
    }
    if (ss.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
      return std::string("[IPv6:") + buf + "]";
    }
  }
  return "[127.0.0.1]";
}

bool RelayAllowed(const Config& config, int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  for (const Cidr& c : config.relay_networks) {
    if (c.Contains(ss)) return true;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------
// ClientCounter

bool ClientCounter::TryAdd(const std::string& ip, size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t& count = counts_[ip];
  if (count >= limit) {
    if (count == 0) counts_.erase(ip);
    return false;
  }
  ++count;
  return true;
}

void ClientCounter::Remove(const std::string& ip) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(ip);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

size_t ClientCounter::Count(const std::string& ip) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(ip);
  return it == counts_.end() ? 0 : it->second;
}

// ---------------------------------------------------------------------------
// InboundConnection: a client's SMTP session on this shard.

class InboundConnection final : public runtime::StreamHandler,
                                public server::SessionHost {
 public:
  InboundConnection(Shard* shard, int fd, std::string ip, bool relay_allowed)
      : shard_(shard),
        ip_(std::move(ip)),
        stream_(new runtime::Stream(shard->loop(), fd, this)),
        session_(this, &shard->limits(), shard->hostname(),
                 server::ClientInfo{ip_, relay_allowed}) {
    idle_timer_.context = this;
    idle_timer_.callback = [](runtime::Timer* t) {
      static_cast<InboundConnection*>(t->context)->OnIdleTimeout();
    };
    session_deadline_ms_ =
        shard->loop()->now_ms() + ToMs(shard->config().session_timeout);
  }

  void Start() {
    stream_->Start();
    session_.Start();
    ArmIdle();
  }

  // Refuses a connection over a limit with a 421 and closes.
  void Refuse(std::string_view reply) {
    refused_ = true;
    stream_->Write(reply);
    stream_->Close();
  }

  void Shutdown() { session_.Shutdown(); }
  // Final close at the end of a drain.
  void Abort() {
    if (stream_ != nullptr) stream_->Abort(-ECANCELED);
  }
  bool awaiting_commit() const { return commits_pending_ > 0; }
  const std::string& ip() const { return ip_; }
  bool refused() const { return refused_; }

  // StreamHandler
  void OnStreamData(std::string_view data) override {
    // RFC 5321 4.5.3.2: the 5-minute wait for a command restarts when a
    // command arrives, not on each byte, so a client trickling a command line
    // one byte at a time is cut by idle_timeout; inside message content every
    // read counts (the data block timeout).
    const uint64_t commands = session_.commands_read();
    const bool content = session_.reading_content();
    session_.Feed(data);
    if (content || session_.reading_content() || session_.commands_read() != commands) {
      ArmIdle();
    }
  }
  void OnStreamClosed(int) override {
    closed_ = true;
    shard_->loop()->timers().Disarm(&idle_timer_);
    stream_->Release();
    stream_ = nullptr;
    if (commits_pending_ == 0) Destroy();
  }

  // SessionHost
  std::string& Output() override { return stream_ != nullptr ? stream_->output() : sink_; }
  void OutputReady() override {
    if (stream_ == nullptr) {
      sink_.clear();
      return;
    }
    stream_->Flush();
    // A client that sends commands but never reads the replies must not
    // make us queue replies without bound: stop reading it until they left.
    if (!output_paused_ && stream_->queued_bytes() > kMaxQueuedReplyBytes) {
      output_paused_ = true;
      UpdateReading();
    }
  }
  void OnStreamDrained() override {
    if (output_paused_) {
      output_paused_ = false;
      UpdateReading();
    }
  }
  uint64_t NewMessageId() override { return shard_->spool().NewMessageId(); }
  std::unique_ptr<server::IncomingMessage> NewIncomingMessage() override {
    return shard_->NewIncomingMessage();
  }
  absl::Status SpoolAvailable() override { return shard_->CanAccept(); }
  void Submit(std::unique_ptr<server::IncomingMessage> message) override {
    ++commits_pending_;
    shard_->SubmitMessage(this, std::move(message));
  }
  void CloseAfterOutput() override {
    if (stream_ != nullptr) stream_->Close();
  }
  void PauseInput() override {
    session_paused_ = true;
    UpdateReading();
  }
  void ResumeInput() override {
    session_paused_ = false;
    UpdateReading();
  }
  int64_t WallClockMs() override { return shard_->WallClockMs(); }
  void OnRejected(std::string_view sender, std::string_view recipient, int code,
                  std::string_view enhanced, std::string_view text) override {
    LogRecord r;
    r.type = LogEvent::kRejection;
    r.sender = sender;
    r.recipient = recipient;
    r.domain = smtp::DomainOf(recipient);
    r.peer = ip_;
    r.code = code;
    r.enhanced = enhanced;
    r.response = text;
    r.event_at_ms = shard_->WallClockMs();
    r.queued_at_ms = r.event_at_ms;
    shard_->log().Add(r);
  }

  // The spool answered for the message this connection submitted.
  void Committed(absl::Status status, uint64_t id) {
    --commits_pending_;
    if (closed_) {
      if (commits_pending_ == 0) Destroy();
      return;
    }
    session_.OnSubmitted(std::move(status), id);
  }

 private:
  static constexpr size_t kMaxQueuedReplyBytes = 256 * 1024;

  void UpdateReading() {
    if (stream_ == nullptr) return;
    if (session_paused_ || output_paused_) {
      stream_->PauseReading();
    } else {
      stream_->ResumeReading();
    }
  }
  void ArmIdle() {
    const uint64_t now = shard_->loop()->now_ms();
    uint64_t deadline = now + ToMs(shard_->config().idle_timeout);
    if (deadline > session_deadline_ms_) deadline = session_deadline_ms_;
    shard_->loop()->timers().Arm(&idle_timer_, deadline);
  }
  void OnIdleTimeout() {
    if (session_.awaiting_commit()) return ArmIdle();
    session_.OnTimeout();
  }
  void Destroy() {
    shard_->ConnectionClosed(this);
    delete this;
  }

  Shard* shard_;
  std::string ip_;
  runtime::Stream* stream_;
  server::Session session_;
  runtime::Timer idle_timer_;
  uint64_t session_deadline_ms_ = 0;
  std::string sink_;  // output after the stream is gone
  int commits_pending_ = 0;  // messages handed to the spool, not yet answered
  bool session_paused_ = false;  // the session holds too much pipelined input
  bool output_paused_ = false;   // the client does not read its replies
  bool closed_ = false;
  bool refused_ = false;
};

// ---------------------------------------------------------------------------
// Site: a destination address with its ready queue and connection pool.

struct Site {
  std::string key;  // route "host:port", or the MX site key
  // Addresses in delivery order (MX preference, then address order). New
  // connections go to addrs[current]; when one cannot be reached (refused,
  // timed out, 4xx/5xx greeting) the next is tried before the queue is
  // deferred (RFC 5321 5.1).
  std::vector<sockaddr_storage> addrs;
  size_t current = 0;
  size_t failed_in_a_row = 0;
  size_t capacity = 1;  // transactions per connection, learned from EHLO
  std::deque<DeliveryJob*> ready;
  std::vector<OutboundConnection*> conns;
  std::vector<OutboundConnection*> idle;
  size_t connecting = 0;
};

constexpr size_t kOutboundRetainedSendBuffer = 1 << 20;

class OutboundConnection final : public runtime::StreamHandler,
                                 public client::ClientHost {
 public:
  OutboundConnection(Shard* shard, Site* site)
      : shard_(shard), site_(site), client_(this, shard->shared_->helo_name) {
    client_.set_max_in_flight(shard->config().outbound_pipeline_depth);
    client_.set_max_recipients_per_transaction(
        shard->config().max_recipients_per_transaction);
    timer_.context = this;
    timer_.callback = [](runtime::Timer* t) {
      static_cast<OutboundConnection*>(t->context)->OnTimer();
    };
  }
  ~OutboundConnection() { shard_->loop()->timers().Disarm(&timer_); }

  void Connect() {
    connecting_ = true;
    addr_index_ = site_->current % site_->addrs.size();
    addr_ = site_->addrs[addr_index_];
    peer_ = runtime::FormatAddress(addr_);
    runtime::Connect(shard_->loop(), addr_,
                     ToMs(shard_->config().connect_timeout),
                     [this](int fd) { OnConnected(fd); });
  }

  bool busy() const { return in_flight_ > 0; }
  bool parked = false;  // in the site's idle list
  size_t addr_index() const { return addr_index_; }
  // Final close at the end of a drain; a connect in flight closes on arrival.
  void Abort() {
    aborted_ = true;
    if (stream_ != nullptr) stream_->Abort(-ECANCELED);
  }
  bool connecting() const { return connecting_; }
  Site* site() const { return site_; }

  // Starts delivering `job` (the client can begin a transaction).
  void Deliver(DeliveryJob* job) {
    ++in_flight_;
    ++messages_;
    // txn_ is reused: no allocation per message once warm.
    txn_.sender = job->message->sender;
    txn_.recipients.clear();
    for (uint32_t i : job->rcpts) txn_.recipients.push_back(job->message->recipients[i]);
    txn_.content = job->message->content;
    txn_.eight_bit = job->message->eight_bit;
    txn_.smtputf8 = job->message->smtputf8;
    txn_.cookie = job;
    client_.Begin(txn_);
  }

  // Takes jobs from the site while the client has room for more; parks the
  // connection when there is no work, quits it at its message limit.
  void Fill() {
    // Bounded by outbound_pipeline_depth (can_begin) and the ready queue.
    while (client_.can_begin()) {
      if (shard_->draining() ||
          messages_ >= shard_->config().max_messages_per_connection) {
        if (!busy()) Quit();
        ArmTimer();
        return;
      }
      DeliveryJob* next = shard_->NextJob(this);
      if (next == nullptr) break;
      Deliver(next);
    }
    ArmTimer();
  }

  void Quit() {
    if (stream_ == nullptr) return;
    if (client_.idle()) {
      client_.Quit();
      ArmTimer();
    } else if (!busy()) {
      stream_->Close();
    }
  }

  // ClientHost
  std::string& Output() override { return stream_ != nullptr ? stream_->output() : sink_; }
  void OutputReady() override {
    if (stream_ != nullptr) stream_->Flush();
    else sink_.clear();
  }
  void OnIdle() override {
    if (!ever_ready_) {
      ever_ready_ = true;
      site_->capacity = client_.capacity();
      shard_->ConnectionReady(this);
    }
    Fill();
  }
  void OnTransactionDone(void* cookie,
                         std::vector<client::RecipientOutcome>& outcomes) override {
    auto* job = static_cast<DeliveryJob*>(cookie);
    --in_flight_;
    if (job != nullptr) shard_->HandleOutcomes(job, peer_, outcomes);
  }
  void OnSessionEnd(const client::RecipientOutcome& reason) override {
    end_reason_ = reason;
    if (stream_ != nullptr) stream_->Close();
  }

  // StreamHandler
  void OnStreamData(std::string_view data) override {
    client_.Feed(data);
    // A reply arrived: the wait for the next one starts now.
    if (stream_ != nullptr && !stream_->closed()) ArmTimer();
  }
  void OnStreamDrained() override {
    // The content has left: from here the data_term wait applies.
    if (client_.waiting_for() == client::Wait::kDataTerm) ArmTimer();
  }
  void OnStreamClosed(int error) override {
    if (!client_.ended()) {
      std::string why = error == 0 ? "connection closed by " + peer_
                                   : "connection to " + peer_ + " lost: " +
                                         strerror(-error);
      client_.Abort(why);
      if (end_reason_.code == 0) {
        end_reason_.code = 451;
        end_reason_.enhanced = "4.4.2";
        end_reason_.text = why;
      }
    }
    stream_->Release();
    stream_ = nullptr;
    Finish();
  }

 private:
  void OnConnected(int fd) {
    connecting_ = false;
    if (fd >= 0 && aborted_) {
      shard_->spool_io_->Close(fd);
      fd = -ECANCELED;
    }
    if (fd < 0) {
      end_reason_.code = 451;
      end_reason_.enhanced = "4.4.1";
      end_reason_.text = "connect to " + peer_ + " failed: " + strerror(-fd);
      return Finish();
    }
    // Without a fully qualified hostname, EHLO names the connection's own
    // address as a literal (RFC 5321 4.1.4), which receivers accept.
    if (shard_->shared_->helo_name.empty()) client_.set_helo_name(LocalAddressLiteral(fd));
    stream_ = new runtime::Stream(shard_->loop(), fd, this);
    // Message bodies leave through here, many per send: keep the buffers
    // (two per connection at most) instead of regrowing them.
    stream_->set_retained_send_buffer(kOutboundRetainedSendBuffer);
    stream_->Start();
    ArmTimer();
  }

  // One timer per connection, armed for what the client waits for now:
  // each RFC 5321 4.5.3.2 reply timeout by phase, data_block while the
  // content is still leaving (restarted whenever it makes progress), or the
  // pool's connection_idle when nothing is outstanding.
  void ArmTimer() {
    const Config& c = shard_->config();
    absl::Duration d;
    switch (client_.waiting_for()) {
      case client::Wait::kNone:
        if (busy() || stream_ == nullptr) {
          shard_->loop()->timers().Disarm(&timer_);
          return;
        }
        d = c.connection_idle;
        break;
      case client::Wait::kGreeting:
        d = c.greeting_timeout;
        break;
      case client::Wait::kCommand:
        d = c.command_timeout;
        break;
      case client::Wait::kMail:
        d = c.mail_timeout;
        break;
      case client::Wait::kRcpt:
        d = c.rcpt_timeout;
        break;
      case client::Wait::kDataInit:
        d = c.data_init_timeout;
        break;
      case client::Wait::kDataTerm:
        sent_mark_ = stream_ != nullptr ? stream_->bytes_sent() : 0;
        d = stream_ != nullptr && stream_->queued_bytes() > 0 ? c.data_block_timeout
                                                               : c.data_term_timeout;
        break;
    }
    const uint64_t deadline = shard_->loop()->now_ms() + ToMs(d);
    // Many events of one loop turn (each reply, each job begun) would set
    // the same deadline: the timer wheel is touched once.
    if (deadline == armed_deadline_ && timer_.armed()) return;
    armed_deadline_ = deadline;
    shard_->loop()->timers().Arm(&timer_, deadline);
  }
  void OnTimer() {
    if (stream_ == nullptr) return;
    const client::Wait wait = client_.waiting_for();
    if (wait == client::Wait::kNone) {
      if (!busy()) Quit();  // pooled too long
      return;
    }
    if (wait == client::Wait::kDataTerm && stream_->queued_bytes() > 0 &&
        stream_->bytes_sent() != sent_mark_) {
      return ArmTimer();  // the content is still moving: data_block restarts
    }
    std::string why = "timeout waiting for " + std::string(WaitName(wait)) + " from " + peer_;
    client_.Abort(why);
    end_reason_.code = 451;
    end_reason_.enhanced = "4.4.2";
    end_reason_.text = why;
    stream_->Abort(-ETIMEDOUT);
  }
  static std::string_view WaitName(client::Wait wait) {
    switch (wait) {
      case client::Wait::kGreeting: return "greeting";
      case client::Wait::kCommand: return "reply to EHLO/RSET/QUIT";
      case client::Wait::kMail: return "reply to MAIL FROM";
      case client::Wait::kRcpt: return "reply to RCPT TO";
      case client::Wait::kDataInit: return "reply to DATA";
      case client::Wait::kDataTerm: return "reply to end of data";
      case client::Wait::kNone: break;
    }
    return "reply";
  }
  void Finish() {
    shard_->loop()->timers().Disarm(&timer_);
    shard_->OutboundClosed(this, ever_ready_, end_reason_);
    delete this;
  }

  Shard* shard_;
  Site* site_;
  client::SmtpClient client_;
  runtime::Stream* stream_ = nullptr;
  runtime::Timer timer_;
  uint64_t sent_mark_ = 0;  // bytes sent when the data_block wait began
  uint64_t armed_deadline_ = 0;  // of timer_, when armed
  size_t in_flight_ = 0;  // transactions handed to the client, not yet done
  size_t messages_ = 0;
  bool connecting_ = false;
  bool ever_ready_ = false;
  bool aborted_ = false;
  client::RecipientOutcome end_reason_;
  client::Transaction txn_;
  sockaddr_storage addr_ = {};
  size_t addr_index_ = 0;  // which of the site's addresses
  std::string peer_;       // the address connected to, for logs
  std::string sink_;
};

// ---------------------------------------------------------------------------
// Shard

Shard::Shard(Shared* shared, int index) : shared_(shared), index_(index) {
  const Config& c = shared->config;
  limits_.command_line_octets_max = c.max_command_line;
  limits_.text_line_octets_max = c.max_line_length;
  limits_.message_octets_max = c.max_message_size;
  limits_.recipients_max = c.max_recipients;
  limits_.hops_max = c.max_hops;
  limits_.postmaster = c.postmaster.empty() ? "postmaster@" + shared->hostname : c.postmaster;
  outbox_.resize(static_cast<size_t>(shared->shards));
  route_sites_.assign(c.routes.size(), nullptr);
  // Without durability a commit is a buffered write: nothing to save by waiting.
  if (c.durability == Durability::kFsync) {
    commit_delay_ns_ = static_cast<uint64_t>(absl::ToInt64Nanoseconds(c.commit_delay));
  }
  wake_.assign(static_cast<size_t>(shared->shards), false);
  drain_timer_.context = this;
  drain_timer_.callback = [](runtime::Timer* t) {
    static_cast<Shard*>(t->context)->DrainTick();
  };
}

Shard::~Shard() = default;

void Shard::Start() {
  thread_ = std::thread([this] { ThreadMain(); });
}

void Shard::Join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::RequestStop() {
  if (loop_ != nullptr) loop_->RequestStop();
}

uint16_t Shard::bound_port(size_t listener) const {
  return listener < ports_.size() ? ports_[listener] : 0;
}

ShardStats Shard::stats() const {
  ShardStats s;
  s.accepted = accepted_.load(std::memory_order_relaxed);
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.bounced = bounced_.load(std::memory_order_relaxed);
  s.deferred = deferred_.load(std::memory_order_relaxed);
  s.expired = expired_.load(std::memory_order_relaxed);
  s.recovered = recovered_.load(std::memory_order_relaxed);
  return s;
}

// Read once per loop turn (ms resolution either way), not per message.
int64_t Shard::WallClockMs() const { return loop_->wall_ms(); }

int Shard::OwnerOf(const std::string& domain) const {
  return static_cast<int>(absl::Hash<std::string>()(domain) %
                          static_cast<size_t>(shared_->shards));
}

void Shard::ThreadMain() {
  absl::Status s = Setup();
  if (!s.ok()) {
    error_ = std::string(s.message());
    shared_->failed.fetch_add(1);
    return;
  }
  published_loop_.store(loop_.get(), std::memory_order_release);
  shared_->started.fetch_add(1);
  loop_->Run();
  if (outcomes_dropped_at_stop_ > 0) {
    fprintf(stderr,
            "ringpost: shard %d: drain timed out: %llu outcomes not journaled; those "
            "recipients are delivered again after the next start\n",
            index_, static_cast<unsigned long long>(outcomes_dropped_at_stop_));
  }
  const queue::Spool::Stats st = spool_->stats();
  const runtime::LoopStats& l = loop_->stats();
  fprintf(stderr,
          "ringpost: shard %d: %llu messages in %llu commits (max %llu per commit); "
          "%llu loop turns, %llu io_uring_enter, %llu SQEs, %llu wake-ups sent\n",
          index_, static_cast<unsigned long long>(st.messages_committed),
          static_cast<unsigned long long>(st.commits_issued),
          static_cast<unsigned long long>(st.max_records_per_commit),
          static_cast<unsigned long long>(l.turns), static_cast<unsigned long long>(l.enters),
          static_cast<unsigned long long>(l.submissions),
          static_cast<unsigned long long>(l.wakes_sent));
}

absl::Status Shard::CanAccept() {
  const uint64_t share = config().max_queue_memory / static_cast<uint64_t>(shared_->shards);
  if (queued_bytes_ > share) {
    return absl::ResourceExhaustedError("queue memory limit reached");
  }
  return spool_->CanAccept();
}

void Shard::Account(Message* msg) {
  msg->accounted_bytes = msg->content.size();
  queued_bytes_ += msg->accounted_bytes;
}

Message* Shard::NewMessage() {
  Message* msg = free_messages_.Take().release();
  Message* head = &live_messages_;
  if (head->next == nullptr) head->next = head->prev = head;
  msg->next = head->next;
  msg->prev = head;
  head->next->prev = msg;
  head->next = msg;
  return msg;
}

// Jobs are recycled through a bounded free list: their rcpts vector and
// domain keep their storage. A job may be made on one shard and finished on
// another; each shard's list holds what it finished.
DeliveryJob* Shard::NewJob() { return free_jobs_.Take().release(); }

void Shard::RecycleJob(DeliveryJob* job) {
  free_jobs_.Give(std::unique_ptr<DeliveryJob>(job), [](DeliveryJob& j) {
    j.owner = nullptr;
    j.message = nullptr;
    j.rcpts.clear();
    j.attempts = 0;
    j.expire_at_retry = false;
  });
}

namespace {

// Resets a message for reuse. Its strings keep their storage, except a body
// buffer over `content_max` (a big body's buffer is not worth holding).
template <typename M>
auto ResetKeepingStorage(size_t content_max) {
  return [content_max](M& m) {
    if (m.content.capacity() > content_max) std::string().swap(m.content);
    m.Reset();
  };
}

}  // namespace

void Shard::FreeMessage(Message* msg) {
  queued_bytes_ -= msg->accounted_bytes;
  msg->prev->next = msg->next;
  msg->next->prev = msg->prev;
  free_messages_.Give(std::unique_ptr<Message>(msg),
                      ResetKeepingStorage<Message>(kRecycledContentMax));
}

// Storage goes round: a submitted message's strings move into a Message
// (SubmitMessage), which hands the recycled Message's empty strings back to
// the shell, which the session fills with the next message. Once warm, a
// message costs no allocation for its body, sender or recipient list.
std::unique_ptr<server::IncomingMessage> Shard::NewIncomingMessage() {
  return free_incoming_.Take();
}

void Shard::FreeAfterStop() {
  auto free_item = [](const CrossItem& item) {
    if (item.kind == CrossItem::kJob) delete static_cast<DeliveryJob*>(item.ptr);
  };
  for (auto& [key, site] : sites_) {
    for (DeliveryJob* job : site->ready) delete job;
    site->ready.clear();
  }
  for (DeliveryJob* job : scheduled_) {
    if (loop_ != nullptr) loop_->timers().Disarm(&job->retry_timer);
    delete job;
  }
  scheduled_.clear();
  for (DeliveryJob* job : waiting_dns_) delete job;  // their callbacks never run
  waiting_dns_.clear();
  for (const CrossItem& item : self_queue_) free_item(item);
  self_queue_.clear();
  for (auto& overflow : outbox_) {
    for (const CrossItem& item : overflow) free_item(item);
    overflow.clear();
  }
  for (int from = 0; from < shared_->shards; ++from) {
    if (from == index_) continue;
    CrossItem item;
    while (shared_->RingFor(from, index_).TryPop(&item)) free_item(item);
  }
  Message* head = &live_messages_;
  while (head->next != nullptr && head->next != head) FreeMessage(head->next);
}

absl::Status Shard::Setup() {
  const Config& c = shared_->config;
  runtime::LoopOptions lo;
  lo.sq_entries = static_cast<unsigned>(c.sq_entries);
  lo.recv_buffers = static_cast<unsigned>(c.recv_buffers);
  lo.recv_buffer_bytes = static_cast<unsigned>(c.recv_buffer_bytes);
  lo.cpu = index_ % runtime::AvailableCpus();
  auto loop = runtime::Loop::Create(lo);
  if (!loop.ok()) return loop.status();
  loop_ = std::move(*loop);

  UringSpoolIo::Options io_options;
  // Without durability a write only has to reach the page cache: O_DIRECT
  // would make every commit wait for the device for nothing.
  io_options.direct = c.spool_direct_io && c.durability == Durability::kFsync;
  spool_io_ = std::make_unique<UringSpoolIo>(loop_.get(), io_options);
  queue::Spool::Options so;
  so.dir = c.spool;
  so.shard = index_;
  so.segment_bytes = c.segment_bytes;
  so.commit_max_bytes = c.commit_max_bytes;
  so.durable = c.durability == Durability::kFsync;
  const int shard_index = index_;
  so.log = [shard_index](std::string_view line) {
    fprintf(stderr, "ringpost: shard %d: spool: %.*s\n", shard_index,
            static_cast<int>(line.size()), line.data());
  };
  std::vector<queue::RecoveredMessage> recovered;
  auto spool = queue::Spool::Open(so, spool_io_.get(), &recovered);
  if (!spool.ok()) return spool.status();
  spool_ = std::move(*spool);
  log_ = std::make_unique<DeliveryLog>(
      loop_.get(), shared_->log_fd,
      static_cast<uint32_t>(absl::ToInt64Milliseconds(c.log_flush_interval)));

  for (size_t i = 0; i < c.listen.size(); ++i) {
    auto addr = runtime::ParseHostPort(c.listen[i]);
    if (!addr.ok()) return addr.status();
    auto l = runtime::Listener::Create(loop_.get(), *addr, 4096,
                                       [this](int fd) { Accept(fd); });
    if (!l.ok()) return l.status();
    ports_.push_back((*l)->port());
    listeners_.push_back(std::move(*l));
  }

  if (shared_->mx_cache != nullptr) {
    dns::ResolverOptions ro;
    ro.servers = shared_->dns_servers.servers;
    ro.timeout_ms = ToMs(c.dns_timeout);
    ro.attempts = static_cast<uint32_t>(c.dns_attempts);
    auto resolver = dns::Resolver::Create(loop_.get(), ro);
    if (!resolver.ok()) return resolver.status();
    resolver_ = std::move(*resolver);
    dns::MxOptions mo;
    mo.dest_port = c.dest_port;
    mo.ipv6 = c.ipv6;
    mo.local = shared_->local_addresses;
    mx_ = std::make_unique<dns::MxResolver>(resolver_.get(), mo);
    loop_->AddTurnHook([this] { shared_->mx_cache->DrainCompletions(index_); });
  }
  loop_->AddTurnHook([this] { DrainInbox(); });
  loop_->AddTurnHook([this] {
    FlushOutboxes();
    if (!HoldCommit()) {
      spool_->Flush();
      // Still staged: behind a commit in flight; they keep their age.
      if (spool_->stats().bytes_staged == 0) staged_messages_ = 0;
    }
    log_->Flush(/*force=*/draining_);
  });
  loop_->SetPendingWorkCheck([this] { return HasInboundWork(); });
  loop_->SetStopHandler([this] { StartDrain(); });

  // Recovery: every message with undone recipients goes back to delivery.
  for (queue::RecoveredMessage& r : recovered) {
    Message* msg = NewMessage();
    msg->id = r.record.id;
    msg->origin = index_;
    msg->locator = r.locator;
    msg->sender = std::move(r.record.sender);
    msg->recipients = std::move(r.record.recipients);
    msg->content = std::move(r.record.body);
    Account(msg);
    msg->queued_at_ms = r.record.queued_at_ms;
    msg->eight_bit = (r.record.flags & queue::kFlag8BitMime) != 0;
    msg->smtputf8 = (r.record.flags & queue::kFlagSmtpUtf8) != 0;
    std::vector<uint32_t> undone;
    for (uint32_t i = 0; i < msg->recipients.size(); ++i) {
      if (i >= r.done.size() || !r.done[i]) undone.push_back(i);
    }
    msg->remaining = static_cast<uint32_t>(undone.size());
    recovered_.fetch_add(1, std::memory_order_relaxed);
    if (undone.empty()) {
      FreeMessage(msg);
      continue;
    }
    Dispatch(msg, undone);
  }
  if (!recovered.empty()) {
    fprintf(stderr, "ringpost: shard %d: recovered %zu queued messages\n", index_,
            recovered.size());
  }
  return absl::OkStatus();
}

// --- inbound ---------------------------------------------------------------

void Shard::Accept(int fd) {
  std::string ip = PeerAddress(fd);
  const bool relay = RelayAllowed(config(), fd);
  auto* conn = new InboundConnection(this, fd, ip, relay);
  inbound_.insert(conn);
  if (draining_) {
    conn->Refuse("421 4.3.2 " + hostname() + " Service shutting down\r\n");
    return;
  }
  if (static_cast<size_t>(shared_->connections.fetch_add(1)) >= config().max_connections) {
    shared_->connections.fetch_sub(1);
    conn->Refuse("421 4.7.0 " + hostname() + " Error: too many connections\r\n");
    return;
  }
  if (!shared_->clients.TryAdd(ip, config().max_connections_per_client)) {
    shared_->connections.fetch_sub(1);
    conn->Refuse("421 4.7.0 " + hostname() +
                 " Error: too many connections from your address\r\n");
    return;
  }
  conn->Start();
}

void Shard::ConnectionClosed(InboundConnection* conn) {
  inbound_.erase(conn);
  if (!conn->refused()) {
    shared_->clients.Remove(conn->ip());
    shared_->connections.fetch_sub(1);
  }
}

void Shard::SubmitMessage(InboundConnection* conn,
                          std::unique_ptr<server::IncomingMessage> in) {
  // Move the parts into the record (no copy), encode, then move them on into
  // the in-memory Message that delivery reads.
  queue::MessageRecord record;
  record.id = in->id;
  record.queued_at_ms = in->received_at_ms;
  record.sender = std::move(in->sender);
  record.recipients = std::move(in->recipients);
  record.body = std::move(in->content);
  record.flags = (in->eight_bit ? queue::kFlag8BitMime : 0) |
                 (in->smtputf8 ? queue::kFlagSmtpUtf8 : 0);
  Message* msg = NewMessage();
  msg->id = record.id;
  msg->origin = index_;
  msg->queued_at_ms = record.queued_at_ms;
  msg->eight_bit = in->eight_bit;
  msg->smtputf8 = in->smtputf8;
  msg->submitter = conn;
  // Two pointers: the callback fits AnyInvocable's inline storage.
  auto locator = spool_->AppendMessage(
      record, [this, msg](absl::Status s) { Committed(msg->submitter, msg, std::move(s)); });
  // The record's strings go to the Message; the Message's old (empty,
  // recycled) ones back to the shell for the session's next message.
  std::swap(msg->sender, record.sender);
  std::swap(msg->recipients, record.recipients);
  std::swap(msg->content, record.body);
  in->sender = std::move(record.sender);
  in->recipients = std::move(record.recipients);
  in->content = std::move(record.body);
  free_incoming_.Give(std::move(in),
                      ResetKeepingStorage<server::IncomingMessage>(kRecycledContentMax));
  Account(msg);
  if (!locator.ok()) {
    const uint64_t id = msg->id;
    FreeMessage(msg);
    conn->Committed(locator.status(), id);
    return;
  }
  msg->locator = *locator;
  if (staged_messages_++ == 0) staged_since_ns_ = runtime::MonotonicNs();
}

// The group-commit window (commit_delay). Under lock-step load (classic
// DATA: each client waits for its 250 before sending the next message) a
// commit issued as soon as the previous one ends carries few messages, and
// every commit costs the same: a write, a device flush, ~80 us of CPU in
// the virtio doorbell alone on this VM (docs/benchmarks.md). So the commit
// waits, at most commit_delay from its first message, while fewer messages
// wait than this shard has client connections (each could add one). A lone
// client, or pipelined clients that fill the group at once, never wait.
bool Shard::HoldCommit() {
  if (commit_delay_ns_ == 0 || staged_messages_ == 0 || draining_ ||
      staged_messages_ >= inbound_.size()) {
    return false;
  }
  const uint64_t now = runtime::MonotonicNs();
  const uint64_t due = staged_since_ns_ + commit_delay_ns_;
  if (now >= due) return false;
  if (!commit_timer_armed_) {
    // Sub-millisecond: an io_uring timeout, not the (ms) timer wheel. Its
    // completion only wakes the loop; this hook then finds the group due.
    commit_timer_armed_ = true;
    commit_timeout_.tv_sec = 0;
    commit_timeout_.tv_nsec = static_cast<long long>(due - now);
    io_uring_prep_timeout(loop_->Sqe(&commit_timer_done_), &commit_timeout_, 0, 0);
  }
  return true;
}

void Shard::OnCommitTimer(int32_t, uint32_t) { commit_timer_armed_ = false; }

void Shard::Committed(InboundConnection* conn, Message* msg, absl::Status status) {
  const uint64_t id = msg->id;
  if (!status.ok()) {
    FreeMessage(msg);
    conn->Committed(std::move(status), id);
    return;
  }
  accepted_.fetch_add(1, std::memory_order_relaxed);
  const int64_t now = WallClockMs();
  std::vector<uint32_t>& all = rcpt_scratch_;
  all.resize(msg->recipients.size());
  for (uint32_t i = 0; i < all.size(); ++i) {
    all[i] = i;
    std::string_view domain = smtp::DomainOf(msg->recipients[i]);
    LogRecord r;
    r.type = LogEvent::kReception;
    r.id = id;
    r.sender = msg->sender;
    r.recipient = msg->recipients[i];
    r.domain = domain;
    r.peer = conn->ip();
    r.code = 250;
    r.enhanced = "2.0.0";
    r.size = msg->content.size();
    r.queued_at_ms = msg->queued_at_ms;
    r.event_at_ms = now;
    log_->Add(r);
  }
  msg->remaining = static_cast<uint32_t>(all.size());
  Dispatch(msg, all);  // before the reply: `all` is scratch space
  conn->Committed(absl::OkStatus(), id);
}

// --- handoff to owner shards ------------------------------------------------

void Shard::Dispatch(Message* msg, const std::vector<uint32_t>& rcpts) {
  // Group recipients by lowercase domain; one job per domain.
  std::vector<DeliveryJob*>& jobs = job_scratch_;
  jobs.clear();
  std::string& domain = domain_scratch_;
  for (uint32_t i : rcpts) {
    domain.clear();
    smtp::AppendAsciiLowercase(smtp::DomainOf(msg->recipients[i]), &domain);
    DeliveryJob* job = nullptr;
    for (DeliveryJob* j : jobs) {
      if (j->domain == domain) {
        job = j;
        break;
      }
    }
    if (job == nullptr) {
      job = NewJob();
      job->message = msg;
      job->domain.assign(domain);
      jobs.push_back(job);
    }
    job->rcpts.push_back(i);
  }
  for (DeliveryJob* job : jobs) {
    Send(OwnerOf(job->domain), CrossItem{CrossItem::kJob, 0, 0, job});
  }
}

void Shard::Send(int to, const CrossItem& item) {
  if (to == index_) {
    self_queue_.push_back(item);
    return;
  }
  if (settled_ && item.kind == CrossItem::kOutcome) {
    // Only after a timed-out drain: the origin may already have stopped.
    // Not journaled, so the next start delivers that recipient again.
    ++outcomes_dropped_at_stop_;
    return;
  }
  auto& overflow = outbox_[static_cast<size_t>(to)];
  if (overflow.empty() && shared_->RingFor(index_, to).TryPush(item)) {
    wake_[static_cast<size_t>(to)] = true;
    return;
  }
  overflow.push_back(item);  // ring full: retried every turn, order kept
}

void Shard::FlushOutboxes() {
  for (int to = 0; to < shared_->shards; ++to) {
    auto& overflow = outbox_[static_cast<size_t>(to)];
    auto& ring = shared_->RingFor(index_, to);
    while (!overflow.empty() && ring.TryPush(overflow.front())) {
      overflow.pop_front();
      wake_[static_cast<size_t>(to)] = true;
    }
    if (wake_[static_cast<size_t>(to)]) {
      wake_[static_cast<size_t>(to)] = false;
      // A shard still starting has no loop yet; it reads its rings before
      // it first sleeps, so nothing is missed.
      runtime::Loop* target =
          shared_->shard_list[static_cast<size_t>(to)]->published_loop_.load(
              std::memory_order_acquire);
      if (target != nullptr) loop_->Wake(target);
    }
  }
}

bool Shard::HasInboundWork() {
  if (!self_queue_.empty()) return true;
  if (shared_->mx_cache != nullptr && shared_->mx_cache->HasCompletions(index_)) return true;
  for (int from = 0; from < shared_->shards; ++from) {
    if (from != index_ && !shared_->RingFor(from, index_).Empty()) return true;
  }
  return false;
}

void Shard::DrainInbox() {
  inbox_scratch_.resize(1024);
  auto handle = [this](const CrossItem& item) {
    if (item.kind == CrossItem::kJob) {
      TakeJob(static_cast<DeliveryJob*>(item.ptr));
    } else {
      ApplyOutcome(static_cast<Message*>(item.ptr), item.rcpt,
                   static_cast<uint8_t>(item.result));
    }
  };
  for (int from = 0; from < shared_->shards; ++from) {
    if (from == index_) continue;
    auto& ring = shared_->RingFor(from, index_);
    // Bounded per turn so one busy peer cannot starve the loop.
    for (int round = 0; round < 16; ++round) {
      size_t n = ring.PopBatch(inbox_scratch_.data(), inbox_scratch_.size());
      for (size_t i = 0; i < n; ++i) handle(inbox_scratch_[i]);
      if (n < inbox_scratch_.size()) break;
    }
  }
  // Items this shard sent itself; handling may add more (bounded rounds).
  for (size_t n = self_queue_.size(); n > 0 && !self_queue_.empty(); --n) {
    CrossItem item = self_queue_.front();
    self_queue_.pop_front();
    handle(item);
  }
}

// --- delivery (owner side) ---------------------------------------------------

void Shard::TakeJob(DeliveryJob* job) {
  if (draining_) return DropJob(job);
  job->owner = this;
  job->retry_timer.context = job;
  job->retry_timer.callback = [](runtime::Timer* t) {
    auto* j = static_cast<DeliveryJob*>(t->context);
    j->owner->RetryDue(j);
  };
  RouteJob(job);
}

void Shard::RetryDue(DeliveryJob* job) {
  scheduled_.erase(job);
  if (draining_) return DropJob(job);
  // Retries are never scheduled past a message's expiry, so max_age holds
  // even for mail that no attempt reaches (docs/configuration.md).
  if (job->expire_at_retry || Expired(job->message, WallClockMs())) return ExpireJob(job);
  RouteJob(job);
}

// While draining, work that would start a delivery is dropped: the spool
// keeps the message for the next start, and no final outcome (which would
// have to reach its origin before that shard stops) can come of it.
void Shard::DropJob(DeliveryJob* job) { delete job; }

bool Shard::Expired(const Message* msg, int64_t now_ms) const {
  return now_ms - msg->queued_at_ms >= absl::ToInt64Milliseconds(config().max_age);
}

void Shard::ExpireJob(DeliveryJob* job) {
  const int64_t now = WallClockMs();
  finals_scratch_.clear();
  for (uint32_t rcpt : job->rcpts) {
    LogRecord r = JobRecord(*job, rcpt, now);
    Expire(r);
    log_->Add(r);
    finals_scratch_.emplace_back(rcpt, queue::kOutcomeExpired);
  }
  Message* msg = job->message;
  RecycleJob(job);
  SendFinals(msg);
}

// A log record about one recipient of `job`, with what every record says.
LogRecord Shard::JobRecord(const DeliveryJob& job, uint32_t rcpt, int64_t now) const {
  const Message* msg = job.message;
  LogRecord r;
  r.id = msg->id;
  r.sender = msg->sender;
  r.recipient = msg->recipients[rcpt];
  r.domain = job.domain;
  r.attempt = job.attempts;
  r.size = msg->content.size();
  r.queued_at_ms = msg->queued_at_ms;
  r.event_at_ms = now;
  return r;
}

// Turns `r` into the recipient's Expiration record and counts it.
void Shard::Expire(LogRecord& r) {
  r.type = LogEvent::kExpiration;
  r.code = 0;
  r.enhanced = "4.4.7";
  r.response = "message expired: not delivered within max_age";
  expired_.fetch_add(1, std::memory_order_relaxed);
}

// Sends finals_scratch_ (recipient, outcome) to the message's origin. The
// message must not be touched after its last final outcome is sent: the
// origin may free it at once.
void Shard::SendFinals(Message* msg) {
  const int origin = msg->origin;
  for (const auto& [rcpt, kind] : finals_scratch_) {
    Send(origin, CrossItem{CrossItem::kOutcome, rcpt, kind, msg});
  }
}

void Shard::ConnectionReady(OutboundConnection* conn) {
  Site* site = conn->site();
  if (site->connecting > 0) --site->connecting;
  site->failed_in_a_row = 0;
}

void Shard::RouteJob(DeliveryJob* job) {
  if (draining_) return DropJob(job);
  const std::vector<Route>& routes = config().routes;
  const Route* route = nullptr;
  for (const Route& r : routes) {
    if (r.domain == job->domain) {
      route = &r;
      break;
    }
  }
  if (route == nullptr) {
    for (const Route& r : routes) {
      if (r.domain == "*") {
        route = &r;
        break;
      }
    }
  }
  // A route's site, once made, is remembered (sites live as long as the
  // shard): no key to build and look up per message.
  if (route != nullptr) {
    Site* known = route_sites_[static_cast<size_t>(route - routes.data())];
    if (known != nullptr) {
      known->ready.push_back(job);
      Kick(known);
      return;
    }
  }
  if (route == nullptr) {
    if (mx_ == nullptr) {
      return DeferJob(job, 451, "4.4.4",
                      "no route to " + job->domain +
                          ": no --route for it and no DNS server configured");
    }
    // MX lookup through the shared cache: a hit answers now; a miss calls
    // back on this shard once the (single) lookup for the name finishes.
    waiting_dns_.insert(job);
    dns::MxResultPtr hit = shared_->mx_cache->Lookup(
        index_, job->domain, loop_->now_ms(), mx_.get(), [this, job](dns::MxResultPtr r) {
          waiting_dns_.erase(job);
          RouteResolved(job, *r);
        });
    if (hit != nullptr) {
      waiting_dns_.erase(job);
      RouteResolved(job, *hit);
    }
    return;
  }
  std::string key = route->host + ":" + std::to_string(route->port);
  auto it = sites_.find(key);
  if (it == sites_.end()) {
    auto site = std::make_unique<Site>();
    site->key = key;
    std::string literal = route->host.find(':') != std::string::npos
                              ? "[" + route->host + "]:" + std::to_string(route->port)
                              : key;
    auto addr = runtime::ParseHostPort(literal);
    if (!addr.ok()) {
      std::vector<client::RecipientOutcome> outcomes(job->rcpts.size());
      for (auto& o : outcomes) {
        o.code = 451;
        o.enhanced = "4.4.4";
        o.text = "route host " + route->host + " is not an IP address literal";
      }
      HandleOutcomes(job, "", outcomes);
      return;
    }
    site->addrs.push_back(*addr);
    it = sites_.emplace(key, std::move(site)).first;
  }
  Site* site = it->second.get();
  route_sites_[static_cast<size_t>(route - routes.data())] = site;
  site->ready.push_back(job);
  Kick(site);
}

void Shard::DeferJob(DeliveryJob* job, int code, const std::string& enhanced,
                     const std::string& text) {
  std::vector<client::RecipientOutcome> outcomes(job->rcpts.size());
  for (auto& o : outcomes) {
    o.code = code;
    o.enhanced = enhanced;
    o.text = text;
  }
  HandleOutcomes(job, "", outcomes);
}

void Shard::RouteResolved(DeliveryJob* job, const dns::MxResult& r) {
  if (draining_) return DropJob(job);
  if (r.status != dns::MxStatus::kOk) {
    // Permanent (NXDOMAIN 5.1.2, null MX 5.1.10, mail loop 5.4.6) bounces;
    // temporary (SERVFAIL, timeout) is retried with backoff.
    const int code = r.status == dns::MxStatus::kPermanent ? (r.code >= 500 ? r.code : 550)
                                                           : (r.code >= 400 && r.code < 500 ? r.code : 451);
    return DeferJob(job, code, r.enhanced, r.text);
  }
  // Domains whose MX hosts resolve to the same addresses share one site:
  // one queue, one connection pool, one set of limits.
  auto it = sites_.find(r.site_key);
  if (it == sites_.end()) {
    auto site = std::make_unique<Site>();
    site->key = r.site_key;
    it = sites_.emplace(r.site_key, std::move(site)).first;
  }
  Site* site = it->second.get();
  // (Re)load the addresses in MX preference order; they change only when
  // the DNS does, so a refresh keeps the position of the current one.
  std::vector<sockaddr_storage> addrs;
  for (const dns::MxHost& h : r.hosts) {
    for (const sockaddr_storage& a : h.addresses) addrs.push_back(a);
  }
  if (addrs.empty()) {
    return DeferJob(job, 451, "4.4.3", "no address for the MX hosts of " + job->domain);
  }
  if (site->addrs.size() != addrs.size() ||
      memcmp(site->addrs.data(), addrs.data(), addrs.size() * sizeof(sockaddr_storage)) != 0) {
    site->addrs = std::move(addrs);
    site->current = 0;
    site->failed_in_a_row = 0;
  }
  site->ready.push_back(job);
  Kick(site);
}

void Shard::Kick(Site* site) {
  if (draining_) return;
  // Parked pooled connections first, then new ones up to the limit.
  while (!site->ready.empty() && !site->idle.empty()) {
    OutboundConnection* conn = site->idle.back();
    site->idle.pop_back();
    conn->parked = false;
    conn->Fill();
  }
  // Every shard may own domains that route to the same address, so each
  // gets an equal share of the per-destination limit: the total holds.
  const size_t share = std::max<size_t>(
      1, config().max_connections_per_destination / static_cast<size_t>(shared_->shards));
  // A connection to a peer with PIPELINING and CHUNKING carries
  // outbound_pipeline_depth transactions at once: open one per that many
  // waiting jobs (one per job for other peers), up to the share.
  while (site->conns.size() < share &&
         site->ready.size() > site->connecting * site->capacity) {
    auto* conn = new OutboundConnection(this, site);
    site->conns.push_back(conn);
    ++site->connecting;
    conn->Connect();
  }
}

DeliveryJob* Shard::NextJob(OutboundConnection* conn) {
  Site* site = conn->site();
  if (!site->ready.empty() && !draining_) {
    DeliveryJob* job = site->ready.front();
    site->ready.pop_front();
    return job;
  }
  if (!conn->parked) {
    conn->parked = true;
    site->idle.push_back(conn);
  }
  return nullptr;
}

void Shard::HandleOutcomes(DeliveryJob* job, const std::string& peer,
                           std::vector<client::RecipientOutcome>& outcomes) {
  Message* msg = job->message;
  const int64_t now = WallClockMs();
  ++job->attempts;
  const bool expired = Expired(msg, now);
  std::vector<uint32_t> retry;  // rarely used: allocates only on failures
  std::vector<std::pair<uint32_t, uint8_t>>& finals = finals_scratch_;
  finals.clear();
  for (size_t k = 0; k < job->rcpts.size(); ++k) {
    const uint32_t rcpt = job->rcpts[k];
    const client::RecipientOutcome& o = outcomes[k];
    LogRecord r = JobRecord(*job, rcpt, now);
    r.peer = peer;
    r.code = o.code;
    r.enhanced = o.enhanced;
    r.response = o.text;
    if (o.delivered()) {
      r.type = LogEvent::kDelivery;
      finals.emplace_back(rcpt, queue::kOutcomeDelivered);
      delivered_.fetch_add(1, std::memory_order_relaxed);
    } else if (o.permanent()) {
      r.type = LogEvent::kBounce;
      finals.emplace_back(rcpt, queue::kOutcomeBounced);
      bounced_.fetch_add(1, std::memory_order_relaxed);
    } else if (expired) {
      r.type = LogEvent::kTransientFailure;
      log_->Add(r);  // the failed attempt that ended it
      Expire(r);
      finals.emplace_back(rcpt, queue::kOutcomeExpired);
    } else {
      r.type = LogEvent::kTransientFailure;
      retry.push_back(rcpt);
      deferred_.fetch_add(1, std::memory_order_relaxed);
    }
    log_->Add(r);
  }
  if (retry.empty()) {
    RecycleJob(job);
  } else {
    job->rcpts = std::move(retry);
    const uint64_t min_ms = ToMs(config().retry_min);
    const uint64_t max_ms = ToMs(config().retry_max);
    uint64_t delay = min_ms;
    for (uint32_t i = 1; i < job->attempts && delay < max_ms; ++i) delay *= 2;
    if (delay > max_ms) delay = max_ms;
    // Up to 10% jitter so retries of a burst do not land together.
    static thread_local std::minstd_rand rng(static_cast<unsigned>(index_ + 1));
    delay += delay / 10 == 0 ? 0 : rng() % (delay / 10);
    // Never past the message's expiry: then it expires on time (RetryDue).
    const int64_t left =
        msg->queued_at_ms + absl::ToInt64Milliseconds(config().max_age) - now;
    if (left <= static_cast<int64_t>(delay)) {
      delay = left > 0 ? static_cast<uint64_t>(left) : 0;
      job->expire_at_retry = true;
    }
    scheduled_.insert(job);
    loop_->timers().Arm(&job->retry_timer, loop_->now_ms() + delay);
  }
  SendFinals(msg);
}

void Shard::ApplyOutcome(Message* msg, uint32_t rcpt, uint8_t kind) {
  CHECK(msg->origin == index_);
  spool_->MarkDone(msg->locator, rcpt, kind);
  CHECK(msg->remaining > 0);
  if (--msg->remaining == 0) FreeMessage(msg);
}

void Shard::OutboundClosed(OutboundConnection* conn, bool ever_ready,
                           const client::RecipientOutcome& reason) {
  Site* site = conn->site();
  auto erase = [conn](std::vector<OutboundConnection*>& v) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == conn) {
        v[i] = v.back();
        v.pop_back();
        return;
      }
    }
  };
  erase(site->conns);
  erase(site->idle);
  if (!ever_ready) {
    if (site->connecting > 0) --site->connecting;
    const bool any_working = site->conns.size() > site->connecting;
    if (any_working) return;  // the working connections take the queue
    // This address could not be used: try the next one; once every address
    // failed in a row, defer what waits (retried with backoff) instead of
    // hammering a dead destination.
    // Concurrent attempts to the same address count as one failure.
    if (site->current == conn->addr_index()) {
      ++site->failed_in_a_row;
      site->current = (site->current + 1) % site->addrs.size();
    }
    if (site->failed_in_a_row < site->addrs.size()) {
      Kick(site);
      return;
    }
    if (site->connecting == 0) {
      site->failed_in_a_row = 0;
      FailSite(site, reason.code >= 400 ? reason.code : 451,
               reason.enhanced.empty() ? "4.4.1" : reason.enhanced, reason.text);
    }
    return;
  }
  Kick(site);
}

void Shard::FailSite(Site* site, int code, const std::string& enhanced,
                     const std::string& text) {
  std::deque<DeliveryJob*> jobs;
  jobs.swap(site->ready);
  for (DeliveryJob* job : jobs) {
    std::vector<client::RecipientOutcome> outcomes(job->rcpts.size());
    for (auto& o : outcomes) {
      // A refused connection or greeting is temporary for every recipient.
      o.code = code >= 500 ? 451 : code;
      o.enhanced = enhanced;
      if (!o.enhanced.empty() && o.enhanced[0] == '5') o.enhanced[0] = '4';
      o.text = text;
    }
    HandleOutcomes(job, site->key, outcomes);
  }
}

// --- drain -------------------------------------------------------------------

void Shard::StartDrain() {
  draining_ = true;
  if (resolver_ != nullptr) resolver_->Shutdown();
  for (auto& l : listeners_) l->Close();
  std::vector<InboundConnection*> conns(inbound_.begin(), inbound_.end());
  for (InboundConnection* c : conns) c->Shutdown();
  for (auto& [key, site] : sites_) {
    std::vector<OutboundConnection*> idle;
    idle.swap(site->idle);
    for (OutboundConnection* c : idle) c->Quit();
  }
  drain_deadline_ms_ = loop_->now_ms() + 30000;
  loop_->timers().Arm(&drain_timer_, loop_->now_ms() + 10);
}

// Drain ends in three steps, so every final outcome reaches its origin's
// journal before any shard stops: (1) a shard settles once its outbound
// transactions are done (or the drain timed out) and its overflow queues
// are in the rings — from then on it sends no outcome to another shard;
// (2) once every shard has settled, each one waits until its rings are
// empty, its spool has nothing staged or in flight and its log is written;
// (3) it closes what is left and stops.
void Shard::DrainTick() {
  const bool timed_out = loop_->now_ms() >= drain_deadline_ms_;
  bool outbound_busy = false;
  for (auto& [key, site] : sites_) {
    for (OutboundConnection* c : site->conns) {
      if (c->busy()) outbound_busy = true;
    }
  }
  bool outbox_empty = true;
  for (const auto& overflow : outbox_) outbox_empty = outbox_empty && overflow.empty();
  if (!settled_ && ((!outbound_busy && outbox_empty) || timed_out)) {
    settled_ = true;
    shared_->settled.fetch_add(1);
  }
  bool commits_pending = false;
  for (InboundConnection* c : inbound_) {
    if (c->awaiting_commit()) commits_pending = true;
  }
  const bool peers_done = shared_->settled.load() == shared_->shards;
  const bool quiet = !commits_pending && !spool_->HasIoInFlight() && log_->idle() &&
                     !HasInboundWork() && (resolver_ == nullptr || resolver_->idle());
  if (closing_) {
    bool conns_left = !inbound_.empty();
    for (auto& [key, site] : sites_) conns_left = conns_left || !site->conns.empty();
    if (!conns_left || loop_->now_ms() >= close_deadline_ms_) {
      loop_->Quit();
      return;
    }
  } else if ((peers_done && quiet) || timed_out) {
    CloseAllConnections();
  }
  loop_->timers().Arm(&drain_timer_, loop_->now_ms() + 10);
}

void Shard::CloseAllConnections() {
  closing_ = true;
  close_deadline_ms_ = loop_->now_ms() + 5000;
  std::vector<InboundConnection*> inbound(inbound_.begin(), inbound_.end());
  for (InboundConnection* c : inbound) c->Abort();
  for (auto& [key, site] : sites_) {
    std::vector<OutboundConnection*> conns = site->conns;
    for (OutboundConnection* c : conns) c->Abort();
  }
}

}  // namespace ringpost
