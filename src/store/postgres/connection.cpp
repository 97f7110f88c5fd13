#include "store/postgres/connection.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

namespace agentidp::store::postgres {

namespace {

// Features the schema relies on: identity columns, EXECUTE FUNCTION in triggers (11),
// tcp_user_timeout (12). Tested with 15.
constexpr int kMinServerVersion = 120000;

// The first line of a libpq message, without its trailing newline.
std::string FirstLine(const char* message) {
  if (message == nullptr) return {};
  std::string_view text(message);
  return std::string(text.substr(0, text.find('\n')));
}

bool IsConnectionLevel(const std::string& state) {
  // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now;
  // 25006: the server is (now) a read-only standby, e.g. after a failover.
  return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03" ||
         state == "25006";
}

}  // namespace

void ErrorLog::Record(std::string detail) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    last_ = detail;
  }
  if (sink_) sink_(detail);
}

std::string ErrorLog::Last() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_;
}

core::Error MapPgError(const PGresult* result, PGconn* conn, std::string_view context,
                       ErrorLog& log) {
  const char* sqlstate = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = sqlstate != nullptr ? sqlstate : "";
  const bool broken = conn == nullptr || PQstatus(conn) != CONNECTION_OK;

  std::string detail = "postgres: ";
  detail.append(context);
  detail += ": ";
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (primary != nullptr) {
    detail += primary;
  } else if (conn != nullptr) {
    detail += FirstLine(PQerrorMessage(conn));
  } else {
    detail += "no connection";
  }
  if (const char* constraint =
          result != nullptr ? PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME) : nullptr) {
    detail += " (constraint ";
    detail += constraint;
    detail += ")";
  }
  if (!state.empty()) detail += " [sqlstate=" + state + "]";
  if (broken) detail += " [connection lost]";
  log.Record(std::move(detail));

  if (state == "23505") return core::Error::Conflict("CONFLICT", "Resource already exists");
  if (IsConnectionLevel(state) || state.starts_with("53") || (state.empty() && broken)) {
    return core::Error::Unavailable("Store unavailable", 1);
  }
  // Serialization failure, deadlock, lock_timeout, statement_timeout: the row or lock was
  // held by another transaction for too long; trying again later is the right answer.
  if (state == "40001" || state == "40P01" || state == "55P03" || state == "57014") {
    return core::Error::Unavailable("Store busy", 1);
  }
  if (state == "22021") return core::Error::Validation("Text must be valid UTF-8");
  return core::Error::Internal("Store error");
}

// ---------------------------------------------------------------------------------------
// Rows

std::string Rows::Text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

int64_t Rows::Int64(int row, int column) const {
  const char* text = PQgetvalue(result_.get(), row, column);
  const int length = PQgetlength(result_.get(), row, column);
  int64_t value = 0;
  std::from_chars(text, text + length, value);
  return value;
}

std::optional<int64_t> Rows::OptionalInt64(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Int64(row, column);
}

bool Rows::Bool(int row, int column) const {
  return PQgetvalue(result_.get(), row, column)[0] == 't';
}

int64_t Rows::Affected() const {
  const char* text = PQcmdTuples(result_.get());
  int64_t value = 0;
  std::from_chars(text, text + std::char_traits<char>::length(text), value);
  return value;
}

// ---------------------------------------------------------------------------------------
// Connection

