#include "http/basic_auth.hpp"

#include "http/form.hpp"

#include <openssl/evp.h>

namespace agentidp::http {

std::optional<std::string> Base64StdDecode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 8192) return std::nullopt;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || (c == '=' && i >= in.size() - 2);
    if (!ok) return std::nullopt;
  }
  if (in[in.size() - 2] == '=' && in.back() != '=') return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = in.back() == '=' ? (in[in.size() - 2] == '=' ? 2 : 1) : 0;
  // The bits of the last character that fall beyond the data (4 with "==", 2 with "=") must
  // be zero (RFC 4648 §3.5): otherwise "YQ==" and "YR==" would both decode to "a".
  if (pad > 0) {
    char last = in[in.size() - 1 - pad];
    int v = last >= 'A' && last <= 'Z'   ? last - 'A'
            : last >= 'a' && last <= 'z' ? last - 'a' + 26
            : last >= '0' && last <= '9' ? last - '0' + 52
            : last == '+'                ? 62
                                         : 63;
    if ((v & (pad == 2 ? 0x0F : 0x03)) != 0) return std::nullopt;
  }
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

core::Result<std::pair<std::string, std::string>> ParseBasicCredentials(std::string_view header) {
  auto bad = core::Error::OAuth("invalid_client", "Malformed Basic credentials");
  if (header.size() < 6 || (header.substr(0, 6) != "Basic " && header.substr(0, 6) != "basic "))
    return bad;
  std::string_view b64 = header.substr(6);
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  auto decoded = Base64StdDecode(b64);
  if (!decoded) return bad;
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return bad;
  // client_id and secret are form-urlencoded before base64 (RFC 6749 §2.3.1).
  auto id = ParseFormUrlEncoded("a=" + decoded->substr(0, colon));
  auto secret = ParseFormUrlEncoded("a=" + decoded->substr(colon + 1));
  if (!id.ok() || !secret.ok() || id->size() != 1 || secret->size() != 1) return bad;
  if ((*id)[0].second.empty()) return bad;
  return std::make_pair(std::move((*id)[0].second), std::move((*secret)[0].second));
}

}  // namespace agentidp::http
