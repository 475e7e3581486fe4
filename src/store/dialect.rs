//! Each SQL difference between SQLite and PostgreSQL, named once. Everything else the store
//! writes is SQL both understand; a function that needs one of these asks its [`Dialect`].

use super::Backend;

/// The SQL of one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect(Backend);

impl Dialect {
    pub(crate) fn of(backend: Backend) -> Self {
        Dialect(backend)
    }

    /// Whether one connection writes at a time (SQLite): more writers only wait on each other.
    pub(crate) fn single_writer(self) -> bool {
        self.0 == Backend::Sqlite
    }

    /// What a claim's `SELECT` ends with: on PostgreSQL it skips rows another daemon has
    /// locked (`FOR UPDATE SKIP LOCKED`); on SQLite the single writer serialises claims.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self.0 {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// What a read in a writing transaction ends with to hold the rows of `alias` until the
    /// commit (PostgreSQL); on SQLite the transaction is the one writer already.
    pub(crate) fn lock_rows_of(self, alias: &str) -> String {
        match self.0 {
            Backend::Postgres => format!(" FOR UPDATE OF {alias}"),
            Backend::Sqlite => String::new(),
        }
    }

    /// Whether the columns of a `VALUES` list need their types spelled out: PostgreSQL cannot
    /// tell a bound parameter's type there; SQLite keeps each value as bound.
    pub(crate) fn typed_values(self) -> bool {
        self.0 == Backend::Postgres
    }

    /// Binds `value` into a `VALUES` row, cast to `sql_type` where [`Dialect::typed_values`].
    pub(crate) fn push_typed<'q, DB, T>(
        self,
        row: &mut sqlx::query_builder::Separated<'_, 'q, DB, &'static str>,
        value: T,
        sql_type: &str,
    ) where
        DB: sqlx::Database,
        T: 'q + sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        if self.typed_values() {
            row.push("CAST(");
            row.push_bind_unseparated(value);
            row.push_unseparated(format!(" AS {sql_type})"));
        } else {
            row.push_bind(value);
        }
    }

    /// What an `UPDATE {table} … FROM v WHERE {table}.id = v.id` ends with. SQLite (3.46)
    /// scans the whole table for each batch unless the join is repeated as `IN`; PostgreSQL
    /// would then materialise `v` and compare every pair of rows.
    pub(crate) fn join_on_values(self, table: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!(" AND {table}.id IN (SELECT id FROM v)"),
            Backend::Postgres => String::new(),
        }
    }

    /// The statement a table is emptied with, the table's name after it. PostgreSQL
    /// truncates: a million deleted rows would be read past until vacuumed.
    pub(crate) fn empty_table(self) -> &'static str {
        match self.0 {
            Backend::Sqlite => "DELETE FROM",
            Backend::Postgres => "TRUNCATE",
        }
    }

    /// An SQL expression giving a new random key of 32 hex digits each time it is evaluated
    /// (128 random bits on SQLite, 122 on PostgreSQL's version 4 UUIDs).
    pub(crate) fn random_key(self) -> &'static str {
        match self.0 {
            Backend::Sqlite => "lower(hex(randomblob(16)))",
            Backend::Postgres => "replace(CAST(gen_random_uuid() AS TEXT), '-', '')",
        }
    }

    /// Whether `later` is at most `days` days (a parameter or a number) after `earlier`.
    pub(crate) fn within_days(self, later: &str, earlier: &str, days: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("julianday({later}) - julianday({earlier}) <= {days}"),
            Backend::Postgres => format!("{later} - {earlier} <= {days} * INTERVAL '1 day'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_names_its_own_sql() {
        let (sqlite, postgres) = (Dialect::of(Backend::Sqlite), Dialect::of(Backend::Postgres));
        assert!(sqlite.single_writer() && !postgres.single_writer());
        assert_eq!(
            (sqlite.skip_locked(), postgres.skip_locked()),
            ("", " FOR UPDATE SKIP LOCKED")
        );
        assert_eq!(postgres.lock_rows_of("i"), " FOR UPDATE OF i");
        assert_eq!(sqlite.lock_rows_of("i"), "");
        assert_eq!(
            sqlite.join_on_values("inbox"),
            " AND inbox.id IN (SELECT id FROM v)"
        );
        assert_eq!(postgres.join_on_values("inbox"), "");
        assert_eq!(
            (sqlite.empty_table(), postgres.empty_table()),
            ("DELETE FROM", "TRUNCATE")
        );
        assert_eq!(
            sqlite.within_days("a", "b", "$2"),
            "julianday(a) - julianday(b) <= $2"
        );
        assert_eq!(
            postgres.within_days("a", "b", "$2"),
            "a - b <= $2 * INTERVAL '1 day'"
        );
    }
}
