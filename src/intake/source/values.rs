//! Values as the source's database typed them: reading a row column by column, and binding
//! the cursor back with its own types so it compares as the source does.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Column as _, Row, TypeInfo, ValueRef};

/// A value as the source's database typed it: the cursor binds it back with that type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum SqlValue {
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
    Timestamptz(DateTime<Utc>),
    Timestamp(NaiveDateTime),
    Date(NaiveDate),
    Json(serde_json::Value),
}

impl SqlValue {
    /// The value as the import format reads it.
    pub(super) fn text(&self) -> String {
        match self {
            SqlValue::Text(text) => text.clone(),
            SqlValue::Integer(n) => n.to_string(),
            SqlValue::Real(x) => x.to_string(),
            SqlValue::Bool(b) => b.to_string(),
            SqlValue::Timestamptz(t) => t.to_rfc3339(),
            SqlValue::Timestamp(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
            SqlValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            SqlValue::Json(v) => v.to_string(),
        }
    }

    pub(super) fn json(&self) -> serde_json::Value {
        match self {
            SqlValue::Text(text) => text.clone().into(),
            SqlValue::Integer(n) => (*n).into(),
            SqlValue::Real(x) => (*x).into(),
            SqlValue::Bool(b) => (*b).into(),
            SqlValue::Json(v) => v.clone(),
            other => other.text().into(),
        }
    }
}

/// The last row read: where the next read starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub closed_at: SqlValue,
    pub contact_id: SqlValue,
}

/// A row as read: each column's name and value (`None`: NULL).
pub(super) type SourceRow = Vec<(String, Option<SqlValue>)>;

/// Runs `sql` on `pool`, with the cursor's values as `$1` and `$2` when there is one.
pub(super) async fn fetch<DB>(
    pool: &sqlx::Pool<DB>,
    sql: &str,
    cursor: Option<&Cursor>,
) -> Result<Vec<DB::Row>, sqlx::Error>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> NaiveDateTime: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> NaiveDate: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query(sql).persistent(false);
    if let Some(c) = cursor {
        for value in [&c.closed_at, &c.contact_id] {
            query = match value.clone() {
                SqlValue::Text(v) => query.bind(v),
                SqlValue::Integer(v) => query.bind(v),
                SqlValue::Real(v) => query.bind(v),
                SqlValue::Bool(v) => query.bind(v),
                SqlValue::Timestamptz(v) => query.bind(v),
                SqlValue::Timestamp(v) => query.bind(v),
                SqlValue::Date(v) => query.bind(v),
                SqlValue::Json(v) => query.bind(v.to_string()),
            };
        }
    }
    query.fetch_all(pool).await
}

/// An SQLite row: each value by its own storage class.
pub(super) fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Result<SourceRow, String> {
    let mut values = Vec::with_capacity(row.columns().len());
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let failed = |e: sqlx::Error| format!("column `{name}`: {e}");
        let raw = row.try_get_raw(i).map_err(failed)?;
        let value = if raw.is_null() {
            None
        } else {
            let class = raw.type_info().name().to_owned();
            Some(match class.as_str() {
                "INTEGER" | "BOOLEAN" => SqlValue::Integer(row.try_get(i).map_err(failed)?),
                "REAL" => SqlValue::Real(row.try_get(i).map_err(failed)?),
                "TEXT" | "DATETIME" | "DATE" | "TIME" => {
                    SqlValue::Text(row.try_get(i).map_err(failed)?)
                }
                other => return Err(unreadable(name, other)),
            })
        };
        values.push((name.to_owned(), value));
    }
    Ok(values)
}

/// A PostgreSQL row: each value by its column's type.
pub(super) fn postgres_row(row: &sqlx::postgres::PgRow) -> Result<SourceRow, String> {
    let mut values = Vec::with_capacity(row.columns().len());
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let failed = |e: sqlx::Error| format!("column `{name}`: {e}");
        let value = match column.type_info().name() {
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => row
                .try_get::<Option<String>, _>(i)
                .map_err(failed)?
                .map(SqlValue::Text),
            "INT2" => row
                .try_get::<Option<i16>, _>(i)
                .map_err(failed)?
                .map(|v| SqlValue::Integer(v.into())),
            "INT4" => row
                .try_get::<Option<i32>, _>(i)
                .map_err(failed)?
                .map(|v| SqlValue::Integer(v.into())),
            "INT8" => row
                .try_get::<Option<i64>, _>(i)
                .map_err(failed)?
                .map(SqlValue::Integer),
            "FLOAT4" => row
                .try_get::<Option<f32>, _>(i)
                .map_err(failed)?
                .map(|v| SqlValue::Real(v.into())),
            "FLOAT8" => row
                .try_get::<Option<f64>, _>(i)
                .map_err(failed)?
                .map(SqlValue::Real),
            "BOOL" => row
                .try_get::<Option<bool>, _>(i)
                .map_err(failed)?
                .map(SqlValue::Bool),
            "TIMESTAMPTZ" => row
                .try_get::<Option<DateTime<Utc>>, _>(i)
                .map_err(failed)?
                .map(SqlValue::Timestamptz),
            "TIMESTAMP" => row
                .try_get::<Option<NaiveDateTime>, _>(i)
                .map_err(failed)?
                .map(SqlValue::Timestamp),
            "DATE" => row
                .try_get::<Option<NaiveDate>, _>(i)
                .map_err(failed)?
                .map(SqlValue::Date),
            "JSON" | "JSONB" => row
                .try_get::<Option<serde_json::Value>, _>(i)
                .map_err(failed)?
                .map(SqlValue::Json),
            other => return Err(unreadable(name, other)),
        };
        values.push((name.to_owned(), value));
    }
    Ok(values)
}

fn unreadable(column: &str, type_name: &str) -> String {
    format!(
        "column `{column}` is of type {type_name}, which a source cannot read; \
         cast it to text in the query (CAST({column} AS TEXT))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_keeps_the_source_s_types() {
        let cursor = Cursor {
            closed_at: SqlValue::Timestamptz("2026-11-20T01:00:00Z".parse().unwrap()),
            contact_id: SqlValue::Integer(42),
        };
        let text = serde_json::to_string(&cursor).unwrap();
        assert_eq!(
            text,
            r#"{"closed_at":{"type":"timestamptz","value":"2026-11-20T01:00:00Z"},"contact_id":{"type":"integer","value":42}}"#
        );
        assert_eq!(serde_json::from_str::<Cursor>(&text).unwrap(), cursor);
        let naive = SqlValue::Timestamp("2026-11-20T08:00:00".parse().unwrap());
        assert_eq!(naive.text(), "2026-11-20 08:00:00");
    }
}
