#include "store/common/rows.hpp"
#include "store/postgres/query.hpp"
#include "store/postgres/stores.hpp"

#include <algorithm>
#include <unordered_map>

namespace agentidp::store::postgres {

namespace {

// Audit chain with many writers. Every append (and every purge) takes the row lock of the
// one-row audit_head table: the append statement itself (its CTE below, and the database's
// own insert trigger audit_events_lock_head before it), or the purge's first statement.
// Under READ COMMITTED a lock that had to wait sees the newest committed head, whichever node
// wrote it. Writers on all nodes queue on this one lock, the chain stays linear, and seq
// values are drawn in chain order. Why a row lock rather than pg_advisory_xact_lock: the
// trigger takes it too, so a writer that bypasses this code (psql, a future tool) serializes
// the same way, and the head row is what the trigger checks every inserted row against (see
// migrations.cpp). A waiter gives up after statement_timeout (Unavailable, Retry-After 1).
// How a batch gets to the head in one or two round trips: AppendBatch and docs/decisions.md,
// "The PostgreSQL audit append: one round trip when the head is ours".
constexpr std::string_view kLockHead = "SELECT hash FROM audit_head WHERE id = 1 FOR UPDATE";
// The head without its lock: a guess to chain a batch to, which kAppend checks under the lock.
constexpr std::string_view kReadHead = "SELECT hash FROM audit_head WHERE id = 1";

// The append: one prepared statement whatever the batch size. The batch travels as eleven
// arrays (one per column, unnested in chain order), so the statement is parsed and planned
// once per connection instead of once per batch (a multi-row VALUES list of N rows is a new
// text for every N). It inserts only while the chain head is still $1, the hash the batch
// was chained to: the CTE takes the head's row lock and, under READ COMMITTED, re-reads the
// newest committed head when it had to wait, so a head that another writer moved yields no
// row and nothing is inserted (no error, no aborted transaction). The database triggers take
// the same lock before the statement and check the inserted rows against the head after it
// (see migrations.cpp), whatever this text says. RETURNING gives each row's seq, in chain
// order (checked below).
constexpr std::string_view kAppend = R"sql(
WITH head AS (SELECT hash FROM audit_head WHERE id = 1 AND hash = $1 FOR UPDATE)
INSERT INTO audit_events (event_id, agent_id, organization_id, action, outcome, timestamp,
                          ip_address, user_agent, metadata, hash, previous_hash)
SELECT e.event_id, e.agent_id, e.organization_id, e.action, e.outcome, e.timestamp,
       e.ip_address, e.user_agent, e.metadata::json, e.hash, e.previous_hash
FROM head,
     unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
       WITH ORDINALITY AS e(event_id, agent_id, organization_id, action, outcome, timestamp,
                            ip_address, user_agent, metadata, hash, previous_hash, position)
ORDER BY e.position
RETURNING seq, event_id)sql";
constexpr int kAppendColumns = 11;
constexpr int kLockedBatchesAfterARace = 8;

// Reads a batch back by its event ids (see Committed below).
constexpr std::string_view kSelectByIds = R"sql(
SELECT event_id, seq, hash, previous_hash FROM audit_events WHERE event_id = ANY($1::text[]))sql";

constexpr std::string_view kSelectById = R"sql(
SELECT seq, event_id, agent_id, organization_id, action, outcome, timestamp, ip_address,
       user_agent, metadata, hash, previous_hash
FROM audit_events WHERE event_id = $1)sql";

// Scan reads the chain in chunks so that no connection is held while the visitor runs,
// however slow the visitor and however long the chain.
constexpr int64_t kScanChunk = 512;
constexpr std::string_view kScanChunkSql = R"sql(
SELECT seq, event_id, agent_id, organization_id, action, outcome, timestamp, ip_address,
       user_agent, metadata, hash, previous_hash
FROM audit_events
WHERE seq > $1
  AND ($2::bigint IS NULL OR timestamp >= $2::bigint)
  AND ($3::bigint IS NULL OR timestamp <= $3::bigint)
