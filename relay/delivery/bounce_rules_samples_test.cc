// bounce_rules_samples_test.cc — the shipped rules (dist/bounce_rules.conf,
// built in as BounceRules::Defaults()) against replies as large receivers
// and common MTAs send them. Every rule must decide at least one sample, so
// a rule that an earlier one shadows, or that matches nothing real, fails
// here; and every sample must get the category a person would give it.
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "relay/delivery/bounce_class.h"

namespace ringpost::delivery {
namespace {

using C = BounceCategory;

struct Sample {
  int code;
  const char* reply;  // as the server sent it: code, enhanced code, text
  BounceCategory want;
};

// Replies written after the receivers' public wording (postmaster pages and
// bounces seen in the wild); addresses and hosts are examples.
const Sample kSamples[] = {
    // Google.
    {550, "550-5.7.26 This mail is unauthenticated, which poses a security risk to the\r\n"
          "550-5.7.26 sender and Gmail users, and has been blocked. The sender must\r\n"
          "550 5.7.26 authenticate with at least one of SPF or DKIM.",
     C::kAuthentication},
    {421, "421-4.7.26 This mail has been rate limited because it is unauthenticated.\r\n"
          "421 4.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.",
     C::kAuthentication},
    {550, "550-5.7.26 Unauthenticated email from sender.example is not accepted due to\r\n"
          "550 5.7.26 domain's DMARC policy. Please contact the administrator.",
     C::kAuthentication},
    {550, "550-5.7.26 Your email has been blocked because the sender is unauthenticated.\r\n"
          "550 5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.",
     C::kAuthentication},
    {550, "550-5.7.25 [192.0.2.7] The IP address sending this message does not have a PTR\r\n"
          "550 5.7.25 record setup, or the corresponding forward DNS entry does not point",
     C::kAuthentication},
    {550, "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
          "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
          "550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser",
     C::kInvalidRecipient},
    {550, "550 5.2.1 The email account that you tried to reach is disabled.",
     C::kInvalidRecipient},
    {452, "452-4.2.2 The recipient's inbox is out of storage space. Please direct the\r\n"
          "452 4.2.2 recipient to https://support.google.com/mail/?p=OverQuotaTemp",
     C::kMailboxFull},
    {552, "552 5.2.2 The email account that you tried to reach is over quota.",
     C::kMailboxFull},
    {450, "450-4.2.1 The user you are trying to contact is receiving mail at a rate that\r\n"
          "450 4.2.1 prevents additional messages from being delivered.",
     C::kTransient},
    {421, "421-4.7.28 [192.0.2.7] Our system has detected an unusual rate of\r\n"
          "421-4.7.28 unsolicited mail originating from your IP address. To protect our\r\n"
          "421 4.7.28 users from spam, mail sent from your IP address has been rate limited.",
     C::kTransient},
    {550, "550-5.7.1 [192.0.2.7] Our system has detected an unusual rate of\r\n"
          "550-5.7.1 unsolicited mail originating from your IP address. To protect our\r\n"
          "550 5.7.1 users from spam, mail sent from your IP address has been blocked.",
     C::kPolicy},
    {550, "550-5.7.1 [192.0.2.7] Our system has detected that this message is likely\r\n"
          "550 5.7.1 suspicious due to the very low reputation of the sending IP address.",
     C::kPolicy},
    {550, "550-5.7.1 [192.0.2.7] The IP you're using to send mail is not authorized to\r\n"
          "550 5.7.1 send email directly to our servers. Please use the SMTP relay.",
     C::kPolicy},
    {550, "550-5.7.1 [192.0.2.7] Our system has detected that this message is likely\r\n"
          "550 5.7.1 unsolicited mail. To reduce the amount of spam sent to Gmail, ...",
     C::kContent},
    {552, "552-5.7.0 Our system detected an illegal attachment on this message. Please\r\n"
          "552 5.7.0 visit https://support.google.com/mail/?p=BlockedMessage",
     C::kContent},
    {552, "552-5.7.0 This message was blocked because its content presents a potential\r\n"
          "552 5.7.0 security issue.",
     C::kContent},
    {552, "552-5.2.3 Your message exceeded Google's message size limits. Please visit\r\n"
          "552 5.2.3 https://support.google.com/mail/?p=MaxSizeError",
     C::kContent},
    {550, "550-5.7.1 Messages missing a valid address in From: header, or having no From:\r\n"
          "550 5.7.1 header, are not accepted.",
     C::kContent},
    // Microsoft.
    {550, "550 5.5.0 Requested action not taken: mailbox unavailable.", C::kInvalidRecipient},
    {550, "550 5.4.1 Recipient address rejected: Access denied. For more information see "
          "https://aka.ms/EXOSmtpErrors [DB5PEPF00014B89.eurprd02.prod.outlook.com]",
     C::kInvalidRecipient},
    {550, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address "
          "lookup",
     C::kInvalidRecipient},
    {554, "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException."
          "MapiExceptionShutoffQuotaExceeded",
     C::kMailboxFull},
    {550, "550 5.7.509 Access denied, sending domain sender.example does not pass DMARC "
          "verification and has a DMARC policy of reject.",
     C::kAuthentication},
    {550, "550 5.7.515 Access denied, sending domain sender.example doesn't meet the "
          "required authentication level.",
     C::kAuthentication},
    {550, "550 5.7.606 Access denied, banned sending IP [192.0.2.7]. To request removal "
          "from this list please visit https://sender.office.com/",
     C::kPolicy},
    {550, "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
     C::kPolicy},
    {550, "550 5.7.1 Unfortunately, messages from [192.0.2.7] weren't sent. Please contact "
          "your Internet service provider since part of their network is on our block list "
          "(S3150).",
     C::kPolicy},
    {550, "550 SC-001 (COL004-MC4F23) Unfortunately, messages from 192.0.2.7 weren't sent. "
          "Please contact your Internet service provider.",
     C::kPolicy},
    {451, "451 4.7.650 The mail server [192.0.2.7] has been temporarily rate limited due to "
          "IP reputation.",
     C::kTransient},
    {451, "451 4.7.500 Server busy. Please try again later from [192.0.2.7]. (S77719)",
     C::kTransient},
    // Yahoo, AOL.
    {554, "554 delivery error: dd This user doesn't have a yahoo.com account "
          "(bob@yahoo.com) [0] - mta1234.mail.bf1.yahoo.com",
     C::kInvalidRecipient},
    {554, "554 delivery error: dd This user doesn't have a aol.com account (bob@aol.com) [0]",
     C::kInvalidRecipient},
    {553, "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.7, because the ip "
          "is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
     C::kPolicy},
    {421, "421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected "
          "volume or user complaints - 4.16.55.1",
     C::kTransient},
    {421, "421 4.7.0 [GL01] Message from (192.0.2.7) temporarily deferred - 4.16.50.",
     C::kTransient},
    {554, "554 5.7.9 [TS03] All messages from 192.0.2.7 will be permanently deferred; "
          "Retrying will NOT succeed.",
     C::kPolicy},
    {554, "554 5.7.9 Message not accepted for policy reasons.  See "
          "https://postmaster.yahooinc.com/error-codes",
     C::kPolicy},
    // Generic: Postfix, Exim, Sendmail, qmail, appliances.
    {450, "450 4.1.8 <alice@sender.example>: Sender address rejected: Domain not found",
     C::kPolicy},
    {550, "550 5.7.1 Email rejected per DMARC policy for sender.example", C::kAuthentication},
    {550, "550 5.7.23 The message was rejected because of Sender Policy Framework violation",
     C::kAuthentication},
    {550, "550 5.7.1 SPF check failed for 192.0.2.7", C::kAuthentication},
    {550, "550 5.7.20 No passing DKIM signature found", C::kAuthentication},
    {450, "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.7]",
     C::kAuthentication},
    {550, "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual "
          "mailbox table",
     C::kInvalidRecipient},
    {550, "550 5.1.1 <bob@example.com>: Unknown local-part", C::kInvalidRecipient},
    {550, "550 5.1.1 bob@example.com: no such user here", C::kInvalidRecipient},
    {552, "552 1 Requested mail action aborted, mailbox not found", C::kInvalidRecipient},
    {550, "550 5.1.1 Address does not exist", C::kInvalidRecipient},
    {550, "550 5.1.1 Invalid recipient <bob@example.com>", C::kInvalidRecipient},
    {550, "550 Sorry, no mailbox here by that name. (#5.1.1)", C::kInvalidRecipient},
    {550, "550 5.2.1 This account has been disabled or discontinued", C::kInvalidRecipient},
    {550, "550 Mailbox unavailable or access denied", C::kInvalidRecipient},
    {550, "550 5.1.2 Host or domain name not found. Name service error for "
          "name=example.invalid type=MX: Host not found",
     C::kBadDomain},
    {554, "554 5.4.4 No MX record for example.invalid", C::kBadDomain},
    {550, "550 Unrouteable mail domain \"example.invalid\"", C::kBadDomain},
    {452, "452 4.3.1 Insufficient system storage", C::kTransient},
    {452, "452 4.2.2 Quota exceeded (mailbox for user is full)", C::kMailboxFull},
    {552, "552 5.2.2 Mailbox full", C::kMailboxFull},
    {554, "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using "
          "zen.spamhaus.org",
     C::kPolicy},
    {550, "550 5.7.1 Your IP address 192.0.2.7 is listed on our block list", C::kPolicy},
    {554, "554 Your access to this mail system has been rejected due to the sending MTA's "
          "poor reputation.",
     C::kPolicy},
    {554, "554 5.6.1 Message rejected: contains a virus (Win.Test.EICAR_HDB-1)", C::kContent},
    {550, "550 5.7.1 Message rejected as spam by Content Filtering.", C::kContent},
    {552, "552 5.3.4 Message size exceeds fixed maximum message size", C::kContent},
    {550, "550 5.7.1 Message contains a prohibited attachment: invoice.exe", C::kContent},
    {554, "554 5.7.1 <bob@example.com>: Relay access denied", C::kRouting},
    {554, "554 5.4.6 Too many hops", C::kRouting},
    {554, "554 5.4.0 mail for example.com loops back to myself", C::kRouting},
    {530, "530 5.7.0 Must issue a STARTTLS command first", C::kProtocol},
    {503, "503 5.5.1 Error: bad sequence of commands", C::kProtocol},
    {550, "550 5.7.1 Message rejected due to local policy", C::kPolicy},
    {550, "550 Administrative prohibition", C::kPolicy},
    {550, "550 5.7.1 Mail from your network is refused", C::kPolicy},
    {450, "450 4.2.0 <bob@example.com>: Recipient address rejected: Greylisted, see "
          "https://postgrey.schweikert.ch/help/example.com.html",
     C::kTransient},
    {451, "451 4.7.1 Please try again later", C::kTransient},
    {421, "421 4.7.0 Too many concurrent SMTP connections from this IP address",
     C::kTransient},
};

TEST(BounceRulesSamplesTest, EverySampleGetsItsCategory) {
  const auto rules = BounceRules::Defaults();
  for (const Sample& s : kSamples) {
    const BounceMatch m = rules->Match(s.code, "", s.reply);
    EXPECT_EQ(CategoryName(m.category), CategoryName(s.want))
        << s.reply << "\n  decided by "
        << (m.rule ? "line " + std::to_string(rules->rule(*m.rule).line) : "the codes");
    EXPECT_TRUE(m.rule.has_value()) << "no rule matched: " << s.reply;
  }
}

TEST(BounceRulesSamplesTest, EveryRuleDecidesASample) {
  const auto rules = BounceRules::Defaults();
  ASSERT_GT(rules->size(), 50u);
  std::set<size_t> used;
  for (const Sample& s : kSamples) {
    if (auto m = rules->Match(s.code, "", s.reply); m.rule) used.insert(*m.rule);
  }
  for (size_t i = 0; i < rules->size(); ++i) {
    EXPECT_TRUE(used.count(i) > 0) << "dist/bounce_rules.conf:" << rules->rule(i).line
                                   << " decides no sample: " << rules->rule(i).pattern;
  }
}

TEST(BounceRulesSamplesTest, TheSameRepliesAsServerReplyText) {
  // The relay's reply parser hands the text after each line's code, joined
  // with LF (relay/smtp/reply_parser.h): the same categories.
  const auto rules = BounceRules::Defaults();
  for (const Sample& s : kSamples) {
    std::string text;
    std::string_view rest = s.reply;
    while (!rest.empty()) {
      const size_t end = rest.find("\r\n");
      std::string_view line = rest.substr(0, end);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
      line.remove_prefix(std::min<size_t>(4, line.size()));
      text += (text.empty() ? "" : "\n") + std::string(line);
    }
    EXPECT_EQ(CategoryName(rules->Classify(s.code, "", text)), CategoryName(s.want)) << text;
  }
}

TEST(BounceRulesSamplesTest, UnmatchedRepliesFallBackToTheirCodes) {
  const auto rules = BounceRules::Defaults();
  EXPECT_EQ(rules->Match(550, "5.1.1", "550 5.1.1 Nope.").rule, std::nullopt);
  EXPECT_EQ(rules->Classify(550, "5.1.1", "550 5.1.1 Nope."), C::kInvalidRecipient);
  EXPECT_EQ(rules->Classify(451, "", "451 Whatever happened"), C::kTransient);
  EXPECT_EQ(rules->Classify(554, "", "554 Whatever happened"), C::kUnknown);
}

}  // namespace
}  // namespace ringpost::delivery
