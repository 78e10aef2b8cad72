//! Where the two SQL languages differ, side by side. Everything else the operations say is
//! SQL both run: `$n` parameters, `RETURNING`, `ON CONFLICT … DO UPDATE`, `true`/`false`.

/// The language of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    const fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// The larger of two values.
    pub const fn greatest(self) -> &'static str {
        self.pick("MAX", "GREATEST")
    }

    /// Appended to a SELECT whose rows the transaction goes on to update: PostgreSQL's row
    /// lock; nothing in SQLite, whose single writer already excludes every other.
    pub const fn for_update(self) -> &'static str {
        self.pick("", " FOR UPDATE")
    }

    /// [`Self::for_update`] that passes over rows another transaction holds.
    pub const fn skip_locked(self) -> &'static str {
        self.pick("", " FOR UPDATE SKIP LOCKED")
    }

    /// The lease column: epoch milliseconds in SQLite, `timestamptz` in PostgreSQL.
    pub const fn lease(self) -> &'static str {
        self.pick("lease_expires_ms", "lease_expires_at")
    }

    /// The retry-backoff column, of the lease column's type.
    pub const fn not_before(self) -> &'static str {
        self.pick("not_before_ms", "not_before")
    }

    /// The database's clock in the lease column's type. Leases are compared with the
    /// database's clock, so nodes with skewed clocks agree on who is expired.
    pub const fn clock(self) -> &'static str {
        self.pick("CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)", "now()")
    }

    /// [`Self::clock`] plus `param` milliseconds (a REAL parameter).
    pub fn after_ms(self, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({} + {param} AS INTEGER)", self.clock()),
            Dialect::Postgres => format!("({} + {param} * interval '1 millisecond')", self.clock()),
        }
    }

    /// True once the lease has passed.
    pub fn lease_expired(self) -> String {
        format!("{} < {}", self.lease(), self.clock())
    }

    /// A queued job whose retry backoff (if any) is over.
    pub fn runnable(self, table: &str) -> String {
        let not_before = self.not_before();
        format!("({table}.{not_before} IS NULL OR {table}.{not_before} <= {})", self.clock())
    }
}
