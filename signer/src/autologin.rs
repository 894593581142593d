//! Autologin: at start, log tokens in with PINs from the environment or a PIN file, as the
//! Java Sidecar's `custom-fetch-pin.sh` and autologin do.
//!
//! PIN sources, first match wins:
//! 1. `XROAD_TOKEN_PIN`: the software token (`0`);
//! 2. `XROAD_TOKEN_<id>_PIN`: one variable for token `0` is that token's PIN; several give
//!    one PIN per token; a single variable for another token is an error (as in Java);
//! 3. the PIN file (`/etc/xroad/autologin`): one line is token `0`'s PIN (a PIN may contain
//!    `:`), several lines are `token-id:PIN`.
//!
//! A wrong PIN is reported once and not retried; a token that is not there yet (not
//! initialised, PKCS#11 slot empty) is retried.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Result, SignerError};
use crate::pin::Pin;
use crate::signer::Signer;
use crate::softtoken::SOFT_TOKEN_ID;

/// The default PIN file.
pub const DEFAULT_PIN_FILE: &str = "/etc/xroad/autologin";

/// Natural order of token ids (`sort -V` for the ids X-Road uses).
fn natural_key(s: &str) -> (Vec<(u8, u64, String)>,) {
    let mut parts = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut n = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(d);
                chars.next();
            }
            parts.push((0, n.parse().unwrap_or(u64::MAX), String::new()));
        } else {
            let mut t = String::new();
            while let Some(&d) = chars.peek().filter(|d| !d.is_ascii_digit()) {
                t.push(d);
                chars.next();
            }
            parts.push((1, 0, t));
        }
    }
    (parts,)
}

/// The PINs to log in with, from `vars` (the environment: name, value) and `pin_file`.
/// Errors say what is missing or inconsistent, never a PIN.
pub fn collect_pins(vars: &[(String, String)], pin_file: &Path) -> Result<Vec<(String, Pin)>> {
    if let Some((_, v)) = vars
        .iter()
        .find(|(k, v)| k == "XROAD_TOKEN_PIN" && !v.is_empty())
    {
        return Ok(vec![(SOFT_TOKEN_ID.into(), Pin::new(v.clone()))]);
    }
    let mut per_token: Vec<(String, Pin)> = vars
        .iter()
        .filter_map(|(k, v)| {
            let id = k.strip_prefix("XROAD_TOKEN_")?.strip_suffix("_PIN")?;
            (!id.is_empty() && !v.is_empty()).then(|| (id.to_owned(), Pin::new(v.clone())))
        })
        .collect();
    per_token.sort_by_key(|(id, _)| natural_key(id));
    match per_token.len() {
        0 => {}
        1 if per_token[0].0 == SOFT_TOKEN_ID => return Ok(per_token),
        1 => {
            return Err(SignerError::Config(format!(
                "found XROAD_TOKEN_{}_PIN but no other token PINs: PINs for numbered tokens (other than 0) are expected in pairs or more, or use XROAD_TOKEN_PIN",
                per_token[0].0
            )))
        }
        _ => return Ok(per_token),
    }
    let text = match std::fs::read_to_string(pin_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SignerError::Config(format!(
                "PIN not available: XROAD_TOKEN_PIN is not set and {} does not exist",
                pin_file.display()
            )))
        }
        Err(e) => return Err(SignerError::io(pin_file, e)),
    };
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => Err(SignerError::Config(format!(
            "PIN not available: {} is empty",
            pin_file.display()
        ))),
        [one] => Ok(vec![(SOFT_TOKEN_ID.into(), Pin::new(*one))]),
        many => many
            .iter()
            .enumerate()
            .map(|(i, l)| match l.split_once(':') {
                Some((id, pin)) if !id.trim().is_empty() && !pin.is_empty() => {
                    Ok((id.trim().to_owned(), Pin::new(pin)))
                }
                _ => Err(SignerError::Config(format!(
                    "{} line {}: expected token-id:PIN",
                    pin_file.display(),
                    i + 1
                ))),
            })
            .collect(),
    }
}

