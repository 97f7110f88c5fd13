#include "store/common/rows.hpp"
#include "store/sqlite/query.hpp"
#include "store/sqlite/stores.hpp"

#include <array>

namespace agentidp::store::sqlite {

namespace {

// The chain head: the newest event's hash, else the retention anchor ('' if never purged).
constexpr std::string_view kSelectHead = R"sql(
SELECT COALESCE((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1),
                (SELECT anchor_hash FROM audit_anchor WHERE id = 1),
                ''))sql";

// A batch is inserted with multi-row INSERTs: one statement per batch of up to kSmallBatch
// events, else statements of 64 and 32 rows and one for the rest (a batch of 100 is one
// INSERT of 64 rows, one of 32 and one of 4), so SQLite compiles, journals and updates
// sqlite_sequence once per statement instead of once per event. Each shape's statement is
// prepared once and cached on the writer connection (~1 KB per row of the shape).
constexpr size_t kColumnsPerRow = 11;
constexpr size_t kSmallBatch = 16;  // statements of exactly 1..16 rows
constexpr size_t kLargeChunk = 64;  // and of 32 and 64 rows

// The cached statement text for `rows` rows (1..kSmallBatch, 32 or 64).
const std::string& InsertSql(size_t rows) {
  static const auto kSql = [] {
    std::array<std::string, kLargeChunk + 1> sql;
    for (size_t n = 1; n <= kLargeChunk; ++n) {
      if (n > kSmallBatch && n != 32 && n != kLargeChunk) continue;
      std::string& text = sql[n];
      text =
          "INSERT INTO audit_events (event_id, agent_id, organization_id, action, outcome, "
          "timestamp, ip_address, user_agent, metadata, hash, previous_hash) VALUES ";
      for (size_t row = 0; row < n; ++row)
        text += row == 0 ? "(?,?,?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?,?,?)";
    }
    return sql;
  }();
  return kSql[rows];
}

// Rows of the next INSERT for `remaining` events.
size_t ChunkRows(size_t remaining) {
  if (remaining <= kSmallBatch) return remaining;
  return remaining >= kLargeChunk ? kLargeChunk : 32 <= remaining ? 32 : kSmallBatch;
}

constexpr std::string_view kSelectById = R"sql(
SELECT seq, event_id, agent_id, organization_id, action, outcome, timestamp, ip_address,
       user_agent, metadata, hash, previous_hash
FROM audit_events WHERE event_id = ?1)sql";

// Scan reads the chain in chunks so that no reader connection (nor its snapshot) is held
// while the visitor runs, however slow the visitor and however long the chain.
constexpr int64_t kScanChunk = 512;
constexpr std::string_view kScanChunkSql = R"sql(
SELECT seq, event_id, agent_id, organization_id, action, outcome, timestamp, ip_address,
       user_agent, metadata, hash, previous_hash
FROM audit_events
WHERE seq > ?1 AND (?2 IS NULL OR timestamp >= ?2) AND (?3 IS NULL OR timestamp <= ?3)
ORDER BY seq LIMIT ?4)sql";

constexpr std::string_view kSelectAnchor = "SELECT anchor_hash FROM audit_anchor WHERE id = 1";

// Retention. The purge removes the longest chain PREFIX whose events are all older than the
// horizon, so the surviving events stay one contiguous chain even if clock skew between
// writers left an older timestamp after a newer one.
constexpr std::string_view kSelectChainFromStart =
    "SELECT seq, hash, timestamp FROM audit_events ORDER BY seq";
constexpr std::string_view kOpenPurgeWindow =
    "UPDATE audit_control SET purge_before = ?1 WHERE id = 1";
constexpr std::string_view kDeletePrefix = "DELETE FROM audit_events WHERE seq <= ?1";
constexpr std::string_view kMoveAnchor = R"sql(
UPDATE audit_anchor SET anchor_hash = ?1, anchor_seq = ?2, purged_before = ?3,
  updated_at = CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)
