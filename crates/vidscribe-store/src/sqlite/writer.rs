//! The single write connection, its transaction guard, and scripts.
//!
//! sqlx runs every SQLite statement on the connection's own thread and answers over a
//! channel, so each statement sent separately costs two thread hand-offs — far more than
//! the statement itself. A [`Script`] sends several statements as ONE command (sqlx runs
//! a `;`-separated query statement by statement on that thread and streams back every
//! statement's rows), so a transition costs two round trips instead of one per statement.
//! The events a transaction appends are inserted by the same command that COMMITs it.

use futures::TryStreamExt;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Connection, Either, Encode, Executor, Row, Sqlite, SqliteConnection, Type};
use tokio::sync::MutexGuard;
use vidscribe_core::{BatchId, Event, EventKind, JobId};

use crate::error::{Result, StoreError};
use crate::hub::EventHub;

pub(super) struct WriterConn {
    conn: Option<SqliteConnection>,
    /// A transaction was begun but neither committed nor rolled back (its future was
    /// dropped mid-way); the next user rolls it back first.
    dirty: bool,
}

impl WriterConn {
    pub(super) fn new(conn: SqliteConnection) -> Self {
        Self { conn: Some(conn), dirty: false }
    }

    pub(super) async fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.close().await;
        }
    }
}

/// Several statements sent to the connection thread as one command.
///
/// Parameters are anonymous `?` only: sqlx binds them across the statements in the order
/// they appear (statement by statement, left to right), so `bind` calls follow the text.
/// Numbered `?NNN` parameters must not be used here: sqlx counts the unnamed gaps below a
/// numbered parameter as positional ones and may leave later parameters unbound.
pub(super) struct Script {
    sql: String,
    args: SqliteArguments<'static>,
    statements: usize,
}

impl Script {
    pub(super) fn new() -> Self {
        Self { sql: String::with_capacity(1024), args: SqliteArguments::default(), statements: 0 }
    }

    /// Appends one statement (without its `;`).
    pub(super) fn push(&mut self, statement: &str) -> &mut Self {
        debug_assert!(
            !statement.contains("?1") && !statement.contains("?2"),
            "scripts take anonymous `?` parameters only"
        );
        self.sql.push_str(statement);
        self.sql.push_str(";\n");
        self.statements += 1;
        self
    }

    pub(super) fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Sqlite> + Type<Sqlite> + 'static,
    {
        // Encoding these types into SQLite arguments cannot fail.
        let _ = Arguments::add(&mut self.args, value);
        self
    }

