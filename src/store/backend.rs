//! The two databases the directory can live in: the embedded SQLite file (the default) or a
//! PostgreSQL server that several bridge nodes can share.
//!
//! Why an enum over the two sqlx drivers and not sqlx's `Any` driver: `Any` can only be
//! configured through a URL, so the SQLite pool would lose the options it is opened with
//! today (WAL, `synchronous=FULL`, foreign keys, busy timeout) and its tests; and `Any`
//! decodes booleans only from a boolean column, which SQLite does not have. With the enum
//! every query is written once (with `$1` placeholders, which both drivers accept) and
//! [`on_backend!`] expands it for each typed driver, so the SQLite path runs exactly the
//! code it ran before and the compiler checks both.

use std::fmt;
use std::str::FromStr;

use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnection, SqliteRow};

/// One value per database kind; the directory's pools, connections and transactions.
#[derive(Debug, Clone)]
pub(crate) enum Backend<S, P> {
    /// The embedded SQLite file.
    Sqlite(S),
    /// A PostgreSQL server.
    Postgres(P),
}

/// A connection of either kind, as queries borrow it.
pub(crate) type Conn<'a> = Backend<&'a mut SqliteConnection, &'a mut PgConnection>;

/// Runs `$body` with `$c` bound to the SQLite or the PostgreSQL value of a [`Backend`]: the
/// same query text and binds, compiled once per driver.
macro_rules! on_backend {
    ($target:expr, |$c:ident| $body:expr) => {
        match $target {
            $crate::store::backend::Backend::Sqlite($c) => $body,
            $crate::store::backend::Backend::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Reads columns out of a row of either driver by name, so row decoding is written once.
pub(crate) trait DirRow {
    /// A non-null integer column.
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    /// A nullable integer column.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    /// A non-null text column.
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    /// A nullable byte column (BLOB / BYTEA).
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;
    /// A yes/no column (INTEGER 0/1 on SQLite, BOOLEAN on PostgreSQL).
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error>;
}

macro_rules! dir_row {
    ($row:ty) => {
        impl DirRow for $row {
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
                self.try_get(column)
            }
            fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}
dir_row!(SqliteRow);
dir_row!(PgRow);

/// Why a `--database-url` was refused.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    /// Not a `postgres://` or `postgresql://` URL.
    #[error(
        "the database URL must start with postgres:// (e.g. postgres://dialbridge@db.example.org:5432/dialbridge); \
         leave --database-url out to keep the directory in SQLite in the data directory"
    )]
    Scheme,
    /// The URL does not parse.
    #[error(
        "the database URL is not a valid URL (is a special character in the password not %-encoded?)"
    )]
    Syntax,
}

/// Where a PostgreSQL directory lives: a `postgres://USER[:PASSWORD]@HOST:PORT/DB` URL.
/// `Debug` and `Display` hide the password, so the URL can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The full URL, password included, for the driver only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(s).map_err(|_| DatabaseUrlError::Syntax)?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(DatabaseUrlError::Scheme);
        }
        Ok(DatabaseUrl(s.to_string()))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut url) => {
                if url.password().is_some() {
                    // Only fails for URLs that cannot have a password, which these can.
                    let _ = url.set_password(Some("***"));
                }
                write!(f, "{url}")
            }
            Err(_) => f.write_str("postgres://(unparsable)"),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_urls_are_accepted() {
        assert!(
            "postgres://u@127.0.0.1:5432/db"
                .parse::<DatabaseUrl>()
                .is_ok()
        );
        assert!("postgresql://u@h/db".parse::<DatabaseUrl>().is_ok());
        assert!(matches!(
            "sqlite:data/x.db".parse::<DatabaseUrl>(),
            Err(DatabaseUrlError::Scheme)
        ));
        assert!(matches!(
            "not a url".parse::<DatabaseUrl>(),
            Err(DatabaseUrlError::Syntax)
        ));
    }

    #[test]
    fn the_password_never_shows() {
        let url: DatabaseUrl = "postgres://u:s3cret@h:5432/db".parse().expect("valid");
        assert!(!format!("{url}").contains("s3cret"), "{url}");
        assert!(!format!("{url:?}").contains("s3cret"), "{url:?}");
        assert!(format!("{url}").contains("u:***@h:5432/db"), "{url}");
    }
}