core::Result<std::unique_ptr<Connection>> Connection::Open(const ConnectionSettings& settings,
                                                           ErrorLog& log) {
  const std::string connect_timeout = std::to_string(settings.connect_timeout_s);
  // Keywords before "dbname" (which expands the URL) are defaults the URL may override; the
  // ones after it always win. Keepalives and tcp_user_timeout make a dead peer (a network
  // partition, a failed-over host) an error within ~25 s instead of a TCP retransmission
  // timeout of many minutes: libpq has no client-side statement timeout.
  const char* keywords[] = {"connect_timeout",     "application_name",
                            "keepalives",          "keepalives_idle",
                            "keepalives_interval", "keepalives_count",
                            "tcp_user_timeout",    "dbname",
                            "client_encoding",     nullptr};
  const char* values[] = {connect_timeout.c_str(),
                          settings.application_name.c_str(),
                          "1",
                          "10",
                          "5",
                          "3",
                          "25000",
                          settings.url.c_str(),
                          "UTF8",
                          nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    log.Record("postgres: connect: out of memory");
    return core::Error::Unavailable("Store unavailable", 1);
  }
  std::unique_ptr<Connection> connection(new Connection(conn, log));
  if (PQstatus(conn) != CONNECTION_OK) {
    log.Record("postgres: connect: " + FirstLine(PQerrorMessage(conn)));
    return core::Error::Unavailable("Store unavailable", 1);
  }
  PQsetNoticeReceiver(conn, &Connection::OnNotice, connection.get());

  if (PQserverVersion(conn) < kMinServerVersion) {
    log.Record("postgres: connect: server version " + std::to_string(PQserverVersion(conn)) +
               " is older than 12");
    return core::Error::Validation("PostgreSQL 12 or later is required");
  }
  const char* encoding = PQparameterStatus(conn, "server_encoding");
  if (encoding == nullptr || std::string_view(encoding) != "UTF8") {
    log.Record(std::string("postgres: connect: server_encoding is ") +
               (encoding != nullptr ? encoding : "unknown"));
    return core::Error::Validation("The PostgreSQL database must use UTF8 encoding");
  }

  // Session settings: a statement (or a wait for a lock) never outlives the timeout, and the
  // session never sits idle inside a transaction for long (a leaked lock on the audit chain would
  // stop every node's appends).
  TRY(connection->QueryOnce(
      "SELECT set_config('statement_timeout', $1, false), "
      "set_config('idle_in_transaction_session_timeout', $2, false)",
      std::vector<Param>{
          Param(std::to_string(settings.statement_timeout_ms)),
          Param(std::to_string(std::max(settings.statement_timeout_ms, 1000) * 6))}));
  return connection;
}

Connection::~Connection() {
  PQfinish(conn_);
}

core::Status Connection::CheckParams(std::span<const Param> params) {
  for (const auto& param : params) {
    if (param.HasEmbeddedNul()) {
      log_.Record("postgres: refused a parameter holding a NUL character");
      return core::Error::Validation("Text must not contain NUL characters");
    }
  }
  return core::Ok();
}

core::Result<Rows> Connection::Query(std::string_view sql, std::span<const Param> params) {
  TRY(CheckParams(params));
  auto it = statements_.find(std::string(sql));
  if (it == statements_.end()) {
    std::string name = "agentidp_" + std::to_string(statements_.size() + 1);
    std::string text(sql);
    PGresult* prepared =
        PQprepare(conn_, name.c_str(), text.c_str(), static_cast<int>(params.size()), nullptr);
    if (PQresultStatus(prepared) != PGRES_COMMAND_OK) {
      core::Error error = MakeError(prepared, "prepare");
      PQclear(prepared);
      return error;
    }
    PQclear(prepared);
    it = statements_.emplace(std::move(text), std::move(name)).first;
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  return Finish(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()),
                               values.data(), nullptr, nullptr, 0),
                "execute");
}

core::Result<Rows> Connection::QueryOnce(const std::string& sql, std::span<const Param> params) {
  TRY(CheckParams(params));
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  return Finish(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0),
                "execute");
}

core::Status Connection::Exec(const char* sql) {
  TRY(Finish(PQexec(conn_, sql), "exec"));
  return core::Ok();
}

core::Result<Rows> Connection::Finish(PGresult* result, std::string_view context) {
  const ExecStatusType status = PQresultStatus(result);
  if (result != nullptr && (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)) {
    return Rows(result);
  }
  core::Error error = MakeError(result, context);
  PQclear(result);
  return error;
}

bool Connection::Healthy() {
  if (discard_ || PQstatus(conn_) != CONNECTION_OK) return false;
  // Non-blocking (libpq's socket always is): reads and parses what arrived while idle. A
  // FATAL sent before the server closed the session reaches OnNotice; end of stream makes
  // PQconsumeInput fail.
  if (PQconsumeInput(conn_) == 0) return false;
  (void)PQisBusy(conn_);
  return !discard_ && PQstatus(conn_) == CONNECTION_OK &&
         PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

void Connection::OnNotice(void* self, const PGresult* notice) {
  // Server notices ("relation already exists, skipping") would go to stderr by default; they
  // are dropped. A FATAL the server sends on an idle session (libpq hands it over as a
  // notice) is its last word before it closes the session: 57P01 terminating connection due
  // to administrator command (restart, failover, pg_terminate_backend), idle timeouts.
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity != nullptr &&
      (std::string_view(severity) == "FATAL" || std::string_view(severity) == "PANIC")) {
    static_cast<Connection*>(self)->discard_ = true;
  }
}

core::Error Connection::MakeError(const PGresult* result, std::string_view context) {
  const char* sqlstate = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (sqlstate != nullptr && IsConnectionLevel(sqlstate)) discard_ = true;
  return MapPgError(result, conn_, context, log_);
}

}  // namespace agentidp::store::postgres
