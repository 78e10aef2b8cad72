//! The single write connection and its transaction.
//!
//! sqlx runs every SQLite statement on the connection's own thread and answers over a
//! channel, so each statement sent separately costs two thread hand-offs — far more than
//! the statement itself. So the transaction sends work as scripts: several statements as ONE
//! command (sqlx runs a `;`-separated query statement by statement on that thread and streams
//! back every statement's rows). `BEGIN IMMEDIATE` rides on the first command, and the
//! deferred statements, the event rows and `COMMIT` on the last.

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Either, Executor, Row, SqliteConnection};
use tokio::sync::MutexGuard;
use vidscribe_core::{Event, EventData};

use crate::error::{Result, StoreError};
use crate::hub::EventHub;
use crate::sql::query::{now, renumber, stmt, Arg, Conn, Stmt};

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

/// Runs `stmts` as one command; returns each statement's rows, in order. Each statement's
/// `$n` are renumbered to follow the values of the statements before it (sqlx binds `$n` to
/// the n-th value of the whole command).
async fn script(conn: &mut SqliteConnection, stmts: Vec<Stmt>) -> Result<Vec<Vec<SqliteRow>>> {
    let expected = stmts.len();
    let mut sql = String::with_capacity(1024);
    let mut args: Vec<Arg> = Vec::new();
    for s in stmts {
        sql.push_str(&renumber(&s.sql, args.len()));
        sql.push_str(";\n");
        args.extend(s.args);
    }
    let mut out: Vec<Vec<SqliteRow>> = Vec::with_capacity(expected);
    let mut current = Vec::new();
    let mut stream = conn.fetch_many(sqlx::query_with(sql.as_str(), super::arguments(args)));
    while let Some(item) = stream.try_next().await? {
        match item {
            Either::Left(_) => out.push(std::mem::take(&mut current)),
            Either::Right(row) => current.push(row),
        }
    }
    drop(stream);
    if out.len() != expected {
        return Err(StoreError::Corrupt(format!("a script of {expected} statements reported {} results", out.len())));
    }
    Ok(out)
}

/// Event rows inserted per command; a transaction with more uses several.
const EVENTS_PER_SCRIPT: usize = 16;

/// One `BEGIN IMMEDIATE … COMMIT` on the writer, collecting its events and deferred statements.
pub struct WriteTx<'a> {
    guard: MutexGuard<'a, WriterConn>,
    hub: &'a EventHub,
    events: Vec<(chrono::DateTime<chrono::Utc>, EventData)>,
    deferred: Vec<Stmt>,
    /// `BEGIN IMMEDIATE` has been sent.
    begun: bool,
}

impl<'a> WriteTx<'a> {
    /// Takes the writer without a round trip of its own: the first command starts with
    /// `BEGIN IMMEDIATE`.
    pub(super) async fn lock(mut guard: MutexGuard<'a, WriterConn>, hub: &'a EventHub) -> Result<WriteTx<'a>> {
        // Marked before BEGIN: a future dropped while BEGIN is in flight must still leave
        // the next user a ROLLBACK to do (a ROLLBACK outside a transaction is harmless).
        let dirty = std::mem::replace(&mut guard.dirty, true);
        let conn = guard.conn.as_mut().ok_or(sqlx::Error::PoolClosed)?;
        if dirty {
            let _ = conn.execute("ROLLBACK").await;
        }
        Ok(WriteTx { guard, hub, events: Vec::new(), deferred: Vec::new(), begun: false })
    }

    fn conn(&mut self) -> &mut SqliteConnection {
        self.guard.conn.as_mut().expect("writer connection open while a transaction is running")
    }

    /// Runs `stmts` as one command inside the transaction, beginning it first if needed.
    async fn send(&mut self, mut stmts: Vec<Stmt>) -> Result<Vec<Vec<SqliteRow>>> {
        if self.begun {
            return script(self.conn(), stmts).await;
        }
        stmts.insert(0, stmt!("BEGIN IMMEDIATE"));
        self.begun = true;
        let mut rows = script(self.conn(), stmts).await?;
        rows.remove(0);
        Ok(rows)
    }
}

#[async_trait]
impl Conn for WriteTx<'_> {
    type Row = SqliteRow;

    async fn rows(&mut self, s: Stmt) -> Result<Vec<SqliteRow>> {
        Ok(self.send(vec![s]).await?.pop().unwrap_or_default())
    }

    async fn run(&mut self, s: Stmt) -> Result<u64> {
        if !self.begun {
            self.send(Vec::new()).await?;
        }
        self.conn().run(s).await
    }

    async fn script(&mut self, stmts: Vec<Stmt>) -> Result<Vec<Vec<SqliteRow>>> {
        self.send(stmts).await
    }

    /// One command; when the fence matched nothing, what ran after it is rolled back by the
    /// caller (SQLite has no CHECK constraints for it to trip over meanwhile).
    async fn fenced(&mut self, stmts: Vec<Stmt>) -> Result<Option<Vec<Vec<SqliteRow>>>> {
        let rows = self.send(stmts).await?;
        Ok(rows.first().is_some_and(|r| !r.is_empty()).then_some(rows))
    }
}

#[async_trait]
impl crate::sql::query::WriteTx for WriteTx<'_> {
    fn event(&mut self, data: EventData) {
        self.events.push((now(), data));
    }

    fn defer(&mut self, stmt: Stmt) {
        self.deferred.push(stmt);
    }

    /// The deferred statements, the event rows and COMMIT, in one command when there are
    /// few events; then the events are published, still holding the writer, so they leave in
    /// commit order.
    async fn commit(mut self) -> Result<()> {
        if !self.begun && self.deferred.is_empty() && self.events.is_empty() {
            return self.rollback().await;
        }
        let events = std::mem::take(&mut self.events);
        let mut inserts = Vec::with_capacity(events.len());
        for (at, data) in &events {
            let json = serde_json::to_string(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            inserts.push(stmt!(
                "INSERT INTO events (kind, batch_id, job_id, at, data) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
                data.kind().as_str(),
                data.batch_id(),
                Arg::from(data.job_id().map(|j| j.as_uuid().to_string())),
                *at,
                json
            ));
        }
        let mut inserts = inserts.into_iter().peekable();
        let mut stmts = std::mem::take(&mut self.deferred);
        let mut seqs = Vec::with_capacity(events.len());
        loop {
            let leading = stmts.len();
            stmts.extend(inserts.by_ref().take(EVENTS_PER_SCRIPT));
            let inserted = stmts.len() - leading;
            let last = inserts.peek().is_none();
            if last {
                stmts.push(stmt!("COMMIT"));
            }
            for r in self.send(std::mem::take(&mut stmts)).await?.iter().skip(leading).take(inserted) {
                let seq = r.first().ok_or_else(|| StoreError::Corrupt("event insert returned no seq".into()))?;
                seqs.push(seq.try_get::<i64, _>(0)?);
            }
            if last {
                break;
            }
        }
        self.guard.dirty = false;
        for ((at, data), seq) in events.into_iter().zip(seqs) {
            self.hub.publish(Event { seq, at, data });
        }
        Ok(())
    }

    async fn rollback(mut self) -> Result<()> {
        if self.begun {
            self.conn().execute("ROLLBACK").await?;
        }
        self.guard.dirty = false;
        Ok(())
    }
}