WHERE id = 1)sql";
constexpr std::string_view kClosePurgeWindow =
    "UPDATE audit_control SET purge_before = NULL WHERE id = 1";

core::Result<std::string> ReadSingleText(Connection& connection, std::string_view sql) {
  TRY_ASSIGN(auto select, connection.Prepare(sql));
  TRY_ASSIGN(bool has_row, select.Step());
  if (!has_row) return core::Error::Internal("Store error");
  return select.Text(0);
}

}  // namespace

namespace {

// Chains `events` to `head` with `hasher`.
void ChainTo(std::string head, std::vector<domain::AuditEvent>& events,
             const domain::AuditStore::Hasher& hasher) {
  for (auto& event : events) {
    event.previous_hash = std::move(head);
    event.hash = hasher(event);
    head = event.hash;
  }
}

// INSERTs events[first, first + rows) in one statement (bound without copies: `events` is
// not touched until it ran) and assigns their seq.
core::Status InsertRows(Connection& connection, std::vector<domain::AuditEvent>& events,
                        size_t first, size_t rows) {
  TRY_ASSIGN(auto insert, connection.Prepare(InsertSql(rows)));
  for (size_t row = 0; row < rows; ++row) {
    const domain::AuditEvent& event = events[first + row];
    const int base = static_cast<int>(row * kColumnsPerRow);
    insert.BindStatic(base + 1, event.event_id);
    insert.BindStatic(base + 2, event.agent_id);
    insert.BindStatic(base + 3, event.organization_id);
    insert.BindStatic(base + 4, event.action);
    insert.BindStatic(base + 5, event.outcome);
    insert.Bind(base + 6, event.timestamp);
    insert.BindStatic(base + 7, event.ip_address);
    insert.BindStatic(base + 8, event.user_agent);
    insert.BindStatic(base + 9, event.metadata_json);
    insert.BindStatic(base + 10, event.hash);
    insert.BindStatic(base + 11, event.previous_hash);
  }
  TRY(insert.Run());
  // AUTOINCREMENT gives the rows of one INSERT consecutive positions (each new seq is one
  // more than the largest ever used, and this connection holds the write lock).
  const int64_t last_seq = connection.LastInsertRowid();
  for (size_t row = 0; row < rows; ++row)
    events[first + row].seq = last_seq - static_cast<int64_t>(rows - 1 - row);
  return core::Ok();
}

}  // namespace

core::Status AuditStore::AppendBatch(std::vector<domain::AuditEvent>& events,
                                     const Hasher& hasher) {
  if (events.empty()) return core::Ok();
  core::Status appended = core::Ok();
  bool done = false;
  // Fast path for a batch that fits one statement: that statement on its own is a
  // transaction (atomic, and durable when it returns: synchronous=FULL syncs the WAL at its
  // commit), so it needs no BEGIN/COMMIT and no statement journal. The head is read just
  // before it, under the same writer lock; if another process appended in between, the
  // chain trigger refuses the INSERT (nothing is written) and the batch goes the
  // transactional way below, which reads the head inside its transaction. A busy store or
  // a duplicate event id would fail there the same way: those are answered at once.
  if (events.size() <= kSmallBatch) {
    appended = database_.Write([&](Connection& connection) -> core::Status {
      if (connection.InTransaction()) return core::Error::Internal("Store error");
      TRY_ASSIGN(std::string head, ReadSingleText(connection, kSelectHead));
      ChainTo(std::move(head), events, hasher);
      return InsertRows(connection, events, 0, events.size());
    });
    done = appended.ok() || appended.error().kind != core::Errc::kInternal;
  }
  if (!done) {
    appended = database_.WriteTransaction([&](Connection& connection) -> core::Status {
      TRY_ASSIGN(std::string head, ReadSingleText(connection, kSelectHead));
      ChainTo(std::move(head), events, hasher);
      for (size_t next = 0; next < events.size();) {
        const size_t rows = ChunkRows(events.size() - next);
        TRY(InsertRows(connection, events, next, rows));
        next += rows;
      }
      return core::Ok();
    });
  }
  if (!appended.ok()) {
    // Nothing was written: do not let the caller see chain positions that do not exist.
    for (auto& event : events) {
      event.seq = 0;
      event.hash.clear();
      event.previous_hash.clear();
    }
  }
  return appended;
}

