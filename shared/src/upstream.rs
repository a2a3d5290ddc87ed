//! Every WeChat and WeChat Pay endpoint wxface calls, listed once: its name
//! (the `Upstream` dimension of the metrics, and of the alarm each function
//! has per endpoint it calls), its path, and whether a failed attempt may be
//! sent again. Adding a WeChat call is a variant here, its use in an adapter,
//! and the alarm the template test then asks for.

/// Whether a failed attempt is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads, and writes WeChat repeats harmlessly: retried after any failure.
    Safe,
    /// A call whose repeat would do something twice (a single-use code, a
    /// new handle): retried only if it never reached WeChat.
    OnlyIfNotSent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Upstream {
    /// WeChat's access token (`stable_token`, docs/wechat.md §4).
    StableToken,
    /// The `wx.login` code for the caller's openid.
    Jscode2session,
    /// 2.0: a verify_id for a person.
    Getverifyid,
    /// 2.0: the face check's result.
    Queryverifyinfo,
    /// 1.0: a user_id_key for a person.
    Getuseridkey,
    /// 1.0: what a verify_result says.
    Getinfo,
    /// WeChat Pay (APIv2): a kiosk's authinfo.
    GetWxpayfaceAuthinfo,
    /// WeChat Pay (APIv3): the real name behind a face_sid.
    FacemchUsers,
}

impl Upstream {
    pub const ALL: [Self; 8] = [
        Self::StableToken,
        Self::Jscode2session,
        Self::Getverifyid,
        Self::Queryverifyinfo,
        Self::Getuseridkey,
        Self::Getinfo,
        Self::GetWxpayfaceAuthinfo,
        Self::FacemchUsers,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::StableToken => "stable_token",
            Self::Jscode2session => "jscode2session",
            Self::Getverifyid => "getverifyid",
            Self::Queryverifyinfo => "queryverifyinfo",
            Self::Getuseridkey => "getuseridkey",
            Self::Getinfo => "getinfo",
            Self::GetWxpayfaceAuthinfo => "get_wxpayface_authinfo",
            Self::FacemchUsers => "facemch_users",
        }
    }

    /// The path below the vendor's base URL (WeChat Pay's real-name path
    /// continues with the face_sid).
    pub const fn path(self) -> &'static str {
        match self {
            Self::StableToken => "/cgi-bin/stable_token",
            Self::Jscode2session => "/sns/jscode2session",
            Self::Getverifyid => "/cityservice/face/identify/getverifyid",
            Self::Queryverifyinfo => "/cityservice/face/identify/queryverifyinfo",
            Self::Getuseridkey => "/cityservice/face/identify/getuseridkey",
            Self::Getinfo => "/cityservice/face/identify/getinfo",
            Self::GetWxpayfaceAuthinfo => "/face/get_wxpayface_authinfo",
            Self::FacemchUsers => "/v3/facemch/users/",
        }
    }

    pub const fn retry(self) -> Retry {
        match self {
            // A code is single use; a handle issued twice is two handles.
            Self::Jscode2session | Self::Getverifyid | Self::Getuseridkey => Retry::OnlyIfNotSent,
            Self::StableToken
            | Self::Queryverifyinfo
            | Self::Getinfo
            | Self::GetWxpayfaceAuthinfo
            | Self::FacemchUsers => Retry::Safe,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.name() == name)
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_upstream_is_listed_once_with_its_own_name_and_path() {
        let names: std::collections::BTreeSet<_> = Upstream::ALL.iter().map(|u| u.name()).collect();
        let paths: std::collections::BTreeSet<_> = Upstream::ALL.iter().map(|u| u.path()).collect();
        assert_eq!(
            (names.len(), paths.len()),
            (Upstream::ALL.len(), Upstream::ALL.len())
        );
        for u in Upstream::ALL {
            assert_eq!(Upstream::parse(u.name()), Some(u));
            assert!(u.path().starts_with('/'));
        }
        assert_eq!(Upstream::parse("nope"), None);
    }
}
