// session.h — one inbound SMTP session, as a pure state machine.
//
// The session turns client bytes into replies and, at the end of DATA, into
// an IncomingMessage handed to its host for spooling. It does no I/O itself:
// the host (a connection on a shard) feeds it bytes, sends what it appends to
// the host's output buffer, and reports when a submitted message is on
// stable storage. So the whole protocol is testable without sockets.
//
// Protocol: RFC 5321 with PIPELINING (2920), SIZE (1870), 8BITMIME (6152),
// ENHANCEDSTATUSCODES (2034, 3463), CHUNKING (3030), SMTPUTF8 (6531), DSN
// (3461), STARTTLS (3207) and AUTH PLAIN/LOGIN (4954, 4616), the last two
// when the host offers them (ClientInfo).
// Strict where it matters:
//   - command lines end in CRLF; a bare LF or CR is refused (500 5.5.2);
//   - in DATA only CRLF.CRLF ends the message; bare LF/CR anywhere rejects
//     the message (550 5.6.11) — no SMTP smuggling;
//   - limits on command line, text line, message size, recipients;
//   - BDAT content is opaque to dot-stuffing, but a bare LF or CR in it
//     rejects the message too, so both paths forward the same thing;
//   - BDAT sizes are checked against what is left of the size limit before
//     anything is reserved: a chunk past it is read and dropped (552 5.3.4
//     once it is consumed). A BDAT whose size cannot be parsed (missing,
//     junk, over kBdatSizeMax) leaves the stream unframeable: 521 5.5.4 and
//     the session closes, as Postfix does;
//   - MAIL/RCPT parameters other than SIZE, BODY=7BIT|8BITMIME, SMTPUTF8,
//     RET and ENVID (MAIL), NOTIFY and ORCPT (RCPT) are refused with 555
//     5.5.4, never ignored: BINARYMIME is not offered. A DSN parameter
//     given twice or malformed gets 501 5.5.4 naming it (the command
//     parser's checks: RET=FULL|HDRS; ENVID xtext, decoded at most 100
//     printable octets; NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY;
//     ORCPT=addr-type;xtext, decoded at most 500 printable octets). The
//     decoded values go with the message (IncomingMessage::dsn), NOTIFY
//     and ORCPT one per accepted recipient once any recipient gave one;
//   - a non-ASCII address needs SMTPUTF8 on MAIL (else 553 5.6.7);
//   - a message with more than hops_max Received: header lines, counting the
//     one the session prepends, is refused (554 5.4.0): a mail loop;
//   - relaying only for clients in relay_networks (else 554 5.7.1), except
//     RCPT TO:<Postmaster> (RFC 5321 4.5.1), accepted from anyone and
//     rewritten to limits.postmaster;
//   - STARTTLS: the 220 is the last plaintext the client gets (it waits
//     for every held reply and pending commit), and whatever the client sent
//     after the STARTTLS line is discarded, never run over TLS (the
//     CVE-2011-0411 class). Refused inside a mail transaction (503): the
//     client finishes or resets it first, so no envelope straddles the
//     upgrade. Over TLS the session starts afresh (RFC 3207 4.2): EHLO again;
//   - AUTH only over TLS, never offered or accepted in plaintext (538); one
//     success per session; credentials go to the host undecorated and never
//     into a reply or the Received header. An authenticated client may relay
//     like one in relay_networks. When AUTH is offered, MAIL's AUTH=
//     parameter (RFC 4954 5) is accepted and ignored.
// `250 2.0.0 Ok: queued as ID` is sent only from OnSubmitted(ok), i.e. after
// the spool's group commit synced the message.
//
// Pipelining across messages: while a message is being committed the
// session goes on reading the client's next commands (up to
// commits_in_flight_max messages), but every reply produced after a pending
// commit is held back until that commit's reply is out, so the client sees
// replies strictly in command order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "queue/record.h"
#include "relay/runtime/reuse_queue.h"
#include "relay/smtp/command_parser.h"
#include "relay/smtp/data_scanner.h"
#include "relay/smtp/line_break.h"

