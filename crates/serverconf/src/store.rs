//! The SQL store: SQLite (one file) by default, PostgreSQL when several nodes share it.
//!
//! The whole configuration is read and written as one [`Config`] in one transaction. Every
//! write bumps a version counter row; readers compare it to see whether anything changed,
//! and writers use it for optimistic concurrency (a write based on an older read fails with
//! [`StoreError::Conflict`] instead of losing the other writer's change).

use std::borrow::Cow;
use std::collections::hash_map::{Entry, HashMap};
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::QueryBuilder;
use xroad_identifiers::{ClientId, Code, GlobalGroupId, LocalGroupId};

use crate::model::{
    diff, AccessRight, Certificate, Change, ClientConfig, Config, ConfigError, DescriptionType,
    Endpoint, Id, LocalGroup, ServerSettings, Service, ServiceDescription, Subject,
};
use crate::snapshot::FxMap;

/// The schema version this binary knows; a database with a newer one is refused.
pub const SCHEMA_VERSION: i64 = 1;

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "initial",
    include_str!("../../../migrations/sqlite/0001_initial.sql"),
)];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "initial",
    include_str!("../../../migrations/postgres/0001_initial.sql"),
)];

/// Rows per multi-row INSERT (well under SQLite's and PostgreSQL's bind limits).
const BATCH: usize = 1000;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database URL is not usable.
    #[error("invalid database URL '{url}': {reason}")]
    Url {
        /// The URL as given (without password).
        url: String,
        /// Why.
        reason: String,
    },
    /// The schema was migrated by a newer binary.
    #[error("the database schema is version {found}, newer than this binary knows ({known}); run a newer xroad-sidecar")]
    SchemaTooNew {
        /// The database's version.
        found: i64,
        /// This binary's version.
        known: i64,
    },
    /// The document is invalid; nothing was changed.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] ConfigError),
    /// Another writer changed the store since it was read; nothing was changed.
    #[error(
        "the configuration was changed by someone else meanwhile; nothing was written, try again"
    )]
    Conflict,
    /// A row the store holds cannot be understood.
    #[error("corrupt data in table '{table}': {message}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn corrupt(table: &'static str, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table,
        message: message.to_string(),
    }
}

#[derive(Debug, Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code on whichever pool the store has: sqlx's generic query API compiles
/// it once per backend.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// A handle on the configuration store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

/// The result of [`Store::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// What changed (or would change, in a dry run).
    pub changes: Vec<Change>,
    /// The store version afterwards.
    pub version: i64,
}

/// What [`Store::load`] reads: the small tables as rows, the large ones as one JSON array
/// each, built by the database (see [`packed_table`]).
struct Rows {
    version: i64,
    server: Option<ServerRow>,
    certs: Vec<(i64, Vec<u8>)>,
    clients: String,
    descriptions: String,
    services: String,
    endpoints: String,
    groups: String,
    members: String,
    acl: String,
}

type ServerRow = (String, String, String, String, Option<String>);

/// The query reading `id` and `columns` of every row of `table` as one JSON array of
/// arrays. Handing rows one by one from the database driver costs several microseconds each
/// (100,000 access rights took most of a second); one value per table takes milliseconds
/// to parse. JSON also keeps any text intact, quotes and separators included. SQLite is not
/// asked to order the rows (an ordered aggregate sorts into a temporary b-tree even though a
/// table scan already comes in `id` order): [`unpack`] puts them in order when they are not.
fn packed_table(postgres: bool, table: &str, columns: &str) -> String {
    if postgres {
        format!(
            "SELECT COALESCE(json_agg(json_build_array(id, {columns}) ORDER BY id), '[]')::text \
             FROM {table}"
        )
    } else {
        format!("SELECT json_group_array(json_array(id, {columns})) FROM {table}")
    }
}

/// A row of a packed table: its `id` comes first.
trait Packed {
    fn id(&self) -> i64;
}

