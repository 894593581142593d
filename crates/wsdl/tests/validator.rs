//! The validator on a valid description, one with warnings only, and broken ones, each with
//! its class and the message pointing at the element at fault.

use std::path::PathBuf;

use xroad_wsdl::{validate, validate_bytes, FileLoader, Report, Verdict};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn valid_text() -> String {
    std::fs::read_to_string(fixture("population.wsdl")).unwrap()
}

/// Validates the population WSDL with `from` replaced by `to` (imports resolve beside it).
fn variant(from: &str, to: &str) -> Report {
    let text = valid_text();
    assert!(text.contains(from), "the fixture lacks {from:?}");
    let changed = text.replacen(from, to, 1);
    let location = fixture("population.wsdl").to_string_lossy().into_owned();
    validate_bytes(changed.as_bytes(), &location, &FileLoader)
}

fn messages(r: &Report) -> String {
    r.findings
        .iter()
        .map(|f| format!("{:?}: {}", f.severity, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_error(r: &Report, expected: &str) {
    assert_eq!(r.verdict(), Verdict::Invalid, "{}", messages(r));
    assert!(
        r.errors().any(|f| f.message.contains(expected)),
        "no error containing {expected:?}:\n{}",
        messages(r)
    );
}

#[test]
fn a_complete_x_road_description_is_valid() {
    let r = validate(&fixture("population.wsdl").to_string_lossy(), &FileLoader);
    assert_eq!(r.verdict(), Verdict::Valid, "{}", messages(&r));
}

#[test]
fn warnings_only() {
    // An output without a message, and a binding output named differently from the
    // portType's: accepted with warnings (Java's validator: "Failures: 0").
    let r = variant(
        r#"<wsdl:output name="listPersonsResponse" message="tns:listPersonsResponse"/>"#,
        "<wsdl:output/>",
    );
    assert_eq!(r.verdict(), Verdict::Warnings, "{}", messages(&r));
    let text = messages(&r);
    assert!(
        text.contains(
            r#"portType "PopulationPort" operation "listPersons" output: has no message"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"binding "PopulationBinding" operation "listPersons" output: the name "listPersonsResponse" differs from the portType's (none)"#),
        "{text}"
    );
    // An X-Road operation without the X-Road headers.
    let r = variant(
        r#"<soap:header message="tns:requestHeader" part="protocolVersion" use="literal"/>
            </wsdl:input>
            <wsdl:output name="listPersonsResponse">"#,
        r#"</wsdl:input>
            <wsdl:output name="listPersonsResponse">"#,
    );
    assert_eq!(r.verdict(), Verdict::Warnings, "{}", messages(&r));
    assert!(messages(&r).contains(
        r#"binding "PopulationBinding" operation "listPersons" input: the X-Road header protocolVersion is not declared"#
    ));
}

#[test]
fn a_missing_message_is_an_error() {
    let r = variant(
        r#"<wsdl:message name="getPersonResponse"><wsdl:part name="body" element="tns:getPersonResponse"/></wsdl:message>"#,
        "",
    );
    assert_error(
        &r,
        r#"portType "PopulationPort" operation "getPerson" output: the message "tns:getPersonResponse" is not defined"#,
    );
}

#[test]
fn an_undefined_binding_is_an_error() {
    let r = variant(
        r#"binding="tns:PopulationBinding""#,
        r#"binding="tns:NoSuchBinding""#,
    );
    assert_error(
        &r,
        r#"service "PopulationService" port "PopulationPort": the binding "tns:NoSuchBinding" is not defined"#,
    );
    let r = variant(r#"type="tns:PopulationPort""#, r#"type="tns:Nothing""#);
    assert_error(
        &r,
        r#"binding "PopulationBinding": the portType "tns:Nothing" is not defined"#,
    );
}

#[test]
fn an_unresolvable_schema_import_is_an_error() {
    let r = variant(
        r#"schemaLocation="xroad.xsd""#,
        r#"schemaLocation="xsd/xroad.xsd""#,
    );
    assert_error(
        &r,
        r#"<xs:import schemaLocation="xsd/xroad.xsd">: cannot read"#,
    );
    // An import of something that is not a schema.
    let r = variant(
        r#"schemaLocation="xroad.xsd""#,
        r#"schemaLocation="population.wsdl""#,
    );
    assert_error(&r, "is not an XML Schema");
}

#[test]
fn an_empty_element_name_is_an_error() {
    let r = variant(
        r#"<xs:element name="code" type="xs:string"/>
                    <xs:element name="name""#,
        r#"<xs:element name="" type="xs:string"/>
                    <xs:element name="name""#,
    );
    assert_error(
        &r,
        r#"<xs:element name="">: the name is not a valid NCName"#,
    );
}

#[test]
fn undeclared_references_are_errors() {
    let r = variant(r#"type="tns:Person""#, r#"type="tns:Persona""#);
    assert_error(
        &r,
        r#"no type Persona is declared in "http://population.example.org""#,
    );
    let r = variant(
        r#"element="tns:getPerson"/>"#,
        r#"element="tns:getPersons"/>"#,
    );
    assert_error(
        &r,
        r#"message "getPerson" part "body": no element getPersons is declared"#,
    );
    let r = variant(r#"type="tns:Person""#, r#"type="foo:Person""#);
    assert_error(&r, "the prefix 'foo' is not declared");
    let r = variant(
        r#"<soap:header message="tns:requestHeader" part="issue" use="literal"/>"#,
        r#"<soap:header message="tns:requestHeader" part="nonsense" use="literal"/>"#,
    );
    assert_error(
        &r,
        r#"soap:header part "nonsense" is not a part of message "tns:requestHeader""#,
    );
}

#[test]
fn not_xml_at_all_is_an_error() {
    let r = validate_bytes(b"this is not XML", "x.wsdl", &FileLoader);
    assert_error(&r, "not well-formed XML");
    let r = validate_bytes(
        b"<definitions xmlns='http://www.w3.org/ns/wsdl'/>",
        "x.wsdl",
        &FileLoader,
    );
    assert_error(&r, "not a WSDL 1.1 description");
    let r = validate("/nonexistent/x.wsdl", &FileLoader);
    assert_error(&r, "cannot read the WSDL /nonexistent/x.wsdl");
}
