#pragma once

// Helpers for the PostgreSQL tests: the server named by AGENTIDP_TEST_PG_URL (set by
// scripts/with-postgres.sh), one fresh schema per test, a raw libpq session (as psql or
// another tool would open), and a loopback TCP proxy that can play "the server went away".

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace agentidp::contract {

// The base URL, or nullopt when no PostgreSQL server is configured for the tests.
inline std::optional<std::string> PgTestUrl() {
  const char* url = std::getenv("AGENTIDP_TEST_PG_URL");
  if (url == nullptr || *url == '\0') return std::nullopt;
  return std::string(url);
}

// Adds a libpq URI query parameter (a later one overrides the URL's own host, port, ...).
// `value` must already be percent-encoded where needed.
inline std::string WithUrlParam(const std::string& url, const std::string& key,
                                const std::string& value) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
}

// The URL with every session's search_path set to `schema`.
inline std::string UrlForSchema(const std::string& url, const std::string& schema) {
  return WithUrlParam(url, "options", "-csearch_path%3D" + schema);
}

inline std::string RandomName(const std::string& prefix) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(random()));
  return prefix + hex;
}

// A raw libpq session outside the store.
class RawPg {
 public:
  struct Outcome {
    bool ok = false;
    std::string sqlstate;
    std::string message;
    std::string value;  // first column of the first row, "<null>", or "<none>"
  };

