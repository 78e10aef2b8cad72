-- Voice activity detection per batch (off for the batches made before it existed).
ALTER TABLE batches ADD COLUMN vad INTEGER NOT NULL DEFAULT 0;
