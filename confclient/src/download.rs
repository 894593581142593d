//! One download of one configuration source: try its locations in order until one yields a
//! verified directory whose every file is present and matches its signed digest; only then
//! write anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use xroad_fault::{ErrorCode, XRoadError};
use xroad_globalconf::{parse_signed_directory, PrivateParameters, SharedParameters};

use crate::http::HttpClient;
use crate::location::{
    parse_certs, push_unique, shuffle_prefer_https, versioned_location, ConfigurationLocation,
};
use crate::store::{self, PartMetadata, StagedFile};

/// What a successful download of one source did.
#[derive(Debug, Clone)]
pub struct SourceDownload {
    /// The instance.
    pub instance: String,
    /// The (versioned) URL the directory came from.
    pub url: String,
    /// The configuration version.
    pub version: u32,
    /// The directory's `Expire-date`.
    pub expires: SystemTime,
    /// The files stored, and whether each was fetched (`true`) or already up to date.
    pub files: Vec<(PathBuf, bool)>,
}

/// Every location of a source failed.
#[derive(Debug, Clone)]
pub struct DownloadFailure {
    /// The instance.
    pub instance: String,
    /// Each location tried, with its error, in order.
    pub failures: Vec<(String, XRoadError)>,
}

impl DownloadFailure {
    /// The error of the last location tried (what Java reports).
    pub fn last_error(&self) -> XRoadError {
        self.failures.last().map_or_else(
            || {
                XRoadError::new(
                    ErrorCode::GlobalConfDownloadUrlConnectionFailure,
                    format!("no configuration location is known for {}", self.instance),
                )
            },
            |(_, e)| e.clone(),
        )
    }
}