/// Parses one packed table, rows in `id` order.
fn unpack<'a, T: serde::Deserialize<'a> + Packed>(
    table: &'static str,
    json: &'a str,
) -> Result<Vec<T>, StoreError> {
    let mut rows: Vec<T> = serde_json::from_str(json).map_err(|e| corrupt(table, e))?;
    if !rows.is_sorted_by_key(T::id) {
        rows.sort_unstable_by_key(T::id);
    }
    Ok(rows)
}

/// A boolean column: SQLite gives 0/1, PostgreSQL true/false.
#[derive(serde::Deserialize, Clone, Copy)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Int(i64),
}

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        match flag {
            Flag::Bool(b) => b,
            Flag::Int(i) => i != 0,
        }
    }
}

#[derive(serde::Deserialize)]
struct ClientRow<'a> {
    id: i64,
    #[serde(borrow)]
    instance: Cow<'a, str>,
    #[serde(borrow)]
    class: Cow<'a, str>,
    #[serde(borrow)]
    code: Cow<'a, str>,
    #[serde(borrow)]
    subsystem: Cow<'a, str>,
    #[serde(borrow)]
    is_authentication: Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct DescriptionRow {
    id: i64,
    client: i64,
    kind: String,
    url: String,
    disabled: Flag,
    notice: Option<String>,
}

#[derive(serde::Deserialize)]
struct ServiceRow {
    id: i64,
    description: i64,
    code: String,
    version: String,
    title: Option<String>,
    url: Option<String>,
    timeout: i64,
    ssl_authentication: Option<Flag>,
}

#[derive(serde::Deserialize)]
struct EndpointRow {
    id: i64,
    service: i64,
    method: String,
    path: String,
}

#[derive(serde::Deserialize)]
struct GroupRow {
    id: i64,
    client: i64,
    code: String,
    description: String,
}

#[derive(serde::Deserialize)]
struct MemberRow<'a> {
    id: i64,
    group: i64,
    #[serde(borrow)]
    instance: Cow<'a, str>,
    #[serde(borrow)]
    class: Cow<'a, str>,
    #[serde(borrow)]
    code: Cow<'a, str>,
    #[serde(borrow)]
    subsystem: Cow<'a, str>,
}

/// One access right's row: one subject of the right (client, service code, method, path).
#[derive(serde::Deserialize)]
struct AclRow<'a> {
    id: i64,
    client: i64,
    #[serde(borrow)]
    service: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    instance: Cow<'a, str>,
    #[serde(borrow)]
    class: Cow<'a, str>,
    #[serde(borrow)]
    code: Cow<'a, str>,
    #[serde(borrow)]
    subsystem: Cow<'a, str>,
    #[serde(borrow)]
    group: Cow<'a, str>,
}

macro_rules! packed_rows {
    ($($row:ty),*) => {
        $(impl Packed for $row {
            fn id(&self) -> i64 {
                self.id
            }
        })*
    };
}

packed_rows!(
    ClientRow<'_>,
    DescriptionRow,
    ServiceRow,
    EndpointRow,
    GroupRow,
    MemberRow<'_>,
    AclRow<'_>
);

/// Whether `url` names a PostgreSQL database (otherwise it is an SQLite file).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

async fn pg_pool(url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
}

