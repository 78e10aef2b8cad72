//! Identifier newtypes. All are UUID v7 (time-ordered), so sorting by id sorts by creation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CoreError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The last 8 hex digits, to tell ids apart in file names and logs. Not the
            /// first 8: in a UUID v7 those are the timestamp, shared by ids made in the
            /// same minute (two uploads of `talk.mp4` would collide in a ZIP).
            pub fn short(&self) -> String {
                let hex = self.0.simple().to_string();
                hex[hex.len() - 8..].to_string()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| CoreError::InvalidId { what: $what, value: s.chars().take(64).collect() })
            }
        }
    };
}

id_type!(
    /// A batch of jobs created together and started together.
    BatchId,
    "batch id"
);
id_type!(
    /// One uploaded file to transcribe.
    JobId,
    "job id"
);
id_type!(
    /// Names the results directory of one job (`results/<session_id>`).
    SessionId,
    "session id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = JobId::new();
        let parsed: JobId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = BatchId::new();
        let b = BatchId::new();
        assert!(a < b);
    }

    #[test]
    fn short_forms_of_ids_made_together_differ() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| JobId::new().short()).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn garbage_is_not_an_id() {
        let err = "../../etc/passwd".parse::<BatchId>().unwrap_err();
        assert_eq!(err.code(), "invalid_id");
    }
}