namespace ringpost::server {

struct SessionLimits {
  size_t command_line_octets_max = 512;
  size_t text_line_octets_max = 1000;
  uint64_t message_octets_max = 50ull << 20;
  size_t recipients_max = 1000;
  size_t hops_max = 50;            // Received headers (ours included) allowed
  // The full address RCPT TO:<Postmaster> is rewritten to (the shard fills
  // it from the config: postmaster, or postmaster@hostname).
  std::string postmaster = "postmaster";
  size_t errors_max = 20;          // bad commands before we hang up
  size_t pending_input_max = 1 << 20;  // buffered pipelined input
  size_t commits_in_flight_max = 64;   // pipelined messages awaiting the spool
};

// A message complete at the end of DATA, before it is spooled.
struct IncomingMessage {
  uint64_t id = 0;
  std::string sender;                   // "" for the null sender <>
  std::vector<std::string> recipients;  // as given (mailboxes without <>)
  std::string content;                  // Received header + data, unstuffed
  bool eight_bit = false;
  bool smtputf8 = false;
  int64_t received_at_ms = 0;           // wall clock
  std::string auth_user;                // AUTH identity, "" if none
  std::string tls;                      // TLS description, "" if plaintext
  // RFC 3461 parameters, decoded. notify and orcpt are empty, or hold one
  // entry per recipient (0 / "" for one that gave none).
  queue::DsnFields dsn;

  // Back to the defaults, keeping the strings' storage (for recycling).
  void Reset() {
    id = 0;
    sender.clear();
    recipients.clear();
    content.clear();
    eight_bit = false;
    smtputf8 = false;
    received_at_ms = 0;
    auth_user.clear();
    tls.clear();
    dsn.clear();
  }
};

enum class AuthVerdict : uint8_t { kOk, kBad, kBlocked };

class SessionHost {
 public:
  // Where replies go; the host sends it at the end of the turn.
  virtual std::string& Output() = 0;
  virtual void OutputReady() = 0;
  // A fresh, unique message ID (shard-local allocation, globally unique).
  virtual uint64_t NewMessageId() = 0;
  // An empty message to fill (hosts may recycle one, with its storage).
  virtual std::unique_ptr<IncomingMessage> NewIncomingMessage() {
    return std::make_unique<IncomingMessage>();
  }
  // Whether the spool can take a message now (disk full: 452 4.3.1).
  virtual absl::Status SpoolAvailable() = 0;
  // Spools the message; the host later calls OnSubmitted on this session.
  virtual void Submit(std::unique_ptr<IncomingMessage> message) = 0;
  // Close after sending queued output.
  virtual void CloseAfterOutput() = 0;
  // Stop/start delivering input (pipelined input beyond the buffer bound).
  virtual void PauseInput() = 0;
  virtual void ResumeInput() = 0;
  // Wall clock for the Received header, in ms since the epoch.
  virtual int64_t WallClockMs() = 0;
  // A sender, recipient or message was refused (for the delivery log's
  // Rejection records). `recipient` is empty when the refusal was not about
  // one recipient.
  virtual void OnRejected(std::string_view sender, std::string_view recipient,
                          int code, std::string_view enhanced, std::string_view text) = 0;
  // STARTTLS accepted: the "220 2.0.0 Ready to start TLS" reply has been
  // appended to Output() and OutputReady() called; every client byte the
  // session held unprocessed was discarded. The host sends the 220 in
  // plaintext, then runs the TLS handshake, then calls
  // Session::TlsEstablished(). The session processes nothing until then.
  virtual void StartTls() = 0;
  // AUTH credentials (already decoded). kBlocked: too many failures from
  // this client.
  virtual AuthVerdict Authenticate(std::string_view user, std::string_view password) = 0;

