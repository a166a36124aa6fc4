// control.cc — see control.h.
#include "relay/shard/control.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/mailbox.h"
#include "relay/admin/http.h"
#include "relay/config/config.h"
#include "relay/delivery/delivery_log.h"

namespace ringpost::shard {

void ControlBoard::Post(std::shared_ptr<ControlOp> op) {
  op->pending.store(shards_, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t seq = last_.load(std::memory_order_relaxed) + 1;
  ops_.emplace_back(seq, std::move(op));
  if (ops_.size() > kKept) ops_.pop_front();
  last_.store(seq, std::memory_order_release);
}

void ControlBoard::Take(uint64_t* seen, std::vector<std::shared_ptr<ControlOp>>* out) {
  if (last_.load(std::memory_order_acquire) == *seen) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [seq, op] : ops_) {
    if (seq > *seen) out->push_back(op);
  }
  *seen = last_.load(std::memory_order_relaxed);
}

std::string JsonTime(int64_t wall_ms) {
  const time_t secs = static_cast<time_t>(wall_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  snprintf(buf, sizeof(buf), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           static_cast<int>(wall_ms % 1000));
  return buf;
}

namespace {

ControlRequest Error(int status, std::string why) {
  ControlRequest r;
  r.error_status = status;
  r.error = std::move(why);
  return r;
}

// A domain as the queue knows it: lowercase, no trailing dot.
bool NormalizeDomain(std::string* domain) {
  *domain = absl::AsciiStrToLower(*domain);
  if (!domain->empty() && domain->back() == '.') domain->pop_back();
  return base::CheckName(*domain, base::kMailDomain) == base::NameError::kOk;
}

}  // namespace

ControlRequest ParseControl(std::string_view method, std::string_view path,
                            std::string_view query, int64_t now_ms) {
  using Kind = ControlOp::Kind;
  struct Route {
    std::string_view path;
    Kind kind;
    bool post;
  };
  static constexpr Route kRoutes[] = {
      {"/queue/summary", Kind::kSummary, false}, {"/queue/message", Kind::kInspect, false},
      {"/queue/suspend", Kind::kSuspend, true},  {"/queue/resume", Kind::kResume, true},
      {"/queue/flush", Kind::kFlush, true},      {"/queue/bounce", Kind::kBounce, true},
      {"/queue/delete", Kind::kDelete, true},
  };
  const Route* route = nullptr;
  for (const Route& r : kRoutes) {
    if (r.path == path) route = &r;
  }
  if (route == nullptr) return Error(404, "no such queue operation");
  if (route->post ? method != "POST" : (method != "GET" && method != "HEAD")) {
    ControlRequest r = Error(405, std::string(path) + " takes " + (route->post ? "POST" : "GET"));
    r.allow = route->post ? "POST" : "GET, HEAD";
    return r;
  }
  auto params = admin::ParseQuery(query);
  if (!params.has_value()) return Error(400, "malformed query string");
  auto op = std::make_shared<ControlOp>();
  op->kind = route->kind;
  std::string duration;
  for (const auto& [key, value] : *params) {
    std::string* field = key == "domain" ? &op->domain
                         : key == "id"   ? &op->id
                         : key == "sender" ? &op->sender
                         : key == "for"  ? &duration
                                         : nullptr;
    if (field == nullptr) return Error(400, "unknown parameter " + key);
    if (!field->empty()) return Error(400, "parameter " + key + " given twice");
    if (value.empty() || value.size() > 512) return Error(400, "bad value for " + key);
    *field = value;
  }
  if (!op->domain.empty() && !NormalizeDomain(&op->domain)) {
    return Error(400, "domain: not a domain name");
  }
  const int selectors = !op->domain.empty() + !op->id.empty() + !op->sender.empty();
  switch (op->kind) {
    case Kind::kSummary:
      if (selectors != 0 || !duration.empty()) return Error(400, "summary takes no parameters");
      break;
    case Kind::kInspect:
      if (op->id.empty() || selectors != 1 || !duration.empty()) {
        return Error(400, "message takes id=ID");
      }
      break;
    case Kind::kSuspend:
    case Kind::kResume:
    case Kind::kFlush:
      if (!op->id.empty() || !op->sender.empty()) {
        return Error(400, "suspend, resume and flush select by domain");
      }
      if (op->kind != Kind::kFlush && op->domain.empty()) return Error(400, "domain=D is required");
      if (!duration.empty()) {
        if (op->kind != Kind::kSuspend) return Error(400, "only suspend takes for=DURATION");
        absl::StatusOr<absl::Duration> d = ParseDuration(duration);
        if (!d.ok() || *d <= absl::ZeroDuration()) return Error(400, "for: not a duration");
        op->until_ms = now_ms + absl::ToInt64Milliseconds(*d);
      }
      break;
    case Kind::kBounce:
    case Kind::kDelete:
      if (selectors != 1 || !duration.empty()) {
        return Error(400, "bounce and delete take exactly one of domain, id, sender");
      }
      break;
  }
  ControlRequest r;
  r.op = std::move(op);
  return r;
}

std::string RenderControl(const ControlOp& op, const delivery::Suspensions& suspensions,
                          int64_t now_ms) {
  using Kind = ControlOp::Kind;
  auto until = [](int64_t ms) { return ms == 0 ? std::string("null") : JsonTime(ms); };
  switch (op.kind) {
    case Kind::kSummary: {
      const auto held = suspensions.List(now_ms);
      absl::flat_hash_map<std::string, const delivery::Suspensions::Entry*> by_domain;
      for (const auto& [domain, e] : held) by_domain[domain] = &e;
      std::vector<ControlOp::Row> rows = op.rows;
      std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        return a.queued != b.queued ? a.queued > b.queued : a.domain < b.domain;
      });
      std::string out = "{\"destinations\":[";
      for (size_t i = 0; i < rows.size(); ++i) {
        const ControlOp::Row& r = rows[i];
        auto s = by_domain.find(r.domain);
        const delivery::Suspensions::Entry* e = s == by_domain.end() ? nullptr : s->second;
        absl::StrAppend(&out, i ? "," : "", "{\"domain\":", JsonQuote(r.domain),
                        ",\"queued\":", r.queued, ",\"oldest_s\":",
                        r.oldest_ms > 0 && now_ms > r.oldest_ms ? (now_ms - r.oldest_ms) / 1000 : 0,
                        ",\"state\":\"", e != nullptr ? "suspended" : "active",
                        "\",\"until\":", e != nullptr ? until(e->until_ms) : "null",
                        ",\"reason\":", e != nullptr ? JsonQuote(e->reason) : "null",
                        ",\"policy\":", JsonQuote(r.policy), "}");
      }
      out += "],\"suspensions\":[";
      for (size_t i = 0; i < held.size(); ++i) {
        const auto& [domain, e] = held[i];
        absl::StrAppend(&out, i ? "," : "", "{\"name\":", JsonQuote(domain),
                        ",\"until\":", until(e.until_ms), ",\"reason\":", JsonQuote(e.reason),
                        ",\"set_by\":", JsonQuote(e.set_by), ",\"replies\":[]}");
      }
      out += "]}\n";
      return out;
    }
    case Kind::kSuspend:
      return absl::StrCat("{\"suspended\":", JsonQuote(op.domain),
                          ",\"until\":", until(op.until_ms), "}\n");
    case Kind::kResume:
      return absl::StrCat("{\"resumed\":", JsonQuote(op.domain), ",\"released\":", op.count,
                          "}\n");
    case Kind::kFlush:
      return absl::StrCat("{\"flushed\":", op.count, "}\n");
    case Kind::kBounce:
      return absl::StrCat("{\"bounced\":", op.count, "}\n");
    case Kind::kDelete:
      return absl::StrCat("{\"deleted\":", op.count, "}\n");
    case Kind::kInspect: {
      std::string out = absl::StrCat("{\"id\":", JsonQuote(op.id), ",\"jobs\":[");
      for (size_t i = 0; i < op.found.size(); ++i) {
        absl::StrAppend(&out, i ? "," : "", op.found[i]);
      }
      out += "]}\n";
      return out;
    }
  }
  return "{}\n";
}

}  // namespace ringpost::shard
