// Base64UrlDecode and HexDecode (src/crypto/encoding.hpp): every JWS part goes through
// Base64UrlDecode before anything else looks at it.
//
// Properties: decoding never reads out of bounds; an accepted text is the one canonical
// encoding of what it decodes to (no malleability: Encode(Decode(t)) == t); any bytes
// round-trip through Encode then Decode.

#include "crypto/encoding.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentidp::crypto;
  std::string_view in = agentidp::fuzz::AsView(data, size);

  if (auto decoded = Base64UrlDecode(in)) {
    FUZZ_CHECK(Base64UrlEncode(*decoded) == in);
  }
  std::string encoded = Base64UrlEncode(in);
  FUZZ_CHECK(encoded.find('=') == std::string::npos);
  auto back = Base64UrlDecode(encoded);
  FUZZ_CHECK(back && *back == in);

  if (auto bytes = HexDecode(in)) {
    FUZZ_CHECK(bytes->size() * 2 == in.size());
    auto again = HexDecode(HexEncode(*bytes));
    FUZZ_CHECK(again && *again == *bytes);
  }
  auto hex = HexDecode(HexEncode(in));
  FUZZ_CHECK(hex && *hex == in);
  return 0;
}