 protected:
  ~SessionHost() = default;
};

struct ClientInfo {
  std::string address;       // "192.0.2.1" or "2001:db8::1" (no port)
  bool relay_allowed = false;
  bool tls_available = false;  // the server has a certificate: offer STARTTLS
  bool auth_available = false; // auth_users is set: offer AUTH (inside TLS only)
  // This listener: MAIL/AUTH need TLS first (530 5.7.0 Must issue a STARTTLS
  // command first).
  bool require_tls = false;
  // This listener: MAIL needs AUTH first (530 5.7.0 Authentication required).
  bool require_auth = false;
};

class Session {
 public:
  Session(SessionHost* host, const SessionLimits* limits, std::string hostname,
          ClientInfo client);

  // The real client, named by a PROXY header (relay/proxy) before Start().
  void SetClient(std::string address, bool relay_allowed) {
    client_.address = std::move(address);
    client_.relay_allowed = relay_allowed;
  }
  void Start();                    // sends the banner
  // Bytes from the client (dropped between StartTls() and TlsEstablished()).
  void Feed(std::string_view data);
  // The message given to Submit is durable (ok) or could not be spooled.
  void OnSubmitted(absl::Status status, uint64_t id);
  // The idle timer fired: 421 and close (mid-handshake: just close).
  void OnTimeout();
  // Server shutdown: answer 421 and close at the next opportunity.
  void Shutdown();
  // TLS is up (after StartTls(), or before Start() for implicit TLS on a
  // listen_tls port). `description` (e.g. "TLSv1.3 TLS_AES_128_GCM_SHA256",
  // no CR or LF) goes into the Received header's comment and into
  // IncomingMessage::tls. The session forgets EHLO/HELO and any transaction
  // (RFC 3207 4.2: the client must EHLO again); no banner is re-sent.
  void TlsEstablished(std::string_view description);

  bool awaiting_commit() const { return commits_in_flight_ > 0; }
  bool closed() const { return state_ == State::kClosed; }
  uint64_t messages_accepted() const { return messages_accepted_; }
  // Complete command lines read so far, and whether message content (DATA or
  // a BDAT chunk) is being read: the host restarts its command timer on each
  // complete command, but on every read inside content (RFC 5321 4.5.3.2).
  uint64_t commands_read() const { return commands_read_; }
  bool reading_content() const { return state_ == State::kData || state_ == State::kBdat; }
  bool tls_active() const { return tls_active_; }
  // The identity of a successful AUTH; empty if not authenticated.
  const std::string& auth_user() const { return auth_user_; }

 private:
  enum class State : uint8_t {
    kCommand,  // reading command lines
    kData,     // inside DATA
    kBdat,     // reading the octets of a BDAT chunk
    kAuth,     // reading the client's response lines of an AUTH exchange
    kTlsHandshake,  // STARTTLS answered; input is discarded until TLS is up
    kClosed,
  };
  // What the next response line of an AUTH exchange is.
  enum class AuthStep : uint8_t { kPlain, kLoginUser, kLoginPassword };

  // Output produced while a commit is pending waits here, in order. A
  // commit's own reply is written when it is flushed, ahead of `text`.
  enum class CommitReply : uint8_t { kNone, kPending, kQueued, kNoSpace, kWriteError };
  struct Held {
    uint64_t commit_id = 0;  // the message whose commit reply this is
    CommitReply commit = CommitReply::kNone;
    std::string text;        // replies produced after it
    bool ready() const { return commit != CommitReply::kPending; }
  };

