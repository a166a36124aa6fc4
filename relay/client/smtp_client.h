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
// end of DATA after a 2xx to its RCPT; a lost connection, a timeout or
// garbage from the server make every undecided recipient a temporary
// failure, never a delivery.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/runtime/reuse_queue.h"
#include "relay/smtp/reply_parser.h"

namespace ringpost::client {

struct RecipientOutcome {
  int code = 0;           // SMTP reply code that decided it; 0 = not decided
  std::string enhanced;   // "2.0.0", may be empty
  std::string text;       // server text (or our reason for local failures)
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
  // The session is over (QUIT done, protocol error or refused greeting).
  // `reply` says why; the host closes the connection.
  virtual void OnSessionEnd(const RecipientOutcome& reason) = 0;

 protected:
  ~ClientHost() = default;
};

// The reply the client waits for now, so the host arms the matching
// RFC 5321 4.5.3.2 timeout.
enum class Wait : uint8_t {
  kNone,      // nothing outstanding (idle, or ended)
  kGreeting,  // 220 banner
  kCommand,   // EHLO, HELO, RSET, QUIT
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
  // Starts a transaction; only when can_begin().
  void Begin(const Transaction& txn);
  // Whether Begin may be called now: idle, or streaming with room.
  bool can_begin() const;
  void set_max_in_flight(size_t n) { max_in_flight_ = n == 0 ? 1 : n; }
  // The EHLO/HELO argument; only before the greeting has been answered.
  void set_helo_name(std::string name) { helo_name_ = std::move(name); }
  size_t in_flight() const;
  // Transactions this connection can carry at once (known after EHLO).
  size_t capacity() const { return streaming() ? max_in_flight_ : 1; }
  // Ends the session politely (QUIT) when idle.
  void Quit();
  // The connection dropped or timed out: the current transaction's undecided
  // recipients fail temporarily with `reason`.
  void Abort(std::string_view reason);

  Wait waiting_for() const;
  bool idle() const { return state_ == State::kIdle; }
  bool ended() const { return state_ == State::kEnded; }
  const smtp::EhloCapabilities& capabilities() const { return caps_; }
  uint64_t transactions() const { return transactions_; }

 private:
  enum class State : uint8_t {
    kGreeting,
    kEhlo,
    kHelo,
    kIdle,
    kMail,      // awaiting the MAIL reply
    kRcpt,      // awaiting RCPT replies
    kData,      // awaiting 354
    kDataEnd,   // awaiting the final reply
    kRset,      // awaiting the RSET reply
    kQuit,
    kStream,    // pipelined BDAT transactions in flight (inflight_)
    kEnded,
  };

  // One transaction of the streaming mode.
  struct InFlight {
    Transaction txn;
    std::vector<RecipientOutcome> outcomes;
    size_t rcpt_replies = 0;
    size_t rcpt_accepted = 0;
    bool mail_failed = false;
    enum Stage : uint8_t { kMail, kRcpt, kFinal } stage = kMail;
  };

  void OnReply(const smtp::ServerReply& reply);
  void OnStreamReply(const smtp::ServerReply& reply);
  bool streaming() const;
  void WriteTransaction(const Transaction& txn);  // MAIL, RCPT..., BDAT+content
  void FailAllInFlight(int code, std::string_view enhanced, std::string_view text);
  void SendMail(const Transaction& txn);
  void SendRcpt(const Transaction& txn, size_t index);
  void SendData();
  void SendContent();
  void SendBdat(const Transaction& txn);
  void SendLine(std::string_view a, std::string_view b = {},
                std::string_view c = {});
  void Decide(size_t index, const smtp::ServerReply& reply);
  void DecideUndecided(const smtp::ServerReply& reply);
  void DecideUndecidedLocal(int code, std::string_view enhanced,
                            std::string_view text);
  void FinishTransaction(bool reset);
  void End(int code, std::string_view enhanced, std::string_view text);
  bool pipelining() const { return caps_.Has(smtp::kExtPipelining); }
  bool InTransaction() const;

  ClientHost* host_;
  std::string helo_name_;
  State state_ = State::kGreeting;
  smtp::ReplyParser parser_;
  smtp::ServerReply reply_;
  smtp::EhloCapabilities caps_;
  Transaction txn_;
  std::vector<RecipientOutcome> outcomes_;
  size_t rcpt_replies_ = 0;
  size_t rcpt_accepted_ = 0;
  bool mail_failed_ = false;
  bool chunking_ = false;  // this transaction uses BDAT (peer offers CHUNKING)
  size_t max_in_flight_ = 1;
  runtime::ReuseQueue<InFlight> inflight_;
  std::vector<RecipientOutcome> done_outcomes_;  // handed to OnTransactionDone
  uint64_t transactions_ = 0;
};

}  // namespace ringpost::client
