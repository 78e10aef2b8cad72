-- Queued jobs whose media duration is unknown (the probe could not tell): media_queued only
-- sums the known ones, and the ETA counts each unknown one as the average known job still
-- to run (see vidscribe_core::progress::media_totals), so it needs to know how many there are.
ALTER TABLE batches ADD COLUMN n_queued_unknown INTEGER NOT NULL DEFAULT 0;
UPDATE batches SET n_queued_unknown =
    (SELECT COUNT(*) FROM jobs WHERE jobs.batch_id = batches.id AND jobs.status = 'queued' AND jobs.media_duration IS NULL);