ORDER BY seq LIMIT $4)sql";

constexpr std::string_view kSelectAnchor = "SELECT anchor_hash FROM audit_anchor WHERE id = 1";

// Retention. The purge removes the longest chain PREFIX whose events are all older than the
// horizon, so the surviving events stay one contiguous chain even if clock skew between
// writers left an older timestamp after a newer one. The prefix ends just before the first
// event (in chain order) at or after the horizon.
//
// Every append on every node waits while a purge holds the chain lock, so the lock is held
// for a bounded amount of work only (docs/decisions.md, "Retention without stalling the
// chain"): the searches run before it, without it, and the prefix goes in chunks of
// kPurgeChunk events, one short locked transaction each. The common case (nothing old
// enough, every node once an hour) takes no lock at all.
constexpr int64_t kPurgeChunk = 5000;
// The oldest event's time, to see whether anything is older than the horizon. ORDER BY
// makes the timestamp index the plan even before the table was analyzed: "WHERE timestamp <
// $1 LIMIT 1" looked cheap to the planner as a sequential scan (a third of the rows guessed to
// match) and read the whole table when none did (60 ms at 100,000 events). No lock.
constexpr std::string_view kOldest =
    "SELECT timestamp FROM audit_events ORDER BY timestamp LIMIT 1";
// Where the prefix ends: before the first event at or after the horizon, or, when every
// event is older, after the newest committed one (appends still in flight draw larger seq
// values, the head lock orders them after every committed event). No lock.
constexpr std::string_view kPrefixLimit = R"sql(
SELECT COALESCE(
  (SELECT seq FROM audit_events WHERE timestamp >= $1 ORDER BY seq LIMIT 1),
  (SELECT max(seq) + 1 FROM audit_events)))sql";
// The last event of the next chunk of the prefix (seq < $1), in chain order. No lock.
constexpr std::string_view kChunkEnd = R"sql(
SELECT seq, hash FROM (
  SELECT seq, hash FROM audit_events WHERE seq < $1 ORDER BY seq LIMIT $2) chunk
ORDER BY seq DESC LIMIT 1)sql";
// Under the chain lock: the chunk's end is still there (no other node's purge went past it
// meanwhile, which would make this anchor a step back).
constexpr std::string_view kStillThere = "SELECT 1 FROM audit_events WHERE seq = $1";
// Transaction-local: the delete and anchor triggers admit the purge only while it is set,
// and it vanishes at COMMIT or ROLLBACK whatever happens.
constexpr std::string_view kOpenPurgeWindow =
    "SELECT set_config('agentidp.audit_purge_before', $1, true)";
constexpr std::string_view kDeletePrefix = "DELETE FROM audit_events WHERE seq <= $1";
constexpr std::string_view kMoveAnchor = R"sql(
UPDATE audit_anchor SET anchor_hash = $1, anchor_seq = $2, purged_before = $3,
  updated_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
WHERE id = 1)sql";
constexpr std::string_view kClosePurgeWindow =
    "SELECT set_config('agentidp.audit_purge_before', '', true)";

// Appends `value` to a PostgreSQL array literal as one quoted element (`"` and `\` escaped).
void AppendArrayElement(std::string& literal, std::string_view value) {
  literal += literal.size() == 1 ? "\"" : ",\"";
  for (char c : value) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  literal += '"';
}

// The parameters of kAppend for `events`, chained to `head`.
std::vector<Param> AppendParams(const std::string& head,
                                const std::vector<domain::AuditEvent>& events) {
  std::string columns[kAppendColumns];
  for (auto& column : columns) column = "{";
  for (const auto& event : events) {
    AppendArrayElement(columns[0], event.event_id);
    AppendArrayElement(columns[1], event.agent_id);
    AppendArrayElement(columns[2], event.organization_id);
    AppendArrayElement(columns[3], event.action);
    AppendArrayElement(columns[4], event.outcome);
    AppendArrayElement(columns[5], std::to_string(event.timestamp));
    AppendArrayElement(columns[6], event.ip_address);
    AppendArrayElement(columns[7], event.user_agent);
    AppendArrayElement(columns[8], event.metadata_json);
    AppendArrayElement(columns[9], event.hash);
    AppendArrayElement(columns[10], event.previous_hash);
  }
  std::vector<Param> params;
  params.reserve(kAppendColumns + 1);
  params.emplace_back(head);
  for (auto& column : columns) {
    column += '}';
    params.emplace_back(column);
  }
  return params;
}

