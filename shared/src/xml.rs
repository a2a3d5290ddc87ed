//! The one flat-XML reader and writer: `<xml>` with one child element per
//! field, text or CDATA values. WeChat Pay's APIv2 (docs/wechatpay.md §2.3)
//! and WeChat's XML pushes (docs/wechat.md §5) both use it.
//!
//! The reader refuses DTDs (so no entity can be declared, let alone an
//! external one), processing instructions, attributes, duplicate fields and
//! any entity other than the five predefined ones and character references.
//! Nested elements are refused or skipped, as the caller says.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::escape::escape;
use quick_xml::events::Event;

/// Documents larger than this are neither APIv2 answers nor pushes.
pub const MAX_XML_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("XML refused: {0}")]
pub struct XmlError(pub &'static str);

/// What to do with an element inside a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nested {
    /// APIv2: every field is flat; anything else is not WeChat Pay.
    Refuse,
    /// Pushes: some events carry structured fields (e.g. a video's
    /// MediaId); they are not fields we read, so their content is dropped.
    Skip,
}

/// The parameters as `<xml>…</xml>`. Values with markup characters are
/// CDATA-wrapped, as WeChat Pay's SDKs do; a value that contains `]]>`
/// (which would end the CDATA section) is escaped instead.
pub fn write(params: &BTreeMap<String, String>) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in params {
        out.push('<');
        out.push_str(k);
        out.push('>');
        let markup = v.contains(['<', '>', '&', '"', '\'']);
        if markup && !v.contains("]]>") {
            out.push_str("<![CDATA[");
            out.push_str(v);
            out.push_str("]]>");
        } else {
            out.push_str(&escape(v.as_str()));
        }
        out.push_str("</");
        out.push_str(k);
        out.push('>');
    }
    out.push_str("</xml>");
    out
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses a flat `<xml>` document into its fields, values as written.
pub fn parse(text: &str, nested: Nested) -> Result<BTreeMap<String, String>, XmlError> {
    if text.len() > MAX_XML_BYTES {
        return Err(XmlError("document too large"));
    }
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = true;
    let mut flat = Flat::new(nested);
    loop {
        let event = reader
            .read_event()
            .map_err(|_| XmlError("not well-formed"))?;
        match event {
            Event::Decl(_) | Event::Comment(_) => {}
            Event::DocType(_) => return Err(XmlError("DTDs are not accepted")),
            Event::PI(_) => return Err(XmlError("processing instructions are not accepted")),
            Event::Start(start) => flat.start(&start)?,
            Event::End(_) => flat.end(),
            Event::Text(t) => flat.content(&t.xml10_content(), "text outside a field", true)?,
            Event::CData(c) => flat.content(&c.xml10_content(), "CDATA outside a field", false)?,
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .ok()
                        .flatten()
                        .ok_or(XmlError("bad character reference"))?
                } else {
                    let name = r.xml10_content();
                    predefined_entity(&name).ok_or(XmlError("unknown entity"))?
                };
                flat.content(
                    c.encode_utf8(&mut [0; 4]),
                    "reference outside a field",
                    false,
                )?;
            }
            Event::Empty(_) => return Err(XmlError("unexpected empty element")),
            Event::Eof => break,
        }
    }
    flat.finish()
}

/// Where the reader is in a flat document, and the fields read so far.
struct Flat {
    nested: Nested,
    fields: BTreeMap<String, String>,
    /// 0: outside <xml>; 1: inside it; 2: inside a field; more: nested.
    depth: usize,
    root_seen: bool,
    current: Option<(String, String)>,
}

impl Flat {
    fn new(nested: Nested) -> Self {
        Self {
            nested,
            fields: BTreeMap::new(),
            depth: 0,
            root_seen: false,
            current: None,
        }
    }

