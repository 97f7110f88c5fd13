#include "http/forwarded.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace agentidp::http {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parses an address into its 128-bit form (IPv4 mapped into ::ffff:0:0/96).
bool ParseAddress(std::string_view text, std::array<uint8_t, 16>& out, bool& v4) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr a4{};
  if (inet_pton(AF_INET, buf, &a4) == 1) {
    out.fill(0);
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &a4, 4);
    v4 = true;
    return true;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, buf, &a6) == 1) {
    std::memcpy(out.data(), &a6, 16);
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    v4 = std::memcmp(out.data(), kMapped, 12) == 0;
    return true;
  }
  return false;
}

std::string Format(const std::array<uint8_t, 16>& a, bool v4) {
  char buf[INET6_ADDRSTRLEN];
  const char* s = v4 ? inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf)
                     : inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  return s ? std::string(s) : std::string();
}

bool InRange(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& base, int prefix) {
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a.data(), base.data(), static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (base[full] & mask);
}

}  // namespace

std::optional<std::string> CanonicalAddress(std::string_view text) {
  std::array<uint8_t, 16> a{};
  bool v4 = false;
  if (!ParseAddress(text, a, v4)) return std::nullopt;
  return Format(a, v4);
}

core::Result<TrustedProxies> TrustedProxies::Parse(std::string_view list) {
  TrustedProxies out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = Trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item.empty()) continue;
    auto bad = [&] {
      return core::Error::Validation("\"" + std::string(item) +
                                     "\" is not an IP address or CIDR range");
    };
    std::string_view addr = item, len;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      addr = item.substr(0, slash);
      len = item.substr(slash + 1);
    }
    Range r;
    bool v4 = false;
    if (!ParseAddress(addr, r.address, v4)) return bad();
    const int max = v4 ? 32 : 128;
    int bits = max;
    if (!len.empty() || item.find('/') != std::string_view::npos) {
      auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
      if (ec != std::errc() || p != len.data() + len.size() || bits < 0 || bits > max) return bad();
    }
    r.prefix = v4 ? bits + 96 : bits;
    // Host bits set below the prefix ("10.1.2.3/8") are almost always a typo for another
    // range: refuse rather than silently trust something else.
    std::array<uint8_t, 16> masked = r.address;
    for (int i = r.prefix; i < 128; ++i)
      masked[static_cast<size_t>(i / 8)] &= static_cast<uint8_t>(~(0x80 >> (i % 8)));
    if (masked != r.address)
      return core::Error::Validation("\"" + std::string(item) +
                                     "\" has host bits set below its prefix length");
    out.ranges_.push_back(r);
  }
  return out;
}

bool TrustedProxies::Contains(std::string_view address) const {
  std::array<uint8_t, 16> a{};
  bool v4 = false;
  if (!ParseAddress(address, a, v4)) return false;
  for (const auto& r : ranges_)
    if (InRange(a, r.address, r.prefix)) return true;
  return false;
}

std::string TrustedProxies::ClientAddress(
    std::string_view peer, const std::vector<std::string_view>& forwarded_for) const {
  std::string client(peer);
  if (ranges_.empty() || forwarded_for.empty() || !Contains(peer)) return client;
  size_t looked = 0;
  // Right to left: the last header's last entry was added by the proxy nearest to us.
  for (auto h = forwarded_for.rbegin(); h != forwarded_for.rend(); ++h) {
    std::string_view rest = *h;
    while (!rest.empty()) {
      size_t comma = rest.rfind(',');
      std::string_view entry =
          Trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
      if (++looked > kMaxHops) return client;
      auto canonical = CanonicalAddress(entry);
      if (!canonical) return client;  // "unknown", a port, garbage: trust ends here
      client = std::move(*canonical);
      if (!Contains(client)) return client;
    }
  }
  return client;
}

}  // namespace agentidp::http
