#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace agentidp::store::sqlite {

struct SqliteOptions {
  // Pooled connections for reads; WAL lets them read while the single writer writes.
  size_t read_connections = 4;
  // How long a statement waits for another connection's (or process's) lock before the
  // store answers Unavailable.
  int busy_timeout_ms = 5000;
  // synchronous=FULL fsyncs the WAL on every commit: a success answered to a client survives
  // power loss and SIGKILL. NORMAL (false) survives SIGKILL only (tests, benchmarks).
  bool synchronous_full = true;
  // Receives the internal detail of every store failure (SQLite's message; may name tables,
  // never values). The composition root logs it; clients only ever see the generic message.
  std::function<void(const std::string&)> error_sink;
};

}  // namespace agentidp::store::sqlite
