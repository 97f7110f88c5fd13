// ParseFormUrlEncoded and MediaType (src/http/form.hpp): token, introspection and
// revocation bodies, and the Content-Type that selects them.
//
// Properties: decoded names and values are UTF-8 (the contract callers rely on); the
// pair count never exceeds the number of '&'-separated pieces; re-encoding the result and
// parsing it again gives the same pairs (nothing lost, nothing invented); MediaType is
// lower case with no surrounding whitespace.

#include "form_codec.hpp"
#include "fuzz_check.hpp"
#include "http/form.hpp"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentidp::http;
  std::string_view in = agentidp::fuzz::AsView(data, size);

  std::string media = MediaType(in);
  FUZZ_CHECK(std::none_of(media.begin(), media.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
  FUZZ_CHECK(media.empty() || (media.front() != ' ' && media.back() != ' '));
  FUZZ_CHECK(media.find(';') == std::string::npos);

  auto params = ParseFormUrlEncoded(in);
  if (!params.ok()) {
    FUZZ_CHECK(params.error().code == "invalid_request");
    return 0;
  }
  FUZZ_CHECK(params->size() <= static_cast<size_t>(std::count(in.begin(), in.end(), '&')) + 1);
  for (const auto& [name, value] : *params) {
    FUZZ_CHECK(IsValidUtf8(name));
    FUZZ_CHECK(IsValidUtf8(value));
  }
  auto again = ParseFormUrlEncoded(agentidp::fuzz::FormEncode(*params));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *params);
  return 0;
}
