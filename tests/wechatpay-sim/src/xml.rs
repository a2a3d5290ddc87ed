//! APIv2 XML as WeChat Pay speaks it: CDATA-wrapped answers; requests parsed
//! with DTDs refused (no entity can be declared or loaded).

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;

/// `<xml>` with each value in CDATA (numbers too, which WeChat Pay does not
/// do but every parser accepts); a value holding `]]>` is split across two
/// CDATA sections.
pub(crate) fn write(fields: &BTreeMap<String, String>) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        out.push_str(&format!(
            "<{k}><![CDATA[{}]]></{k}>",
            v.replace("]]>", "]]]]><![CDATA[>")
        ));
    }
    out.push_str("</xml>");
    out
}

/// The fields of a flat `<xml>` request, or why it is refused.
pub(crate) fn parse(text: &str) -> Result<BTreeMap<String, String>, &'static str> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut fields = BTreeMap::new();
    let mut depth = 0;
    let mut root = false;
    let mut current: Option<(String, String)> = None;
    loop {
        match reader.read_event().map_err(|_| "not well-formed")? {
            Event::DocType(_) => return Err("DTD refused"),
            Event::PI(_) => return Err("processing instruction refused"),
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Start(s) => {
                let qname = s.name();
                let name: &str = qname.as_ref();
                match depth {
                    0 if !root && name == "xml" => root = true,
                    1 if !fields.contains_key(name) => {
                        current = Some((name.to_owned(), String::new()));
                    }
                    _ => return Err("unexpected element"),
                }
                depth += 1;
            }
            Event::End(_) => {
                depth -= 1;
                if let Some((k, v)) = current.take() {
                    fields.insert(k, v);
                }
            }
            Event::Text(t) => match current.as_mut() {
                Some((_, v)) => v.push_str(&t.xml10_content()),
                None if t.xml10_content().trim().is_empty() => {}
                None => return Err("stray text"),
            },
            Event::CData(c) => match current.as_mut() {
                Some((_, v)) => v.push_str(&c.xml10_content()),
                None => return Err("stray CDATA"),
            },
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten()
                } else {
                    match r.xml10_content().as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    }
                };
                match (c, current.as_mut()) {
                    (Some(c), Some((_, v))) => v.push(c),
                    _ => return Err("bad reference"),
                }
            }
            Event::Empty(_) => return Err("unexpected element"),
            Event::Eof => break,
        }
    }
    if !root || depth != 0 {
        return Err("not an <xml> document");
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let mut f = BTreeMap::new();
        f.insert("a".to_owned(), "x]]>y<&".to_owned());
        f.insert("b".to_owned(), "爱马哥".to_owned());
        assert_eq!(parse(&write(&f)).unwrap(), f);
        assert!(parse("<!DOCTYPE x [<!ENTITY e \"v\">]><xml><a>&e;</a></xml>").is_err());
        assert!(parse("<xml><a><b/></a></xml>").is_err());
        assert!(parse("<xml><a>1</a><a>2</a></xml>").is_err());
        assert!(parse("<xml><a>&e;</a></xml>").is_err());
    }
}
