//! How one security server node runs (`xroad-sidecar run`): a small YAML file, every field
//! optional, plus `XROAD_*` environment variables that override it. What the node serves
//! (clients, services, access rights) is not here: it lives in the server configuration store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The whole node configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeConfig {
    /// Where the node keeps its state; the other paths default to folders inside it.
    pub state_dir: PathBuf,
    /// The signer's folder (`keyconf.xml`, software token, OCSP cache).
    pub signer_dir: Option<PathBuf>,
    /// The downloaded global configuration.
    pub globalconf_dir: Option<PathBuf>,
    /// The configuration anchor.
    pub anchor: Option<PathBuf>,
    /// The server configuration store (`sqlite://…` or `postgres://…`).
    pub database_url: Option<String>,
    /// Spooled message parts above the spool threshold.
    pub temp_dir: Option<PathBuf>,
    /// A file of `XROAD_TOKEN_<id>_PIN=…` lines for autologin (environment variables win).
    pub pin_file: Option<PathBuf>,
    /// `devices.ini` of PKCS#11 modules (default: `devices.ini` in the signer folder, when
    /// it exists).
    pub devices_ini: Option<PathBuf>,
    /// Listening addresses.
    pub listen: Listen,
    /// How other security servers are reached.
    pub peers: Peers,
    /// Size limits and timeouts.
    pub limits: Limits,
    /// Fault code spelling towards information systems: `7.8` (default) or `7.7`.
    pub fault_code_spelling: String,
    /// `proxy.xroad-tls-ciphers`: TLS 1.2 suites between security servers (IANA or OpenSSL names).
    pub tls_ciphers: Option<String>,
    /// `proxy.xroad-tls-protocols`.
    pub tls_protocols: Option<String>,
    /// How often the global configuration is downloaded.
    #[serde(with = "secs")]
    pub globalconf_interval: Duration,
    /// Log level: `error`, `warn`, `info`, `debug`, `trace`, `all` or `off` (any case, as
    /// Java's `XROAD_LOG_LEVEL`). Changed by a reload (SIGHUP) without a restart.
    pub log_level: String,
    /// Log lines as `text` (default) or `json` (one object per line, for log collectors).
    pub log_format: LogFormat,
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Listening addresses; `null` turns a listener off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Listen {
    /// Client proxy, HTTP (8080).
    pub client_http: Option<SocketAddr>,
    /// Client proxy, HTTPS with the internal TLS certificate (8443).
    pub client_https: Option<SocketAddr>,
    /// Server proxy, mutual TLS from other security servers (5500).
    pub server: Option<SocketAddr>,
    /// OCSP responses of own certificates (5577).
    pub ocsp_responder: Option<SocketAddr>,
    /// Health check (5588).
    pub health_check: Option<SocketAddr>,
    /// Readiness, liveness and Prometheus metrics (9090).
    pub admin: Option<SocketAddr>,
}

/// Ports of other security servers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Peers {
    /// The server proxy port of a peer whose registered address has no port (5500).
    pub server_port: u16,
    /// The OCSP responses port of a peer (5577).
    pub ocsp_port: u16,
    /// Per-address OCSP ports, for peers whose registered address is `host:port` (several
    /// security servers on one host, as in the local demo network).
    pub ocsp_ports: BTreeMap<String, u16>,
    /// Connect timeout towards a peer.
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    /// How long the fastest of a provider's security servers is remembered (Java's
    /// `proxy.client-fastest-connecting-ssl-uri-cache-period`); 0 turns the cache off.
    #[serde(with = "secs")]
    pub client_fastest_connecting_ssl_uri_cache_period: Duration,
    /// Idle connections kept open per peer security server address, for reuse. Java's pool
    /// allows up to 2,500 connections per route (`proxy.pool-total-default-max-connections-per-route`).
    pub pool_max_idle_connections: usize,
}

/// Limits on what one message may cost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Largest message (all parts) accepted, in bytes; 0 = no limit (Java has none).
    pub max_message_size: u64,
    /// Parts larger than this are spooled to `temp-dir` instead of memory.
    pub spool_threshold: usize,
    /// How long the client proxy waits for data from the provider's security server (Java's
    /// `client-httpclient-timeout`); zero, the default as in Java: no limit.
    #[serde(with = "secs")]
    pub client_timeout: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            state_dir: PathBuf::from("/var/lib/xroad"),
            signer_dir: None,
            globalconf_dir: None,
            anchor: None,
            database_url: None,
            temp_dir: None,
            pin_file: None,
            devices_ini: None,
            listen: Listen::default(),
            peers: Peers::default(),
            limits: Limits::default(),
            fault_code_spelling: "7.8".into(),
            tls_ciphers: None,
            tls_protocols: None,
            globalconf_interval: Duration::from_secs(60),
            log_level: "info".into(),
            log_format: LogFormat::Text,
        }
    }
}

