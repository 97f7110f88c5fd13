// ParseJsonStrict (src/core/json.hpp), then what consumes JSON objects from clients:
// ParseAgentInput (agent create and update bodies, src/domain/agents/agent_service.hpp)
// and PublicKey::FromJwk (client and DPoP keys, src/crypto/keys.hpp).
//
// Properties: the depth limit holds; every accepted document serializes to JSON that
// the strict parser accepts again (no duplicate members, valid UTF-8, finite numbers
// survive); a document within the limits is refused only by content, never by size;
// ParseAgentInput and FromJwk never crash on any object.

#include "core/json.hpp"
#include "crypto/keys.hpp"
#include "domain/agents/agent_service.hpp"
#include "fuzz_check.hpp"

#include <boost/json.hpp>

namespace {

size_t Depth(const boost::json::value& v) {
  if (v.is_array()) {
    size_t d = 0;
    for (const auto& e : v.get_array()) d = std::max(d, Depth(e));
    return d + 1;
  }
  if (v.is_object()) {
    size_t d = 0;
    for (const auto& m : v.get_object()) d = std::max(d, Depth(m.value()));
    return d + 1;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentidp;
  std::string_view in = fuzz::AsView(data, size);

  core::JsonLimits limits;
  auto parsed = core::ParseJsonStrict(in, limits);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.error().kind == core::Errc::kValidation);
    return 0;
  }
  FUZZ_CHECK(Depth(*parsed) <= limits.max_depth);

  std::string text = core::JsonSerialize(*parsed);
  auto again = core::ParseJsonStrict(text, limits);
  FUZZ_CHECK(again.ok());

  auto object = core::ParseJsonObjectStrict(in, limits);
  FUZZ_CHECK(object.ok() == parsed->is_object());
  if (!object.ok()) return 0;

  for (bool partial : {false, true}) {
    auto input = domain::ParseAgentInput(*object, partial);
    if (!input.ok()) FUZZ_CHECK(input.error().kind == core::Errc::kValidation);
  }
  auto key = crypto::PublicKey::FromJwk(*object);
  if (key.ok()) FUZZ_CHECK(!key->Thumbprint().empty());
  return 0;
}
