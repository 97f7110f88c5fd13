#!/usr/bin/env python3
"""CPU cost per audit event of the embedded store's audit_events schema, piece by piece.

Inserts N events shaped like the token endpoint's `token.issued` events into a fresh SQLite
database (WAL, synchronous=OFF: CPU only, no fsync) in multi-row INSERTs of BATCH rows, as
the audit writer does, once per schema variant: the full schema of
src/store/sqlite/migrations (UNIQUE event_id, four secondary indexes, AUTOINCREMENT, the
chain trigger) and variants with one piece left out. Prints CPU microseconds per event
(process time, so other work on the machine hardly matters) and the database size.

    python3 bench/audit_schema_cost.py            # N=100000 BATCH=20
    N=200000 BATCH=32 python3 bench/audit_schema_cost.py

The figures include Python's binding overhead (the "nothing" row), the same in every row;
compare differences between rows, not absolute values.
"""
import hashlib
import os
import sqlite3
import tempfile
import time
import uuid

N = int(os.environ.get("N", "100000"))
BATCH = int(os.environ.get("BATCH", "20"))
FULL = {"event_id", "timestamp", "agent", "action", "organization"}


def run(label, indexes, trigger=True, autoincrement=True):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "audit.db")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(
            f"""CREATE TABLE audit_events (
              seq INTEGER PRIMARY KEY {'AUTOINCREMENT' if autoincrement else ''},
              event_id TEXT NOT NULL {'UNIQUE' if 'event_id' in indexes else ''},
              agent_id TEXT NOT NULL, organization_id TEXT NOT NULL, action TEXT NOT NULL,
              outcome TEXT NOT NULL, timestamp INTEGER NOT NULL, ip_address TEXT NOT NULL,
              user_agent TEXT NOT NULL, metadata TEXT NOT NULL, hash TEXT NOT NULL,
              previous_hash TEXT NOT NULL) STRICT""")
        if "timestamp" in indexes:
            db.execute("CREATE INDEX i_ts ON audit_events (timestamp)")
        if "agent" in indexes:
            db.execute("CREATE INDEX i_agent ON audit_events (agent_id, timestamp)")
        if "action" in indexes:
            db.execute("CREATE INDEX i_action ON audit_events (action, timestamp)")
        if "organization" in indexes:
            db.execute("CREATE INDEX i_org ON audit_events (organization_id, timestamp)")
        if trigger:
            db.execute(
                """CREATE TRIGGER chained BEFORE INSERT ON audit_events
                WHEN NEW.previous_hash IS NOT COALESCE(
                  (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), '')
                BEGIN SELECT RAISE(ABORT, 'audit chain must extend its head'); END""")
        agent, org = str(uuid.uuid4()), str(uuid.uuid4())
        meta = ('{"jti":"%s","scope":"agents:read tokens:read","expiresIn":3600,'
                '"alg":"ES256","kid":"abcdefabcdefabcdefabcdefabcdef0123456789abc"}')
        sql = ("INSERT INTO audit_events (event_id, agent_id, organization_id, action, outcome,"
               " timestamp, ip_address, user_agent, metadata, hash, previous_hash) VALUES " +
               ",".join(["(?,?,?,?,?,?,?,?,?,?,?)"] * BATCH))
        rows, previous, t0 = [], "", 1764300000000
        for i in range(N - N % BATCH):
            digest = hashlib.sha256(str(i).encode()).hexdigest()
            rows.append((str(uuid.uuid4()), agent, org, "token.issued", "success", t0 + i // 15,
                         "127.0.0.1", "wrk/4.2", meta % uuid.uuid4(), digest, previous))
            previous = digest
        start = time.process_time()
        for i in range(0, len(rows), BATCH):
            db.execute(sql, [v for row in rows[i:i + BATCH] for v in row])
        elapsed = time.process_time() - start
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        size = os.path.getsize(path)
        print(f"{label:34s} {elapsed / len(rows) * 1e6:6.1f} us/event  {size / len(rows):6.0f} bytes/event")


run("full schema", FULL)
run("without the chain trigger", FULL, trigger=False)
run("without AUTOINCREMENT", FULL, autoincrement=False)
run("without the timestamp index", FULL - {"timestamp"})
run("without the action index", FULL - {"action"})
run("only the event_id index", {"event_id"})
run("nothing (binding overhead)", set(), trigger=False, autoincrement=False)
