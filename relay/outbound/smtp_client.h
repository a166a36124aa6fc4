// smtp_client.h — one outbound SMTP connection, as a pure state machine.
//
// The client speaks to a destination server for the outbound pool: greeting,
// EHLO (HELO fallback), then any number of transactions, one at a time, each
// with MAIL, RCPT per recipient, DATA and the dot-stuffed content. With
// PIPELINING (RFC 2920) MAIL, every RCPT and DATA leave in one write and the
// replies are matched in order; with CHUNKING (RFC 3030) the content goes
// as one `BDAT n LAST` chunk, unstuffed, in that same write. When the peer
// offers both, several whole transactions may be in flight at once
// (max_in_flight): nothing waits for a 354, so transactions stream back to
// back and their replies are matched in order. It does no I/O: the host feeds it the
// server's bytes, sends what it appends to the host's output buffer, and
// learns per-recipient outcomes through OnTransactionDone.
//
// Outcomes are values, per recipient: the reply that decided it (code,
// enhanced code, text). A recipient counts as delivered only on a 2xx to the
// end of DATA (or to BDAT LAST) after a 2xx to its RCPT; a lost connection,
// a timeout or garbage from the server make every undecided recipient a
// temporary failure, never a delivery. A reply code that is not valid for
// the step (anything but 354 to DATA; a 3xx to MAIL, RCPT or the end of
// data; a 2xx/3xx when nothing was asked) is a protocol error: undecided
// recipients fail with 451 4.5.0 and the session ends. A 421 at any point
// ends the session, deciding what is undecided with it.
//
// Each Begin() gets exactly one OnTransactionDone, whatever happens after.
// A Transaction with more than max_recipients_per_transaction recipients
// goes as several SMTP transactions with the same content, reported once;
// recipients refused with 452 "too many recipients" (or x.5.3) go again at
// once in the next transaction on this connection, unless that transaction
// accepted none of its recipients (then the 452 stands).
//
// Before sending, a transaction fails locally, nothing sent: 553 5.6.7 when
// it needs SMTPUTF8 the peer lacks (else MAIL carries SMTPUTF8); 554 5.6.3
// when it has 8-bit octets (declared or not: the content is scanned only
// for peers without 8BITMIME), the peer lacks 8BITMIME and the MIME
// downgrade to quoted-printable (relay/smtp/mime_downgrade.h) refuses; 552
// 5.3.4 over the peer's SIZE. Content sent by DATA (peer without CHUNKING)
// with a line over 1000 octets is found by the dot-stuffing scan after 354:
// its recipients fail with 554 5.6.0 and the connection ends (only closing
// abandons a DATA); BDAT content is never scanned.
//
// DSN (RFC 3461): only to a peer that offers DSN, MAIL carries the
// transaction's RET and ENVID (xtext-encoded) and each RCPT its NOTIFY (in
// the order SUCCESS,FAILURE,DELAY, or NEVER) and ORCPT (addr-type;xtext);
// to any other peer none of them. A recipient that peer delivered is
// marked next_hop_dsn: the peer took over its notifications, where a peer
// without DSN leaves the relay to report "relayed" (RFC 3461 5.2.2).
//
// STARTTLS (RFC 3207), per set_tls(): after the first EHLO, with kMay or
// kRequire and STARTTLS offered, the client sends STARTTLS; on 220 the host
// runs the handshake (StartTls) and reports it (TlsEstablished), and the
// client sends EHLO again and keeps only what that second EHLO offers. The
// 220 is the last plaintext reply read: anything after it in the same
// Feed() came before the handshake and is dropped unread (the CVE-2011-0411
// injection, client side), as is anything fed while the handshake runs.
// With kMay a refused STARTTLS leaves the session in plaintext with the
// first EHLO's capabilities. With kRequire, no STARTTLS (not offered, only
// HELO, or refused) ends the session before any transaction: the client
// sends QUIT without waiting for its reply and ends with 451 4.7.5.
//
// Host callbacks: Begin() may call OnTransactionDone (local failures) but
// never OnIdle; OnIdle and StartTls come from Feed() only. OnSessionEnd is
// the last thing the client does in a call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "queue/record.h"
#include "relay/runtime/reuse_queue.h"
#include "relay/smtp/reply_parser.h"

