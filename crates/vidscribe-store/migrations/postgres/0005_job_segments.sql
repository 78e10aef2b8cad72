-- A running job's live transcript: the segments it committed window by window (JSON each),
-- and the media time its decoding reached.
CREATE TABLE job_segments (
    job_id uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx    bigint NOT NULL,
    data   text NOT NULL,
    PRIMARY KEY (job_id, idx)
);
ALTER TABLE jobs ADD COLUMN partial_seconds double precision;