/// [`collect_pins`] from this process's environment.
pub fn collect_pins_from_env(pin_file: &Path) -> Result<Vec<(String, Pin)>> {
    let vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("XROAD_TOKEN_"))
        .collect();
    collect_pins(&vars, pin_file)
}

/// The outcome for one token.
#[derive(Debug)]
pub struct LoginOutcome {
    /// Token id.
    pub token: String,
    /// `Ok` when logged in.
    pub result: Result<()>,
}

fn retryable(e: &SignerError) -> bool {
    matches!(
        e,
        SignerError::TokenNotInitialized(_) | SignerError::TokenNotFound(_)
    )
}

/// Logs each token in; a token that is not there yet is retried every `interval`, at most
/// `attempts` times. A wrong PIN is logged once, as an error, and not retried.
pub async fn autologin(
    signer: Arc<Signer>,
    pins: Vec<(String, Pin)>,
    interval: Duration,
    attempts: u32,
) -> Vec<LoginOutcome> {
    let mut out = Vec::new();
    for (token, pin) in pins {
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let s = signer.clone();
            let (t, p) = (token.clone(), pin.clone());
            let r = tokio::task::spawn_blocking(move || s.login(&t, &p))
                .await
                .unwrap_or(Err(SignerError::ServiceStopped));
            match r {
                Err(e) if retryable(&e) && attempt < attempts => {
                    tracing::info!(token = %token, error = %e, "autologin: token not available yet; retrying");
                    tokio::time::sleep(interval).await;
                }
                other => break other,
            }
        };
        match &result {
            Ok(()) => tracing::info!(token = %token, "autologin: token logged in"),
            Err(e @ SignerError::PinIncorrect(_)) => {
                tracing::error!(token = %token, error = %e, "autologin: wrong PIN; not retrying")
            }
            Err(e) => tracing::error!(token = %token, error = %e, "autologin failed"),
        }
        out.push(LoginOutcome { token, result });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn sources_in_javas_order() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("absent");
        let p = collect_pins(
            &v(&[("XROAD_TOKEN_PIN", "a"), ("XROAD_TOKEN_1_PIN", "b")]),
            &none,
        )
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].0.as_str(), p[0].1.expose()), ("0", "a"));
        let p = collect_pins(&v(&[("XROAD_TOKEN_0_PIN", "z")]), &none).unwrap();
        assert_eq!(p[0].1.expose(), "z");
        let err = collect_pins(&v(&[("XROAD_TOKEN_7_PIN", "secret-x")]), &none)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("XROAD_TOKEN_7_PIN") && !err.contains("secret-x"),
            "{err}"
        );
        let p = collect_pins(
            &v(&[
                ("XROAD_TOKEN_10_PIN", "c"),
                ("XROAD_TOKEN_2_PIN", "b"),
                ("XROAD_TOKEN_0_PIN", "a"),
            ]),
            &none,
        )
        .unwrap();
        let ids: Vec<&str> = p.iter().map(|(i, _)| i.as_str()).collect();
        assert_eq!(ids, ["0", "2", "10"]);
        let err = collect_pins(&[], &none).unwrap_err().to_string();
        assert!(err.contains("PIN not available"), "{err}");

        let file = dir.path().join("autologin");
        std::fs::write(&file, "pin:with:colons\n").unwrap();
        let p = collect_pins(&[], &file).unwrap();
        assert_eq!((p[0].0.as_str(), p[0].1.expose()), ("0", "pin:with:colons"));
        std::fs::write(&file, "0:a\nsofthsm0x:b\n").unwrap();
        let p = collect_pins(&[], &file).unwrap();
        assert_eq!(p[1].0, "softhsm0x");
        std::fs::write(&file, "0:a\nbroken\n").unwrap();
        let err = collect_pins(&[], &file).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
