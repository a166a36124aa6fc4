// session_dsn.cc — the DSN parameters of a transaction (RFC 3461), kept
// with the message: the command parser has checked them (xtext, bounds,
// printable), so decoding here cannot fail.
#include <string>

#include "base/check.h"
#include "queue/record.h"
#include "relay/inbound/session.h"
#include "relay/smtp/xtext.h"

namespace ringpost::server {

// The parser's values are the spool's.
static_assert(static_cast<uint8_t>(smtp::DsnReturn::kUnspecified) ==
              static_cast<uint8_t>(queue::DsnRet::kUnspecified));
static_assert(static_cast<uint8_t>(smtp::DsnReturn::kFull) ==
              static_cast<uint8_t>(queue::DsnRet::kFull));
static_assert(static_cast<uint8_t>(smtp::DsnReturn::kHeaders) ==
              static_cast<uint8_t>(queue::DsnRet::kHeaders));
static_assert(smtp::kDsnNotifySuccess == queue::kNotifySuccess);
static_assert(smtp::kDsnNotifyFailure == queue::kNotifyFailure);
static_assert(smtp::kDsnNotifyDelay == queue::kNotifyDelay);
static_assert(smtp::kDsnNotifyNever == queue::kNotifyNever);
static_assert(smtp::kDsnEnvidOctetsMax == queue::kMaxEnvidBytes);
static_assert(smtp::kDsnOrcptOctetsMax == queue::kMaxOrcptBytes);

void Session::StoreMailDsn(const smtp::Command& cmd) {
  queue::DsnFields& dsn = message_->dsn;
  dsn.ret = static_cast<queue::DsnRet>(cmd.dsn_ret);
  if (!cmd.dsn_envid.empty()) CHECK(smtp::XtextDecode(cmd.dsn_envid, &dsn.envid));
}

// NOTIFY and ORCPT are kept per recipient, only once some recipient gave
// one: entries for the recipients before it are filled in then (0 / "").
// Called right before the recipient is added, and only then, so a refused
// RCPT leaves nothing behind.
void Session::StoreRcptDsn(const smtp::Command& cmd) {
  queue::DsnFields& dsn = message_->dsn;
  const size_t index = message_->recipients.size();
  if (cmd.dsn_notify != 0 || !dsn.notify.empty()) {
    DCHECK(dsn.notify.empty() || dsn.notify.size() == index);
    dsn.notify.resize(index, 0);
    dsn.notify.push_back(cmd.dsn_notify);
  }
  if (!cmd.dsn_orcpt_type.empty() || !dsn.orcpt.empty()) {
    DCHECK(dsn.orcpt.empty() || dsn.orcpt.size() == index);
    dsn.orcpt.resize(index);
    std::string& orcpt = dsn.orcpt.emplace_back();
    if (!cmd.dsn_orcpt_type.empty()) {
      orcpt.append(cmd.dsn_orcpt_type);
      orcpt.push_back(';');
      CHECK(smtp::XtextDecode(cmd.dsn_orcpt, &orcpt));
    }
  }
}

}  // namespace ringpost::server