    fn start(&mut self, start: &quick_xml::events::BytesStart<'_>) -> Result<(), XmlError> {
        if start.attributes().next().is_some() {
            return Err(XmlError("attributes are not accepted"));
        }
        let qname = start.name();
        let name: &str = qname.as_ref();
        match self.depth {
            0 if !self.root_seen && name == "xml" => self.root_seen = true,
            0 => return Err(XmlError("the root element must be <xml>, once")),
            1 => {
                if self.fields.contains_key(name) {
                    return Err(XmlError("a field appears twice"));
                }
                self.current = Some((name.to_owned(), String::new()));
            }
            _ if self.nested == Nested::Skip => {}
            _ => return Err(XmlError("nested elements are not accepted")),
        }
        self.depth += 1;
        Ok(())
    }

    fn end(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        if self.depth == 1
            && let Some((k, v)) = self.current.take()
        {
            self.fields.insert(k, v);
        }
    }

    /// Text, CDATA or a referenced character: part of the current field's
    /// value (a nested element's are skipped); outside a field, an error
    /// (`outside`), but blank text between fields when `blank_ok`.
    fn content(&mut self, s: &str, outside: &'static str, blank_ok: bool) -> Result<(), XmlError> {
        if self.depth > 2 {
            return Ok(());
        }
        match self.current.as_mut() {
            Some((_, v)) => {
                v.push_str(s);
                Ok(())
            }
            None if blank_ok && s.trim().is_empty() => Ok(()),
            None => Err(XmlError(outside)),
        }
    }

    fn finish(self) -> Result<BTreeMap<String, String>, XmlError> {
        if !self.root_seen || self.depth != 0 {
            return Err(XmlError("not a complete <xml> document"));
        }
        Ok(self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_markup_and_cdata() {
        let mut p = BTreeMap::new();
        p.insert("a".to_owned(), "plain".to_owned());
        p.insert("b".to_owned(), "<&>\"'".to_owned());
        p.insert("c".to_owned(), "x]]>y<".to_owned());
        p.insert("d".to_owned(), "爱马哥南山店".to_owned());
        let xml = write(&p);
        assert!(xml.contains("<b><![CDATA[<&>\"']]></b>"), "{xml}");
        assert_eq!(parse(&xml, Nested::Refuse).unwrap(), p);
    }

    #[test]
    fn wechat_style_answer_parses() {
        let xml = "<?xml version=\"1.0\"?>\n<xml>\n  <return_code><![CDATA[FAIL]]></return_code>\n  <return_msg><![CDATA[签名错误，请检查后再试]]></return_msg>\n  <n>1&#x31;&amp;</n><e></e><f/>\n</xml>";
        let f = parse(xml, Nested::Refuse).unwrap();
        assert_eq!(f["return_code"], "FAIL");
        assert_eq!(f["return_msg"], "签名错误，请检查后再试");
        assert_eq!(f["n"], "11&");
        assert_eq!(f["e"], "");
        assert_eq!(f["f"], "");
    }

    #[test]
    fn hostile_documents_are_refused() {
        let cases = [
            "<!DOCTYPE xml [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><a>&e;</a></xml>",
            "<!DOCTYPE xml [<!ENTITY e \"boom\">]><xml><a>x</a></xml>",
            "<xml><a>&e;</a></xml>",
            "<xml><a x=\"1\">v</a></xml>",
            "<xml><a><b>v</b></a></xml>",
            "<xml><a>1</a><a>2</a></xml>",
            "<root><a>1</a></root>",
            "<xml><a>1</a></xml><xml/>",
            "<xml><a>1</b></xml>",
            "<xml><a>1</a>",
            "<?php x?><xml/>",
            "",
            "not xml",
            "<xml>text</xml>",
        ];
        for c in cases {
            assert!(parse(c, Nested::Refuse).is_err(), "{c}");
        }
        assert!(
            parse(
                &format!("<xml><a>{}</a></xml>", "a".repeat(MAX_XML_BYTES)),
                Nested::Refuse
            )
            .is_err()
        );
        // A push's structured field is skipped, not refused.
        let f = parse("<xml><a>1</a><b><c>2</c>x</b></xml>", Nested::Skip).unwrap();
        assert_eq!((f["a"].as_str(), f["b"].as_str()), ("1", "x"));
    }
}
