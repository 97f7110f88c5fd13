// ParseScopeString (src/domain/policy/policy.hpp): the `scope` parameter of token
// requests (RFC 6749 §3.3).
//
// Properties: only known scopes come out, never an empty one; an accepted string has no
// doubled, leading or trailing spaces; JoinScopes of the result parses back to the same set.

#include "domain/policy/policy.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentidp::domain;
  std::string_view in = agentidp::fuzz::AsView(data, size);
  auto scopes = ParseScopeString(in);
  if (!scopes.ok()) return 0;
  for (const auto& s : *scopes) {
    FUZZ_CHECK(!s.empty());
    FUZZ_CHECK(IsKnownScope(s));
  }
  FUZZ_CHECK(in.find("  ") == std::string_view::npos);
  FUZZ_CHECK(in.empty() || (in.front() != ' ' && in.back() != ' '));
  auto again = ParseScopeString(JoinScopes(*scopes));
  FUZZ_CHECK(again.ok() && *again == *scopes);
  return 0;
}