fn any(port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::from(([0, 0, 0, 0], port)))
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            client_http: any(8080),
            client_https: any(8443),
            server: any(5500),
            ocsp_responder: any(5577),
            health_check: any(5588),
            admin: any(9090),
        }
    }
}

impl Default for Peers {
    fn default() -> Self {
        Peers {
            server_port: 5500,
            ocsp_port: 5577,
            ocsp_ports: BTreeMap::new(),
            connect_timeout: Duration::from_secs(30),
            client_fastest_connecting_ssl_uri_cache_period: Duration::from_secs(3600),
            pool_max_idle_connections: 256,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 0,
            spool_threshold: 1 << 20,
            client_timeout: Duration::ZERO,
        }
    }
}

/// The store URL the Java sidecar's variables describe: user `postgres` unless
/// `XROAD_DB_USER` says otherwise, database `serverconf` or `<XROAD_DATABASE_NAME>_serverconf`
/// (Java's naming), created on first start when the user may.
fn postgres_url(
    host: &str,
    port: Option<&str>,
    user: Option<&str>,
    password: Option<&str>,
    name: Option<&str>,
) -> Result<String, String> {
    let port: u16 = match port.filter(|p| !p.is_empty()) {
        None => 5432,
        Some(p) => p
            .parse()
            .map_err(|_| format!("XROAD_DB_PORT: not a port number: {p}"))?,
    };
    let database = match name.filter(|n| !n.is_empty()) {
        Some(n) => format!("{n}_serverconf"),
        None => "serverconf".to_owned(),
    };
    let mut url =
        url::Url::parse("postgres://localhost/").map_err(|e| format!("XROAD_DB_HOST: {e}"))?;
    url.set_host(Some(host))
        .map_err(|e| format!("XROAD_DB_HOST: not a host name: {host} ({e})"))?;
    let _ = url.set_port(Some(port));
    let _ = url.set_username(user.filter(|u| !u.is_empty()).unwrap_or("postgres"));
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        let _ = url.set_password(Some(p));
    }
    url.set_path(&database);
    Ok(url.to_string())
}

/// Durations as whole seconds in the file.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

