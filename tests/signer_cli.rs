//! `xroad-sidecar token|keys|csr|certs` as a user runs them: PINs from the environment or
//! standard input, never echoed in errors.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const PIN: &str = "Cli-Secret-PIN-1";

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"));
    cmd.args(args)
        .env("XROAD_SIGNER_DIR", dir.join("signer"))
        .env_remove("XROAD_TOKEN_PIN")
        .env_remove("XROAD_TOKEN_NEW_PIN")
        .env_remove("XROAD_DEVICES_INI")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("xroad-sidecar runs");
    if let Some(mut s) = child.stdin.take() {
        let _ = s.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("exits")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A temporary directory, removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn token_keys_csr_and_certs() {
    let tmp =
        TempDir(std::env::temp_dir().join(format!("xroad-signer-cli-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    std::fs::create_dir_all(&tmp.0).unwrap();
    let dir = tmp.0.as_path();
    let pin_env = [("XROAD_TOKEN_PIN", PIN)];

    ok(&run(dir, &["token", "init"], &[], &format!("{PIN}\n")));
    let status = ok(&run(dir, &["token", "status"], &[], ""));
    assert!(
        status.starts_with("0\tsoftToken\t") && status.contains("\tinitialized"),
        "{status}"
    );

    let wrong = run(
        dir,
        &["token", "login"],
        &[("XROAD_TOKEN_PIN", "Not-The-PIN")],
        "",
    );
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains("incorrect") && err.contains("pin_incorrect") && !err.contains("Not-The-PIN"),
        "{err}"
    );
    ok(&run(dir, &["token", "login"], &pin_env, ""));

    let key = ok(&run(
        dir,
        &[
            "keys",
            "generate",
            "--algorithm",
            "ec-p256",
            "--label",
            "sign",
        ],
        &pin_env,
        "",
    ));
    let key = key.trim().to_owned();
    assert_eq!(key.len(), 40, "{key}");
    let list = ok(&run(dir, &["keys", "list"], &[], ""));
    assert!(
        list.contains(&key) && list.contains("mechanism=CKM_ECDSA"),
        "{list}"
    );

    let csr = dir.join("sign.csr");
    ok(&run(
        dir,
        &[
            "csr",
            "generate",
            "--key",
            &key,
            "--usage",
            "sign",
            "--profile",
            "FiVRK",
            "--owner",
            "DEV/COM/1234",
            "--server-code",
            "SS0",
            "--field",
            "O=Org",
            "--field",
            "subjectAltName=ss0.example.org",
            "--out",
            csr.to_str().unwrap(),
        ],
        &pin_env,
        "",
    ));
    let text = openssl(
        dir,
        &[
            "req", "-verify", "-noout", "-subject", "-nameopt", "RFC2253", "-in", "sign.csr",
        ],
    );
    assert!(
        text.contains("subject=CN=1234,serialNumber=DEV/SS0/COM,O=Org,C=FI"),
        "{text}"
    );
    let bad = run(
        dir,
        &[
            "csr",
            "generate",
            "--key",
            &key,
            "--usage",
            "sign",
            "--profile",
            "FiVRK",
            "--owner",
            "DEV/COM/1234",
            "--server-code",
            "SS0",
        ],
        &pin_env,
        "",
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the subject field O is missing a value"));

    // A CA issues the certificate; it is imported, listed, deactivated.
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=CLI CA",
            "-days",
            "30",
        ],
    );
    std::fs::write(dir.join("ext"), "keyUsage=critical,nonRepudiation\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "sign.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "7",
            "-days",
            "30",
            "-extfile",
            "ext",
            "-out",
            "sign.pem",
        ],
    );
    let refused = run(
        dir,
        &["certs", "import", dir.join("sign.pem").to_str().unwrap()],
        &[],
        "",
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--globalconf"));
    let imported = ok(&run(
        dir,
        &[
            "certs",
            "import",
            dir.join("sign.pem").to_str().unwrap(),
            "--skip-chain-check",
            "--member",
            "DEV/COM/1234",
        ],
        &[],
        "",
    ));
    let id = imported.split('\t').next().unwrap().to_owned();
    assert!(imported.contains(&format!("key={key}")), "{imported}");
    let list = ok(&run(dir, &["certs", "list"], &[], ""));
    assert!(
        list.contains(&id) && list.contains("active=true") && list.contains("ocsp=none"),
        "{list}"
    );
    ok(&run(dir, &["certs", "deactivate", &id], &[], ""));
    assert!(ok(&run(dir, &["certs", "list"], &[], "")).contains("active=false"));
    ok(&run(dir, &["certs", "activate", &id], &[], ""));

    // PIN change (old and new from stdin), then key deletion with the new PIN.
    ok(&run(
        dir,
        &["token", "set-pin"],
        &[],
        &format!("{PIN}\nNew-Cli-PIN-22\n"),
    ));
    assert!(!run(dir, &["token", "login"], &pin_env, "").status.success());
    ok(&run(
        dir,
        &["keys", "delete", &key],
        &[("XROAD_TOKEN_PIN", "New-Cli-PIN-22")],
        "",
    ));
    assert!(!ok(&run(dir, &["keys", "list"], &[], "")).contains(&key));
    // Nothing written holds the PIN.
    let text = std::fs::read_to_string(dir.join("signer/keyconf.xml")).unwrap();
    assert!(!text.contains(PIN) && !text.contains("New-Cli-PIN-22"));
}
