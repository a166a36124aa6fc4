// relay/ctl/ringpostctl.cc — the operator's command line tool: one command,
// one request to the relay's admin port, its answer printed.
//
//   ringpostctl [--admin=ADDR:PORT] [--json] [--timeout=10s] COMMAND
//
// args.h maps the command line to the request (and lists the commands),
// admin_http.h writes it and reads the answer, admin_socket.h carries them,
// render.h prints the answer. Exit status: 0 for a 2xx answer; 1 for any
// other answer (its status and body on stderr) or when the relay cannot be
// reached or answers garbage (the address and the reason on stderr); 2 for
// a usage error (the reason, then the usage, on stderr).

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "relay/ctl/admin_http.h"
#include "relay/ctl/admin_socket.h"
#include "relay/ctl/args.h"
#include "relay/ctl/json.h"
#include "relay/ctl/render.h"

namespace {

void Print(std::FILE* f, std::string_view s) { std::fwrite(s.data(), 1, s.size(), f); }

}  // namespace

int main(int argc, char** argv) {
  using namespace ringpost::ctl;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  const absl::StatusOr<CtlRequest> request = ParseArgs(args);
  if (!request.ok()) {
    std::fprintf(stderr, "ringpostctl: %s\n\n", std::string(request.status().message()).c_str());
    Print(stderr, Usage());
    return 2;
  }
  if (request->help) {
    Print(stdout, Usage());
    return 0;
  }

  // The answer's head and a body as large as the JSON reader takes.
  const absl::StatusOr<std::string> raw =
      Exchange(request->address, request->admin, FormatRequest(*request), request->timeout,
               kMaxResponseHead + kMaxJsonBytes);
  if (!raw.ok()) {
    std::fprintf(stderr, "ringpostctl: %s\n", std::string(raw.status().message()).c_str());
    return 1;
  }
  const absl::StatusOr<HttpResponse> response = ParseResponse(*raw);
  if (!response.ok()) {
    std::fprintf(stderr, "ringpostctl: %s from %s\n",
                 std::string(response.status().message()).c_str(), request->admin.c_str());
    return 1;
  }
  if (response->status < 200 || response->status > 299) {
    std::fprintf(stderr, "ringpostctl: %s answered %d %s to %s %s\n", request->admin.c_str(),
                 response->status, ForTerminal(response->reason, false).c_str(),
                 request->method.c_str(), request->target.c_str());
    std::string body = request->json ? response->body : ForTerminal(response->body, true);
    if (!body.empty() && body.back() != '\n') body.push_back('\n');
    Print(stderr, body);
    return 1;
  }
  Print(stdout, RenderAnswer(*request, response->body));
  return std::fflush(stdout) == 0 ? 0 : 1;
}