impl NodeConfig {
    /// Reads `path` (if given) and applies the `XROAD_*` variables of `env`.
    pub fn load(path: Option<&Path>, env: &[(String, String)]) -> Result<NodeConfig, String> {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    format!("cannot read the node configuration {}: {e}", p.display())
                })?;
                Self::parse(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => NodeConfig::default(),
        };
        config.apply_env(env)?;
        config.check()?;
        Ok(config)
    }

    /// Refuses values that parse but mean nothing.
    fn check(&self) -> Result<(), String> {
        crate::logging::parse_level(&self.log_level).map(|_| ())
    }

    /// Parses the YAML text of a node configuration.
    pub fn parse(text: &str) -> Result<NodeConfig, String> {
        if text.trim().is_empty() {
            return Ok(NodeConfig::default());
        }
        yaml_serde::from_str(text).map_err(|e| format!("invalid node configuration: {e}"))
    }

    /// The configuration as YAML (what `run --print-config` shows).
    pub fn to_yaml(&self) -> String {
        yaml_serde::to_string(self).unwrap_or_default()
    }

    fn apply_env(&mut self, env: &[(String, String)]) -> Result<(), String> {
        let var = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        // The Java sidecar's database variables; XROAD_DATABASE_URL, applied below, wins.
        if let Some(host) = var("XROAD_DB_HOST").filter(|h| !h.is_empty()) {
            self.database_url = Some(postgres_url(
                host,
                var("XROAD_DB_PORT"),
                var("XROAD_DB_USER"),
                var("XROAD_DB_PWD"),
                var("XROAD_DATABASE_NAME"),
            )?);
        }
        for (name, value) in env {
            let path = || Some(PathBuf::from(value));
            let addr = || -> Result<Option<SocketAddr>, String> {
                if value.is_empty() || value == "off" {
                    return Ok(None);
                }
                value
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}: not a listening address (IP:PORT): {value}"))
            };
            match name.as_str() {
                "XROAD_STATE_DIR" => self.state_dir = PathBuf::from(value),
                "XROAD_SIGNER_DIR" => self.signer_dir = path(),
                "XROAD_GLOBALCONF_DIR" => self.globalconf_dir = path(),
                "XROAD_ANCHOR" => self.anchor = path(),
                "XROAD_DATABASE_URL" => self.database_url = Some(value.clone()),
                "XROAD_TEMP_DIR" => self.temp_dir = path(),
                "XROAD_PIN_FILE" => self.pin_file = path(),
                "XROAD_DEVICES_INI" => self.devices_ini = path(),
                "XROAD_FAULT_CODE_SPELLING" => self.fault_code_spelling = value.clone(),
                "XROAD_LOG_LEVEL" | "XROAD_LOG" => self.log_level = value.clone(),
                "XROAD_LOG_FORMAT" => {
                    self.log_format = match value.to_ascii_lowercase().as_str() {
                        "text" => LogFormat::Text,
                        "json" => LogFormat::Json,
                        _ => return Err(format!("{name}: expected text or json, found {value}")),
                    }
                }
                "XROAD_TLS_CIPHERS" => self.tls_ciphers = Some(value.clone()),
                "XROAD_TLS_PROTOCOLS" => self.tls_protocols = Some(value.clone()),
                "XROAD_CLIENT_HTTP" => self.listen.client_http = addr()?,
                "XROAD_CLIENT_HTTPS" => self.listen.client_https = addr()?,
                "XROAD_SERVER_LISTEN" => self.listen.server = addr()?,
                "XROAD_OCSP_RESPONDER_LISTEN" => self.listen.ocsp_responder = addr()?,
                "XROAD_HEALTH_CHECK_LISTEN" => self.listen.health_check = addr()?,
                "XROAD_ADMIN_LISTEN" => self.listen.admin = addr()?,
                "XROAD_MAX_MESSAGE_SIZE" => {
                    self.limits.max_message_size = value
                        .parse()
                        .map_err(|_| format!("{name}: not a number of bytes: {value}"))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The signer folder.
    pub fn signer_dir(&self) -> PathBuf {
        self.signer_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("signer"))
    }

    /// The PKCS#11 modules to use, if any.
    pub fn devices_ini(&self) -> Option<PathBuf> {
        self.devices_ini.clone().or_else(|| {
            let default = self.signer_dir().join("devices.ini");
            default.is_file().then_some(default)
        })
    }

    /// The global configuration folder.
    pub fn globalconf_dir(&self) -> PathBuf {
        self.globalconf_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("globalconf"))
    }

    /// The configuration anchor file.
    pub fn anchor(&self) -> PathBuf {
        self.anchor
            .clone()
            .unwrap_or_else(|| self.state_dir.join("configuration-anchor.xml"))
    }

    /// The server configuration store URL.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.state_dir.join("serverconf.db").display()
            )
        })
    }

    /// The spool folder.
    pub fn temp_dir(&self) -> PathBuf {
        self.temp_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("tmp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(NodeConfig::parse("").unwrap(), NodeConfig::default());
        let c = NodeConfig::default();
        assert_eq!(c.listen.server, any(5500));
        assert_eq!(c.database_url(), "sqlite:///var/lib/xroad/serverconf.db");
    }

    #[test]
    fn file_and_environment() {
        let c = NodeConfig::parse(
            "state-dir: /tmp/ss1\nlisten:\n  client-https: null\n  server: 127.0.0.1:41000\npeers:\n  client-fastest-connecting-ssl-uri-cache-period: 0\n  ocsp-ports:\n    \"127.0.0.1:42000\": 42001\nlimits:\n  client-timeout: 5\n",
        )
        .unwrap();
        assert_eq!(c.listen.client_https, None);
        assert_eq!(c.listen.server, Some("127.0.0.1:41000".parse().unwrap()));
        assert_eq!(c.peers.ocsp_ports.get("127.0.0.1:42000"), Some(&42001));
        assert_eq!(c.limits.client_timeout, Duration::from_secs(5));
        assert_eq!(
            c.peers.client_fastest_connecting_ssl_uri_cache_period,
            Duration::ZERO
        );
        assert_eq!(
            NodeConfig::default()
                .peers
                .client_fastest_connecting_ssl_uri_cache_period,
            Duration::from_secs(3600)
        );
        assert_eq!(c.signer_dir(), PathBuf::from("/tmp/ss1/signer"));
        let mut c2 = c.clone();
        c2.apply_env(&[
            ("XROAD_CLIENT_HTTP".into(), "off".into()),
            ("XROAD_SIGNER_DIR".into(), "/s".into()),
        ])
        .unwrap();
        assert_eq!(c2.listen.client_http, None);
        assert_eq!(c2.signer_dir(), PathBuf::from("/s"));
        assert_eq!(NodeConfig::parse(&c2.to_yaml()).unwrap(), c2);
    }

    #[test]
    fn the_java_sidecar_database_variables_make_a_postgres_url() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let mut c = NodeConfig::default();
        c.apply_env(&env(&[
            ("XROAD_DB_HOST", "db.example"),
            ("XROAD_DB_PWD", "p@ss/w:rd"),
        ]))
        .unwrap();
        assert_eq!(
            c.database_url(),
            "postgres://postgres:p%40ss%2Fw%3Ard@db.example:5432/serverconf"
        );
        let mut c = NodeConfig::default();
        c.apply_env(&env(&[
            ("XROAD_DB_HOST", "10.0.0.5"),
            ("XROAD_DB_PORT", "6543"),
            ("XROAD_DB_USER", "ss"),
            ("XROAD_DATABASE_NAME", "node1"),
        ]))
        .unwrap();
        assert_eq!(
            c.database_url(),
            "postgres://ss@10.0.0.5:6543/node1_serverconf"
        );
        let mut c = NodeConfig::default();
        c.apply_env(&env(&[
            ("XROAD_DB_HOST", "db"),
            ("XROAD_DATABASE_URL", "sqlite:///x.db"),
        ]))
        .unwrap();
        assert_eq!(c.database_url(), "sqlite:///x.db");
        let e = NodeConfig::default()
            .apply_env(&env(&[("XROAD_DB_HOST", "db"), ("XROAD_DB_PORT", "x")]))
            .unwrap_err();
        assert!(e.contains("XROAD_DB_PORT"), "{e}");
    }

    #[test]
    fn devices_ini_defaults_to_the_signer_folder_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = NodeConfig {
            state_dir: dir.path().to_path_buf(),
            ..NodeConfig::default()
        };
        assert_eq!(c.devices_ini(), None);
        std::fs::create_dir_all(dir.path().join("signer")).unwrap();
        std::fs::write(dir.path().join("signer/devices.ini"), "").unwrap();
        assert_eq!(c.devices_ini(), Some(dir.path().join("signer/devices.ini")));
        c.apply_env(&[("XROAD_DEVICES_INI".into(), "/etc/xroad/devices.ini".into())])
            .unwrap();
        assert_eq!(
            c.devices_ini(),
            Some(PathBuf::from("/etc/xroad/devices.ini"))
        );
    }

    #[test]
    fn log_settings_from_variables() {
        let env = |n: &str, v: &str| vec![(n.to_owned(), v.to_owned())];
        let c = NodeConfig::load(None, &env("XROAD_LOG_LEVEL", "DEBUG")).unwrap();
        assert_eq!(c.log_level, "DEBUG");
        let c = NodeConfig::load(None, &env("XROAD_LOG_FORMAT", "json")).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        let e = NodeConfig::load(None, &env("XROAD_LOG_FORMAT", "xml")).unwrap_err();
        assert!(e.contains("XROAD_LOG_FORMAT"), "{e}");
        let e = NodeConfig::load(None, &env("XROAD_LOG_LEVEL", "loud")).unwrap_err();
        assert!(e.contains("loud"), "{e}");
    }

    #[test]
    fn bad_input_is_named() {
        let e = NodeConfig::parse("listen:\n  server: nowhere\n").unwrap_err();
        assert!(e.contains("invalid node configuration"), "{e}");
        let e = NodeConfig::parse("colour: blue\n").unwrap_err();
        assert!(e.contains("colour"), "{e}");
        let mut c = NodeConfig::default();
        let e = c
            .apply_env(&[("XROAD_SERVER_LISTEN".into(), "x".into())])
            .unwrap_err();
        assert!(e.contains("XROAD_SERVER_LISTEN"), "{e}");
    }
}