core::Result<std::optional<domain::AuditEvent>> AuditStore::Get(
    const domain::TenantScope& /*scope*/, const std::string& event_id) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::optional<domain::AuditEvent>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectById));
        select.BindAll(event_id);
        TRY_ASSIGN(bool found, select.Step());
        if (!found) return std::optional<domain::AuditEvent>();
        return std::optional<domain::AuditEvent>(common::ReadAuditEvent(select));
      });
}

core::Result<domain::PageOf<domain::AuditEvent>> AuditStore::List(
    const domain::TenantScope& /*scope*/, const domain::AuditFilter& filter,
    const domain::Page& page) {
  WhereClause where;
  common::AddAuditFilters(where, filter);
  return ListPage<domain::AuditEvent>(database_, "audit_events", common::kAuditColumns,
                                      common::kAuditNewestFirst, where, page,
                                      [](Statement& row) -> core::Result<domain::AuditEvent> {
                                        return common::ReadAuditEvent(row);
                                      });
}

core::Status AuditStore::Scan(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms,
                              const std::function<bool(const domain::AuditEvent&)>& visit) {
  int64_t after_seq = 0;
  std::vector<domain::AuditEvent> chunk;
  chunk.reserve(kScanChunk);
  while (true) {
    chunk.clear();
    TRY(database_.Read([&](Connection& connection) -> core::Status {
      TRY_ASSIGN(auto select, connection.Prepare(kScanChunkSql));
      select.BindAll(after_seq, from_ms, to_ms, kScanChunk);
      while (true) {
        TRY_ASSIGN(bool has_row, select.Step());
        if (!has_row) return core::Ok();
        chunk.push_back(common::ReadAuditEvent(select));
      }
    }));
    for (const auto& event : chunk) {
      if (!visit(event)) return core::Ok();
    }
    if (static_cast<int64_t>(chunk.size()) < kScanChunk) return core::Ok();
    after_seq = chunk.back().seq;
  }
}

core::Result<std::string> AuditStore::ChainAnchor() {
  return database_.Read(
      [&](Connection& connection) { return ReadSingleText(connection, kSelectAnchor); });
}

core::Result<int64_t> AuditStore::PurgeBefore(int64_t before_ms) {
  return database_.WriteTransaction([&](Connection& connection) -> core::Result<int64_t> {
    int64_t last_seq = 0;
    std::string last_hash;
    {
      TRY_ASSIGN(auto chain, connection.Prepare(kSelectChainFromStart));
      while (true) {
        TRY_ASSIGN(bool has_row, chain.Step());
        if (!has_row || chain.Int64(2) >= before_ms) break;
        last_seq = chain.Int64(0);
        last_hash = chain.Text(1);
      }
    }
    if (last_seq == 0) return int64_t{0};

    // The delete trigger admits only rows older than the window opened here; the window is
    // closed again before COMMIT, so no other transaction ever sees it open.
    TRY_ASSIGN(auto open_window, connection.Prepare(kOpenPurgeWindow));
    open_window.BindAll(before_ms);
    TRY(open_window.Run());

    TRY_ASSIGN(auto remove, connection.Prepare(kDeletePrefix));
    remove.BindAll(last_seq);
    TRY(remove.Run());
    const int64_t purged = connection.Changes();

    TRY_ASSIGN(auto move_anchor, connection.Prepare(kMoveAnchor));
    move_anchor.BindAll(last_hash, last_seq, before_ms);
    TRY(move_anchor.Run());

    TRY_ASSIGN(auto close_window, connection.Prepare(kClosePurgeWindow));
    TRY(close_window.Run());
    return purged;
  });
}

}  // namespace agentidp::store::sqlite
