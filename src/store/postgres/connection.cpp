#include "store/postgres/connection.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
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
  // Row-level security refused a row (WITH CHECK): the call's tenant scope does not cover the
  // organization it tried to write. The domain checks tenancy first; this is the second line.
  if (state == "42501" && primary != nullptr &&
      std::string_view(primary).find("row-level security") != std::string_view::npos) {
    return core::Error::Forbidden("cross_tenant", "Not permitted for this organization");
  }
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

core::Result<std::string> Connection::Prepared(std::string_view sql, int param_count) {
  auto it = statements_.find(std::string(sql));
  if (it == statements_.end()) {
    std::string name = "agentidp_" + std::to_string(statements_.size() + 1);
    std::string text(sql);
    PGresult* prepared = PQprepare(conn_, name.c_str(), text.c_str(), param_count, nullptr);
    if (PQresultStatus(prepared) != PGRES_COMMAND_OK) {
      core::Error error = MakeError(prepared, "prepare");
      PQclear(prepared);
      return error;
    }
    PQclear(prepared);
    it = statements_.emplace(std::move(text), std::move(name)).first;
  }
  return it->second;
}

core::Result<Rows> Connection::Query(std::string_view sql, std::span<const Param> params) {
  TRY(CheckParams(params));
  TRY_ASSIGN(std::string name, Prepared(sql, static_cast<int>(params.size())));
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  if (scoped()) {
    return Pipelined(
        [&] {
          return PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(values.size()),
                                     values.data(), nullptr, nullptr, 0);
        },
        "execute");
  }
  return Finish(PQexecPrepared(conn_, name.c_str(), static_cast<int>(values.size()), values.data(),
                               nullptr, nullptr, 0),
                "execute");
}

core::Result<Rows> Connection::QueryOnce(const std::string& sql, std::span<const Param> params) {
  TRY(CheckParams(params));
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  if (scoped()) {
    return Pipelined(
        [&] {
          return PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                   values.data(), nullptr, nullptr, 0);
        },
        "execute");
  }
  return Finish(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0),
                "execute");
}

void Connection::BindScope(std::string organizations, bool system) {
  scope_bound_ = true;
  scope_organizations_ = std::move(organizations);
  scope_system_ = system ? "on" : "";
}

void Connection::UnbindScope() {
  scope_bound_ = false;
  scope_organizations_.clear();
  scope_system_.clear();
}

core::Status Connection::Begin(const char* begin_sql) {
  if (!scope_bound_) return Exec(begin_sql);
  TRY(Pipelined(
      [&] { return PQsendQueryParams(conn_, begin_sql, 0, nullptr, nullptr, nullptr, nullptr, 0); },
      "begin", Order::kStatementFirst));
  if (PQtransactionStatus(conn_) != PQTRANS_INTRANS) {
    log_.Record("postgres: begin: no transaction is open after BEGIN");
    discard_ = true;
    return core::Error::Internal("Store error");
  }
  return core::Ok();
}

core::Result<Rows> Connection::Pipelined(const std::function<int()>& send, std::string_view context,
                                         Order order) {
  // Transaction-local (is_local => true): the implicit transaction of the pipeline, or the
  // explicit one a pipelined BEGIN opened, ends it. Both settings are always written, so a
  // statement never inherits anything.
  static constexpr std::string_view kSetScope =
      "SELECT set_config('agentidp.organization_id', $1, true), "
      "set_config('agentidp.system', $2, true)";
  TRY_ASSIGN(std::string scope_statement, Prepared(kSetScope, 2));
  const char* scope_values[] = {scope_organizations_.c_str(), scope_system_.c_str()};

  // A pipeline left half-read would desynchronise the connection: anything unexpected from
  // here on marks it for the pool to drop.
  if (PQenterPipelineMode(conn_) != 1) {
    discard_ = true;
    return MakeError(nullptr, "pipeline");
  }
  // set_config, the statement, Sync. A BEGIN goes first instead, so that the setting is
  // made inside the explicit transaction it opens and lasts until its end.
  const bool is_begin = order == Order::kStatementFirst;
  int sent = 1;
  if (is_begin) sent = send();
  if (sent == 1) {
    sent =
        PQsendQueryPrepared(conn_, scope_statement.c_str(), 2, scope_values, nullptr, nullptr, 0);
  }
  if (sent == 1 && !is_begin) sent = send();
  if (sent == 1) sent = PQpipelineSync(conn_);
  if (sent != 1) {
    discard_ = true;
    core::Error error = MakeError(nullptr, context);
    (void)PQexitPipelineMode(conn_);
    return error;
  }

  // Two statements, each: its result(s), then NULL; then the Sync's PGRES_PIPELINE_SYNC.
  // Both must succeed; the statement's own result is returned.
  PGresult* results[2] = {nullptr, nullptr};
  bool broken = false;
  for (int statement = 0; statement < 2 && !broken; ++statement) {
    while (PGresult* result = PQgetResult(conn_)) {
      if (results[statement] == nullptr) {
        results[statement] = result;
      } else {
        PQclear(result);
      }
    }
    if (results[statement] == nullptr) broken = true;
  }
  if (!broken) {
    PGresult* sync = PQgetResult(conn_);
    broken = sync == nullptr || PQresultStatus(sync) != PGRES_PIPELINE_SYNC;
    PQclear(sync);
  }
  if (broken || PQexitPipelineMode(conn_) != 1) discard_ = true;

  // The first failure tells what went wrong (a statement after a failed one reports only
  // PGRES_PIPELINE_ABORTED).
  auto succeeded = [](const PGresult* result) {
    const ExecStatusType status = PQresultStatus(result);
    return result != nullptr && (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK);
  };
  int failed = -1;
  for (int i = 0; i < 2; ++i) {
    if (!succeeded(results[i])) {
      failed = i;
      break;
    }
  }
  if (failed >= 0 || discard_) {
    core::Error error = MakeError(failed >= 0 ? results[failed] : nullptr, context);
    PQclear(results[0]);
    PQclear(results[1]);
    if (failed < 0) return core::Error::Unavailable("Store unavailable", 1);
    return error;
  }
  PQclear(results[is_begin ? 1 : 0]);
  return Rows(results[is_begin ? 0 : 1]);
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
