//! The SQL store: SQLite (one file) by default, PostgreSQL when several nodes share it.
//!
//! The whole configuration is read and written as one [`Config`] in one transaction. Every
//! write bumps a version counter row; readers compare it to see whether anything changed,
//! and writers use it for optimistic concurrency (a write based on an older read fails with
//! [`StoreError::Conflict`] instead of losing the other writer's change).

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::QueryBuilder;
use xroad_identifiers::{ClientId, Code, GlobalGroupId, LocalGroupId};

use crate::model::{
    diff, AccessRight, Certificate, Change, ClientConfig, Config, ConfigError, DescriptionType,
    Endpoint, Id, LocalGroup, ServerSettings, Service, ServiceDescription, Subject,
};

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

type ClientRow = (i64, String, String, String, String, String);
type ServerRow = (String, String, String, String, Option<String>);
type DescriptionRow = (i64, i64, String, String, bool, Option<String>);
type ServiceRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<bool>,
);
type GroupRow = (i64, i64, String, String);
type MemberRow = (i64, String, String, String, String);
/// One access right with all its subjects: client, service code, method, path, and the
/// subjects packed by [`ACL_QUERY_SQLITE`] / [`ACL_QUERY_POSTGRES`] (one row per right rather
/// than per subject: reading rows through the driver is what costs, not parsing them).
type AclRow = (i64, String, String, String, String);

/// A subject's six columns, each written as `<length in characters>:<text>`, so that no
/// value can be mistaken for a separator.
const PACKED_SUBJECT: &str = "length(subject_type) || ':' || subject_type || \
     length(instance) || ':' || instance || length(member_class) || ':' || member_class || \
     length(member_code) || ':' || member_code || length(subsystem_code) || ':' || subsystem_code || \
     length(group_code) || ':' || group_code";

const ACL_QUERY_SQLITE: &str = "SELECT client_id, service_code, method, path, \
     group_concat(__SUBJECT__, '' ORDER BY id) FROM access_right \
     GROUP BY client_id, service_code, method, path ORDER BY MIN(id)";

const ACL_QUERY_POSTGRES: &str = "SELECT client_id, service_code, method, path, \
     string_agg(__SUBJECT__, '' ORDER BY id) FROM access_right \
     GROUP BY client_id, service_code, method, path ORDER BY MIN(id)";

/// The access-right query for one backend.
fn acl_query(postgres: bool) -> String {
    let query = if postgres {
        ACL_QUERY_POSTGRES
    } else {
        ACL_QUERY_SQLITE
    };
    query.replace("__SUBJECT__", PACKED_SUBJECT)
}

/// The subjects of a packed access-right row: six fields each.
fn unpack_subjects(mut packed: &str) -> Result<Vec<[&str; 6]>, String> {
    let mut subjects = Vec::new();
    while !packed.is_empty() {
        let mut subject = [""; 6];
        for field in &mut subject {
            let (len, rest) = packed
                .split_once(':')
                .ok_or_else(|| "a packed subject ends early".to_owned())?;
            let len: usize = len
                .parse()
                .map_err(|_| format!("not a field length: '{len}'"))?;
            let end = rest
                .char_indices()
                .nth(len)
                .map_or(rest.len(), |(at, _)| at);
            if rest[..end].chars().count() != len {
                return Err("a packed field is shorter than its length".to_owned());
            }
            *field = &rest[..end];
            packed = &rest[end..];
        }
        subjects.push(subject);
    }
    Ok(subjects)
}