void Chain(std::vector<domain::AuditEvent>& events, std::string head,
           const AuditStore::Hasher& hasher) {
  for (auto& event : events) {
    event.previous_hash = std::move(head);
    event.hash = hasher(event);
    head = event.hash;
  }
}

// Runs kAppend for `events` (already chained to `head`). Returns false when the head had
// moved (nothing inserted), true when every event was inserted (their seq filled in).
core::Result<bool> Append(Connection& connection, const std::string& head,
                          std::vector<domain::AuditEvent>& events, ErrorLog& log) {
  TRY_ASSIGN(Rows inserted, connection.Query(kAppend, AppendParams(head, events)));
  if (inserted.empty()) return false;
  if (inserted.size() != static_cast<int>(events.size())) {
    log.Record("postgres: audit insert returned an unexpected row count");
    return core::Error::Internal("Store error");
  }
  for (int i = 0; i < inserted.size(); ++i) {
    auto& event = events[static_cast<size_t>(i)];
    if (inserted.Text(i, 1) != event.event_id) {
      log.Record("postgres: audit insert returned rows out of order");
      return core::Error::Internal("Store error");
    }
    event.seq = inserted.Int64(i, 0);
  }
  return true;
}

// A PostgreSQL text[] literal of the events' ids.
std::string TextArrayLiteral(const std::vector<domain::AuditEvent>& events) {
  std::string literal = "{";
  for (const auto& event : events) AppendArrayElement(literal, event.event_id);
  literal += '}';
  return literal;
}

// After a failure that may have happened with COMMIT already sent (the connection broke while
// its answer was on the way back), finds out whether the batch committed after all: a
// transaction is all or nothing and event ids are unique, so it did iff its events exist.
// Fills in their seq when they do. Without this, a caller that retries (the audit writer
// does) would record the batch twice or report a recorded event as lost.
core::Result<bool> Committed(Database& database, std::vector<domain::AuditEvent>& events) {
  return database.Run(
      domain::TenantScope::System(), [&](Connection& connection) -> core::Result<bool> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectByIds, TextArrayLiteral(events)));
        if (rows.empty()) return false;
        std::unordered_map<std::string, int> found;
        for (int i = 0; i < rows.size(); ++i) found.emplace(rows.Text(i, 0), i);
        for (auto& event : events) {
          auto it = found.find(event.event_id);
          if (it == found.end() || rows.Text(it->second, 2) != event.hash ||
              rows.Text(it->second, 3) != event.previous_hash) {
            database.log().Record("postgres: audit batch read back does not match what was sent");
            return core::Error::Internal("Store error");
          }
          event.seq = rows.Int64(it->second, 1);
        }
        return true;
      });
}

}  // namespace

