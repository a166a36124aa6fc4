// smtp_client.h — one outbound SMTP connection, as a pure state machine.
//
// The client speaks to a destination server for the outbound pool: greeting,
// EHLO (HELO fallback), then any number of transactions, one at a time, each
// with MAIL, RCPT per recipient, DATA and the dot-stuffed content. With
// PIPELINING (RFC 2920) MAIL, every RCPT and DATA leave in one write and the
// replies are matched in order; with CHUNKING (RFC 3030) the content goes
// as one `BDAT n LAST` chunk, unstuffed, in that same write. It does no I/O: the host feeds it the
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
  bool eight_bit = false;
};

class ClientHost {
 public:
  virtual std::string& Output() = 0;
  virtual void OutputReady() = 0;
  // The connection is ready for (another) transaction.
  virtual void OnIdle() = 0;
  // Every recipient of the current transaction has an outcome.
  virtual void OnTransactionDone(std::vector<RecipientOutcome>& outcomes) = 0;
  // The session is over (QUIT done, protocol error or refused greeting).
  // `reply` says why; the host closes the connection.
  virtual void OnSessionEnd(const RecipientOutcome& reason) = 0;

 protected:
  ~ClientHost() = default;
};

class SmtpClient {
 public:
  SmtpClient(ClientHost* host, std::string helo_name);

  // Bytes from the server.
  void Feed(std::string_view data);
  // Starts a transaction; only when idle().
  void Begin(const Transaction& txn);
  // Ends the session politely (QUIT) when idle.
  void Quit();
  // The connection dropped or timed out: the current transaction's undecided
  // recipients fail temporarily with `reason`.
  void Abort(std::string_view reason);

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
    kEnded,
  };

  void OnReply(const smtp::ServerReply& reply);
  void SendMail();
  void SendRcpt(size_t index);
  void SendData();
  void SendContent();
  void SendBdat();
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
  uint64_t transactions_ = 0;
};

}  // namespace ringpost::client