#[derive(Default)]
struct Rows {
    version: i64,
    server: Option<ServerRow>,
    clients: Vec<ClientRow>,
    certs: Vec<(i64, Vec<u8>)>,
    descriptions: Vec<DescriptionRow>,
    services: Vec<ServiceRow>,
    endpoints: Vec<(i64, String, String)>,
    groups: Vec<GroupRow>,
    members: Vec<MemberRow>,
    acl: Vec<AclRow>,
}

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
            let rows = Rows {
                version: sqlx::query_scalar("SELECT version FROM conf_version WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?,
                server: sqlx::query_as(
                    "SELECT instance, member_class, member_code, server_code, anchor FROM server",
                )
                .fetch_optional(&mut *tx)
                .await?,
                clients: sqlx::query_as(
                    "SELECT id, instance, member_class, member_code, subsystem_code, \
                     is_authentication FROM client ORDER BY id",
                )
                .fetch_all(&mut *tx)
                .await?,
                certs: sqlx::query_as("SELECT client_id, der FROM client_certificate ORDER BY id")
                    .fetch_all(&mut *tx)
                    .await?,
                descriptions: sqlx::query_as(
                    "SELECT id, client_id, type, url, disabled, disabled_notice \
                     FROM service_description ORDER BY id",
                )
                .fetch_all(&mut *tx)
                .await?,
                services: sqlx::query_as(
                    "SELECT id, description_id, service_code, service_version, title, url, \
                     timeout_seconds, ssl_authentication FROM service ORDER BY id",
                )
                .fetch_all(&mut *tx)
                .await?,
                endpoints: sqlx::query_as("SELECT service_id, method, path FROM endpoint ORDER BY id")
                    .fetch_all(&mut *tx)
                    .await?,
                groups: sqlx::query_as(
                    "SELECT id, client_id, group_code, description FROM local_group ORDER BY id",
                )
                .fetch_all(&mut *tx)
                .await?,
                members: sqlx::query_as(
                    "SELECT group_id, instance, member_class, member_code, subsystem_code \
                     FROM local_group_member ORDER BY id",
                )
                .fetch_all(&mut *tx)
                .await?,
                acl: sqlx::query_as(&acl_query(self.is_postgres()))
                    .fetch_all(&mut *tx)
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
    use std::collections::HashMap;
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
    let mut clients = Vec::with_capacity(rows.clients.len());
    let mut by_id: HashMap<i64, usize> = HashMap::new();
    for (id, i, c, m, s, auth) in rows.clients {
        let mut client = ClientConfig::new(client_id("client", &i, &c, &m, &s)?);
        client.is_authentication = auth.parse().map_err(|e| corrupt("client", e))?;
        by_id.insert(id, clients.len());
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
    for (id, cid, kind, url, disabled, notice) in rows.descriptions {
        let ci = client_at("service_description", cid)?;
        let kind: DescriptionType = kind
            .parse()
            .map_err(|e| corrupt("service_description", e))?;
        let list = &mut clients[ci].service_descriptions;
        descriptions.insert(id, (ci, list.len()));
        list.push(ServiceDescription {
            kind,
            url,
            disabled,
            disabled_notice: notice,
            services: Vec::new(),
        });
    }
    let mut services: HashMap<i64, (usize, usize, usize)> = HashMap::new();
    for (id, did, code, version, title, url, timeout, ssl) in rows.services {
        let &(ci, di) = descriptions
            .get(&did)
            .ok_or_else(|| corrupt("service", format!("unknown service description {did}")))?;
        let list = &mut clients[ci].service_descriptions[di].services;
        services.insert(id, (ci, di, list.len()));
        list.push(Service {
            code,
            version: (!version.is_empty()).then_some(version),
            title,
            url,
            timeout: u32::try_from(timeout).map_err(|e| corrupt("service", e))?,
            // NULL means true, as in Java.
            ssl_authentication: ssl.unwrap_or(true),
            endpoints: Vec::new(),
        });
    }
    for (sid, method, path) in rows.endpoints {
        let &(ci, di, si) = services
            .get(&sid)
            .ok_or_else(|| corrupt("endpoint", format!("unknown service {sid}")))?;
        clients[ci].service_descriptions[di].services[si]
            .endpoints
            .push(Endpoint { method, path });
    }
    let mut groups: HashMap<i64, (usize, usize)> = HashMap::new();
    for (id, cid, code, description) in rows.groups {
        let ci = client_at("local_group", cid)?;
        let list = &mut clients[ci].local_groups;
        groups.insert(id, (ci, list.len()));
        list.push(LocalGroup {
            code,
            description,
            members: Vec::new(),
        });
    }
    for (gid, i, c, m, s) in rows.members {
        let &(ci, gi) = groups
            .get(&gid)
            .ok_or_else(|| corrupt("local_group_member", format!("unknown group {gid}")))?;
        let member = client_id("local_group_member", &i, &c, &m, &s)?;
        clients[ci].local_groups[gi].members.push(Id(member));
    }
    for (cid, service, method, path, packed) in rows.acl {
        let ci = client_at("access_right", cid)?;
        let subjects = unpack_subjects(&packed)
            .map_err(|e| corrupt("access_right", e))?
            .into_iter()
            .map(subject)
            .collect::<Result<Vec<_>, _>>()?;
        clients[ci].access_rights.push(AccessRight {
            service,
            method,
            path,
            subjects,
        });
    }
    Ok(Config { server, clients })
}

#[cfg(test)]
mod tests {
    use super::unpack_subjects;

    #[test]
    fn packed_subjects_round_trip_any_text() {
        let packed = "9:SUBSYSTEM3:DEV3:COM4:11116:client0:11:GLOBALGROUP3:DEV0:0:0:8:ütlus:;/";
        let subjects = unpack_subjects(packed).unwrap();
        assert_eq!(
            subjects,
            [
                ["SUBSYSTEM", "DEV", "COM", "1111", "client", ""],
                ["GLOBALGROUP", "DEV", "", "", "", "ütlus:;/"],
            ]
        );
        assert!(unpack_subjects("").unwrap().is_empty());
    }

    #[test]
    fn damaged_packing_is_an_error_not_a_panic() {
        for bad in [
            "9:SUB",
            "x:SUBSYSTEM",
            "6:MEMBER3:DEV",
            "3:ü",
            "99999999999999999999:a",
        ] {
            assert!(unpack_subjects(bad).is_err(), "{bad}");
        }
    }
}
