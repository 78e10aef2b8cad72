//! The dialect-neutral query layer the one store implementation is written against.
//!
//! SQL is written once with numbered `$n` parameters (PostgreSQL's syntax, which SQLite
//! also reads: sqlx binds `$n` to the n-th value) and with [`Dialect`](super::Dialect)
//! fragments where the two languages differ. Values travel as [`Arg`]s and rows are read
//! through [`Cells`], so the operations carry no driver type bounds; each backend turns an
//! `Arg` into its own column type (ids are TEXT in SQLite and `uuid` in PostgreSQL, times
//! RFC 3339 TEXT and `timestamptz`, flags 0/1 and `boolean`).

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, Utc};
use uuid::Uuid;
use vidscribe_core::{BatchId, BatchStatus, EventData, FailureCode, JobId, JobStage, JobStatus, SessionId};

use crate::error::{Result, StoreError};

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Id(Uuid),
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Time(Option<DateTime<Utc>>),
}

macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr),+ $(,)?) => {
        $(impl From<$t> for Arg {
            fn from($v: $t) -> Self {
                $e
            }
        })+
    };
}

arg_from! {
    BatchId => |v| Arg::Id(v.as_uuid()),
    JobId => |v| Arg::Id(v.as_uuid()),
    SessionId => |v| Arg::Id(v.as_uuid()),
    &str => |v| Arg::Text(Some(v.to_string())),
    String => |v| Arg::Text(Some(v)),
    &String => |v| Arg::Text(Some(v.clone())),
    Option<&str> => |v| Arg::Text(v.map(str::to_string)),
    Option<String> => |v| Arg::Text(v),
    i64 => |v| Arg::Int(Some(v)),
    i32 => |v| Arg::Int(Some(v.into())),
    u32 => |v| Arg::Int(Some(v.into())),
    usize => |v| Arg::Int(Some(v as i64)),
    f64 => |v| Arg::Real(Some(v)),
    Option<f64> => |v| Arg::Real(v),
    DateTime<Utc> => |v| Arg::Time(Some(v)),
    Option<DateTime<Utc>> => |v| Arg::Time(v),
    JobStatus => |v| Arg::Text(Some(v.as_str().to_string())),
    BatchStatus => |v| Arg::Text(Some(v.as_str().to_string())),
    Option<JobStage> => |v| Arg::Text(v.map(|s| s.as_str().to_string())),
    Option<FailureCode> => |v| Arg::Text(v.map(|c| c.as_str().to_string())),
}

/// One statement and its values.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: String,
    pub args: Vec<Arg>,
}

/// `stmt!(sql, a, b, …)`: a [`Stmt`] binding `a` to `$1`, `b` to `$2`, ….
macro_rules! stmt {
    ($sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::sql::query::Stmt { sql: ($sql).into(), args: vec![$($crate::sql::query::Arg::from($arg)),*] }
    };
}
pub(crate) use stmt;

/// The time a transition stamps on its rows, truncated to the millisecond both backends
/// store exactly, so what an event carries equals what a later read returns.
pub(crate) fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t.duration_trunc(chrono::Duration::milliseconds(1)).unwrap_or(t)
}

/// A connection, a read snapshot or a write transaction.
#[async_trait]
pub trait Conn: Send {
    type Row: Cells;

    /// Runs one statement; returns its rows.
    async fn rows(&mut self, stmt: Stmt) -> Result<Vec<Self::Row>>;

    /// Runs one statement; returns how many rows it changed.
    async fn run(&mut self, stmt: Stmt) -> Result<u64>;

    /// Runs several statements whose results are all wanted; returns each one's rows.
    /// (SQLite sends them to its connection thread as one command.)
    async fn script(&mut self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Self::Row>>> {
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            out.push(self.rows(s).await?);
        }
        Ok(out)
    }

    /// [`Conn::script`] whose first statement is a fence: when it returns no row, `None`
    /// (nothing after it counts; the caller rolls back).
    async fn fenced(&mut self, stmts: Vec<Stmt>) -> Result<Option<Vec<Vec<Self::Row>>>> {
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            let rows = self.rows(s).await?;
            if out.is_empty() && rows.is_empty() {
                return Ok(None);
            }
            out.push(rows);
        }
        Ok(Some(out))
    }

    /// The first row, or `missing` when there is none.
    async fn one(&mut self, stmt: Stmt, missing: impl FnOnce() -> StoreError + Send) -> Result<Self::Row> {
        self.rows(stmt).await?.into_iter().next().ok_or_else(missing)
    }

    async fn optional(&mut self, stmt: Stmt) -> Result<Option<Self::Row>> {
        Ok(self.rows(stmt).await?.into_iter().next())
    }

    /// Every row, read by `read`.
    async fn all<T: Send>(&mut self, stmt: Stmt, read: for<'r> fn(&'r Self::Row) -> Result<T>) -> Result<Vec<T>> {
        self.rows(stmt).await?.iter().map(read).collect()
    }
}

/// One write transaction: its events are appended with its COMMIT and published after it.
#[async_trait]
pub trait WriteTx: Conn {
    /// Queues an event row.
    fn event(&mut self, data: EventData);