namespace ringpost::client {

struct RecipientOutcome {
  int code = 0;           // SMTP reply code that decided it; 0 = not decided
  std::string enhanced;   // "2.0.0", may be empty
  std::string text;       // server text (or our reason for local failures)
  // Delivered (2xx) by a server that offered DSN: notifications about this
  // recipient are the next hop's now (RFC 3461 5.2.2, not "relayed").
  bool next_hop_dsn = false;
  bool delivered() const { return code >= 200 && code < 300; }
  bool permanent() const { return code >= 500; }
};

// What one transaction sends. The pointed-to strings must stay alive until
// OnTransactionDone.
struct Transaction {
  std::string_view sender;                  // "" = null sender
  std::vector<std::string_view> recipients;
  std::string_view content;                 // unstuffed, CRLF lines
  bool eight_bit = false;                   // BODY=8BITMIME content
  bool smtputf8 = false;                    // needs the SMTPUTF8 extension
  // DSN (RFC 3461), sent only when the peer offers DSN. RET and ENVID come
  // from `dsn` (its notify/orcpt are not read: they follow the message's
  // recipients, not this transaction's); nullptr: none.
  const queue::DsnFields* dsn = nullptr;
  // Empty (none), or one per entry of `recipients`: NOTIFY as
  // queue::kNotify* bits (0: none), ORCPT as "addr-type;address" decoded
  // ("": none).
  std::vector<uint8_t> notify;
  std::vector<std::string_view> orcpt;
  void* cookie = nullptr;                   // returned with the outcomes
};

class ClientHost {
 public:
  virtual std::string& Output() = 0;
  virtual void OutputReady() = 0;
  // The connection can take another transaction (see can_begin()).
  virtual void OnIdle() = 0;
  // Every recipient of the transaction `cookie` has an outcome.
  virtual void OnTransactionDone(void* cookie, std::vector<RecipientOutcome>& outcomes) = 0;
  // The session is over (QUIT done, protocol error, refused greeting, or
  // TLS required and not started). `reply` says why; the host closes the
  // connection.
  virtual void OnSessionEnd(const RecipientOutcome& reason) = 0;
  // The peer answered 220 to STARTTLS. The host runs the TLS handshake on the
  // connection and then calls SmtpClient::TlsEstablished() (or Abort() when it fails).
  // The client sends nothing until then.
  virtual void StartTls() = 0;

 protected:
  ~ClientHost() = default;
};

// Whether the client uses STARTTLS (RFC 3207); see SmtpClient::set_tls.
enum class TlsWant : uint8_t {
  kNone,     // never STARTTLS
  kMay,      // STARTTLS when offered; plaintext otherwise or when the peer refuses it
  kRequire,  // STARTTLS must be offered and accepted, else the session ends with 4.7.5
};

// The reply the client waits for now (the oldest one outstanding), so the
// host arms the matching RFC 5321 4.5.3.2 timeout. With several
// transactions in flight, the stage of the oldest one.
enum class Wait : uint8_t {
  kNone,      // nothing outstanding: idle (pooled) or ended
  kGreeting,  // 220 banner
  kCommand,   // EHLO, HELO, STARTTLS (and its handshake), RSET, QUIT
  kMail,      // MAIL FROM reply
  kRcpt,      // RCPT TO replies
  kDataInit,  // 354 after DATA
  kDataTerm,  // final reply after the content (".", or BDAT LAST)
};

class SmtpClient {
 public:
  SmtpClient(ClientHost* host, std::string helo_name);

  // Bytes from the server.
  void Feed(std::string_view data);
  // Starts a transaction; only when can_begin(). Never calls OnIdle(): the
  // host's fill loop goes on while can_begin(). It may call
  // OnTransactionDone(txn.cookie) before it returns, when the transaction
  // fails locally (too big for the peer's SIZE, needs SMTPUTF8 or 8BITMIME
  // the peer lacks and cannot be downgraded).
  void Begin(const Transaction& txn);
  // Whether Begin may be called now: idle, or streaming with room.
  bool can_begin() const;
  void set_max_in_flight(size_t n) { max_in_flight_ = n == 0 ? 1 : n; }
  // The EHLO/HELO argument; only before the greeting has been answered.
  void set_helo_name(std::string name) { helo_name_ = std::move(name); }
  // Whether to use STARTTLS; kNone unless set. Only before the greeting has
  // been answered.
  void set_tls(TlsWant want);
  // The handshake finished: the client sends EHLO again (RFC 3207 4.2) and
  // forgets the capabilities it learnt in plaintext. Only after StartTls();
  // ignored once the session has ended (an Abort during the handshake).
  void TlsEstablished();
  // The handshake has finished on this connection.
  bool tls_active() const { return tls_active_; }
  // Recipients per SMTP transaction; a Transaction with more is sent as
  // several transactions (same content) and reported once. 0 = no limit.
  void set_max_recipients_per_transaction(size_t n) { max_rcpts_ = n; }
  // Transactions begun and not yet reported through OnTransactionDone.
  size_t in_flight() const { return active_count_; }
  // Transactions this connection can carry at once (known after EHLO).
  size_t capacity() const { return streaming() ? max_in_flight_ : 1; }
  // What the client waits for now (see Wait).
  Wait waiting_for() const;
  // Ends the session politely (QUIT) when idle.
  void Quit();
  // The connection dropped or timed out: every transaction in flight gets
  // its one OnTransactionDone, undecided recipients failing temporarily with
  // `reason`. Nothing is reported after that.
  void Abort(std::string_view reason);