  explicit RawPg(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  ~RawPg() { PQfinish(conn_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;

  Outcome Exec(const std::string& sql) {
    Outcome outcome;
    PGresult* result = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    outcome.ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) outcome.sqlstate = state;
    outcome.message = PQresultErrorMessage(result);
    if (status == PGRES_TUPLES_OK) {
      if (PQntuples(result) == 0) {
        outcome.value = "<none>";
      } else if (PQgetisnull(result, 0, 0)) {
        outcome.value = "<null>";
      } else {
        outcome.value = PQgetvalue(result, 0, 0);
      }
    }
    PQclear(result);
    return outcome;
  }
  // The server port this session is connected to.
  int port() const { return std::atoi(PQport(conn_)); }
  std::string Value(const std::string& sql) {
    Outcome outcome = Exec(sql);
    EXPECT_TRUE(outcome.ok) << sql << ": " << outcome.message;
    return outcome.value;
  }

 private:
  PGconn* conn_;
};

// A fresh, empty schema in the test database, dropped (with everything in it) on destruction.
// Creating a database per test costs ~1.5 s here (CREATE DATABASE writes the template through
// the WAL and syncs it); a schema costs milliseconds.
class PgSchema {
 public:
  explicit PgSchema(const std::string& base_url)
      : base_url_(base_url), name_(RandomName("agentidp_t_")) {
    RawPg admin(base_url_);
    EXPECT_TRUE(admin.Exec("CREATE SCHEMA " + name_).ok);
  }
  ~PgSchema() {
    RawPg admin(base_url_);
    auto dropped = admin.Exec("DROP SCHEMA " + name_ + " CASCADE");
    EXPECT_TRUE(dropped.ok) << dropped.message;
  }
  PgSchema(const PgSchema&) = delete;
  PgSchema& operator=(const PgSchema&) = delete;

  const std::string& name() const { return name_; }
  std::string url() const { return UrlForSchema(base_url_, name_); }
  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  std::string name_;
};

// The role the store runs as in the tests that must see row-level security at work: LOGIN,
// neither superuser nor BYPASSRLS (as the server should run in production; the tests' base
// URL is a superuser, whom PostgreSQL never subjects to row-level security). Created once per
// cluster, by whichever test gets there first.
inline constexpr const char* kAppRole = "agentidp_app_test";

inline void EnsureAppRole(const std::string& base_url) {
  RawPg admin(base_url);
  auto created = admin.Exec(std::string("DO $$ BEGIN CREATE ROLE ") + kAppRole +
                            " LOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object OR "
                            "unique_violation THEN NULL; END $$");
  EXPECT_TRUE(created.ok) << created.message;
}

// A schema owned by the application role (it runs the migrations there and owns the
// tables: FORCE ROW LEVEL SECURITY subjects it all the same), and the URL to connect as it.
class AppRoleSchema {
 public:
  explicit AppRoleSchema(const std::string& base_url) : schema_(base_url) {
    EnsureAppRole(base_url);
    RawPg admin(base_url);
    auto owned = admin.Exec("ALTER SCHEMA " + schema_.name() + " OWNER TO " + kAppRole);
    EXPECT_TRUE(owned.ok) << owned.message;
  }
  const std::string& name() const { return schema_.name(); }
  // As the application role.
  std::string url() const { return WithUrlParam(schema_.url(), "user", kAppRole); }
  // As the superuser of the base URL (bypasses row-level security).
  std::string admin_url() const { return schema_.url(); }

 private:
  PgSchema schema_;
};

// A loopback TCP forwarder in front of the PostgreSQL server. Stop() closes the listening
// port and every forwarded connection (as a server crash or restart does); Start() listens
// again on the same port. Lets one test take "its" server away without touching the server
// other tests (possibly running in parallel) use.
class TcpProxy {
 public:
  explicit TcpProxy(int target_port) : target_port_(target_port) {}
  ~TcpProxy() { Stop(); }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // Listens on 127.0.0.1 (the same port as before after a Stop). Returns false on failure.
  bool Start() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0) return false;
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address = Loopback(port_);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 64) != 0) {
      ::close(listener_);
      listener_ = -1;
      return false;
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    if (::pipe2(wake_.data(), O_CLOEXEC) != 0) return false;
    thread_ = std::thread([this] { Serve(); });
    return true;
  }

  void Stop() {
    if (!thread_.joinable()) return;
    char byte = 1;
    (void)!::write(wake_[1], &byte, 1);
    thread_.join();
    ::close(wake_[0]);
    ::close(wake_[1]);
    ::close(listener_);
    listener_ = -1;
  }

  // The next time a client sends bytes containing `needle`, they reach the server, but the
  // connection is cut as soon as the server answers, before the answer reaches the client:
  // the server did the work, the client never learns it (e.g. a COMMIT whose reply is lost).
  void CutAfterTheAnswerTo(std::string needle) {
    std::lock_guard<std::mutex> lock(mutex_);
    needle_ = std::move(needle);
  }

  int port() const { return port_; }

 private:
  static constexpr int kOne = 1;

  struct Pair {
    int client;
    int server;
    bool cut_at_answer = false;
  };

  static sockaddr_in Loopback(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
  }

  void Serve() {
    std::vector<Pair> pairs;
    auto close_pair = [&](size_t i) {
      ::close(pairs[i].client);
      ::close(pairs[i].server);
      pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
    };
    while (true) {
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
      for (const auto& pair : pairs) {
        fds.push_back({pair.client, POLLIN, 0});
        fds.push_back({pair.server, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) break;
      if (fds[1].revents & POLLIN) {
        int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in target = Loopback(target_port_);
        if (client >= 0 && server >= 0 &&
            ::connect(server, reinterpret_cast<sockaddr*>(&target), sizeof target) == 0) {
          // As libpq and the server do: no Nagle delay on small protocol messages.
          ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &kOne, sizeof kOne);
          ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &kOne, sizeof kOne);
          pairs.push_back(Pair{client, server});
        } else {
          if (client >= 0) ::close(client);
          if (server >= 0) ::close(server);
        }
        continue;  // fds no longer matches pairs
      }
      for (size_t i = pairs.size(); i-- > 0;) {
        Pair& pair = pairs[i];
        bool open = true;
        if (fds[2 + 2 * i].revents != 0) open = FromClient(pair);
        if (open && fds[3 + 2 * i].revents != 0) {
          open = !pair.cut_at_answer && Pump(pair.server, pair.client, nullptr);
        }
        if (!open) close_pair(i);
      }
    }
    while (!pairs.empty()) close_pair(pairs.size() - 1);
  }

  bool FromClient(Pair& pair) {
    std::string seen;
    if (!Pump(pair.client, pair.server, &seen)) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (!needle_.empty() && seen.find(needle_) != std::string::npos) {
      pair.cut_at_answer = true;
      needle_.clear();
    }
    return true;
  }

  // Copies what is readable on `from` to `to` (and into `seen`); false when a side is closed.
  static bool Pump(int from, int to, std::string* seen) {
    char buffer[65536];
    ssize_t n = ::read(from, buffer, sizeof buffer);
    if (n <= 0) return false;
    if (seen != nullptr) seen->assign(buffer, static_cast<size_t>(n));
    for (ssize_t sent = 0; sent < n;) {
      ssize_t m = ::send(to, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
      if (m <= 0) return false;
      sent += m;
    }
    return true;
  }

  int target_port_;
  int port_ = 0;
  int listener_ = -1;
  std::array<int, 2> wake_{-1, -1};
  std::thread thread_;
  std::mutex mutex_;
  std::string needle_;
};

}  // namespace agentidp::contract
