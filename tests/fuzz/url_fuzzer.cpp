// URL parsing of attacker-controlled URLs: DPoP "htu" (NormalizeHtu, src/domain/oauth/dpop.hpp)
// and a private_key_jwt credential's "jwksUri" (ValidateJwksUri, client_keys.hpp).
//
// Properties: normalization is idempotent and yields an http(s) URL with a host, a path and
// no query, fragment or user information; a valid jwksUri is an https URL that also
// normalizes (so the guarded client and the verifier agree on what it names).

#include "domain/oauth/client_keys.hpp"
#include "domain/oauth/dpop.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentidp::domain;
  std::string_view url = agentidp::fuzz::AsView(data, size);

  if (auto htu = NormalizeHtu(url)) {
    FUZZ_CHECK(htu->rfind("http://", 0) == 0 || htu->rfind("https://", 0) == 0);
    FUZZ_CHECK(htu->find('?') == std::string::npos);
    FUZZ_CHECK(htu->find('#') == std::string::npos);
    const size_t authority = htu->find("://") + 3;
    const size_t path = htu->find('/', authority);
    FUZZ_CHECK(path != std::string::npos && path > authority);
    FUZZ_CHECK(htu->substr(authority, path - authority).find('@') == std::string::npos);
    auto again = NormalizeHtu(*htu);
    FUZZ_CHECK(again.has_value() && *again == *htu);
  }

  if (ValidateJwksUri(url).ok()) {
    FUZZ_CHECK(url.find('#') == std::string_view::npos);
    auto normalized = NormalizeHtu(url);
    FUZZ_CHECK(normalized.has_value() && normalized->rfind("https://", 0) == 0);
  }
  return 0;
}
