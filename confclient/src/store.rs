//! The configuration directory on disk, in the layout of the Java security servers:
//! `instance-identifier`, and per instance `<instance>/<file>` with `<file>.metadata`.
//! Every file is replaced atomically (a temporary file in the same folder, flushed, then
//! renamed), so a reader never sees half a file.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use xroad_fault::{ErrorCode, XRoadError};

/// The folder name of an instance: `URLEncoder.encode(instance, UTF-8)`, as Java names it.
pub fn instance_dir_name(instance: &str) -> String {
    let mut out = String::with_capacity(instance.len());
    for b in instance.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The local file name of a content part (Java's `FileNameProviderImpl`), refusing names
/// that would leave the instance folder.
pub fn part_file_name(
    content_identifier: Option<&str>,
    file_name: Option<&str>,
    location: &str,
) -> Result<String, XRoadError> {
    let name = match content_identifier {
        Some("PRIVATE-PARAMETERS") => "private-params.xml".to_owned(),
        Some("SHARED-PARAMETERS") => "shared-params.xml".to_owned(),
        _ => {
            let source = file_name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(location);
            let path = source.split(['?', '#']).next().unwrap_or("");
            path.rsplit('/').next().unwrap_or("").to_owned()
        }
    };
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['\\', '\0'])
        || name.ends_with(".metadata")
    {
        return Err(XRoadError::new(
            ErrorCode::MalformedGlobalConf,
            format!("content part {location} has no usable file name ('{name}')"),
        ));
    }
    Ok(name)
}

/// The `.metadata` JSON of a part, with Jackson's field order and its `NON_NULL` rule.
pub struct PartMetadata<'a> {
    /// `contentIdentifier`.
    pub content_identifier: Option<&'a str>,
    /// `instanceIdentifier`.
    pub instance: &'a str,
    /// `expirationDate`.
    pub expires: SystemTime,
    /// `contentFileName`.
    pub file_name: Option<&'a str>,
    /// `contentLocation`.
    pub location: &'a str,
    /// `configurationVersion`.
    pub version: u32,
}

impl PartMetadata<'_> {
    /// The JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let expires = format_seconds(self.expires);
        let version = self.version.to_string();
        let fields = [
            ("contentIdentifier", self.content_identifier),
            ("instanceIdentifier", Some(self.instance)),
            ("expirationDate", Some(expires.as_str())),
            ("contentFileName", self.file_name),
            ("contentLocation", Some(self.location)),
            ("configurationVersion", Some(version.as_str())),
        ];
        // Written by hand: a serde_json map would sort the keys.
        let mut out = String::from("{");
        for (key, value) in fields {
            let Some(value) = value else { continue };
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&serde_json::Value::from(key).to_string());
            out.push(':');
            out.push_str(&serde_json::Value::from(value).to_string());
        }
        out.push('}');
        out.into_bytes()
    }
}

/// `2026-05-20T17:42:55Z`: ISO-8601 in UTC with whole seconds, as Jackson writes the
/// `OffsetDateTime` of an `Expire-date` that has none.
pub fn format_seconds(t: SystemTime) -> String {
    let millis = xroad_crypto::time::format_xsd_millis(t);
    // `YYYY-MM-DDTHH:MM:SS.mmmZ` → drop the fraction.
    match millis.split_once('.') {
        Some((head, _)) => format!("{head}Z"),
        None => millis,
    }
}

fn save_failure(path: &Path, e: impl std::fmt::Display) -> XRoadError {
    XRoadError::new(
        ErrorCode::GlobalConfPartFileSaveFailure,
        format!(
            "Failed to save global configuration part to {}: {e}",
            path.display()
        ),
    )
}

/// Writes `bytes` to `path` atomically.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// One file of a verified download, ready to store.
pub struct StagedFile {
    /// Where it goes.
    pub path: PathBuf,
    /// Its new content, or `None` when the local copy is already identical.
    pub content: Option<Vec<u8>>,
    /// Its `.metadata` JSON.
    pub metadata: Vec<u8>,
}

/// Stores the files of one instance and deletes the files of that instance folder that the
/// directory no longer lists.
pub fn persist(
    instance_dir: &Path,
    files: &[StagedFile],
    delete_unlisted: bool,
) -> Result<(), XRoadError> {
    let mut keep: HashSet<PathBuf> = HashSet::new();
    for f in files {
        if let Some(content) = &f.content {
            atomic_write(&f.path, content).map_err(|e| save_failure(&f.path, e))?;
        }
        let meta = metadata_path(&f.path);
        atomic_write(&meta, &f.metadata).map_err(|e| save_failure(&meta, e))?;
        keep.insert(f.path.clone());
        keep.insert(meta);
    }
    if !delete_unlisted {
        return Ok(());
    }
    if let Ok(entries) = std::fs::read_dir(instance_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() && !keep.contains(&path) {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!("cannot delete {}: {e}", path.display());
                }
            }
        }
    }
    Ok(())
}

/// `<file>.metadata`.
pub fn metadata_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".metadata");
    PathBuf::from(name)
}

/// Writes `instance-identifier`.
pub fn save_instance_identifier(dir: &Path, instance: &str) -> Result<(), XRoadError> {
    let path = dir.join("instance-identifier");
    if std::fs::read_to_string(&path).is_ok_and(|s| s == instance) {
        return Ok(());
    }
    atomic_write(&path, instance.as_bytes()).map_err(|e| {
        XRoadError::new(
            ErrorCode::FailedToSaveInstanceIdentifier,
            format!(
                "Failed to save the instance identifier to {}: {e}",
                path.display()
            ),
        )
    })
}

/// Deletes the instance folders other than `keep` (federations no longer configured).
pub fn delete_other_instances(dir: &Path, keep: &HashSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !keep.contains(&name) {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!("cannot delete {}: {e}", entry.path().display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_folder_names_are_url_encoded_like_java() {
        assert_eq!(instance_dir_name("EE"), "EE");
        assert_eq!(instance_dir_name("a b/c"), "a+b%2Fc");
        assert_eq!(instance_dir_name("ä"), "%C3%A4");
    }

    #[test]
    fn part_file_names() {
        let n = |ci: Option<&str>, f: Option<&str>, l: &str| part_file_name(ci, f, l);
        assert_eq!(
            n(Some("SHARED-PARAMETERS"), None, "/V6/1/x.xml").unwrap(),
            "shared-params.xml"
        );
        assert_eq!(n(Some("FOO"), None, "/V6/1/foo.xml").unwrap(), "foo.xml");
        assert_eq!(n(None, Some("bar.xml"), "/x").unwrap(), "bar.xml");
        assert!(n(Some("FOO"), None, "/V6/..").is_err());
        assert!(n(Some("FOO"), None, "/V6/").is_err());
        assert!(n(Some("FOO"), None, "/x/shared-params.xml.metadata").is_err());
    }

    #[test]
    fn metadata_json_matches_java() {
        let m = PartMetadata {
            content_identifier: Some("SHARED-PARAMETERS"),
            instance: "EE",
            expires: xroad_crypto::time::parse_instant("2026-05-20T17:42:55Z").unwrap(),
            file_name: None,
            location: "/shared-params.xml",
            version: 6,
        };
        assert_eq!(
            String::from_utf8(m.to_json()).unwrap(),
            r#"{"contentIdentifier":"SHARED-PARAMETERS","instanceIdentifier":"EE","expirationDate":"2026-05-20T17:42:55Z","contentLocation":"/shared-params.xml","configurationVersion":"6"}"#
        );
    }
}