impl std::fmt::Display for DownloadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Failed to download the configuration of {} from any configuration location",
            self.instance
        )?;
        if self.failures.is_empty() {
            write!(f, ": no location is known")?;
        }
        for (url, e) in &self.failures {
            write!(
                f,
                "\n\tlocation: {url}; error: {}: {}",
                code_of(e),
                e.message()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for DownloadFailure {}

/// The downloader's memory: the location that worked last, per original location URL.
#[derive(Debug, Default)]
pub struct Memory {
    successful: HashMap<String, ConfigurationLocation>,
}

/// How one source is downloaded.
pub struct SourceRequest<'a> {
    /// The global configuration directory.
    pub dir: &'a Path,
    /// The instance.
    pub instance: &'a str,
    /// The anchor's locations of that instance.
    pub anchor_locations: Vec<ConfigurationLocation>,
    /// Only parts with this content identifier (federated sources: `SHARED-PARAMETERS`).
    pub only: Option<&'a str>,
    /// A fixed configuration version, or probe.
    pub fixed_version: Option<u32>,
    /// The newest version to probe.
    pub max_version: u32,
    /// The instant expiry is checked against.
    pub now: SystemTime,
}

/// Downloads one source: locations from the stored shared parameters first, then the
/// anchor's, HTTPS before HTTP, the last successful one before all.
pub async fn download_source(
    http: &HttpClient,
    memory: &mut Memory,
    req: &SourceRequest<'_>,
) -> Result<SourceDownload, DownloadFailure> {
    let mut locations = Vec::new();
    for l in shuffle_prefer_https(&stored_source_locations(req)) {
        push_unique(&mut locations, l);
    }
    for l in shuffle_prefer_https(&req.anchor_locations) {
        push_unique(&mut locations, l);
    }
    let previous = locations
        .iter()
        .find(|l| memory.successful.contains_key(&l.url))
        .map(|l| l.url.clone());
    if let Some(key) = &previous {
        if let Some(remembered) = memory.successful.get(key).cloned() {
            locations.retain(|l| *l != remembered);
            locations.insert(0, remembered);
        }
    }
    let mut failures = Vec::new();
    for location in locations {
        let key = previous.clone().unwrap_or_else(|| location.url.clone());
        let attempt = async {
            let versioned =
                versioned_location(http, &location, req.fixed_version, req.max_version).await?;
            let done = download_location(http, &versioned, req).await?;
            Ok::<_, XRoadError>((versioned, done))
        };
        match attempt.await {
            Ok((versioned, done)) => {
                memory.successful.insert(key, versioned);
                return Ok(done);
            }
            Err(e) => {
                tracing::warn!(
                    "cannot download the global configuration from {}: {}: {}",
                    location.url,
                    code_of(&e),
                    e.message()
                );
                memory.successful.remove(&key);
                failures.push((location.url.clone(), e));
            }
        }
    }
    Err(DownloadFailure {
        instance: req.instance.to_owned(),
        failures,
    })
}

/// The locations the stored shared parameters of the instance name (V3+ `source`s), for
/// the path of the first anchor location.
fn stored_source_locations(req: &SourceRequest<'_>) -> Vec<ConfigurationLocation> {
    let Some(first) = req.anchor_locations.first() else {
        return Vec::new();
    };
    let file = req
        .dir
        .join(store::instance_dir_name(req.instance))
        .join("shared-params.xml");
    let Ok(bytes) = std::fs::read(&file) else {
        return Vec::new();
    };
    match SharedParameters::parse(&bytes) {
        Ok(params) => params
            .configuration_locations(&first.url)
            .into_iter()
            .map(|(url, ders)| ConfigurationLocation {
                instance: req.instance.to_owned(),
                url,
                certs: parse_certs(&ders),
            })
            .collect(),
        Err(e) => {
            tracing::warn!(
                "cannot read sources from {}: {}",
                file.display(),
                e.message()
            );
            Vec::new()
        }
    }
}

fn connection_failure(url: &str, e: impl std::fmt::Display) -> XRoadError {
    XRoadError::new(
        ErrorCode::GlobalConfDownloadUrlConnectionFailure,
        format!("Failed to download the configuration directory from {url}: {e}"),
    )
}

/// Downloads and verifies the directory at `location` and its files, then stores them.
async fn download_location(
    http: &HttpClient,
    location: &ConfigurationLocation,
    req: &SourceRequest<'_>,
) -> Result<SourceDownload, XRoadError> {
    tracing::info!("downloading the global configuration from {}", location.url);
    let response = http
        .get(&location.url)
        .await
        .map_err(|e| connection_failure(&location.url, e))?;
    if response.status != 200 {
        return Err(connection_failure(
            &location.url,
            format!("HTTP status {}", response.status),
        ));
    }
    let directory = parse_signed_directory(&response.body, &location.certs, req.now)?;
    let base = url::Url::parse(&location.url).map_err(|e| connection_failure(&location.url, e))?;
    let instance_dir = req.dir.join(store::instance_dir_name(&location.instance));
    let mut staged = Vec::new();
    for part in &directory.parts {
        if req
            .only
            .is_some_and(|only| part.content_identifier.as_deref() != Some(only))
        {
            continue;
        }
        let instance = part.instance.as_deref().unwrap_or(&location.instance);
        if instance != location.instance {
            return Err(invalid_instance(
                &part.location,
                &location.instance,
                instance,
            ));
        }
        let name = store::part_file_name(
            part.content_identifier.as_deref(),
            part.file_name.as_deref(),
            &part.location,
        )?;
        let path = instance_dir.join(&name);
        let content = if is_up_to_date(&path, part) {
            None
        } else {
            let url = base.join(&part.location).map_err(|e| {
                XRoadError::new(
                    ErrorCode::GlobalConfDownloadUrlConnectionFailure,
                    format!("content location {} is not a URL: {e}", part.location),
                )
            })?;
            let bytes = download_part(http, url.as_str(), part).await?;
            check_content(&bytes, part, instance)?;
            Some(bytes)
        };
        let metadata = PartMetadata {
            content_identifier: part.content_identifier.as_deref(),
            instance,
            expires: directory.expires,
            file_name: part.file_name.as_deref(),
            location: &part.location,
            version: directory.version,
        }
        .to_json();
        staged.push(StagedFile {
            path,
            content,
            metadata,
        });
    }
    // A partial download (only some content) must not delete the other files.
    store::persist(&instance_dir, &staged, req.only.is_none())?;
    Ok(SourceDownload {
        instance: location.instance.clone(),
        url: location.url.clone(),
        version: directory.version,
        expires: directory.expires,
        files: staged
            .into_iter()
            .map(|f| (f.path, f.content.is_some()))
            .collect(),
    })
}

/// Java compares the base64 text of the local file's digest with the part's, exactly.
fn is_up_to_date(path: &Path, part: &xroad_globalconf::ContentPart) -> bool {
    match std::fs::read(path) {
        Ok(bytes) => part.hash_algorithm.digest(&bytes).to_base64() == part.digest_base64,
        Err(_) => false,
    }
}

async fn download_part(
    http: &HttpClient,
    url: &str,
    part: &xroad_globalconf::ContentPart,
) -> Result<Vec<u8>, XRoadError> {
    let failure = |why: String| {
        XRoadError::new(
            ErrorCode::GlobalConfPartDownloadFailure,
            format!(
                "Failed to download global configuration part {} from {url}: {why}",
                part.location
            ),
        )
    };
    tracing::info!("downloading {url}");
    let response = http.get(url).await.map_err(|e| failure(e.to_string()))?;
    if response.status != 200 {
        return Err(failure(format!("HTTP status {}", response.status)));
    }
    let bytes = response.body.to_vec();
    let expected = xroad_crypto::decode_base64(&part.digest_base64);
    if expected.as_deref() != Some(part.hash_algorithm.digest(&bytes).as_bytes()) {
        return Err(XRoadError::new(
            ErrorCode::GlobalConfPartDownloadedFileIntegrityFailure,
            format!(
                "Failed to verify content integrity of {} downloaded from {url}: its digest differs from the signed one",
                part.location
            ),
        ));
    }
    Ok(bytes)
}

fn invalid_instance(location: &str, expected: &str, actual: &str) -> XRoadError {
    XRoadError::new(
        ErrorCode::GlobalConfPartInvalidInstanceIdentifier,
        format!(
            "Content part {location} has invalid instance identifier (expected {expected}, but was {actual})"
        ),
    )
}

/// Private and shared parameters must parse and name the part's instance.
fn check_content(
    bytes: &[u8],
    part: &xroad_globalconf::ContentPart,
    instance: &str,
) -> Result<(), XRoadError> {
    let found = match part.content_identifier.as_deref() {
        Some("PRIVATE-PARAMETERS") => PrivateParameters::parse(bytes)?.instance,
        Some("SHARED-PARAMETERS") => SharedParameters::parse(bytes)?.instance,
        _ => return Ok(()),
    };
    if found != instance {
        return Err(invalid_instance(&part.location, instance, &found));
    }
    Ok(())
}

/// The anchor's sources as locations of `instance`.
pub fn anchor_locations(
    anchor: &xroad_globalconf::ConfigurationAnchor,
) -> Vec<ConfigurationLocation> {
    anchor
        .sources
        .iter()
        .map(|s| ConfigurationLocation {
            instance: anchor.instance.clone(),
            url: s.download_url.clone(),
            certs: s.verification_certs.iter().map(Arc::clone).collect(),
        })
        .collect()
}

/// The error's code as X-Road 7.8 spells it (without the prefix chain).
pub fn code_of(e: &XRoadError) -> &'static str {
    e.error_code().map_or("internal_error", |c| c.as_str())
}