  bool idle() const { return state_ == State::kIdle; }
  bool ended() const { return state_ == State::kEnded; }
  const smtp::EhloCapabilities& capabilities() const { return caps_; }
  // SMTP transactions finished (a split Transaction counts each part).
  uint64_t transactions() const { return transactions_; }

  // Longest text line (octets, without CRLF) a DATA transfer may carry
  // (RFC 5321 4.5.3.1.6: 1000 with CRLF).
  static constexpr size_t kDataLineOctetsMax = 998;

 private:
  enum class State : uint8_t {
    kGreeting,
    kEhlo,
    kHelo,
    kStartTls,      // awaiting the STARTTLS reply
    kTlsHandshake,  // the host runs the handshake (StartTls)
    kIdle,
    kBusy,   // SMTP transactions in flight (parts_)
    kRset,   // awaiting the RSET reply
    kQuit,   // awaiting the QUIT reply
    kEnded,
  };

  // One Begin(): the recipients' outcomes and what is left to send.
  struct Message {
    Transaction txn;       // txn.content points into `converted` if downgraded
    std::string converted;  // 7-bit form for a peer without 8BITMIME
    std::vector<RecipientOutcome> outcomes;
    std::vector<uint32_t> pending;  // recipient indices not yet sent, in order
    size_t parts = 0;               // its SMTP transactions in flight
    Message* prev = nullptr;        // active_ list, in Begin() order
    Message* next = nullptr;
  };

  // One SMTP transaction on the wire: a Message's recipients, at most
  // max_rcpts_ of them.
  struct Part {
    Message* msg = nullptr;
    std::vector<uint32_t> rcpts;     // indices into msg->txn.recipients
    std::vector<uint32_t> too_many;  // refused with 452 "too many recipients"
    size_t rcpt_replies = 0;
    size_t rcpt_accepted = 0;
    bool mail_failed = false;
    bool bdat = false;  // content goes as BDAT LAST (no 354 to wait for)
    enum Stage : uint8_t { kMail, kRcpt, kData, kFinal } stage = kMail;
  };

  void OnReply(const smtp::ServerReply& reply);
  void OnPartReply(const smtp::ServerReply& reply);
  bool streaming() const;
  bool pipelining() const { return caps_.Has(smtp::kExtPipelining); }
  // Fails the whole Transaction locally (nothing sent); false if it can go.
  bool CheckLocally(const Transaction& txn, Message* msg);
  void StartPart(Message* msg);
  void SendMail(const Part& part);
  void SendRcpt(const Part& part, size_t index);
  void SendBdat(const Part& part);
  void SendLine(std::string_view a, std::string_view b = {},
                std::string_view c = {});
  bool SendContent(Part& part);  // false: lines too long, nothing sent
  void EndPart(bool reset);
  void FinishMessage(Message* msg);
  void NotifyIdle();
  void EndWithReply(const smtp::ServerReply& reply);
  // After a 2xx to EHLO or HELO: STARTTLS, or idle, or (TLS required and
  // not offered) the end.
  void AfterHello();
  void OnStartTlsReply(const smtp::ServerReply& reply);
  // kRequire without TLS: QUIT, and the session ends with 451 4.7.5 `text`.
  void EndWithoutTls(std::string_view text);
  // Ends the session: undecided recipients of every transaction in flight
  // take `code` if it is 4xx/5xx, else a local 451 4.4.2; then
  // OnSessionEnd.
  void End(int code, std::string_view enhanced, std::string_view text);
  Message* NewMessage();
  void ReleaseMessage(Message* msg);
  void Unlink(Message* msg);
  // Reports every active Message, undecided recipients taking `code`.
  void FailActive(int code, std::string_view enhanced, std::string_view text);

  ClientHost* host_;
  std::string helo_name_;
  State state_ = State::kGreeting;
  TlsWant tls_want_ = TlsWant::kNone;
  bool tls_active_ = false;
  smtp::ReplyParser parser_;
  smtp::ServerReply reply_;
  smtp::EhloCapabilities caps_;
  size_t max_in_flight_ = 1;
  size_t max_rcpts_ = 50;
  runtime::ReuseQueue<Part> parts_;  // SMTP transactions in flight, in order
  // Begun, not yet reported: a list in Begin() order (O(1) both ends).
  Message* active_head_ = nullptr;
  Message* active_tail_ = nullptr;
  size_t active_count_ = 0;
  Message* resume_ = nullptr;        // lock-step: next part after RSET
  std::vector<std::unique_ptr<Message>> messages_;  // every Message owned
  std::vector<Message*> free_;                      // ready for reuse
  std::vector<RecipientOutcome> local_outcomes_;    // local failures
  uint64_t transactions_ = 0;
};

}  // namespace ringpost::client