core::Status AuditStore::AppendBatch(std::vector<domain::AuditEvent>& events,
                                     const Hasher& hasher) {
  if (events.empty()) return core::Ok();
  std::string known_head;
  bool head_is_ours = false;
  bool locked_only = false;
  {
    std::lock_guard lock(head_mutex_);
    known_head = known_head_;
    head_is_ours = head_is_ours_;
    if (locked_batches_left_ > 0) {
      --locked_batches_left_;
      locked_only = true;
    }
  }
  // Chains the batch to `head` and appends it in one round trip: the system scope's
  // set_config and kAppend in one pipeline, committed at its Sync. False when the head had
  // moved (nothing inserted).
  auto append_to = [&](Connection& connection, const std::string& head) -> core::Result<bool> {
    Chain(events, head, hasher);
    return Append(connection, head, events, database_.log());
  };

  core::Status appended = core::Ok();
  bool done = locked_only;
  bool moved_by_others = false;
  bool raced = false;
  // 1. This node wrote the head last (as far as it knows): chain to it without reading it.
  if (head_is_ours && !done) {
    auto result = database_.Run(domain::TenantScope::System(), [&](Connection& connection) {
      return append_to(connection, known_head);
    });
    if (!result.ok()) appended = std::move(result).error();
    done = !result.ok() || *result;
  }
  // 2. Another writer moved it (or it is unknown): read the current head (no lock, no WAL,
  //    whereas a wrong guess costs a round trip and the commit of the head lock it took),
  //    then chain to it. This fails only if another batch commits in between.
  if (!done) {
    auto result = database_.Run(domain::TenantScope::System(),
                                [&](Connection& connection) -> core::Result<bool> {
                                  TRY_ASSIGN(Rows rows, connection.Query(kReadHead));
                                  if (rows.empty()) {
                                    database_.log().Record("postgres: audit_head row is missing");
                                    return core::Error::Internal("Store error");
                                  }
                                  const std::string head = rows.Text(0, 0);
                                  moved_by_others = head != known_head;
                                  return append_to(connection, head);
                                });
    if (!result.ok()) appended = std::move(result).error();
    done = !result.ok() || *result;
  }
  // 3. Still racing other writers (or backing off after such a race): BEGIN, read the head
  //    under its row lock (waiters queue here and get the newest committed head), chain,
  //    append, COMMIT. Always succeeds against the head, however many writers there are.
  if (!done || locked_only) {
    raced = !locked_only;
    appended = database_.Transaction(
        domain::TenantScope::System(), [&](Connection& connection) -> core::Status {
          TRY_ASSIGN(Rows head_row, connection.Query(kLockHead));
          if (head_row.empty()) {
            database_.log().Record("postgres: audit_head row is missing");
            return core::Error::Internal("Store error");
          }
          const std::string head = head_row.Text(0, 0);
          moved_by_others = head != known_head;
          Chain(events, head, hasher);
          TRY_ASSIGN(bool inserted, Append(connection, head, events, database_.log()));
          if (!inserted) {
            database_.log().Record("postgres: audit head moved while its lock was held");
            return core::Error::Internal("Store error");
          }
          return core::Ok();
        });
  }
  // Only the last attempt can have inserted anything (the earlier ones inserted nothing), and
  // `events` hold its chaining: that is what Committed looks for.
  if (!appended.ok() && appended.error().kind == core::Errc::kUnavailable) {
    auto committed = Committed(database_, events);
    if (committed.ok() && *committed) {
      database_.log().Record("postgres: audit batch committed although its answer was lost");
      appended = core::Ok();
    }
  }
  {
    std::lock_guard lock(head_mutex_);
    if (appended.ok()) {
      known_head_ = events.back().hash;
      // When another writer (another node, a tool) appended since our last batch, the next
      // batch is likely to find the head moved again: it skips step 1.
      head_is_ours_ = !moved_by_others;
      // A race in step 2 means peers commit faster than a read and an append: the next
      // batches take the locked path directly (a lost race costs a round trip and a commit),
      // until one of them finds the head where this store left it.
      if (raced) locked_batches_left_ = kLockedBatchesAfterARace;
      if (head_is_ours_) locked_batches_left_ = 0;
    } else {
      head_is_ours_ = false;
    }
  }
  if (!appended.ok()) {
    // Nothing was written: do not hand out chain positions that do not exist.
    for (auto& event : events) {
      event.seq = 0;
      event.hash.clear();
      event.previous_hash.clear();
    }
  }
  return appended;
}

core::Result<std::optional<domain::AuditEvent>> AuditStore::Get(const domain::TenantScope& scope,
                                                                const std::string& event_id) {
  return database_.Run(
      scope, [&](Connection& connection) -> core::Result<std::optional<domain::AuditEvent>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectById, event_id));
        if (rows.empty()) return std::optional<domain::AuditEvent>();
        return std::optional<domain::AuditEvent>(common::ReadAuditEvent(Row(rows, 0)));
      });
}