    /// Queues a statement whose result nobody reads; it runs just before COMMIT (in the same
    /// command as the events and COMMIT on SQLite).
    fn defer(&mut self, stmt: Stmt);

    /// Heartbeats: this transaction may skip waiting for its WAL flush (PostgreSQL).
    async fn relax_durability(&mut self) -> Result<()> {
        Ok(())
    }

    async fn commit(self) -> Result<()>;

    async fn rollback(self) -> Result<()>;
}

/// [`Conn`] for a driver's connection type and [`Cells`] for its row type: statements run
/// through sqlx with `arguments` (defined here) converting the values, ids by `$id` and
/// times by `$time`; text and reals are read as they are, the other columns by the methods
/// given.
macro_rules! driver {
    ($conn:ty, $row:ty, $args:ty, id: $id:expr, time: $time:expr, { $($cells:tt)* }) => {
        fn arguments(args: Vec<Arg>) -> $args {
            let mut out = <$args>::default();
            for a in args {
                // Encoding these types cannot fail.
                let _ = match a {
                    Arg::Id(u) => sqlx::Arguments::add(&mut out, ($id)(u)),
                    Arg::Text(t) => sqlx::Arguments::add(&mut out, t),
                    Arg::Int(i) => sqlx::Arguments::add(&mut out, i),
                    Arg::Real(r) => sqlx::Arguments::add(&mut out, r),
                    Arg::Time(t) => sqlx::Arguments::add(&mut out, ($time)(t)),
                };
            }
            out
        }

        #[async_trait::async_trait]
        impl $crate::sql::query::Conn for $conn {
            type Row = $row;

            async fn rows(&mut self, s: Stmt) -> Result<Vec<$row>> {
                Ok(sqlx::query_with(&s.sql, arguments(s.args)).fetch_all(self).await?)
            }

            async fn run(&mut self, s: Stmt) -> Result<u64> {
                Ok(sqlx::query_with(&s.sql, arguments(s.args)).execute(self).await?.rows_affected())
            }
        }

        impl $crate::sql::query::Cells for $row {
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                Ok(sqlx::Row::try_get(self, col)?)
            }

            fn opt_real(&self, col: &str) -> Result<Option<f64>> {
                Ok(sqlx::Row::try_get(self, col)?)
            }

            $($cells)*
        }
    };
}
pub(crate) use driver;

/// Typed reads of one row's columns.
pub trait Cells: Send + Sync {
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn opt_real(&self, col: &str) -> Result<Option<f64>>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn opt_id(&self, col: &str) -> Result<Option<Uuid>>;
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>>;
    fn flag(&self, col: &str) -> Result<bool>;

    fn text(&self, col: &str) -> Result<String> {
        self.opt_text(col)?.ok_or_else(|| null(col))
    }

    fn real(&self, col: &str) -> Result<f64> {
        self.opt_real(col)?.ok_or_else(|| null(col))
    }

    fn int(&self, col: &str) -> Result<i64> {
        self.opt_int(col)?.ok_or_else(|| null(col))
    }

    /// A count column: never negative, whatever the row says.
    fn count(&self, col: &str) -> Result<u64> {
        Ok(self.int(col)?.max(0) as u64)
    }

    fn id(&self, col: &str) -> Result<Uuid> {
        self.opt_id(col)?.ok_or_else(|| null(col))
    }

    fn time(&self, col: &str) -> Result<DateTime<Utc>> {
        self.opt_time(col)?.ok_or_else(|| null(col))
    }

    /// A column holding one of our string enums.
    fn parsed<T: std::str::FromStr>(&self, col: &str) -> Result<T> {
        self.opt_parsed(col)?.ok_or_else(|| null(col))
    }

    /// [`Cells::parsed`] of a nullable column.
    fn opt_parsed<T: std::str::FromStr>(&self, col: &str) -> Result<Option<T>> {
        let Some(s) = self.opt_text(col)? else { return Ok(None) };
        s.parse().map(Some).map_err(|_| StoreError::Corrupt(format!("bad {col} '{s}'")))
    }
}

fn null(col: &str) -> StoreError {
    StoreError::Corrupt(format!("column {col} is NULL"))
}

/// Fixed-width RFC 3339 (milliseconds, `Z`): SQLite's time format, so text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp '{s}': {e}")))
}

/// Shifts every `$n` of `sql` by `offset`: statements written with their own `$1…` become
/// parts of one script whose values are numbered across all of them. Our SQL has no `$`
/// outside parameters (no dollar quoting, no `$` in literals).
pub(crate) fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbering_shifts_every_parameter_and_nothing_else() {
        assert_eq!(renumber("a = $1 AND b = $12, 'x'", 3), "a = $4 AND b = $15, 'x'");
        assert_eq!(renumber("SELECT $1", 0), "SELECT $1");
        assert_eq!(renumber("no params", 5), "no params");
    }

    #[test]
    fn times_are_stamped_to_the_millisecond_both_backends_keep() {
        let t = now();
        assert_eq!(parse_ts(&ts(t)).unwrap(), t);
    }
}
