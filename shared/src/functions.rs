//! Every function of the stack, listed once: who calls it, the secrets it
//! may use and how, the table items it touches, the WeChat and WeChat Pay
//! endpoints it calls, whether it reads the table's stream. The one manifest
//! the template tests check `template.yaml` against (least privilege, the
//! alarms per endpoint) and the docs tests check the docs' tables against;
//! adding a function is its folder under `functions/`, its variant here and
//! its resources in the template, which the tests then ask for.

use crate::upstream::Upstream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    IssueKey,
    VerifyResult,
    EventCallback,
    Authinfo,
    Lookup,
    PublishEvents,
    Reconcile,
}

/// A secret a function reads, by the variable that names it (docs/api.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Secret {
    /// The appid, the data keyring, the receipt keys.
    App,
    /// appsecret, push token, EncodingAESKeys: only the functions that call WeChat.
    WeChatCredentials,
    /// The shared access token, which the functions that call WeChat also write.
    AccessToken,
    /// The receipts' identity_key.
    Identity,
    /// WeChat Pay merchant credentials and kiosk tokens.
    Merchant,
}

impl Secret {
    pub const ALL: [Self; 5] = [
        Self::App,
        Self::WeChatCredentials,
        Self::AccessToken,
        Self::Identity,
        Self::Merchant,
    ];

    pub const fn env_var(self) -> &'static str {
        match self {
            Self::App => "WECHAT_APP_SECRET_ID",
            Self::WeChatCredentials => "WECHAT_CREDENTIALS_SECRET_ID",
            Self::AccessToken => "ACCESS_TOKEN_SECRET_ID",
            Self::Identity => "IDENTITY_KEY_SECRET_ID",
            Self::Merchant => "MERCHANT_SECRET_ID",
        }
    }

    /// Whether the functions write it too (the access token), not only read it.
    pub const fn written(self) -> bool {
        matches!(self, Self::AccessToken)
    }
}

/// A DynamoDB item action and the item kind (key prefix, as a
/// `dynamodb:LeadingKeys` pattern) it applies to.
pub type ItemAccess = (&'static str, &'static str);

const LEASE: [ItemAccess; 2] = [
    ("dynamodb:PutItem", "lease#access-token"),
    ("dynamodb:DeleteItem", "lease#access-token"),
];

impl Function {
    pub const ALL: [Self; 7] = [
        Self::IssueKey,
        Self::VerifyResult,
        Self::EventCallback,
        Self::Authinfo,
        Self::Lookup,
        Self::PublishEvents,
        Self::Reconcile,
    ];

    /// Its package under `functions/`, its binary and its Lambda function's name suffix.
    pub const fn package(self) -> &'static str {
        match self {
            Self::IssueKey => "issue-key",
            Self::VerifyResult => "verify-result",
            Self::EventCallback => "event-callback",
            Self::Authinfo => "authinfo",
            Self::Lookup => "lookup",
            Self::PublishEvents => "publish-events",
            Self::Reconcile => "reconcile",
        }
    }

    pub fn parse(package: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.package() == package)
    }

    /// The WeChat and WeChat Pay endpoints its code calls; each has its alarm.
    pub const fn upstreams(self) -> &'static [Upstream] {
        use Upstream as U;
        match self {
            Self::IssueKey => &[
                U::StableToken,
                U::Jscode2session,
                U::Getverifyid,
                U::Getuseridkey,
            ],
            Self::VerifyResult => &[
                U::StableToken,
                U::Jscode2session,
                U::Queryverifyinfo,
                U::Getinfo,
            ],
            Self::EventCallback => &[U::StableToken, U::Getinfo],
            // Both ask WeChat about pending 2.0 sessions (docs/api.md §7.3, §7.4).
            Self::Lookup | Self::Reconcile => &[U::StableToken, U::Queryverifyinfo],
            Self::Authinfo => &[U::GetWxpayfaceAuthinfo, U::FacemchUsers],
            Self::PublishEvents => &[],
        }
    }

    /// Whether it calls WeChat (and so shares the access token and reads the
    /// WeChat credentials).
    pub fn calls_wechat(self) -> bool {
        self.upstreams().contains(&Upstream::StableToken)
    }

    /// The secrets it may read (and, for the access token, write); no other.
    pub fn secrets(self) -> Vec<Secret> {
        let mut out = match self {
            Self::Authinfo => return vec![Secret::Merchant],
            _ => vec![Secret::App],
        };
        if self.calls_wechat() {
            out.extend([Secret::WeChatCredentials, Secret::AccessToken]);
        }
        // identity_hash is computed once, at issue-key (then kept sealed in the session).
        if self == Self::IssueKey {
            out.push(Secret::Identity);
        }
        out
    }

    /// The table items its code touches, by action (shared/src/adapters/dynamodb/).
    pub fn items(self) -> Vec<ItemAccess> {
        let own: &[ItemAccess] = match self {
            Self::IssueKey => &[
                ("dynamodb:PutItem", "session#*"),
                ("dynamodb:UpdateItem", "rate#issue-key#*"),
            ],
            Self::VerifyResult | Self::EventCallback => &[
                ("dynamodb:GetItem", "session#*"),
                ("dynamodb:UpdateItem", "session#*"),
                ("dynamodb:GetItem", "verify_result#*"),
                ("dynamodb:PutItem", "verify_result#*"),
            ],
            Self::Authinfo => &[
                ("dynamodb:GetItem", "authinfo#*"),
                ("dynamodb:PutItem", "authinfo#*"),
                ("dynamodb:PutItem", "audit#*"),
            ],
            // They mark a session asked and write its final state, never a 1.0 claim.
            Self::Lookup | Self::Reconcile => &[
                ("dynamodb:GetItem", "session#*"),
                ("dynamodb:UpdateItem", "session#*"),
            ],
            Self::PublishEvents => &[],
        };
        let lease = if self.calls_wechat() { &LEASE[..] } else { &[] };
        own.iter().chain(lease).copied().collect()
    }

    /// Whether the table's stream invokes it.
    pub const fn reads_stream(self) -> bool {
        matches!(self, Self::PublishEvents | Self::Reconcile)
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.package())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_listed_once_and_every_upstream_has_a_caller() {
        let packages: std::collections::BTreeSet<_> =
            Function::ALL.iter().map(|f| f.package()).collect();
        assert_eq!(packages.len(), Function::ALL.len());
        for u in Upstream::ALL {
            assert!(
                Function::ALL.iter().any(|f| f.upstreams().contains(&u)),
                "{u}: no function calls it"
            );
        }
        for f in Function::ALL {
            assert_eq!(Function::parse(f.package()), Some(f));
            // Who calls WeChat shares the token; publish-events never reads a WeChat credential.
            assert_eq!(
                f.secrets().contains(&Secret::WeChatCredentials),
                f.calls_wechat()
            );
        }
        assert!(
            !Function::PublishEvents
                .secrets()
                .contains(&Secret::WeChatCredentials)
        );
    }
}