    /// Runs every statement; returns each statement's rows, in order.
    async fn run(self, conn: &mut SqliteConnection) -> Result<Vec<Vec<SqliteRow>>> {
        let expected = self.statements;
        let mut out: Vec<Vec<SqliteRow>> = Vec::with_capacity(expected);
        let mut current = Vec::new();
        let mut stream = conn.fetch_many(sqlx::query_with(self.sql.as_str(), self.args));
        while let Some(item) = stream.try_next().await? {
            match item {
                Either::Left(_) => out.push(std::mem::take(&mut current)),
                Either::Right(row) => current.push(row),
            }
        }
        drop(stream);
        if out.len() != expected {
            return Err(StoreError::Corrupt(format!(
                "a script of {expected} statements reported {} results",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// An event appended by the transaction: inserted with its COMMIT, published after it.
struct PendingEvent {
    kind: EventKind,
    batch_id: BatchId,
    job_id: Option<JobId>,
    at: chrono::DateTime<chrono::Utc>,
    data: serde_json::Value,
}

/// Event rows inserted per script; a transaction with more uses several scripts.
const EVENTS_PER_SCRIPT: usize = 16;

/// One `BEGIN IMMEDIATE … COMMIT`, collecting the events it appends.
pub(super) struct WriteTx<'a> {
    guard: MutexGuard<'a, WriterConn>,
    hub: &'a EventHub,
    events: Vec<PendingEvent>,
    /// `BEGIN IMMEDIATE` has been sent (or is the first statement of the next script).
    begun: bool,
}

impl<'a> WriteTx<'a> {
    /// Takes the writer and begins at once; `conn()` may be used right away.
    pub(super) async fn begin(guard: MutexGuard<'a, WriterConn>, hub: &'a EventHub) -> Result<WriteTx<'a>> {
        let mut tx = Self::lock(guard, hub).await?;
        // Marked first, like `dirty`: a ROLLBACK after a failed BEGIN is harmless.
        tx.begun = true;
        tx.conn().execute("BEGIN IMMEDIATE").await?;
        Ok(tx)
    }

    /// Takes the writer without a round trip of its own: the first [`WriteTx::script`]
    /// starts with `BEGIN IMMEDIATE`.
    pub(super) async fn lock(mut guard: MutexGuard<'a, WriterConn>, hub: &'a EventHub) -> Result<WriteTx<'a>> {
        // Marked before BEGIN: a future dropped while BEGIN is in flight must still leave
        // the next user a ROLLBACK to do (a ROLLBACK outside a transaction is harmless).
        let dirty = std::mem::replace(&mut guard.dirty, true);
        let conn = guard.conn.as_mut().ok_or(sqlx::Error::PoolClosed)?;
        if dirty {
            let _ = conn.execute("ROLLBACK").await;
        }
        Ok(WriteTx { guard, hub, events: Vec::new(), begun: false })
    }

    pub(super) fn conn(&mut self) -> &mut SqliteConnection {
        debug_assert!(self.begun, "conn() before BEGIN");
        self.guard.conn.as_mut().expect("writer connection open while a transaction is running")
    }

    /// Runs `script` as one command inside the transaction (beginning it first if needed).
    pub(super) async fn script(&mut self, script: Script) -> Result<Vec<Vec<SqliteRow>>> {
        let script = if self.begun {
            script
        } else {
            let mut s = Script::new();
            s.push("BEGIN IMMEDIATE");
            s.sql.push_str(&script.sql);
            s.statements += script.statements;
            s.args = script.args;
            self.begun = true;
            let mut rows = s.run(self.conn()).await?;
            rows.remove(0);
            return Ok(rows);
        };
        script.run(self.conn()).await
    }

    /// Appends an event row; it is inserted with the COMMIT and published after it.
    pub(super) async fn event(
        &mut self,
        kind: EventKind,
        batch_id: BatchId,
        job_id: Option<JobId>,
        data: serde_json::Value,
    ) -> Result<()> {
        self.events.push(PendingEvent { kind, batch_id, job_id, at: chrono::Utc::now(), data });
        Ok(())
    }

    pub(super) async fn commit(self) -> Result<()> {
        self.commit_script(Script::new()).await.map(|_| ())
    }

    /// Runs `script`, inserts the pending events and COMMITs, in one command when there are
    /// few events. Returns the rows of `script`'s statements.
    pub(super) async fn commit_script(mut self, script: Script) -> Result<Vec<Vec<SqliteRow>>> {
        let user_statements = script.statements;
        let mut events = std::mem::take(&mut self.events).into_iter().peekable();
        let mut published = Vec::with_capacity(events.len());
        let mut script = Some(script);
        let mut user_rows = None;
        loop {
            let mut s = script.take().unwrap_or_else(Script::new);
            let mut chunk = Vec::with_capacity(EVENTS_PER_SCRIPT.min(events.len()));
            while chunk.len() < EVENTS_PER_SCRIPT {
                let Some(e) = events.next() else { break };
                s.push("INSERT INTO events (kind, batch_id, job_id, at, data) VALUES (?, ?, ?, ?, ?) RETURNING seq")
                    .bind(e.kind.as_str())
                    .bind(e.batch_id.to_string())
                    .bind(e.job_id.map(|j| j.to_string()))
                    .bind(super::rows::ts(e.at))
                    .bind(e.data.to_string());
                chunk.push(e);
            }
            let last = events.peek().is_none();
            if last {
                s.push("COMMIT");
            }
            let mut rows = self.script(s).await?;
            if user_rows.is_none() {
                user_rows = Some(rows.drain(..user_statements).collect::<Vec<_>>());
            }
            for (e, r) in chunk.into_iter().zip(rows) {
                let seq: i64 =
                    r.first().ok_or_else(|| StoreError::Corrupt("event insert returned no seq".into()))?.try_get(0)?;
                published.push(Event {
                    seq,
                    kind: e.kind,
                    batch_id: e.batch_id,
                    job_id: e.job_id,
                    at: e.at,
                    data: e.data,
                });
            }
            if last {
                break;
            }
        }
        self.guard.dirty = false;
        // Still holding the writer mutex: events leave in commit order.
        for e in published {
            self.hub.publish(e);
        }
        Ok(user_rows.unwrap_or_default())
    }

    pub(super) async fn rollback(mut self) -> Result<()> {
        if self.begun {
            self.conn().execute("ROLLBACK").await?;
        }
        self.guard.dirty = false;
        Ok(())
    }
}
