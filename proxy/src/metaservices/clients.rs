//! `GET /listClients` (Java's `MetadataClientRequestProcessor`): every member and subsystem
//! of an instance from the shared parameters, as JAXB or Jackson write it (digest §7.1).

use xroad_globalconf::SharedParameters;
use xroad_identifiers::ClientId;

use super::{escape, NS_IDENTIFIERS, NS_XROAD};

/// One entry of the list (Java's `MemberInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member or subsystem.
    pub id: ClientId,
    /// The member's name (for a subsystem, its member's name).
    pub name: Option<String>,
    /// The subsystem's name (version 5+ shared parameters).
    pub subsystem_name: Option<String>,
}

/// Java's `GlobalConfImpl#getMembers`: members in file order, each followed by its subsystems.
pub fn members(params: &SharedParameters) -> Vec<MemberInfo> {
    params
        .members
        .iter()
        .map(|id| MemberInfo {
            id: id.clone(),
            name: params.member_name(id).map(str::to_owned),
            subsystem_name: id
                .subsystem_code()
                .and_then(|_| params.subsystem_name(id).map(str::to_owned)),
        })
        .collect()
}

/// Whether any `Accept` value names `application/json` (parameters and q ignored, as Java's
/// `acceptsJson`).
pub fn accepts_json<'a>(accept: impl IntoIterator<Item = &'a str>) -> bool {
    accept.into_iter().flat_map(|v| v.split(',')).any(|m| {
        m.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// The `text/xml; charset=UTF-8` body: JAXB's formatted `clientList`.
pub fn client_list_xml(members: &[MemberInfo]) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    x.push_str(&format!(
        "<ns2:clientList xmlns:ns1=\"{NS_IDENTIFIERS}\" xmlns:ns2=\"{NS_XROAD}\""
    ));
    if members.is_empty() {
        x.push_str("/>\n");
        return x;
    }
    x.push_str(">\n");
    for m in members {
        x.push_str("    <ns2:member>\n");
        x.push_str(&format!(
            "        <ns2:id ns1:objectType=\"{}\">\n",
            object_type(&m.id)
        ));
        let mut field = |name: &str, value: &str| {
            x.push_str(&format!(
                "            <ns1:{name}>{}</ns1:{name}>\n",
                escape(value)
            ));
        };
        field("xRoadInstance", m.id.instance());
        field("memberClass", m.id.member_class());
        field("memberCode", m.id.member_code());
        if let Some(s) = m.id.subsystem_code() {
            field("subsystemCode", s);
        }
        x.push_str("        </ns2:id>\n");
        if let Some(n) = &m.name {
            x.push_str(&format!("        <ns2:name>{}</ns2:name>\n", escape(n)));
        }
        if let Some(n) = &m.subsystem_name {
            x.push_str(&format!(
                "        <ns2:subsystemName>{}</ns2:subsystemName>\n",
                escape(n)
            ));
        }
        x.push_str("    </ns2:member>\n");
    }
    x.push_str("</ns2:clientList>\n");
    x
}

/// The `application/json; charset=utf-8` body: Jackson, snake_case, nulls left out.
pub fn client_list_json(members: &[MemberInfo]) -> String {
    let mut j = String::from("{\"member\":[");
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            j.push(',');
        }
        j.push_str("{\"id\":{");
        j.push_str(&format!(
            "\"member_class\":{},\"member_code\":{}",
            json(m.id.member_class()),
            json(m.id.member_code())
        ));
        if let Some(s) = m.id.subsystem_code() {
            j.push_str(&format!(",\"subsystem_code\":{}", json(s)));
        }
        j.push_str(&format!(
            ",\"object_type\":\"{}\",\"xroad_instance\":{}}}",
            object_type(&m.id),
            json(m.id.instance())
        ));
        if let Some(n) = &m.name {
            j.push_str(&format!(",\"name\":{}", json(n)));
        }
        if let Some(n) = &m.subsystem_name {
            j.push_str(&format!(",\"subsystem_name\":{}", json(n)));
        }
        j.push('}');
    }
    j.push_str("]}");
    j
}

fn object_type(id: &ClientId) -> &'static str {
    if id.subsystem_code().is_some() {
        "SUBSYSTEM"
    } else {
        "MEMBER"
    }
}

pub(crate) fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<MemberInfo> {
        vec![
            MemberInfo {
                id: ClientId::member("AA", "GOV", "TS1OWNER").unwrap(),
                name: Some("TS1 Owner".into()),
                subsystem_name: None,
            },
            MemberInfo {
                id: ClientId::subsystem("AA", "ENT", "CLIENT1", "sub").unwrap(),
                name: Some("Client One".into()),
                subsystem_name: Some("Client One Sub".into()),
            },
        ]
    }

    #[test]
    fn xml_as_jaxb_formats_it() {
        assert_eq!(
            client_list_xml(&sample()),
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ns2:clientList xmlns:ns1="http://x-road.eu/xsd/identifiers" xmlns:ns2="http://x-road.eu/xsd/xroad.xsd">
    <ns2:member>
        <ns2:id ns1:objectType="MEMBER">
            <ns1:xRoadInstance>AA</ns1:xRoadInstance>
            <ns1:memberClass>GOV</ns1:memberClass>
            <ns1:memberCode>TS1OWNER</ns1:memberCode>
        </ns2:id>
        <ns2:name>TS1 Owner</ns2:name>
    </ns2:member>
    <ns2:member>
        <ns2:id ns1:objectType="SUBSYSTEM">
            <ns1:xRoadInstance>AA</ns1:xRoadInstance>
            <ns1:memberClass>ENT</ns1:memberClass>
            <ns1:memberCode>CLIENT1</ns1:memberCode>
            <ns1:subsystemCode>sub</ns1:subsystemCode>
        </ns2:id>
        <ns2:name>Client One</ns2:name>
        <ns2:subsystemName>Client One Sub</ns2:subsystemName>
    </ns2:member>
</ns2:clientList>
"#
        );
        assert_eq!(
            client_list_xml(&[]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<ns2:clientList xmlns:ns1=\"http://x-road.eu/xsd/identifiers\" xmlns:ns2=\"http://x-road.eu/xsd/xroad.xsd\"/>\n"
        );
        let mut odd = sample();
        odd[0].name = Some("A & <B>".into());
        assert!(client_list_xml(&odd).contains("<ns2:name>A &amp; &lt;B&gt;</ns2:name>"));
    }

    #[test]
    fn json_as_jackson_writes_it() {
        assert_eq!(
            client_list_json(&sample()),
            concat!(
                r#"{"member":[{"id":{"member_class":"GOV","member_code":"TS1OWNER","object_type":"MEMBER","xroad_instance":"AA"},"name":"TS1 Owner"},"#,
                r#"{"id":{"member_class":"ENT","member_code":"CLIENT1","subsystem_code":"sub","object_type":"SUBSYSTEM","xroad_instance":"AA"},"name":"Client One","subsystem_name":"Client One Sub"}]}"#
            )
        );
        assert_eq!(client_list_json(&[]), r#"{"member":[]}"#);
    }

    #[test]
    fn accept_json_as_java() {
        assert!(accepts_json(["application/json"]));
        assert!(accepts_json([
            "text/xml;q=1.0",
            "application/json;q=0.9 , text/*"
        ]));
        assert!(!accepts_json([
            "x-this/that;q=1.0;param=value",
            "text/xml, */*"
        ]));
        assert!(!accepts_json([]));
    }
}