  void Process();          // consumes input_view_
  void ProcessBuffered();  // runs Process() over input_
  void ProcessCommandLine(std::string_view line);
  std::string& Out();      // where replies go now: host output or held
  Held& PushHeld();
  void OutReady();
  void FlushHeld();
  void Reply(int code, std::string_view enhanced, std::string_view text);
  // Replies and reports the refusal to the host.
  void Reject(std::string_view sender, std::string_view recipient, int code,
              std::string_view enhanced, std::string_view text);
  void HandleEhlo(const smtp::Command& cmd, bool extended);
  void HandleMail(const smtp::Command& cmd);
  void HandleRcpt(const smtp::Command& cmd);
  void HandleData();
  void FinishData();
  void HandleBdat(const smtp::Command& cmd);
  // STARTTLS and AUTH, in session_auth.cc.
  void HandleStartTls();
  void AcceptStartTls();  // 220, discard the rest of the input, host StartTls
  void HandleAuth(const smtp::Command& cmd);
  // One line of an AUTH exchange from input_view_; false when it needs more
  // input.
  bool ReadAuthLine();
  void HandleAuthResponse(std::string_view line);
  // The next step's input: a base64 response (an initial response "=" has
  // already been mapped to empty).
  void AuthStepInput(std::string_view response);
  void FinishAuth(std::string_view user, std::string_view password);
  // Back to commands, the exchange's buffers wiped (the caller replies).
  void EndAuthExchange();
  // Index in cmd.params of the first MAIL parameter refused (555), or
  // kParamsMax: with AUTH offered, AUTH= is accepted and ignored (RFC 4954 5).
  uint8_t RefusedMailParam(const smtp::Command& cmd) const;
  // 421 and close if a shutdown waits for a quiet moment.
  void MaybeShutdown();
  // A BDAT whose size did not parse: 521 and close.
  void RefuseUnframeableBdat();
  // DSN parameters (session_dsn.cc): RET and ENVID of an accepted MAIL,
  // NOTIFY and ORCPT of a RCPT about to be accepted (before its recipient
  // is added), decoded into message_->dsn.
  void StoreMailDsn(const smtp::Command& cmd);
  void StoreRcptDsn(const smtp::Command& cmd);
  // 555 for a MAIL/RCPT parameter the session does not support.
  void RefuseParam(const smtp::Command& cmd, const smtp::Param& param,
                   std::string_view recipient);
  // The finished message has more Received: lines than hops_max.
  bool TooManyHops() const;
  void ConsumeBdat();
  void FinishChunk();
  // First DATA/BDAT of a transaction: id, Received; `content_hint` octets
  // expected after the header (reserved up front).
  void StartContent(uint64_t content_hint);
  void SubmitMessage();
  bool CanProcess() const;
  void ResetTransaction();
  void CountError();
  void Close();
  void AppendReceivedHeader(uint64_t content_hint);

  SessionHost* host_;
  const SessionLimits* limits_;
  std::string hostname_;
  ClientInfo client_;
  State state_ = State::kCommand;
  uint64_t commands_read_ = 0;
  std::string helo_;
  bool extended_ = false;
  bool discarding_line_ = false;  // skipping the rest of an over-long line
  std::string input_;             // unprocessed client bytes
  std::string_view input_view_;   // what Process() is working through
  std::unique_ptr<IncomingMessage> message_;  // the transaction in progress
  bool have_mail_ = false;
  uint64_t size_hint_ = 0;  // SIZE= of MAIL FROM, 0 if none
  size_t content_start_ = 0;  // offset of the client's content (after Received)
  smtp::DataScanner scanner_;
  size_t errors_ = 0;
  uint64_t messages_accepted_ = 0;
  // STARTTLS and AUTH.
  bool tls_active_ = false;
  std::string tls_;                // the host's description of the TLS session
  bool starttls_waiting_ = false;  // STARTTLS read, waits for pending commits
  std::string auth_user_;
  AuthStep auth_step_ = AuthStep::kPlain;
  std::string auth_login_user_;    // LOGIN: the user name, until the password
  std::string auth_octets_;        // decoded response (wiped after use)
  bool paused_ = false;
  bool shutdown_ = false;
  bool close_when_flushed_ = false;
  runtime::ReuseQueue<Held> held_;  // slots keep their text's capacity
  size_t commits_in_flight_ = 0;
  // BDAT state of the transaction in progress.
  bool bdat_started_ = false;     // a BDAT chunk was received
  uint64_t bdat_remaining_ = 0;   // octets of the current chunk still to read
  uint64_t bdat_octets_ = 0;      // octets of the accepted chunks (<= the limit)
  bool bdat_last_ = false;
  smtp::internal::CrlfCheck bdat_lines_;  // bare CR/LF and 8-bit octets
  int bdat_error_code_ = 0;       // != 0: discard the chunks, answer this
  const char* bdat_error_enhanced_ = "";
  const char* bdat_error_text_ = "";
};

}  // namespace ringpost::server
