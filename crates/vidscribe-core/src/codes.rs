//! The registry of stable error codes: every code a client may match on is defined here,
//! once, with its wire string, its meaning and (for API errors) its HTTP status.
//!
//! Two namespaces, because they answer different questions:
//! - [`Code`]: why a request was refused, the `code` of the error envelope
//!   `{"success": false, "error", "code"}`. The HTTP status comes from the code, so a
//!   handler cannot answer `wrong_state` with 400 in one place and 409 in another.
//! - [`FailureCode`]: why a job failed or ended, the `error_code` of a job. A job is not an
//!   HTTP response, so these codes have no status.
//!
//! The wire strings never change once published; the OpenAPI document lists both enums
//! from [`Code::ALL`] and [`FailureCode::ALL`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::CoreError;

/// One enum from a table of `Variant => "wire_string", [status,] "description";` rows: its
/// `ALL`, `as_str`, `description`, `Display`, `FromStr` and string (de)serialisation, and
/// `http_status` for a table that has the status column.
macro_rules! code_enum {
    (@base $(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $text:literal, $description:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every code, in the order of the table (the order the OpenAPI document lists).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire string: what responses, job rows and logs carry.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// One line for people: when this code is given.
            pub const fn description(self) -> &'static str {
                match self { $($name::$variant => $description),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|c| c.as_str() == s)
                    .ok_or_else(|| CoreError::InvalidInput(format!("unknown {} '{}'", $what, s)))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        /// Lets a test compare a code with the string a client sees: `assert_eq!(e.code(), "x")`.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
    };
    ($(#[$meta:meta])* $name:ident, $what:literal, with http_status {
        $($variant:ident => $text:literal, $status:literal, $description:literal;)+
    }) => {
        code_enum!(@base $(#[$meta])* $name, $what { $($variant => $text, $description;)+ });

        impl $name {
            /// The HTTP status of a response carrying this code.
            pub const fn http_status(self) -> u16 {
                match self { $($name::$variant => $status),+ }
            }
        }
    };
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $text:literal, $description:literal;)+ }) => {
        code_enum!(@base $(#[$meta])* $name, $what { $($variant => $text, $description;)+ });
    };
}

code_enum! {
    /// Why a request was refused: the `code` of the API's error envelope, with its status.
    Code, "error code", with http_status {
        // 400: the request itself is wrong.
        InvalidInput => "invalid_input", 400, "A field of the request is missing, malformed or out of range.";
        InvalidId => "invalid_id", 400, "An id in the path or the body is not a UUID.";
        InvalidJson => "invalid_json", 400, "The body is not JSON of the expected shape.";
        InvalidBody => "invalid_body", 400, "The request body could not be read.";
        InvalidMultipart => "invalid_multipart", 400, "The multipart body is malformed.";
        InvalidLastEventId => "invalid_last_event_id", 400, "Last-Event-ID is not an event sequence number.";
        MissingFile => "missing_file", 400, "The upload has no multipart field 'file'.";
        MissingBatchId => "missing_batch_id", 400, "The upload has no multipart field 'batch_id'.";
        TooManyFiles => "too_many_files", 400, "The upload has more than one file; send one per request.";
        EmptyFile => "empty_file", 400, "The uploaded file is empty.";
        EmptyBatch => "empty_batch", 400, "The batch has no jobs, so it cannot start.";
        UnsupportedDatabaseUrl => "unsupported_database_url", 400,
            "The database URL is neither sqlite://… nor postgres://… (a configuration error).";
        // 401
        Unauthorized => "unauthorized", 401, "The bearer token is missing or wrong.";
        // 404: nothing by that name.
        NotFound => "not_found", 404, "No such API route.";
        BatchNotFound => "batch_not_found", 404, "No batch has this id.";
        JobNotFound => "job_not_found", 404, "The batch has no job with this id.";
        UnknownOutput => "unknown_output", 404, "No such output file name for a job.";
        OutputMissing => "output_missing", 404, "The job completed but its output files are gone.";
        NoResults => "no_results", 404, "The batch has no completed job to download.";
        MediaMissing => "media_missing", 404, "The uploaded file of the job is gone.";
        // 408: the body arrived too slowly.
        UploadTimeout => "upload_timeout", 408, "The upload arrived too slowly and was cut off.";
        BodyTimeout => "body_timeout", 408, "The JSON body arrived too slowly and was cut off.";
        // 409: valid, but not in this state.
        WrongState => "wrong_state", 409, "The batch or job is not in a state that allows this.";
        BatchNotPending => "batch_not_pending", 409, "The batch has started; videos can only be added before.";
        JobNotCompleted => "job_not_completed", 409, "The job has not completed, so it has no outputs yet.";
        LeaseLost => "lease_lost", 409,
            "The worker no longer holds the job's lease (another worker owns it); worker-side only.";
        // 413
        FileTooLarge => "file_too_large", 413, "The upload exceeds the server's size limit.";
        BodyTooLarge => "body_too_large", 413, "The JSON body exceeds the size limit.";
        // 415
        UnsupportedMedia => "unsupported_media", 415, "The upload is not audio or video Vidscribe can read.";
        UnsupportedMediaType => "unsupported_media_type", 415,
            "The Content-Type is wrong: JSON or multipart/form-data was expected.";
        // 5xx: not the client's fault.
        Internal => "internal", 500, "Our own fault; the message is generic and the cause is logged.";
        StoreUnavailable => "store_unavailable", 503,
            "The database cannot be reached or written; nothing was changed, try again later.";
    }
}

code_enum! {
    /// Why a job failed or ended: its `error_code`. Jobs store the wire string.
    FailureCode, "job error code" {
        // The media (deterministic: retrying the same file fails the same way).
        NotMedia => "not_media", "The file is not audio or video.";
        NoAudioStream => "no_audio_stream", "The file has no audio stream.";
        Truncated => "truncated", "The file is truncated.";
        CorruptMedia => "corrupt_media", "The file is corrupt.";
        UnsupportedCodec => "unsupported_codec", "The audio codec is not supported.";
        FfmpegMissing => "ffmpeg_missing", "The format needs ffmpeg, and ffmpeg is not installed.";
        FfmpegFailed => "ffmpeg_failed", "ffmpeg could not decode the file.";
        Io => "io", "The media file could not be read (retried).";
        // The model and the engine.
        ModelUnknown => "model_unknown", "The model is neither a registry name nor a model directory.";
        ModelFetchFailed => "model_fetch_failed", "The model could not be downloaded (retried).";
        ModelCorrupt => "model_corrupt", "A model file does not match its checksum.";
        ModelInvalid => "model_invalid", "The directory is not a CTranslate2 Whisper model.";
        ModelLoadFailed => "model_load_failed", "The engine could not load the model.";
        LanguageUnsupported => "language_unsupported", "The model cannot transcribe the requested language.";
        InferenceFailed => "inference_failed", "The inference engine failed while running (retried).";
        IoError => "io_error", "A file of the engine could not be read or written (retried).";
        Internal => "internal", "Our own fault (the engine panicked); the cause is logged.";
        // Storage: the upload and the results.
        InvalidStorageKey => "invalid_storage_key", "The job's file path is not inside the data directory.";
        StorageNotFound => "storage_not_found", "The uploaded file is gone.";
        StorageFull => "storage_full", "The disk is full.";
        StorageDenied => "storage_denied", "The data directory cannot be written (permissions, read-only).";
        StorageIo => "storage_io", "Reading or writing the data directory failed.";
        OutputWriteFailed => "output_write_failed", "The results could not be written.";
        // The job's life.
        Cancelled => "cancelled", "Cancelled by a user.";
        WorkerLost => "worker_lost", "The worker stopped heartbeating and the job had no attempts left.";
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The statuses of API.md's "Envelope and errors": 400 invalid input, 401 missing/bad
    /// token, 404 unknown id, 408 upload too slow, 409 wrong state, 413 upload too large,
    /// 415 not a media file / not JSON, 500 only for our own faults; and README's 503 when
    /// the store cannot be written. Written out here, apart from the table, as the contract
    /// the table is checked against.
    const API_MD: &[(u16, &[&str])] = &[
        (
            400,
            &[
                "invalid_input",
                "invalid_id",
                "invalid_json",
                "invalid_body",
                "invalid_multipart",
                "invalid_last_event_id",
                "missing_file",
                "missing_batch_id",
                "too_many_files",
                "empty_file",
                "empty_batch",
                "unsupported_database_url",
            ],
        ),
        (401, &["unauthorized"]),
        (
            404,
            &[
                "not_found",
                "batch_not_found",
                "job_not_found",
                "unknown_output",
                "output_missing",
                "no_results",
                "media_missing",
            ],
        ),
        (408, &["upload_timeout", "body_timeout"]),
        (409, &["wrong_state", "batch_not_pending", "job_not_completed", "lease_lost"]),
        (413, &["file_too_large", "body_too_large"]),
        (415, &["unsupported_media", "unsupported_media_type"]),
        (500, &["internal"]),
        (503, &["store_unavailable"]),
    ];

    fn assert_unique_snake_case(strings: &[&str]) {
        let mut seen = HashSet::new();
        for s in strings {
            assert!(seen.insert(*s), "'{s}' is defined twice");
            assert!(!s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "'{s}' is not snake_case");
        }
    }

    #[test]
    fn no_wire_string_is_defined_twice_in_either_registry() {
        assert_unique_snake_case(&Code::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>());
        assert_unique_snake_case(&FailureCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>());
    }

    #[test]
    fn every_code_has_the_status_api_md_gives_it() {
        let contract: Vec<(&str, u16)> =
            API_MD.iter().flat_map(|(status, codes)| codes.iter().map(move |c| (*c, *status))).collect();
        for code in Code::ALL {
            let expected: Vec<u16> = contract.iter().filter(|(c, _)| *c == code.as_str()).map(|(_, s)| *s).collect();
            assert_eq!(expected, vec![code.http_status()], "{code}: API.md's status");
        }
        for (c, _) in &contract {
            assert!(c.parse::<Code>().is_ok(), "API.md's '{c}' is not in the registry");
        }
    }

    #[test]
    fn codes_travel_as_their_wire_strings() {
        for code in Code::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::json!(code.as_str()));
            assert_eq!(serde_json::from_value::<Code>(json).unwrap(), *code);
            assert_eq!(code.to_string().parse::<Code>().unwrap(), *code);
            assert!(code.description().ends_with('.'), "{code}: one sentence");
        }
        for code in FailureCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::json!(code.as_str()));
            assert_eq!(serde_json::from_value::<FailureCode>(json).unwrap(), *code);
            assert!(code.description().ends_with('.'), "{code}: one sentence");
        }
        assert!("no_such_code".parse::<Code>().is_err());
        assert!(serde_json::from_value::<FailureCode>(serde_json::json!("no_such_code")).is_err());
    }
}
