-- The engine's checkpoint committed with a running job's segments: where decoding got to and
-- what it needs to carry on from there (opaque JSON written by the engine). A new attempt
-- resumes from it; a retry clears it with the segments.
ALTER TABLE jobs ADD COLUMN resume_state TEXT;
