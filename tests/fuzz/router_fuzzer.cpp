// Router::Find (src/http/router.hpp) over the real route table: percent-decoding of
// path segments, {param} capture, literal-before-parameter backtracking, the 405 walk.
// The table is read from src/app/api.cpp at configure time (api_routes.inc, see
// CMakeLists.txt) because src/app itself does not compile with clang 14; one catch-all
// route ("/portal/{path*}", the shape router.hpp documents) is added so that branch is
// fuzzed too.
//
// Input: "METHOD /path" (no space: the whole input is a GET path).
// Properties: a match's literal segments equal the request's; it carries one decoded
// value per parameter, each non-empty, UTF-8, free of '/' and NUL (catch-all: free of NUL,
// ".", ".." and empty segments); a 405 lists sorted, distinct methods that do not include
// the request's (nor GET for HEAD), and the same path with a listed method matches.

#include "fuzz_check.hpp"
#include "http/form.hpp"
#include "http/router.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace {

struct RouteDef {
  const char* method;
  const char* pattern;
};

constexpr RouteDef kRoutes[] = {
#include "api_routes.inc"
    {"GET", "/portal/{path*}"},
};

const agentidp::http::Router<int>& TheRouter() {
  static const auto* router = [] {
    auto* r = new agentidp::http::Router<int>();
    int i = 0;
    for (const auto& def : kRoutes) r->Add(def.method, def.pattern, i++);
    return r;
  }();
  return *router;
}

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  agentidp::http::detail::SplitPath(path, out);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentidp::http;
  std::string_view in = agentidp::fuzz::AsView(data, size);
  std::string_view method = "GET", path = in;
  if (size_t sp = in.find(' '); sp != std::string_view::npos) {
    method = in.substr(0, sp);
    path = in.substr(sp + 1);
  }

  const auto& router = TheRouter();
  auto match = router.Find(method, path);
  if (match) {
    int index = *match.value;
    FUZZ_CHECK(index >= 0 && static_cast<size_t>(index) < std::size(kRoutes));
    const RouteDef& def = kRoutes[index];
    FUZZ_CHECK(match.pattern == def.pattern);
    FUZZ_CHECK(def.method == method || (method == "HEAD" && std::string_view(def.method) == "GET"));
    auto pattern_segments = Split(def.pattern);
    auto path_segments = Split(path);
    size_t params = 0;
    for (size_t i = 0; i < pattern_segments.size(); ++i) {
      std::string_view seg = pattern_segments[i];
      if (seg.front() != '{') {
        FUZZ_CHECK(i < path_segments.size() && path_segments[i] == seg);
        continue;
      }
      FUZZ_CHECK(params < match.params.size());
      const std::string& value = match.params[params++].second;
      FUZZ_CHECK(IsValidUtf8(value));
      FUZZ_CHECK(value.find('\0') == std::string::npos);
      if (seg.ends_with("*}")) {
        std::string rest = "/" + value;
        for (auto part : Split(rest)) FUZZ_CHECK(!part.empty() && part != "." && part != "..");
      } else {
        FUZZ_CHECK(!value.empty());
        FUZZ_CHECK(value.find('/') == std::string::npos);
      }
    }
    FUZZ_CHECK(params == match.params.size());
    return 0;
  }
  if (match.method_mismatch) {
    const auto& allowed = match.allowed_methods;
    FUZZ_CHECK(!allowed.empty());
    FUZZ_CHECK(std::is_sorted(allowed.begin(), allowed.end()));
    FUZZ_CHECK(std::adjacent_find(allowed.begin(), allowed.end()) == allowed.end());
    FUZZ_CHECK(std::find(allowed.begin(), allowed.end(), method) == allowed.end());
    for (const auto& m : allowed) FUZZ_CHECK(router.Find(m, path));
  }
  return 0;
}
