#pragma once

// A deliberately dumb blocking HTTP/1.1 client over POSIX sockets, for server tests:
// it sends exactly the bytes it is given and parses responses itself, so tests can send
// malformed or oversized requests.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentidp::http::test_support {

struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
  bool HasHeader(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return true;
    return false;
  }
};

class RawClient {
 public:
  // Connects to 127.0.0.1:port. Reads give up after `timeout_ms` so a broken server
  // fails the test instead of hanging it.
  explicit RawClient(uint16_t port, int timeout_ms = 5000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool Connected() const { return connected_; }
  int Fd() const { return fd_; }

  // False if the peer closed or reset the connection before everything was sent.
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One response; interim 1xx responses are collected in `interim` and skipped.
  // nullopt on timeout, EOF or a reset before a complete response.
  std::optional<RawResponse> Read(bool head_request = false) {
    for (;;) {
      size_t end;
      while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
        if (!Fill()) return std::nullopt;
      RawResponse r;
      std::string_view head(buf_.data(), end);
      size_t line_end = head.find("\r\n");
      std::string_view status_line = head.substr(0, line_end);
      if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) return std::nullopt;
      r.status = std::stoi(std::string(status_line.substr(9, 3)));
      std::string_view rest =
          line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
      while (!rest.empty()) {
        size_t eol = rest.find("\r\n");
        std::string_view line = rest.substr(0, eol);
        size_t colon = line.find(':');
        std::string name(line.substr(0, colon));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        r.headers.emplace_back(std::move(name), std::string(value));
        if (eol == std::string_view::npos) break;
        rest.remove_prefix(eol + 2);
      }
      buf_.erase(0, end + 4);
      if (r.status >= 100 && r.status < 200) {
        interim.push_back(r.status);
        continue;
      }
      if (head_request || r.status == 204 || r.status == 304) return r;
      std::string length = r.Header("content-length");
      if (!length.empty()) {
        size_t n = std::stoul(length);
        while (buf_.size() < n)
          if (!Fill()) return std::nullopt;
        r.body = buf_.substr(0, n);
        buf_.erase(0, n);
      } else {
        while (Fill()) {
        }
        r.body = std::move(buf_);
        buf_.clear();
      }
      return r;
    }
  }

  // True when the server closes the connection (EOF or reset) within the timeout.
  bool WaitClosed() {
    char tmp[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

  std::vector<int> interim;

 private:
  bool Fill() {
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

inline std::string Get(std::string_view target, std::string_view extra_headers = {}) {
  std::string s = "GET ";
  s += target;
  s += " HTTP/1.1\r\nHost: localhost\r\n";
  s += extra_headers;
  s += "\r\n";
  return s;
}

inline std::string Post(std::string_view target, std::string_view body,
                        std::string_view extra_headers = {}) {
  std::string s = "POST ";
  s += target;
  s += " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ";
  s += std::to_string(body.size());
  s += "\r\n";
  s += extra_headers;
  s += "\r\n";
  s += body;
  return s;
}

}  // namespace agentidp::http::test_support