core::Result<domain::PageOf<domain::AuditEvent>> AuditStore::List(const domain::TenantScope& scope,
                                                                  const domain::AuditFilter& filter,
                                                                  const domain::Page& page) {
  WhereClause where;
  common::AddAuditFilters(where, filter);
  return ListPage<domain::AuditEvent>(database_, scope, "audit_events", common::kAuditColumns,
                                      common::kAuditNewestFirst, where, page,
                                      [](const Row& row) -> core::Result<domain::AuditEvent> {
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
    TRY(database_.Run(domain::TenantScope::System(), [&](Connection& connection) -> core::Status {
      TRY_ASSIGN(Rows rows,
                 connection.QueryArgs(kScanChunkSql, after_seq, from_ms, to_ms, kScanChunk));
      for (int i = 0; i < rows.size(); ++i) chunk.push_back(common::ReadAuditEvent(Row(rows, i)));
      return core::Ok();
    }));
    for (const auto& event : chunk) {
      if (!visit(event)) return core::Ok();
    }
    if (static_cast<int64_t>(chunk.size()) < kScanChunk) return core::Ok();
    after_seq = chunk.back().seq;
  }
}

core::Result<std::string> AuditStore::ChainAnchor() {
  return database_.Run([&](Connection& connection) -> core::Result<std::string> {
    TRY_ASSIGN(Rows rows, connection.Query(kSelectAnchor));
    if (rows.empty()) return core::Error::Internal("Store error");
    return rows.Text(0, 0);
  });
}

core::Result<int64_t> AuditStore::PurgeBefore(int64_t before_ms) {
  const auto system = domain::TenantScope::System();
  // The searches, without the chain lock: appends go on meanwhile.
  auto limit = database_.Run(system, [&](Connection& connection) -> core::Result<int64_t> {
    TRY_ASSIGN(Rows oldest, connection.Query(kOldest));
    if (oldest.empty() || oldest.Int64(0, 0) >= before_ms) return int64_t{0};
    TRY_ASSIGN(Rows rows, connection.QueryArgs(kPrefixLimit, before_ms));
    return rows.empty() || rows.IsNull(0, 0) ? int64_t{0} : rows.Int64(0, 0);
  });
  if (!limit.ok()) return std::move(limit).error();
  if (*limit == 0) return int64_t{0};

  int64_t purged = 0;
  for (;;) {
    auto end =
        database_.Run(system,
                      [&](Connection& connection)
                          -> core::Result<std::optional<std::pair<int64_t, std::string>>> {
                        TRY_ASSIGN(Rows rows, connection.QueryArgs(kChunkEnd, *limit, kPurgeChunk));
                        if (rows.empty()) return std::optional<std::pair<int64_t, std::string>>();
                        return std::optional(std::make_pair(rows.Int64(0, 0), rows.Text(0, 1)));
                      });
    if (!end.ok()) return std::move(end).error();
    if (!end->has_value()) return purged;  // the prefix is gone
    const auto& [last_seq, last_hash] = **end;
    auto removed =
        database_.Transaction(system, [&](Connection& connection) -> core::Result<int64_t> {
          // The chain lock: no append or other purge moves the chain while the chunk is cut.
          TRY(connection.Query(kLockHead));
          TRY_ASSIGN(Rows still_there, connection.QueryArgs(kStillThere, last_seq));
          if (still_there.empty()) return int64_t{-1};  // another purge went past it: search again
          TRY(connection.QueryArgs(kOpenPurgeWindow, std::to_string(before_ms)));
          TRY_ASSIGN(Rows deleted, connection.QueryArgs(kDeletePrefix, last_seq));
          TRY(connection.QueryArgs(kMoveAnchor, last_hash, last_seq, before_ms));
          // Closed explicitly as well, so that nothing later in this transaction could use it.
          TRY(connection.Query(kClosePurgeWindow));
          return deleted.Affected();
        });
    if (!removed.ok()) return std::move(removed).error();
    if (*removed > 0) purged += *removed;
  }
}

}  // namespace agentidp::store::postgres
