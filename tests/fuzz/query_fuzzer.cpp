// ParseQuery (src/http/form.hpp): the query string of every GET (list filters, paging).
// The server hands it the part after the first '?' of the request target.
//
// Properties: as for form bodies (UTF-8 out, round trip through a reference encoder), the
// error is a Validation error (400 with the API's error shape, not an OAuth one), and
// query and form parsing agree on what is well formed.

#include "form_codec.hpp"
#include "fuzz_check.hpp"
#include "http/form.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentidp::http;
  std::string_view target = agentidp::fuzz::AsView(data, size);
  // Inputs may be a whole request target ("/api/v1/agents?limit=5"): split like the server.
  std::string_view query = target;
  if (size_t q = target.find('?'); q != std::string_view::npos) query = target.substr(q + 1);

  auto params = ParseQuery(query);
  FUZZ_CHECK(params.ok() == ParseFormUrlEncoded(query).ok());
  if (!params.ok()) {
    FUZZ_CHECK(params.error().kind == agentidp::core::Errc::kValidation);
    return 0;
  }
  for (const auto& [name, value] : *params) {
    FUZZ_CHECK(IsValidUtf8(name));
    FUZZ_CHECK(IsValidUtf8(value));
  }
  auto again = ParseQuery(agentidp::fuzz::FormEncode(*params));
  FUZZ_CHECK(again.ok() && *again == *params);
  return 0;
}
