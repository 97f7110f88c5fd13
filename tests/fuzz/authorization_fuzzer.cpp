// The Authorization header value: ParseBasicCredentials (src/http/basic_auth.hpp) for
// client authentication, and the "Bearer " prefix split of Api::Authenticate
// (src/app/api.cpp, mirrored below: src/app does not build with clang 14) followed by the
// unverified JWT decode the token path starts with.
//
// Properties: Basic credentials come out with a non-empty, UTF-8 client_id and a UTF-8
// secret; Base64StdDecode accepts only canonical base64 (re-encoding gives the input back,
// as its contract says: "nullopt on anything non-canonical"); the Bearer token is a
// suffix of the header (no copy, no overrun).

#include "crypto/jws.hpp"
#include "fuzz_check.hpp"
#include "http/basic_auth.hpp"
#include "http/form.hpp"

#include <openssl/evp.h>

#include <string>

namespace {

std::string Base64StdEncode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// As in Api::Authenticate.
bool SplitBearer(std::string_view authz, std::string_view& token) {
  const bool bearer =
      authz.size() > 7 && (authz.substr(0, 7) == "Bearer " || authz.substr(0, 7) == "bearer ");
  if (bearer) token = authz.substr(7);
  return bearer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentidp;
  std::string_view header = fuzz::AsView(data, size);

  auto basic = http::ParseBasicCredentials(header);
  if (basic.ok()) {
    FUZZ_CHECK(!basic->first.empty());
    FUZZ_CHECK(http::IsValidUtf8(basic->first));
    FUZZ_CHECK(http::IsValidUtf8(basic->second));
  } else {
    FUZZ_CHECK(basic.error().code == "invalid_client");
  }

  // The base64 part alone, wherever the input came from.
  std::string_view b64 = header;
  if (b64.size() >= 6 && (b64.substr(0, 6) == "Basic " || b64.substr(0, 6) == "basic "))
    b64.remove_prefix(6);
  if (auto decoded = http::Base64StdDecode(b64)) {
    FUZZ_CHECK(Base64StdEncode(*decoded) == b64);
  }

  std::string_view token;
  if (SplitBearer(header, token)) {
    FUZZ_CHECK(token.data() == header.data() + 7 && token.size() == header.size() - 7);
    auto jwt = crypto::DecodeJwtUnverified(token);
    (void)jwt;
  }
  return 0;
}
