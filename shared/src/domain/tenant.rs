//! Tenants (docs/api.md §9): one deployment may serve several mini-programs,
//! each named by its appid. Which one a request is for comes from WeChat's
//! own `Referer` (a mini-program's code cannot set it) or, where WeChat or
//! the backend calls, an `appid` query parameter.

use super::ids::AppId;

impl AppId {
    /// The appid WeChat names in a mini-program request's `Referer`:
    /// `https://servicewechat.com/{appid}/{version}/page-frame.html`.
    /// Anything else (a browser, a test, the devtools' other pages) names none.
    pub fn from_referer(referer: &str) -> Option<Self> {
        let rest = referer.strip_prefix("https://servicewechat.com/")?;
        let (appid, page) = rest.split_once('/')?;
        page.ends_with("/page-frame.html")
            .then(|| Self::parse(appid).ok())
            .flatten()
    }

    /// The prefix of every table item of this tenant (docs/api.md §2.3).
    pub fn scope(&self) -> String {
        format!("t#{self}#")
    }

    /// The tenant whose item `pk` is, if any: `t#<appid>#…`.
    pub fn of_pk(pk: &str) -> Option<Self> {
        let rest = pk.strip_prefix("t#")?;
        let (appid, _) = rest.split_once('#')?;
        Self::parse(appid).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ValidationError;

    #[test]
    fn appids_are_wx_and_16_hex_digits() {
        assert!(AppId::parse("wx0123456789abcdef").is_ok());
        for bad in [
            "",
            "wx",
            "wx0123456789abcde",
            "wx0123456789abcdefa",
            "wx0123456789abcdeg",
            "xx0123456789abcdef",
            "wx0123456789abcd/f",
        ] {
            assert_eq!(AppId::parse(bad), Err(ValidationError::AppId), "{bad}");
        }
    }

    #[test]
    fn the_referer_names_the_appid_only_in_wechats_own_form() {
        let a = |r: &str| AppId::from_referer(r).map(|a| a.as_str().to_owned());
        assert_eq!(
            a("https://servicewechat.com/wx0123456789abcdef/3/page-frame.html").as_deref(),
            Some("wx0123456789abcdef")
        );
        assert_eq!(
            a("https://servicewechat.com/wx0123456789abcdef/devtools/page-frame.html").as_deref(),
            Some("wx0123456789abcdef")
        );
        for other in [
            "http://servicewechat.com/wx0123456789abcdef/3/page-frame.html",
            "https://servicewechat.com.evil/wx0123456789abcdef/3/page-frame.html",
            "https://servicewechat.com/wx0123456789abcdef/3/index.html",
            "https://servicewechat.com/wxNOTANAPPID/3/page-frame.html",
            "https://servicewechat.com/",
            "",
        ] {
            assert_eq!(a(other), None, "{other}");
        }
    }

    #[test]
    fn a_tenants_items_carry_its_scope() {
        let app = AppId::parse("wx0123456789abcdef").unwrap();
        let pk = format!("{}session#abc", app.scope());
        assert_eq!(AppId::of_pk(&pk), Some(app));
        assert_eq!(AppId::of_pk("session#abc"), None);
        assert_eq!(AppId::of_pk("t#nope#session#abc"), None);
    }
}