/// Connects to the PostgreSQL store, creating its database first when it does not exist yet
/// and the user may (as the Java sidecar's first start does with `XROAD_DB_PWD`).
async fn connect_postgres(url: &str) -> Result<PgPool, StoreError> {
    let missing = match pg_pool(url).await {
        Ok(pool) => return Ok(pool),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => e,
        Err(e) => return Err(e.into()),
    };
    let bad_url = |reason: &str| StoreError::Url {
        url: redact_url(url),
        reason: reason.to_owned(),
    };
    let mut admin = url::Url::parse(url).map_err(|e| bad_url(&e.to_string()))?;
    let name = admin.path().trim_start_matches('/').to_owned();
    if name.is_empty() || name.contains('"') {
        return Err(sqlx::Error::Database(missing).into());
    }
    admin.set_path("postgres");
    let pool = pg_pool(admin.as_str()).await?;
    let created = sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
        .execute(&pool)
        .await;
    pool.close().await;
    match created {
        Ok(_) => tracing::info!("created the server configuration database {name}"),
        // Another node created it meanwhile (42P04), or is creating it right now (23505).
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(pg_pool(url).await?)
}

impl Store {
    /// Opens the store at `url` and migrates it: `postgres://…` for PostgreSQL; anything
    /// else is an SQLite file (`sqlite://path`, `sqlite:path` or a plain path), created when
    /// missing.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let db = if is_postgres_url(url) {
            Db::Postgres(connect_postgres(url).await?)
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::Url {
                    url: url.to_owned(),
                    reason: "no file name".to_owned(),
                });
            }
            let memory = path == ":memory:";
            let options = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .journal_mode(if memory {
                    SqliteJournalMode::Memory
                } else {
                    SqliteJournalMode::Wal
                });
            let pool = SqlitePoolOptions::new()
                // Every connection to ":memory:" would be a database of its own.
                .max_connections(if memory { 1 } else { 4 })
                .connect_with(options)
                .await?;
            Db::Sqlite(pool)
        };
        let store = Store { db };
        store.migrate().await?;
        Ok(store)
    }

    /// Whether this store is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Closes the connections.
    pub async fn close(&self) {
        on_pool!(&self.db, pool => pool.close().await)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrations = match self.db {
            Db::Sqlite(_) => SQLITE_MIGRATIONS,
            Db::Postgres(_) => POSTGRES_MIGRATIONS,
        };
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            if self.is_postgres() {
                // Nodes starting together migrate one after the other.
                sqlx::query("SELECT pg_advisory_xact_lock(7285601)").execute(&mut *tx).await?;
            }
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, \
                 description TEXT NOT NULL, applied_at TEXT NOT NULL)",
            )
            .execute(&mut *tx)
            .await?;
            let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
                .fetch_one(&mut *tx)
                .await?;
            let current = current.unwrap_or(0);
            if current > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew { found: current, known: SCHEMA_VERSION });
            }
            for (version, description, sql) in migrations.iter().filter(|m| m.0 > current) {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO schema_version (version, description, applied_at) \
                     VALUES ($1, $2, CAST(CURRENT_TIMESTAMP AS TEXT))",
                )
                .bind(version)
                .bind(description)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        on_pool!(&self.db, pool => {
            let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
                .fetch_one(pool)
                .await?;
            Ok(v.unwrap_or(0))
        })
    }

    /// The change counter: it grows with every write, from any node.
    pub async fn version(&self) -> Result<i64, StoreError> {
        on_pool!(&self.db, pool => {
            Ok(sqlx::query_scalar("SELECT version FROM conf_version WHERE id = 1")
                .fetch_one(pool)
                .await?)
        })
    }

    /// Reads the whole configuration (one consistent read) and its version.
    pub async fn load(&self) -> Result<(Config, i64), StoreError> {
        let rows = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            if self.is_postgres() {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let pg = self.is_postgres();
            let packed = |table: &str, columns: &str| packed_table(pg, table, columns);
            let rows = Rows {
                version: sqlx::query_scalar("SELECT version FROM conf_version WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?,
                server: sqlx::query_as(
                    "SELECT instance, member_class, member_code, server_code, anchor FROM server",
                )
                .fetch_optional(&mut *tx)
                .await?,
                certs: sqlx::query_as("SELECT client_id, der FROM client_certificate ORDER BY id")
                    .fetch_all(&mut *tx)
                    .await?,
                clients: sqlx::query_scalar(&packed(
                    "client",
                    "instance, member_class, member_code, subsystem_code, is_authentication",
                ))
                .fetch_one(&mut *tx)
                .await?,
                descriptions: sqlx::query_scalar(&packed(
                    "service_description",
                    "client_id, type, url, disabled, disabled_notice",
                ))
                .fetch_one(&mut *tx)
                .await?,
                services: sqlx::query_scalar(&packed(
                    "service",
                    "description_id, service_code, service_version, title, url, \
                     timeout_seconds, ssl_authentication",
                ))
                .fetch_one(&mut *tx)
                .await?,
                endpoints: sqlx::query_scalar(&packed("endpoint", "service_id, method, path"))
                    .fetch_one(&mut *tx)
                    .await?,
                groups: sqlx::query_scalar(&packed(
                    "local_group",
                    "client_id, group_code, description",
                ))
                .fetch_one(&mut *tx)
                .await?,
                members: sqlx::query_scalar(&packed(
                    "local_group_member",
                    "group_id, instance, member_class, member_code, subsystem_code",
                ))
                .fetch_one(&mut *tx)
                .await?,
                acl: sqlx::query_scalar(&packed(
                    "access_right",
                    "client_id, service_code, method, path, subject_type, instance, \
                     member_class, member_code, subsystem_code, group_code",
                ))
                .fetch_one(&mut *tx)
                .await?,
            };
            tx.commit().await?;
            rows
        });
        let version = rows.version;
        Ok((assemble(rows)?, version))
    }

    /// Makes the store equal to `config` (validated first; invalid documents change
    /// nothing). Returns what changed; with `dry_run` only what would change.
    pub async fn apply(&self, config: &Config, dry_run: bool) -> Result<ApplyOutcome, StoreError> {
        config.validate()?;
        let mut want = config.clone();
        want.normalize();
        let (mut have, version) = self.load().await?;
        have.normalize();
        let changes = diff(&have, &want);
        if dry_run || changes.is_empty() {
            return Ok(ApplyOutcome { changes, version });
        }
        let version = self.write(&want, version).await?;
        Ok(ApplyOutcome { changes, version })
    }

    /// Reads the configuration, lets `edit` change it, validates and writes it back,
    /// retrying a few times when another writer got in between.
    pub async fn update<F>(&self, mut edit: F) -> Result<ApplyOutcome, StoreError>
    where
        F: FnMut(&mut Config) -> Result<(), ConfigError>,
    {
        let mut attempts = 0;
        loop {
            let (mut config, version) = self.load().await?;
            let before = config.clone();
            edit(&mut config)?;
            config.validate()?;
            let (mut a, mut b) = (before, config.clone());
            a.normalize();
            b.normalize();
            let changes = diff(&a, &b);
            if changes.is_empty() {
                return Ok(ApplyOutcome { changes, version });
            }
            match self.write(&b, version).await {
                Ok(version) => return Ok(ApplyOutcome { changes, version }),
                Err(StoreError::Conflict) if attempts < 5 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Replaces the stored configuration with `config` if the store is still at
    /// `expected_version`; returns the new version.
    async fn write(&self, config: &Config, expected_version: i64) -> Result<i64, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE conf_version SET version = version + 1 WHERE id = 1 AND version = $1",
            )
            .bind(expected_version)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
            for table in [
                "access_right",
                "local_group_member",
                "local_group",
                "endpoint",
                "service",
                "service_description",
                "client_certificate",
                "client",
                "server",
            ] {
                sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
            }
            if let Some(s) = &config.server {
                let o = &s.owner.0;
                sqlx::query(
                    "INSERT INTO server (id, instance, member_class, member_code, server_code, anchor) \
                     VALUES (1, $1, $2, $3, $4, $5)",
                )
                .bind(o.instance())
                .bind(o.member_class())
                .bind(o.member_code())
                .bind(&s.server_code)
                .bind(&s.anchor)
                .execute(&mut *tx)
                .await?;
            }
            let mut members = Vec::new();
            let mut endpoints = Vec::new();
            let mut acl = Vec::new();
            for c in &config.clients {
                let id = &c.id.0;
                let client_id: i64 = sqlx::query_scalar(
                    "INSERT INTO client (instance, member_class, member_code, subsystem_code, \
                     is_authentication) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(id.instance())
                .bind(id.member_class())
                .bind(id.member_code())
                .bind(id.subsystem_code().unwrap_or(""))
                .bind(c.is_authentication.as_str())
                .fetch_one(&mut *tx)
                .await?;
                for cert in &c.certificates {
                    sqlx::query("INSERT INTO client_certificate (client_id, der) VALUES ($1, $2)")
                        .bind(client_id)
                        .bind(&cert.0)
                        .execute(&mut *tx)
                        .await?;
                }
                for d in &c.service_descriptions {
                    let description_id: i64 = sqlx::query_scalar(
                        "INSERT INTO service_description (client_id, type, url, disabled, \
                         disabled_notice) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(client_id)
                    .bind(d.kind.as_str())
                    .bind(&d.url)
                    .bind(d.disabled)
                    .bind(&d.disabled_notice)
                    .fetch_one(&mut *tx)
                    .await?;
                    for s in &d.services {
                        let service_id: i64 = sqlx::query_scalar(
                            "INSERT INTO service (description_id, service_code, service_version, \
                             title, url, timeout_seconds, ssl_authentication) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                        )
                        .bind(description_id)
                        .bind(&s.code)
                        .bind(s.version.as_deref().unwrap_or(""))
                        .bind(&s.title)
                        .bind(&s.url)
                        .bind(i64::from(s.timeout))
                        .bind(s.ssl_authentication)
                        .fetch_one(&mut *tx)
                        .await?;
                        endpoints.extend(s.endpoints.iter().map(|e| (service_id, e)));
                    }
                }
                for g in &c.local_groups {
                    let group_id: i64 = sqlx::query_scalar(
                        "INSERT INTO local_group (client_id, group_code, description) \
                         VALUES ($1, $2, $3) RETURNING id",
                    )
                    .bind(client_id)
                    .bind(&g.code)
                    .bind(&g.description)
                    .fetch_one(&mut *tx)
                    .await?;
                    members.extend(g.members.iter().map(|m| (group_id, &m.0)));
                }
                for r in &c.access_rights {
                    acl.extend(r.subjects.iter().map(|s| (client_id, r, subject_parts(s))));
                }
            }
            for chunk in endpoints.chunks(BATCH) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO endpoint (service_id, method, path, generated) ",
                );
                q.push_values(chunk, |mut b, (service_id, e)| {
                    b.push_bind(*service_id)
                        .push_bind(e.method.as_str())
                        .push_bind(e.path.as_str())
                        .push_bind(false);
                });
                q.build().execute(&mut *tx).await?;
            }
            for chunk in members.chunks(BATCH) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO local_group_member (group_id, instance, member_class, \
                     member_code, subsystem_code) ",
                );
                q.push_values(chunk, |mut b, (group_id, m)| {
                    b.push_bind(*group_id)
                        .push_bind(m.instance())
                        .push_bind(m.member_class())
                        .push_bind(m.member_code())
                        .push_bind(m.subsystem_code().unwrap_or(""));
                });
                q.build().execute(&mut *tx).await?;
            }
            for chunk in acl.chunks(BATCH) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO access_right (client_id, service_code, method, path, \
                     subject_type, instance, member_class, member_code, subsystem_code, \
                     group_code) ",
                );
                q.push_values(chunk, |mut b, (client_id, r, s)| {
                    b.push_bind(*client_id)
                        .push_bind(r.service.as_str())
                        .push_bind(r.method.as_str())
                        .push_bind(r.path.as_str())
                        .push_bind(s[0])
                        .push_bind(s[1])
                        .push_bind(s[2])
                        .push_bind(s[3])
                        .push_bind(s[4])
                        .push_bind(s[5]);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(expected_version + 1)
        })
    }
}

