-- A completed job may carry a warning about how its media was read (audio that ends before
-- the video, timestamp gaps kept as silence): completed, but not quite as an ordinary file.
ALTER TABLE jobs ADD COLUMN warning TEXT;
