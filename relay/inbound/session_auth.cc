// session_auth.cc — the Session's STARTTLS (RFC 3207) and AUTH (RFC 4954)
// handlers; see session.h for the rules. Apart from session.cc only to keep
// each file short.
//
// STARTTLS: the 220 must be the last plaintext the client gets, and nothing
// the client sent after the STARTTLS line may run once TLS is up (an
// attacker in the path can append commands to the plaintext that would
// otherwise execute inside the authenticated session: CVE-2011-0411). So
// the session first lets every pending commit and held reply out, then
// answers 220 and drops its input, and takes none until TlsEstablished().
//
// AUTH PLAIN and LOGIN, over TLS only. The exchange is line by line
// (State::kAuth): each response is strict base64 (relay/smtp/sasl.h), "*"
// cancels. Decoded credentials go to the host's Authenticate() and are
// wiped from the session's buffers right after; no reply echoes them.
#include <algorithm>

#include "base/check.h"
#include "relay/inbound/session.h"
#include "relay/smtp/sasl.h"

namespace ringpost::server {
namespace {

// Overwrites the octets before forgetting them: a buffer that held a
// password is reused for the life of the session.
void Wipe(std::string* s) {
  std::fill(s->begin(), s->end(), '\0');
  s->clear();
}

}  // namespace

void Session::HandleStartTls() {
  if (!client_.tls_available) {
    Reply(502, "5.5.1", "Error: command not implemented");
    CountError();
    return;
  }
  if (tls_active_) {
    Reply(503, "5.5.1", "Error: TLS already active");
    CountError();
    return;
  }
  // RFC 3207 would let the upgrade reset the transaction; refusing it
  // instead means no envelope is ever half plaintext, half TLS, and a
  // client that meant to send the message still can.
  if (have_mail_) {
    Reply(503, "5.5.1", "Error: MAIL transaction in progress");
    CountError();
    return;
  }
  if (commits_in_flight_ > 0) {
    // Replies are held behind the commits: the 220 may go only after them.
    // CanProcess() is false until OnSubmitted() clears the last one.
    starttls_waiting_ = true;
    return;
  }
  AcceptStartTls();
}

void Session::AcceptStartTls() {
  CHECK(commits_in_flight_ == 0);
  CHECK(held_.empty());
  starttls_waiting_ = false;
  Reply(220, "2.0.0", "Ready to start TLS");
  // Whatever followed the STARTTLS line was sent in plaintext: never run it.
  input_.clear();
  input_view_ = {};
  discarding_line_ = false;
  state_ = State::kTlsHandshake;
  // The handshake needs the socket read again.
  if (paused_) {
    paused_ = false;
    host_->ResumeInput();
  }
  host_->StartTls();  // last: the host may call TlsEstablished() from it
}

void Session::TlsEstablished(std::string_view description) {
  if (state_ == State::kClosed) return;  // timed out mid-handshake
  CHECK(!tls_active_);
  // After StartTls(), or before any command (implicit TLS).
  CHECK(state_ == State::kTlsHandshake || commands_read_ == 0);
  CHECK(!description.empty());
  CHECK(description.find('\r') == std::string_view::npos);
  CHECK(description.find('\n') == std::string_view::npos);
  tls_active_ = true;
  tls_.assign(description.data(), description.size());
  state_ = State::kCommand;
  // RFC 3207 4.2: forget what the client said in plaintext.
  helo_.clear();
  extended_ = false;
  auth_user_.clear();
  ResetTransaction();
  MaybeShutdown();
}

void Session::HandleAuth(const smtp::Command& cmd) {
  if (!client_.auth_available) {
    Reply(502, "5.5.1", "Error: command not implemented");
    CountError();
    return;
  }
  if (!extended_) {  // AUTH is an ESMTP extension: after EHLO only
    Reply(503, "5.5.1", "Error: send EHLO first");
    CountError();
    return;
  }
  if (!tls_active_) {
    if (client_.require_tls) {
      Reply(530, "5.7.0", "Must issue a STARTTLS command first");
    } else {
      Reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
    }
    CountError();
    return;
  }
  if (!auth_user_.empty()) {
    Reply(503, "5.5.1", "Error: already authenticated");
    CountError();
    return;
  }
  if (have_mail_) {
    Reply(503, "5.5.1", "Error: MAIL transaction in progress");
    CountError();
    return;
  }
  // AUTH SP mechanism [SP initial-response]; the parser trimmed the end.
  const std::string_view arg = cmd.argument;
  const size_t sp = arg.find(' ');
  const std::string_view mechanism = arg.substr(0, sp);
  if (smtp::AsciiEqualsIgnoreCase(mechanism, "PLAIN")) {
    auth_step_ = AuthStep::kPlain;
  } else if (smtp::AsciiEqualsIgnoreCase(mechanism, "LOGIN")) {
    auth_step_ = AuthStep::kLoginUser;
  } else {
    Reply(504, "5.5.4", "Error: unsupported authentication mechanism");
    CountError();
    return;
  }
  state_ = State::kAuth;
  if (sp != std::string_view::npos) {
    // RFC 4954 4: "=" is an initial response of no octets.
    const std::string_view initial = arg.substr(sp + 1);
    AuthStepInput(initial == "=" ? std::string_view() : initial);
    return;
  }
  Reply(334, "", auth_step_ == AuthStep::kPlain ? "" : "VXNlcm5hbWU6");  // "Username:"
}

bool Session::ReadAuthLine() {
  const size_t lf = input_view_.find('\n');
  if (lf == std::string_view::npos) {
    // Already too long, whatever its end: refuse now, skip the rest.
    if (input_view_.size() >= smtp::kAuthLineOctetsMax) {
      EndAuthExchange();
      Reply(500, "5.5.6", "Authentication Exchange line is too long");
      CountError();
      discarding_line_ = true;
      input_view_ = {};
    }
    return false;
  }
  std::string_view line = input_view_.substr(0, lf + 1);
  input_view_.remove_prefix(lf + 1);
  ++commands_read_;
  // Length first, so the reply does not depend on how the line arrived.
  if (line.size() > smtp::kAuthLineOctetsMax) {
    EndAuthExchange();
    Reply(500, "5.5.6", "Authentication Exchange line is too long");
    CountError();
    return true;
  }
  if (lf == 0 || line[lf - 1] != '\r') {
    EndAuthExchange();
    Reply(500, "5.5.2", "Error: bare LF received; command lines must end with CRLF");
    CountError();
    return true;
  }
  line.remove_suffix(2);
  if (line.find('\r') != std::string_view::npos) {
    EndAuthExchange();
    Reply(500, "5.5.2", "Error: bare CR received; command lines must end with CRLF");
    CountError();
    return true;
  }
  HandleAuthResponse(line);
  return true;
}

void Session::HandleAuthResponse(std::string_view line) {
  if (line == "*") {
    EndAuthExchange();
    Reply(501, "5.7.0", "Authentication aborted");
  } else {
    AuthStepInput(line);
  }
  MaybeShutdown();
}

void Session::AuthStepInput(std::string_view response) {
  if (!smtp::Base64Decode(response, &auth_octets_)) {
    EndAuthExchange();
    Reply(501, "5.5.2", "Error: invalid base64 data");
    CountError();
    return;
  }
  switch (auth_step_) {
    case AuthStep::kPlain: {
      smtp::SaslPlain plain;
      switch (smtp::ParseSaslPlain(auth_octets_, &plain)) {
        case smtp::SaslPlainResult::kOk:
          FinishAuth(plain.user, plain.password);
          return;
        case smtp::SaslPlainResult::kMalformed:
          EndAuthExchange();
          Reply(501, "5.5.2", "Error: malformed PLAIN response");
          CountError();
          return;
        case smtp::SaslPlainResult::kAuthzidNotUser:
          EndAuthExchange();
          Reply(535, "5.7.8", "Error: authorization identity must be empty or the user");
          CountError();
          return;
      }
      return;
    }
    case AuthStep::kLoginUser:
      if (!smtp::ValidSaslLoginField(auth_octets_)) break;
      auth_login_user_.swap(auth_octets_);
      Wipe(&auth_octets_);
      auth_step_ = AuthStep::kLoginPassword;
      Reply(334, "", "UGFzc3dvcmQ6");  // "Password:"
      return;
    case AuthStep::kLoginPassword:
      if (!smtp::ValidSaslLoginField(auth_octets_)) break;
      FinishAuth(auth_login_user_, auth_octets_);
      return;
  }
  EndAuthExchange();
  Reply(501, "5.5.2", "Error: malformed LOGIN response");
  CountError();
}

// `user` and `password` may point into auth_octets_ / auth_login_user_,
// which EndAuthExchange() wipes: the user is copied first.
void Session::FinishAuth(std::string_view user, std::string_view password) {
  const AuthVerdict verdict = host_->Authenticate(user, password);
  if (verdict == AuthVerdict::kOk) auth_user_.assign(user.data(), user.size());
  EndAuthExchange();
  switch (verdict) {
    case AuthVerdict::kOk:
      Reply(235, "2.7.0", "Authentication successful");
      break;
    case AuthVerdict::kBad:
      Reply(535, "5.7.8", "Authentication credentials invalid");
      CountError();
      break;
    case AuthVerdict::kBlocked:
      Reply(421, "4.7.0", "Too many authentication failures, try again later");
      Close();
      break;
  }
}

void Session::EndAuthExchange() {
  CHECK(state_ == State::kAuth);
  state_ = State::kCommand;
  Wipe(&auth_octets_);
  Wipe(&auth_login_user_);
}

uint8_t Session::RefusedMailParam(const smtp::Command& cmd) const {
  if (!client_.auth_available || !tls_active_) return cmd.unknown_param;
  // Bounded by kParamsMax. The parser decoded SIZE, BODY, SMTPUTF8, RET and
  // ENVID.
  for (uint8_t i = cmd.unknown_param; i < cmd.param_count; ++i) {
    const smtp::Param& p = cmd.params[i];
    const bool decoded = smtp::AsciiEqualsIgnoreCase(p.keyword, "SIZE") ||
                         smtp::AsciiEqualsIgnoreCase(p.keyword, "BODY") ||
                         smtp::AsciiEqualsIgnoreCase(p.keyword, "SMTPUTF8") ||
                         smtp::AsciiEqualsIgnoreCase(p.keyword, "RET") ||
                         smtp::AsciiEqualsIgnoreCase(p.keyword, "ENVID");
    // AUTH=<mailbox> or AUTH=<>: the relay neither trusts nor forwards it.
    const bool ignored = smtp::AsciiEqualsIgnoreCase(p.keyword, "AUTH") && !p.value.empty();
    if (!decoded && !ignored) return i;
  }
  return smtp::kParamsMax;
}

}  // namespace ringpost::server