/// type, instance, member class, member code, subsystem code, group code ('' when unused).
fn subject_parts(s: &Subject) -> [&str; 6] {
    match s {
        Subject::Client(c) => [
            c.object_type().as_str(),
            c.instance(),
            c.member_class(),
            c.member_code(),
            c.subsystem_code().unwrap_or(""),
            "",
        ],
        Subject::GlobalGroup(g) => ["GLOBALGROUP", g.instance(), "", "", "", g.group_code()],
        Subject::LocalGroup(g) => ["LOCALGROUP", "", "", "", "", g.group_code()],
    }
}

fn client_id(
    table: &'static str,
    instance: &str,
    class: &str,
    code: &str,
    subsystem: &str,
) -> Result<ClientId, StoreError> {
    ClientId::new(
        instance,
        class,
        code,
        (!subsystem.is_empty()).then(|| Code::from(subsystem)),
    )
    .map_err(|e| corrupt(table, e))
}

/// An access right's subject from its columns (type, instance, class, code, subsystem, group).
fn subject([kind, i, c, m, s, g]: [&str; 6]) -> Result<Subject, StoreError> {
    Ok(match kind {
        "MEMBER" | "SUBSYSTEM" => Subject::Client(client_id("access_right", i, c, m, s)?),
        "GLOBALGROUP" => {
            Subject::GlobalGroup(GlobalGroupId::new(i, g).map_err(|e| corrupt("access_right", e))?)
        }
        "LOCALGROUP" => {
            Subject::LocalGroup(LocalGroupId::new(g).map_err(|e| corrupt("access_right", e))?)
        }
        other => {
            return Err(corrupt(
                "access_right",
                format!("unknown subject type '{other}'"),
            ))
        }
    })
}

