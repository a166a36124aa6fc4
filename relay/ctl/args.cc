// relay/ctl/args.cc — see args.h.
#include "relay/ctl/args.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "relay/admin/http.h"
#include "relay/ctl/absl_strings.h"
#include "relay/ctl/duration.h"

namespace ringpost::ctl {
namespace {

constexpr std::string_view kUsage =
    "usage: ringpostctl [--admin=ADDR:PORT] [--json] [--timeout=10s] COMMAND\n"
    "\n"
    "commands:\n"
    "  summary                      queued mail per destination, and suspensions in force\n"
    "  suspend DOMAIN [--for DURATION]   hold mail for DOMAIN (default: until resumed)\n"
    "  resume DOMAIN                release it (retried at once)\n"
    "  flush [DOMAIN]               retry deferred mail now (all destinations without DOMAIN)\n"
    "  bounce DOMAIN | bounce --id ID | bounce --sender ADDR    return queued mail to its "
    "senders\n"
    "  delete DOMAIN | delete --id ID | delete --sender ADDR    drop queued mail without a "
    "notice\n"
    "  inspect ID                   one message: envelope, recipients, attempts, last reply\n"
    "\n"
    "options (before or after the command's words):\n"
    "  --admin=ADDR:PORT   the relay's admin address (its `admin` setting; default "
    "127.0.0.1:8025)\n"
    "  --json              print the relay's JSON answer as it came\n"
    "  --timeout=DURATION  to connect and for the whole exchange (default 10s)\n"
    "durations: 30s, 10m, 2h, 1d, 1h30m.\n"
    "exit status: 0 done; 1 the relay said no or could not be reached; 2 usage error.\n";

// One command: its request, and the words and options it takes.
struct Command {
  std::string_view name;
  std::string_view method;
  std::string_view path;
  size_t min_words;  // positional arguments after the command
  size_t max_words;
  std::string_view word;  // what the positional argument is: "DOMAIN", "ID"
  std::string_view key;   // its query key
  bool takes_for;         // --for
  bool takes_selectors;   // --id, --sender: exactly one of them or the word
};

constexpr Command kCommands[] = {
    {"summary", "GET", "/queue/summary", 0, 0, "", "", false, false},
    {"suspend", "POST", "/queue/suspend", 1, 1, "DOMAIN", "domain", true, false},
    {"resume", "POST", "/queue/resume", 1, 1, "DOMAIN", "domain", false, false},
    {"flush", "POST", "/queue/flush", 0, 1, "DOMAIN", "domain", false, false},
    {"bounce", "POST", "/queue/bounce", 0, 1, "DOMAIN", "domain", false, true},
    {"delete", "POST", "/queue/delete", 0, 1, "DOMAIN", "domain", false, true},
    {"inspect", "GET", "/queue/message", 1, 1, "ID", "id", false, false},
};

absl::Status Usage(std::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

// The options' values, as given; nullopt when absent.
struct Options {
  std::optional<std::string_view> admin;
  std::optional<std::string_view> timeout;
  std::optional<std::string_view> for_;
  std::optional<std::string_view> id;
  std::optional<std::string_view> sender;
  bool json = false;
  bool help = false;
};

std::optional<std::string_view>* ValueOption(Options* o, std::string_view name) {
  if (name == "admin") return &o->admin;
  if (name == "timeout") return &o->timeout;
  if (name == "for") return &o->for_;
  if (name == "id") return &o->id;
  if (name == "sender") return &o->sender;
  return nullptr;
}

// A value the relay gets: non-empty, no control characters.
absl::Status CheckValue(std::string_view what, std::string_view value) {
  if (value.empty()) return Usage(Cat(what, " is empty"));
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return Usage(Cat(what, " holds a control character"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view Usage() { return kUsage; }

std::string EncodeQueryValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '.' || u == '_' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

absl::StatusOr<AdminAddress> ParseAdminAddress(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Usage(Cat("bad --admin \"", text, "\": ", why,
                     " (expected ADDR:PORT, e.g. 127.0.0.1:8025 or [::1]:8025)"));
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.starts_with('[')) {
    if (!host.ends_with(']') || host.size() < 3) return bad("an unclosed '['");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 address needs brackets");
  }
  if (host.empty()) return bad("no address");
  for (const char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '[' || c == ']' || c == '/') {
      return bad("a character no address holds");
    }
  }
  uint32_t port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string_view::npos ||
      !absl::SimpleAtoi(Av(port_text), &port) || port == 0 || port > 65535) {
    return bad("the port is not a number from 1 to 65535");
  }
  return AdminAddress{std::string(host), static_cast<uint16_t>(port)};
}

absl::StatusOr<CtlRequest> ParseArgs(const std::vector<std::string_view>& args) {
  Options o;
  std::vector<std::string_view> words;
  bool options_ended = false;
  // Bounded by args.size(): each iteration consumes one or two arguments.
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (options_ended || a == "-" || !a.starts_with('-')) {
      words.push_back(a);
      continue;
    }
    if (a == "--") {
      options_ended = true;
      continue;
    }
    if (a == "-h") {
      o.help = true;
      continue;
    }
    if (!a.starts_with("--")) return Usage(Cat("unknown option ", a));
    const size_t eq = a.find('=');
    const std::string_view name = a.substr(2, eq == std::string_view::npos ? a.npos : eq - 2);
    if (name == "json" || name == "help") {
      if (eq != std::string_view::npos) return Usage(Cat("--", name, " takes no value"));
      (name == "json" ? o.json : o.help) = true;
      continue;
    }
    std::optional<std::string_view>* slot = ValueOption(&o, name);
    if (slot == nullptr) return Usage(Cat("unknown option --", name));
    if (slot->has_value()) return Usage(Cat("--", name, " given twice"));
    if (eq != std::string_view::npos) {
      *slot = a.substr(eq + 1);
    } else if (i + 1 < args.size() && !args[i + 1].starts_with('-')) {
      *slot = args[++i];
    } else {
      return Usage(Cat("--", name, " needs a value"));
    }
  }

  CtlRequest r;
  if (o.help || (!words.empty() && words[0] == "help")) {
    r.help = true;
    return r;
  }
  if (words.empty()) return Usage("no command given");
  const Command* command = nullptr;
  for (const Command& c : kCommands) {
    if (words[0] == c.name) command = &c;
  }
  if (command == nullptr) return Usage(Cat("unknown command \"", words[0], "\""));
  r.command = std::string(command->name);
  r.method = std::string(command->method);
  if (o.for_ && !command->takes_for) return Usage("--for goes with suspend only");
  if ((o.id || o.sender) && !command->takes_selectors) {
    return Usage(Cat("--", o.id ? "id" : "sender", " goes with bounce and delete only"));
  }
  const size_t count = words.size() - 1;
  if (count < command->min_words) {
    return Usage(
        Cat(command->name, command->word == "ID" ? " needs an " : " needs a ", command->word));
  }
  if (count > command->max_words) {
    return Usage(
        Cat("unexpected argument \"", words[command->max_words + 1], "\" after ", command->name));
  }

  // The query: the command's word, or the selector, then --for.
  std::vector<std::pair<std::string_view, std::string>> query;
  if (command->takes_selectors) {
    const int given = (count > 0) + o.id.has_value() + o.sender.has_value();
    if (given != 1) {
      return Usage(Cat(command->name, " needs exactly one of DOMAIN, --id ID and --sender ADDR"));
    }
  }
  if (count > 0) {
    absl::Status s = CheckValue(command->word, words[1]);
    if (!s.ok()) return s;
    query.emplace_back(command->key, std::string(words[1]));
  }
  if (o.id) {
    absl::Status s = CheckValue("--id", *o.id);
    if (!s.ok()) return s;
    query.emplace_back("id", std::string(*o.id));
  }
  if (o.sender) {
    absl::Status s = CheckValue("--sender", *o.sender);
    if (!s.ok()) return s;
    query.emplace_back("sender", std::string(*o.sender));
  }
  if (o.for_) {
    absl::StatusOr<absl::Duration> d = ParseDuration(*o.for_);
    if (!d.ok()) return Usage(Cat("--for: ", d.status().message()));
    if (*d < absl::Seconds(1)) return Usage("--for: a suspension lasts at least 1s");
    query.emplace_back("for", DurationToString(*d));
  }
  r.target = std::string(command->path);
  for (size_t i = 0; i < query.size(); ++i) {
    CatAppend(&r.target, i == 0 ? "?" : "&", query[i].first, "=",
              EncodeQueryValue(query[i].second));
  }
  if (r.target.size() > admin::kMaxTarget) {
    return Usage(Cat("the request would be ", r.target.size(),
                     " bytes long, more than the admin port takes (", admin::kMaxTarget, ")"));
  }

  if (o.admin) r.admin = std::string(*o.admin);
  absl::StatusOr<AdminAddress> address = ParseAdminAddress(r.admin);
  if (!address.ok()) return address.status();
  r.address = *std::move(address);
  r.json = o.json;
  if (o.timeout) {
    absl::StatusOr<absl::Duration> d = ParseDuration(*o.timeout);
    if (!d.ok()) return Usage(Cat("--timeout: ", d.status().message()));
    if (*d < absl::Milliseconds(1) || *d > kMaxTimeout) {
      return Usage("--timeout: from 1ms to 1h");
    }
    r.timeout = *d;
  }
  return r;
}

}  // namespace ringpost::ctl
