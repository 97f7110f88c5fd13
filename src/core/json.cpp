#include "core/json.hpp"

#include "core/swar.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace agentidp::core {
namespace {

namespace bj = boost::json;

enum class HandlerFailure { kNone, kDuplicateMember, kNumberOutOfRange };

// SAX handler that builds the DOM itself so that it sees every member name
// before it is inserted (boost::json::parser would silently drop duplicates).
class StrictHandler {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  bool on_document_begin(bj::error_code&) { return true; }
  bool on_document_end(bj::error_code&) { return true; }

  bool on_array_begin(bj::error_code&) {
    frames_.emplace_back(bj::array());
    pending_keys_.emplace_back();
    return true;
  }
  bool on_array_end(std::size_t, bj::error_code& ec) { return CloseFrame(ec); }

  bool on_object_begin(bj::error_code&) {
    frames_.emplace_back(bj::object());
    pending_keys_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, bj::error_code& ec) { return CloseFrame(ec); }

  bool on_string_part(bj::string_view s, std::size_t, bj::error_code&) {
    buffer_.append(s.data(), s.size());
    return true;
  }
  bool on_string(bj::string_view s, std::size_t, bj::error_code& ec) {
    buffer_.append(s.data(), s.size());
    bool ok = Emit(bj::value(bj::string_view(buffer_)), ec);
    buffer_.clear();
    return ok;
  }

  bool on_key_part(bj::string_view s, std::size_t, bj::error_code&) {
    buffer_.append(s.data(), s.size());
    return true;
  }
  bool on_key(bj::string_view s, std::size_t, bj::error_code& ec) {
    buffer_.append(s.data(), s.size());
    // Members are inserted when their value completes, so every earlier member of
    // this object (including nested ones) is already present here.
    if (frames_.back().as_object().contains(buffer_)) {
      failure_ = HandlerFailure::kDuplicateMember;
      failed_key_ = buffer_;
      buffer_.clear();
      ec = bj::error::test_failure;
      return false;
    }
    pending_keys_.back().swap(buffer_);
    buffer_.clear();
    return true;
  }

  bool on_number_part(bj::string_view, bj::error_code&) { return true; }
  bool on_int64(std::int64_t i, bj::string_view, bj::error_code& ec) {
    return Emit(bj::value(i), ec);
  }
  bool on_uint64(std::uint64_t u, bj::string_view, bj::error_code& ec) {
    return Emit(bj::value(u), ec);
  }
  bool on_double(double d, bj::string_view, bj::error_code& ec) {
    if (!std::isfinite(d)) {
      failure_ = HandlerFailure::kNumberOutOfRange;
      ec = bj::error::test_failure;
      return false;
    }
    return Emit(bj::value(d), ec);
  }
  bool on_bool(bool b, bj::error_code& ec) { return Emit(bj::value(b), ec); }
  bool on_null(bj::error_code& ec) { return Emit(bj::value(nullptr), ec); }
  bool on_comment_part(bj::string_view, bj::error_code&) { return true; }
  bool on_comment(bj::string_view, bj::error_code&) { return true; }

  HandlerFailure failure() const { return failure_; }
  const std::string& failed_key() const { return failed_key_; }
  bj::value TakeRoot() { return std::move(root_); }

 private:
  bool CloseFrame(bj::error_code& ec) {
    bj::value done = std::move(frames_.back());
    frames_.pop_back();
    pending_keys_.pop_back();
    return Emit(std::move(done), ec);
  }

  bool Emit(bj::value v, bj::error_code&) {
    if (frames_.empty()) {
      root_ = std::move(v);
      return true;
    }
    bj::value& top = frames_.back();
    if (top.is_array()) {
      top.get_array().push_back(std::move(v));
    } else {
      top.get_object().emplace(pending_keys_.back(), std::move(v));
    }
    return true;
  }

