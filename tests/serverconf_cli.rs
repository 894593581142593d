//! Black-box tests of the server configuration commands on an SQLite file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXAMPLE: &str = "docs/examples/serverconf.yaml";

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("sc-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn db(&self) -> String {
        self.0.join("serverconf.db").display().to_string()
    }
    fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(dir: &Dir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"))
        .args(args)
        .env("XROAD_DATABASE_URL", dir.db())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn ok(dir: &Dir, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(dir: &Dir, args: &[&str], code: i32) -> String {
    let out = run(dir, args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn apply_export_apply_is_a_no_op() {
    let dir = Dir::new("roundtrip");
    let dry = ok(&dir, &["apply", "-f", EXAMPLE, "--dry-run"]);
    assert!(dry.contains("+ client DEV/GOV/1234/registry"), "{dry}");
    assert!(dry.contains("(dry run)"), "{dry}");
    assert_eq!(
        ok(&dir, &["export"]),
        "clients: []\n",
        "a dry run writes nothing"
    );

    let first = ok(&dir, &["apply", "-f", EXAMPLE]);
    assert!(first.contains("change(s) made, version 1"), "{first}");
    assert_eq!(ok(&dir, &["apply", "-f", EXAMPLE]), "no changes\n");

    let exported = ok(&dir, &["export"]);
    let file = dir.file("exported.yaml", &exported);
    let file = file.to_str().unwrap();
    assert_eq!(ok(&dir, &["apply", "-f", file]), "no changes\n");
    assert_eq!(ok(&dir, &["export"]), exported);

    let json: serde_json::Value =
        serde_json::from_str(&ok(&dir, &["apply", "-f", file, "--output", "json"])).unwrap();
    assert_eq!(json["changes"], serde_json::json!([]));
    assert_eq!(json["version"], 1);
}

#[test]
fn invalid_documents_are_refused_whole() {
    let dir = Dir::new("invalid");
    ok(&dir, &["apply", "-f", EXAMPLE]);
    let before = ok(&dir, &["export"]);
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE)).unwrap();
    let cases = [
        (
            example.replace("owner: DEV/GOV/1234 ", "owner: DEV/GOV/4321 "),
            "server.owner: unknown client 'DEV/GOV/4321'",
        ),
        (
            example.replace("code: listPersons", "code: getPerson"),
            "duplicate service 'getPerson/v1'",
        ),
        (
            example.replace(
                "path: /admin/**\n        subjects",
                "path: /admin/%2e%2e/**\n        subjects",
            ),
            "invalid path pattern",
        ),
        (
            example.replace("- id: DEV/GOV/1234/consumer", "- id: DEV//1234/consumer"),
            "clients[2]",
        ),
        ("clients: {}".to_owned(), "clients"),
    ];
    for (i, (doc, words)) in cases.iter().enumerate() {
        let f = dir.file(&format!("bad{i}.yaml"), doc);
        let err = fails(&dir, &["apply", "-f", f.to_str().unwrap()], 1);
        assert!(err.contains(words), "case {i}: {err}");
    }
    assert_eq!(ok(&dir, &["export"]), before);
    let err = fails(&dir, &["apply", "-f", "/nonexistent/x.yaml"], 1);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = Dir::new("usage");
    fails(&dir, &["apply"], 2);
    fails(&dir, &["clients", "add", "EE/GOV"], 2);
    fails(
        &dir,
        &[
            "acl",
            "add",
            "--client",
            "EE/GOV/1",
            "--service",
            "x",
            "EE/GOV/2",
        ],
        2,
    );
    fails(&dir, &["clients", "list", "--output", "xml"], 2);
}

#[test]
fn entity_commands() {
    let dir = Dir::new("entities");
    ok(
        &dir,
        &[
            "server",
            "init",
            "--owner",
            "EE/GOV/1",
            "--server-code",
            "SS1",
        ],
    );
    let show: serde_json::Value =
        serde_json::from_str(&ok(&dir, &["server", "show", "--output", "json"])).unwrap();
    assert_eq!(show[0]["owner"], "EE/GOV/1");
    assert_eq!(show[0]["server_code"], "SS1");

    ok(
        &dir,
        &["clients", "add", "EE/GOV/1/sub", "--is-auth", "NOSSL"],
    );
    let err = fails(&dir, &["clients", "add", "EE/GOV/1/sub"], 1);
    assert!(err.contains("already exists"), "{err}");
    let list: serde_json::Value =
        serde_json::from_str(&ok(&dir, &["clients", "list", "--output", "json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["client"], "EE/GOV/1/sub");
    assert_eq!(list[1]["is_auth"], "NOSSL");

    // Services: a REST service by hand, a WSDL from a file.
    ok(
        &dir,
        &[
            "services",
            "add-rest",
            "--client",
            "EE/GOV/1/sub",
            "--code",
            "api",
            "--url",
            "http://backend:8080/api",
        ],
    );
    ok(
        &dir,
        &[
            "services",
            "add-endpoint",
            "--client",
            "EE/GOV/1/sub",
            "--code",
            "api",
            "--method",
            "GET",
            "--path",
            "/items/*",
        ],
    );
    let wsdl = dir.file("s.wsdl", WSDL);
    ok(
        &dir,
        &[
            "services",
            "import",
            "--client",
            "EE/GOV/1/sub",
            "--type",
            "wsdl",
            "--url",
            "http://backend/s.wsdl",
            "--file",
            wsdl.to_str().unwrap(),
        ],
    );
    ok(
        &dir,
        &[
            "services",
            "set",
            "--client",
            "EE/GOV/1/sub",
            "--code",
            "getThing",
            "--timeout",
            "5",
        ],
    );
    let services = ok(&dir, &["services", "list", "--client", "EE/GOV/1/sub"]);
    assert!(services.contains("getThing"), "{services}");
    assert!(services.contains("v3"), "{services}");

    // Groups and access rights.
    ok(
        &dir,
        &[
            "groups",
            "add",
            "--client",
            "EE/GOV/1/sub",
            "--code",
            "friends",
        ],
    );
    ok(
        &dir,
        &[
            "groups",
            "add-members",
            "--client",
            "EE/GOV/1/sub",
            "--code",
            "friends",
            "EE/COM/2",
            "EE/COM/3/x",
        ],
    );
    ok(
        &dir,
        &[
            "acl",
            "add",
            "--client",
            "EE/GOV/1/sub",
            "--service",
            "api",
            "--method",
            "GET",
            "--path",
            "/items/*",
            "LOCALGROUP:friends",
            "SUBSYSTEM:EE/COM/4/y",
        ],
    );
    ok(
        &dir,
        &[
            "acl",
            "add",
            "--client",
            "EE/GOV/1/sub",
            "--service",
            "getThing",
            "GLOBALGROUP:EE/all",
        ],
    );
    let err = fails(
        &dir,
        &[
            "acl",
            "add",
            "--client",
            "EE/GOV/1/sub",
            "--service",
            "api",
            "--path",
            "/other",
            "MEMBER:EE/COM/2",
        ],
        1,
    );
    assert!(
        err.contains("access_rights") && err.contains("unknown endpoint"),
        "{err}"
    );
    let err = fails(
        &dir,
        &[
            "acl",
            "add",
            "--client",
            "EE/GOV/9/sub",
            "--service",
            "api",
            "MEMBER:EE/COM/2",
        ],
        1,
    );
    assert!(
        err.contains("--client: unknown client 'EE/GOV/9/sub'"),
        "{err}"
    );
    let acl: serde_json::Value =
        serde_json::from_str(&ok(&dir, &["acl", "list", "--output", "json"])).unwrap();
    assert_eq!(acl.as_array().unwrap().len(), 3, "{acl}");

    // Removing the group removes the rights given to it.
    ok(
        &dir,
        &[
            "groups",
            "remove",
            "--client",
            "EE/GOV/1/sub",
            "--code",
            "friends",
        ],
    );
    let acl = ok(&dir, &["acl", "list"]);
    assert!(!acl.contains("LOCALGROUP"), "{acl}");
    ok(
        &dir,
        &[
            "acl",
            "remove",
            "--client",
            "EE/GOV/1/sub",
            "--service",
            "getThing",
            "GLOBALGROUP:EE/all",
        ],
    );
    let exported = ok(&dir, &["export"]);
    assert!(exported.contains("SUBSYSTEM:EE/COM/4/y"), "{exported}");
    assert!(!exported.contains("GLOBALGROUP"), "{exported}");
    assert!(exported.contains("timeout: 5"), "{exported}");

    // Disabling a description; the owner cannot be removed.
    ok(
        &dir,
        &[
            "services",
            "disable",
            "--client",
            "EE/GOV/1/sub",
            "--url",
            "http://backend/s.wsdl",
            "--notice",
            "later",
        ],
    );
    assert!(ok(&dir, &["export"]).contains("disabled_notice: later"));
    let err = fails(&dir, &["clients", "remove", "EE/GOV/1"], 1);
    assert!(err.contains("server.owner"), "{err}");
    ok(&dir, &["clients", "remove", "EE/GOV/1/sub"]);
    assert_eq!(
        ok(&dir, &["clients", "list", "--output", "json"])
            .matches("client")
            .count(),
        1
    );
}

const WSDL: &str = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd"
    xmlns:tns="urn:t" targetNamespace="urn:t">
  <wsdl:portType name="P"><wsdl:operation name="getThing"/></wsdl:portType>
  <wsdl:binding name="B" type="tns:P">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="getThing"><xrd:version>v3</xrd:version></wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="S"><wsdl:port name="SP" binding="tns:B">
    <soap:address location="http://backend/soap"/></wsdl:port></wsdl:service>
</wsdl:definitions>"#;

/// The WSDL validator runs before a description is imported: errors refuse it (nothing is
/// stored), warnings are shown and the import goes on.
#[test]
fn wsdl_import_is_validated() {
    let dir = Dir::new("wsdl-validate");
    ok(&dir, &["apply", "-f", EXAMPLE]);
    let before = ok(&dir, &["export"]);
    let import = |file: &Path| {
        vec![
            "services".to_owned(),
            "import".into(),
            "--client".into(),
            "DEV/GOV/1234/registry".into(),
            "--type".into(),
            "wsdl".into(),
            "--url".into(),
            "http://backend/checked.wsdl".into(),
            "--file".into(),
            file.display().to_string(),
        ]
    };
    let broken = dir.file(
        "broken.wsdl",
        &WSDL.replace(r#"binding="tns:B""#, r#"binding="tns:Missing""#),
    );
    let args = import(&broken);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = fails(&dir, &refs, 1);
    assert!(err.contains("invalid_wsdl"), "{err}");
    assert!(
        err.contains(r#"service "S" port "SP": the binding "tns:Missing" is not defined"#),
        "{err}"
    );
    assert_eq!(ok(&dir, &["export"]), before);

    let warned = dir.file(
        "warned.wsdl",
        &WSDL.replace(
            r#"<wsdl:operation name="getThing"/></wsdl:portType>"#,
            r#"<wsdl:operation name="getThing"><wsdl:output/></wsdl:operation></wsdl:portType>"#,
        ),
    );
    let args = import(&warned);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&dir, &refs);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning: WSDL"), "{err}");
    assert!(err.contains("has no message"), "{err}");

    // A refresh from a broken copy is refused the same way and changes nothing.
    let imported = ok(&dir, &["export"]);
    let refresh = |file: &Path| {
        let file = file.display().to_string();
        let args = [
            "services",
            "refresh",
            "--client",
            "DEV/GOV/1234/registry",
            "--url",
            "http://backend/checked.wsdl",
            "--file",
            file.as_str(),
        ];
        run(&dir, &args)
    };
    let out = refresh(&broken);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_wsdl"));
    assert_eq!(ok(&dir, &["export"]), imported);
    assert!(refresh(&warned).status.success());
}
