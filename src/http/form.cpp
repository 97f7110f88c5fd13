#include "http/form.hpp"

#include "core/swar.hpp"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>

#include <optional>

namespace agentidp::http {

namespace {

// Percent-decodes one name or value with '+' as space; nullopt on a malformed escape
// or when the result is not UTF-8.
std::optional<std::string> DecodeComponent(std::string_view encoded) {
  // Common case (grant types, tokens, ids): plain ASCII with nothing to decode.
  if (!core::swar::HasFormSpecial(encoded)) return std::string(encoded);
  auto pct = boost::urls::make_pct_string_view(encoded);
  if (!pct) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  std::string decoded = pct->decode(opts);
  if (!IsValidUtf8(decoded)) return std::nullopt;
  return decoded;
}

enum class Failure { kNone, kEscape };

Failure Parse(std::string_view input, FormParams& out) {
  size_t pos = 0;
  while (pos <= input.size()) {
    size_t amp = input.find('&', pos);
    if (amp == std::string_view::npos) amp = input.size();
    std::string_view pair = input.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view raw_name = pair.substr(0, eq);
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto name = DecodeComponent(raw_name);
    auto value = DecodeComponent(raw_value);
    if (!name || !value) return Failure::kEscape;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return Failure::kNone;
}

}  // namespace

core::Result<FormParams> ParseFormUrlEncoded(std::string_view body) {
  FormParams out;
  if (Parse(body, out) != Failure::kNone)
    return core::Error::OAuth("invalid_request",
                              "Malformed form body: invalid percent-encoding or UTF-8");
  return out;
}

core::Result<FormParams> ParseQuery(std::string_view query) {
  FormParams out;
  if (Parse(query, out) != Failure::kNone)
    return core::Error::Validation("Malformed query string: invalid percent-encoding or UTF-8");
  return out;
}

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;  // continuation byte, C0/C1 overlong lead, or F5..FF
    }
    if (static_cast<size_t>(end - p) < len) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i < len; ++i)
      if ((p[i] & 0xC0) != 0x80) return false;
    p += len;
  }
  return true;
}

std::string MediaType(std::string_view content_type) {
  size_t semi = content_type.find(';');
  std::string_view type = content_type.substr(0, semi);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  std::string out(type);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace agentidp::http
