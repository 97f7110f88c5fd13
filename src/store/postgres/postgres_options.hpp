#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace agentidp::store::postgres {

struct PostgresOptions {
  // Upper bound of open connections per store (per node). Connections open lazily, on demand.
  size_t pool_size = 8;
  // libpq connect_timeout, unless the URL sets its own.
  int connect_timeout_s = 5;
  // How long a call waits for a free pooled connection before answering Unavailable.
  int acquire_timeout_ms = 5000;
  // Server-side statement_timeout of every pooled connection: a statement (including its wait
  // for a row lock such as the audit chain's) that runs longer is cancelled -> Unavailable.
  int statement_timeout_ms = 5000;
  // After a failed connection attempt, calls that would need a new connection fail fast
  // (Unavailable) for this long instead of each waiting up to connect_timeout_s again.
  int reconnect_backoff_ms = 500;
  // Shown in pg_stat_activity, unless the URL sets application_name.
  std::string application_name = "agentidp";
  // Receives the internal detail of every store failure (PostgreSQL's primary message,
  // SQLSTATE and constraint; never parameter values nor the password). The composition root
  // logs it; clients only ever see the generic message.
  std::function<void(const std::string&)> error_sink;
};

}  // namespace agentidp::store::postgres