fn assemble(rows: Rows) -> Result<Config, StoreError> {
    let server = rows
        .server
        .map(|(i, c, m, code, anchor)| {
            Ok::<_, StoreError>(ServerSettings {
                owner: Id(client_id("server", &i, &c, &m, "")?),
                server_code: code,
                anchor,
            })
        })
        .transpose()?;
    let client_rows: Vec<ClientRow> = unpack("client", &rows.clients)?;
    let mut clients = Vec::with_capacity(client_rows.len());
    let mut by_id: HashMap<i64, usize> = HashMap::with_capacity(client_rows.len());
    for row in client_rows {
        let id = client_id(
            "client",
            &row.instance,
            &row.class,
            &row.code,
            &row.subsystem,
        )?;
        let mut client = ClientConfig::new(id);
        client.is_authentication = row
            .is_authentication
            .parse()
            .map_err(|e| corrupt("client", e))?;
        by_id.insert(row.id, clients.len());
        clients.push(client);
    }
    let client_at = |table: &'static str, id: i64| {
        by_id
            .get(&id)
            .copied()
            .ok_or_else(|| corrupt(table, format!("unknown client {id}")))
    };
    for (cid, der) in rows.certs {
        clients[client_at("client_certificate", cid)?]
            .certificates
            .push(Certificate(der));
    }
    let mut descriptions: HashMap<i64, (usize, usize)> = HashMap::new();
    for row in unpack::<DescriptionRow>("service_description", &rows.descriptions)? {
        let ci = client_at("service_description", row.client)?;
        let kind: DescriptionType = row
            .kind
            .parse()
            .map_err(|e| corrupt("service_description", e))?;
        let list = &mut clients[ci].service_descriptions;
        descriptions.insert(row.id, (ci, list.len()));
        list.push(ServiceDescription {
            kind,
            url: row.url,
            disabled: row.disabled.into(),
            disabled_notice: row.notice,
            services: Vec::new(),
        });
    }
    let service_rows: Vec<ServiceRow> = unpack("service", &rows.services)?;
    let mut services: HashMap<i64, (usize, usize, usize)> =
        HashMap::with_capacity(service_rows.len());
    for row in service_rows {
        let did = row.description;
        let &(ci, di) = descriptions
            .get(&did)
            .ok_or_else(|| corrupt("service", format!("unknown service description {did}")))?;
        let list = &mut clients[ci].service_descriptions[di].services;
        services.insert(row.id, (ci, di, list.len()));
        list.push(Service {
            code: row.code,
            version: (!row.version.is_empty()).then_some(row.version),
            title: row.title,
            url: row.url,
            timeout: u32::try_from(row.timeout).map_err(|e| corrupt("service", e))?,
            // NULL means true, as in Java.
            ssl_authentication: row.ssl_authentication.is_none_or(bool::from),
            endpoints: Vec::new(),
        });
    }
    for row in unpack::<EndpointRow>("endpoint", &rows.endpoints)? {
        let sid = row.service;
        let &(ci, di, si) = services
            .get(&sid)
            .ok_or_else(|| corrupt("endpoint", format!("unknown service {sid}")))?;
        clients[ci].service_descriptions[di].services[si]
            .endpoints
            .push(Endpoint {
                method: row.method,
                path: row.path,
            });
    }
    let mut groups: HashMap<i64, (usize, usize)> = HashMap::new();
    for row in unpack::<GroupRow>("local_group", &rows.groups)? {
        let ci = client_at("local_group", row.client)?;
        let list = &mut clients[ci].local_groups;
        groups.insert(row.id, (ci, list.len()));
        list.push(LocalGroup {
            code: row.code,
            description: row.description,
            members: Vec::new(),
        });
    }
    for row in unpack::<MemberRow>("local_group_member", &rows.members)? {
        let gid = row.group;
        let &(ci, gi) = groups
            .get(&gid)
            .ok_or_else(|| corrupt("local_group_member", format!("unknown group {gid}")))?;
        let member = client_id(
            "local_group_member",
            &row.instance,
            &row.class,
            &row.code,
            &row.subsystem,
        )?;
        clients[ci].local_groups[gi].members.push(Id(member));
    }
    let acl_rows: Vec<AclRow> = unpack("access_right", &rows.acl)?;
    // One access right per (client, service, method, path) with its subjects in id order;
    // the rights in the order of their first row.
    let mut rights: FxMap<(i64, &str, &str, &str), (usize, usize)> = FxMap::default();
    for row in &acl_rows {
        let subject = subject([
            &row.kind,
            &row.instance,
            &row.class,
            &row.code,
            &row.subsystem,
            &row.group,
        ])?;
        let key = (row.client, &*row.service, &*row.method, &*row.path);
        let &mut (ci, ri) = match rights.entry(key) {
            Entry::Occupied(at) => at.into_mut(),
            Entry::Vacant(slot) => {
                let ci = client_at("access_right", row.client)?;
                let list = &mut clients[ci].access_rights;
                list.push(AccessRight {
                    service: row.service.to_string(),
                    method: row.method.to_string(),
                    path: row.path.to_string(),
                    subjects: Vec::new(),
                });
                slot.insert((ci, list.len() - 1))
            }
        };
        clients[ci].access_rights[ri].subjects.push(subject);
    }
    Ok(Config { server, clients })
}

