-- PostgreSQL schema: the same shape as the SQLite one, with native types (uuid, timestamptz,
-- jsonb). Batches keep per-status job counters and media-second sums so that a transition
-- touches one job row, one batch row and its event rows, whatever the batch size; the
-- counters are also what enforces max_concurrent across nodes (see postgres/jobs.rs).
CREATE TABLE batches (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    max_concurrent  integer NOT NULL CHECK (max_concurrent > 0),
    status          text NOT NULL,
    model           text NOT NULL,
    language        text,
    formats         text NOT NULL,
    created_at      timestamptz NOT NULL,
    started_at      timestamptz,
    completed_at    timestamptz,
    error_message   text,
    n_queued        integer NOT NULL DEFAULT 0 CHECK (n_queued >= 0),
    n_processing    integer NOT NULL DEFAULT 0 CHECK (n_processing >= 0),
    n_completed     integer NOT NULL DEFAULT 0 CHECK (n_completed >= 0),
    n_failed        integer NOT NULL DEFAULT 0 CHECK (n_failed >= 0),
    n_skipped       integer NOT NULL DEFAULT 0 CHECK (n_skipped >= 0),
    n_cancelled     integer NOT NULL DEFAULT 0 CHECK (n_cancelled >= 0),
    -- media seconds of queued jobs
    media_queued    double precision NOT NULL DEFAULT 0,
    -- media seconds finished (completed or failed) since eta_since
    media_done      double precision NOT NULL DEFAULT 0,
    -- when the batch last (re)started processing; ETA throughput is measured from here
    eta_since       timestamptz
);
CREATE INDEX batches_runnable ON batches (started_at, id) WHERE status = 'processing';
CREATE INDEX batches_created ON batches (created_at DESC, id DESC);

CREATE TABLE jobs (
    seqno             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                uuid NOT NULL UNIQUE,
    batch_id          uuid NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    original_filename text NOT NULL,
    session_name      text NOT NULL,
    session_id        uuid NOT NULL,
    file_path         text NOT NULL,
    results_path      text NOT NULL,
    status            text NOT NULL,
    stage             text,
    progress          double precision NOT NULL DEFAULT 0,
    media_duration    double precision,
    attempts          integer NOT NULL DEFAULT 0,
    -- attempts since the last manual retry; bounds automatic re-queues
    auto_attempts     integer NOT NULL DEFAULT 0,
    worker            text,
    heartbeat_at      timestamptz,
    -- database clock, so nodes with skewed clocks agree on who is expired
    lease_expires_at  timestamptz,
    not_before        timestamptz,
    cancel_requested  boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL,
    started_at        timestamptz,
    completed_at      timestamptz,
    error_message     text,
    error_code        text
);
CREATE INDEX jobs_batch_status ON jobs (batch_id, status, seqno);
CREATE INDEX jobs_processing_lease ON jobs (lease_expires_at) WHERE status = 'processing';
CREATE INDEX jobs_processing_worker ON jobs (worker) WHERE status = 'processing';

CREATE TABLE job_attempts (
    job_id        uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    worker        text NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    outcome       text,
    error_message text,
    PRIMARY KEY (job_id, attempt)
);

-- seq is taken while the appending transaction holds the event advisory lock, so
-- sequence numbers become visible in commit order (see postgres/tx.rs).
CREATE TABLE events (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind      text NOT NULL,
    batch_id  uuid NOT NULL,
    job_id    uuid,
    at        timestamptz NOT NULL,
    data      jsonb NOT NULL
);
CREATE INDEX events_batch_seq ON events (batch_id, seq);

CREATE TABLE workers (
    name         text PRIMARY KEY,
    slots        integer NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);
