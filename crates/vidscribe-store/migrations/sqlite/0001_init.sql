-- Batches keep per-status job counters and media-second sums so that a transition
-- touches one job row, one batch row and one event row, whatever the batch size.
CREATE TABLE batches (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    max_concurrent  INTEGER NOT NULL,
    status          TEXT NOT NULL,
    model           TEXT NOT NULL,
    language        TEXT,
    formats         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    completed_at    TEXT,
    error_message   TEXT,
    n_queued        INTEGER NOT NULL DEFAULT 0,
    n_processing    INTEGER NOT NULL DEFAULT 0,
    n_completed     INTEGER NOT NULL DEFAULT 0,
    n_failed        INTEGER NOT NULL DEFAULT 0,
    n_skipped       INTEGER NOT NULL DEFAULT 0,
    n_cancelled     INTEGER NOT NULL DEFAULT 0,
    -- media seconds of queued jobs
    media_queued    REAL NOT NULL DEFAULT 0,
    -- media seconds finished (completed or failed) since eta_since
    media_done      REAL NOT NULL DEFAULT 0,
    -- when the batch last (re)started processing; ETA throughput is measured from here
    eta_since       TEXT
);
CREATE INDEX batches_status ON batches(status, started_at);
CREATE INDEX batches_created ON batches(created_at);

CREATE TABLE jobs (
    seqno             INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    batch_id          TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    original_filename TEXT NOT NULL,
    session_name      TEXT NOT NULL,
    session_id        TEXT NOT NULL,
    file_path         TEXT NOT NULL,
    results_path      TEXT NOT NULL,
    status            TEXT NOT NULL,
    stage             TEXT,
    progress          REAL NOT NULL DEFAULT 0,
    media_duration    REAL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    -- attempts since the last manual retry; bounds automatic re-queues
    auto_attempts     INTEGER NOT NULL DEFAULT 0,
    worker            TEXT,
    heartbeat_at      TEXT,
    lease_expires_ms  INTEGER,
    not_before_ms     INTEGER,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    completed_at      TEXT,
    error_message     TEXT,
    error_code        TEXT
);
CREATE INDEX jobs_batch_status ON jobs(batch_id, status, seqno);
CREATE INDEX jobs_status_lease ON jobs(status, lease_expires_ms);

CREATE TABLE job_attempts (
    job_id        TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    worker        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    outcome       TEXT,
    error_message TEXT,
    PRIMARY KEY (job_id, attempt)
);

CREATE TABLE events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT NOT NULL,
    batch_id  TEXT NOT NULL,
    job_id    TEXT,
    at        TEXT NOT NULL,
    data      TEXT NOT NULL
);
CREATE INDEX events_batch_seq ON events(batch_id, seq);

CREATE TABLE workers (
    name         TEXT PRIMARY KEY,
    slots        INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