  std::vector<bj::value> frames_;          // open arrays and objects
  std::vector<std::string> pending_keys_;  // per frame: member awaiting its value
  std::string buffer_;                     // string or key being assembled
  bj::value root_;
  HandlerFailure failure_ = HandlerFailure::kNone;
  std::string failed_key_;
};

// Only used to word the error: Boost reports invalid UTF-8 as a plain syntax error.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string QuoteForMessage(std::string_view key) {
  // Echo at most a short, printable prefix of attacker-supplied names.
  static constexpr size_t kMaxEcho = 64;
  std::string out = "\"";
  for (size_t i = 0; i < key.size() && i < kMaxEcho; ++i) {
    char c = key[i];
    out.push_back((c >= 0x20 && c < 0x7F && c != '"' && c != '\\') ? c : '?');
  }
  if (key.size() > kMaxEcho) out += "...";
  out.push_back('"');
  return out;
}

}  // namespace

Result<boost::json::value> ParseJsonStrict(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_size) {
    return Error::Validation("JSON document exceeds " + std::to_string(limits.max_size) + " bytes");
  }
  bj::parse_options options;
  options.max_depth = limits.max_depth;
  options.allow_comments = false;
  options.allow_trailing_commas = false;
  options.allow_invalid_utf8 = false;

  bj::basic_parser<StrictHandler> parser(options);
  bj::error_code ec;
  size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && consumed != text.size()) ec = bj::error::extra_data;
  if (!ec) return parser.handler().TakeRoot();

  switch (parser.handler().failure()) {
    case HandlerFailure::kDuplicateMember:
      return Error::Validation("Duplicate JSON member " +
                               QuoteForMessage(parser.handler().failed_key()));
    case HandlerFailure::kNumberOutOfRange:
      return Error::Validation("JSON number out of range");
    case HandlerFailure::kNone:
      break;
  }
  if (ec == bj::error::too_deep) {
    return Error::Validation("JSON nesting exceeds depth " + std::to_string(limits.max_depth));
  }
  if (!IsValidUtf8(text)) return Error::Validation("Invalid UTF-8 in JSON");
  return Error::Validation("Malformed JSON body");
}

Result<boost::json::object> ParseJsonObjectStrict(std::string_view text, const JsonLimits& limits) {
  TRY_ASSIGN(boost::json::value v, ParseJsonStrict(text, limits));
  if (!v.is_object()) return Error::Validation("JSON body must be an object");
  return std::move(v.get_object());
}

std::string JsonSerialize(const boost::json::value& value) {
  return bj::serialize(value);
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the bytes not copied yet
  for (size_t i = swar::FindJsonSpecial(s); i < s.size(); i = swar::FindJsonSpecial(s, i + 1)) {
    const auto c = static_cast<unsigned char>(s[i]);
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default: {
        const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(escaped, sizeof escaped);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

namespace {
template <typename Int>
void AppendInt(std::string& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}
}  // namespace

JsonObjectWriter& JsonObjectWriter::String(std::string_view key, std::string_view value) {
  Key(key);
  AppendJsonString(out_, value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Int(std::string_view key, int64_t value) {
  Key(key);
  AppendInt(out_, value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Bool(std::string_view key, bool value) {
  Key(key);
  out_.append(value ? "true" : "false");
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Value(std::string_view key, const boost::json::value& value) {
  Key(key);
  switch (value.kind()) {
    case boost::json::kind::string: {
      const boost::json::string& str = value.get_string();
      AppendJsonString(out_, std::string_view(str.data(), str.size()));
      break;
    }
    case boost::json::kind::int64:
      AppendInt(out_, value.get_int64());
      break;
    case boost::json::kind::uint64:
      AppendInt(out_, value.get_uint64());
      break;
    case boost::json::kind::bool_:
      out_.append(value.get_bool() ? "true" : "false");
      break;
    case boost::json::kind::null:
      out_.append("null");
      break;
    default:  // arrays, objects, doubles: the serializer's own formatting
      out_.append(boost::json::serialize(value));
  }
  return *this;
}

}  // namespace agentidp::core