#[cfg(test)]
mod tests {
    use super::{unpack, AclRow, EndpointRow, ServiceRow, StoreError};

    #[test]
    fn damaged_packed_tables_are_corrupt_not_a_panic() {
        for bad in [
            "",
            "[",
            "[[1,\"a\"",
            "{}",
            "[[\"x\",\"a\",\"b\",\"c\"]]",
            "[[1]]",
            "[[1,2,\"s\",\"m\",\"p\",\"MEMBER\",\"I\",\"C\",\"M\",\"\"]]",
        ] {
            match unpack::<AclRow>("access_right", bad) {
                Err(StoreError::Corrupt { table, .. }) => assert_eq!(table, "access_right"),
                Err(e) => panic!("{bad}: {e}"),
                Ok(_) => panic!("{bad}: accepted"),
            }
        }
    }

    #[test]
    fn booleans_come_as_numbers_or_booleans() {
        let rows: Vec<ServiceRow> = unpack(
            "service",
            r#"[[1,2,"a","",null,null,30,0],[2,2,"b","v1","T","http://x",0,true],[3,2,"c","",null,null,1,null]]"#,
        )
        .unwrap();
        let ssl: Vec<_> = rows
            .iter()
            .map(|r| r.ssl_authentication.map(bool::from))
            .collect();
        assert_eq!(ssl, [Some(false), Some(true), None]);
    }

    #[test]
    fn rows_come_out_in_id_order_whatever_order_the_database_used() {
        let rows: Vec<EndpointRow> = unpack(
            "endpoint",
            r#"[[3,1,"GET","/c"],[1,1,"GET","/a"],[2,1,"GET","/b"]]"#,
        )
        .unwrap();
        let paths: Vec<_> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/a", "/b", "/c"]);
    }
}
