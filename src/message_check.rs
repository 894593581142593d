//! `xroad-sidecar message check`: the client proxy's request checks, offline.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use xroad_fault::{Spelling, XRoadError, SOAP_FAULT_CONTENT_TYPE};
use xroad_message::check::{check_request, HttpRequestHead};
use xroad_message::rest::is_rest_path;

/// Arguments of `message check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The request body (`-` for standard input). Optional for REST requests without a body.
    file: Option<PathBuf>,
    /// The HTTP `Content-Type` of the request.
    #[arg(long, short = 'c', value_name = "CT")]
    content_type: Option<String>,
    /// An HTTP header, `Name: value` (repeatable), e.g. `-H 'SOAPAction: ""'`.
    #[arg(long = "header", short = 'H', value_name = "HEADER")]
    headers: Vec<String>,
    /// The HTTP method.
    #[arg(long, short = 'X', default_value = "POST")]
    method: String,
    /// The request path with an optional query; a path starting with `/r1/` is a REST request.
    #[arg(long, default_value = "/")]
    path: String,
    /// The own X-Road instance, used where the proxy generates REST message ids.
    #[arg(long, default_value = "DEV", env = "XROAD_INSTANCE")]
    instance: String,
    /// Fault code spelling: 7.8 (`client.missing_header_field`) or 7.7
    /// (`Client.MissingHeaderField`).
    #[arg(long, default_value = "7.8", env = "XROAD_FAULT_CODE_SPELLING")]
    spelling: Spelling,
}

/// Runs the command: exit 0 accepted, 1 refused, 2 the check itself could not run.
pub fn run(args: &CheckArgs) -> ExitCode {
    match check(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xroad-sidecar message check: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_header(h: &str) -> Result<(String, String), String> {
    let (name, value) = h
        .split_once(':')
        .ok_or_else(|| format!("header '{h}' is not 'Name: value'"))?;
    let name = name.trim();
    if name.is_empty()
        || name
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!("header '{h}' has an invalid name"));
    }
    // Like an HTTP server, drop the optional whitespace around the value.
    Ok((name.to_owned(), value.trim().to_owned()))
}

fn open_body(file: Option<&PathBuf>) -> Result<Box<dyn Read>, String> {
    match file {
        None => Ok(Box::new(io::empty())),
        Some(p) if p.as_os_str() == "-" => Ok(Box::new(io::stdin().lock())),
        Some(p) => File::open(p)
            .map(|f| Box::new(io::BufReader::new(f)) as Box<dyn Read>)
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
    }
}

fn check(args: &CheckArgs) -> Result<ExitCode, String> {
    let mut headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(ct) = &args.content_type {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        headers.insert(0, ("Content-Type".to_owned(), ct.clone()));
    }
    let (path, query) = match args.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (args.path.as_str(), None),
    };
    if args.file.is_none() && !is_rest_path(path) {
        return Err("a SOAP request needs a FILE with its body (or - for standard input)".into());
    }
    let head = HttpRequestHead {
        method: &args.method,
        path,
        query,
        headers: &headers,
        instance: &args.instance,
    };
    let body = open_body(args.file.as_ref())?;
    let outcome =
        check_request(&head, body).map_err(|e| format!("cannot read the request body: {e}"))?;
    let (doc, code) = match outcome {
        Ok(accepted) => (
            serde_json::to_value(&accepted).map_err(|e| e.to_string())?,
            ExitCode::SUCCESS,
        ),
        Err(fault) => (
            refusal(&fault, is_rest_path(path), &headers, args.spelling),
            ExitCode::from(1),
        ),
    };
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc)
        .and_then(|_| writeln!(out).map_err(serde_json::Error::io))
        .map_err(|e| format!("cannot write the result: {e}"))?;
    Ok(code)
}

/// The fault as the information system would receive it.
fn refusal(
    fault: &XRoadError,
    rest: bool,
    headers: &[(String, String)],
    spelling: Spelling,
) -> serde_json::Value {
    let code = fault.fault_code(spelling);
    let response = if rest {
        let accept = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("accept"))
            .map(|(_, v)| v.as_str());
        let e = fault.rest_error(spelling, accept);
        json!({
            "status": e.status,
            "headers": { "X-Road-Error": e.error_header, "Content-Type": e.content_type },
            "body": String::from_utf8_lossy(&e.body),
        })
    } else {
        json!({
            "status": 200,
            "headers": { "Content-Type": SOAP_FAULT_CONTENT_TYPE, "SOAPAction": "" },
            "body": String::from_utf8_lossy(&fault.soap_fault_xml(spelling)),
        })
    };
    json!({
        "faultCode": code,
        "faultString": fault.message(),
        "faultDetail": fault.detail(),
        "response": response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_arguments() {
        assert_eq!(
            parse_header("SOAPAction: \"\"").unwrap(),
            ("SOAPAction".into(), "\"\"".into())
        );
        assert_eq!(
            parse_header("X-Road-Client:EE/GOV/1").unwrap().1,
            "EE/GOV/1"
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": v").is_err());
        assert!(parse_header("a b: v").is_err());
    }
}
