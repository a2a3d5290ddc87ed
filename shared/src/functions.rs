//! Every function of the stack, listed once: its routes, the environment it
//! reads, the secrets it may use and how, the table items it touches, its
//! other grants, the WeChat and WeChat Pay endpoints it calls, whether it
//! reads the table's stream. The one manifest that the template tests check
//! `template.yaml` against (least privilege, environment, alarms per
//! endpoint), the docs tests check the docs' tables against, and the deploy
//! test and the local stack read (`wxface-dev manifest`); adding a function is
//! its folder under `functions/`, its variant here and its resources in the
//! template, which the tests then ask for.

use std::cell::RefCell;
use std::collections::BTreeSet;

use crate::config::{
    AwsSettings, EventSettings, KioskSettings, ReconcileSettings, Settings, WebhookSettings,
};
use crate::error::ConfigError;
use crate::http::routes::{ApiRoute, api_routes};
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
    DeliverWebhooks,
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

const LEASE: [ItemAccess; 4] = [
    ("dynamodb:PutItem", "lease#access-token"),
    ("dynamodb:DeleteItem", "lease#access-token"),
    ("dynamodb:PutItem", "t#*#lease#access-token"),
    ("dynamodb:DeleteItem", "t#*#lease#access-token"),
];

impl Function {
    pub const ALL: [Self; 8] = [
        Self::IssueKey,
        Self::VerifyResult,
        Self::EventCallback,
        Self::Authinfo,
        Self::Lookup,
        Self::PublishEvents,
        Self::Reconcile,
        Self::DeliverWebhooks,
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
            Self::DeliverWebhooks => "deliver-webhooks",
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
            Self::PublishEvents | Self::DeliverWebhooks => &[],
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
            // The tenants' secrets only (its grants).
            Self::DeliverWebhooks => return vec![],
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
        // Each item kind of the own mini-program, and the same under a tenant's scope
        // (`t#<appid>#`, docs/api.md §9).
        let own: &[ItemAccess] = match self {
            Self::IssueKey => &[
                ("dynamodb:PutItem", "session#*"),
                ("dynamodb:PutItem", "t#*#session#*"),
                ("dynamodb:UpdateItem", "rate#issue-key#*"),
                ("dynamodb:UpdateItem", "t#*#rate#issue-key#*"),
                // A tenant's daily_limit (the own mini-program has none): the day's count, and
                // each counted call's marker.
                ("dynamodb:UpdateItem", "t#*#rate#day#*"),
                ("dynamodb:PutItem", "t#*#rate#day#*"),
                ("dynamodb:DeleteItem", "t#*#rate#day#*"),
            ],
            Self::VerifyResult | Self::EventCallback => &[
                ("dynamodb:GetItem", "session#*"),
                ("dynamodb:GetItem", "t#*#session#*"),
                ("dynamodb:UpdateItem", "session#*"),
                ("dynamodb:UpdateItem", "t#*#session#*"),
                ("dynamodb:GetItem", "verify_result#*"),
                ("dynamodb:GetItem", "t#*#verify_result#*"),
                ("dynamodb:PutItem", "verify_result#*"),
                ("dynamodb:PutItem", "t#*#verify_result#*"),
                ("dynamodb:UpdateItem", "usage#*"),
                ("dynamodb:UpdateItem", "t#*#usage#*"),
            ],
            Self::Authinfo => &[
                ("dynamodb:GetItem", "authinfo#*"),
                ("dynamodb:PutItem", "authinfo#*"),
                ("dynamodb:PutItem", "audit#*"),
            ],
            // They mark a session asked and write its final state, never a 1.0 claim.
            Self::Lookup | Self::Reconcile => &[
                ("dynamodb:GetItem", "session#*"),
                ("dynamodb:GetItem", "t#*#session#*"),
                ("dynamodb:UpdateItem", "session#*"),
                ("dynamodb:UpdateItem", "t#*#session#*"),
                // The final status counted with the final write.
                ("dynamodb:UpdateItem", "usage#*"),
                ("dynamodb:UpdateItem", "t#*#usage#*"),
            ],
            Self::PublishEvents => &[],
            // A tenant's webhook that its receiver said 410 to.
            Self::DeliverWebhooks => &[
                ("dynamodb:GetItem", "t#*#webhook#disabled"),
                ("dynamodb:PutItem", "t#*#webhook#disabled"),
            ],
        };
        let lease = if self.calls_wechat() { &LEASE[..] } else { &[] };
        own.iter().chain(lease).copied().collect()
    }

    /// Whether the table's stream invokes it.
    pub const fn reads_stream(self) -> bool {
        matches!(self, Self::PublishEvents | Self::Reconcile)
    }

    /// Whether a queue invokes it (the tenants' webhook queue, which it also reads).
    pub const fn reads_queue(self) -> bool {
        matches!(self, Self::DeliverWebhooks)
    }
}

/// Which settings a function parses at start: the `app::*_from_env` its
/// `main.rs` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wiring {
    /// `services_from_env`: the mini-program functions and lookup.
    Services,
    /// `reconcile_services_from_env`.
    Reconcile,
    /// `kiosk_services_from_env`.
    Kiosk,
    /// `event_services_from_env`.
    Events,
    /// `webhook_services_from_env`.
    Webhooks,
}

impl Wiring {
    /// The function of `crate::app` that builds it.
    pub const fn from_env_fn(self) -> &'static str {
        match self {
            Self::Services => "services_from_env",
            Self::Reconcile => "reconcile_services_from_env",
            Self::Kiosk => "kiosk_services_from_env",
            Self::Events => "event_services_from_env",
            Self::Webhooks => "webhook_services_from_env",
        }
    }

    /// Parses its settings (and the AWS ones every function reads) from `get`.
    fn parse(self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        match self {
            Self::Services => Settings::from_lookup(get).map(drop),
            Self::Reconcile => ReconcileSettings::from_lookup(get).map(drop),
            Self::Kiosk => KioskSettings::from_lookup(get).map(drop),
            Self::Events => EventSettings::from_lookup(get).map(drop),
            Self::Webhooks => WebhookSettings::from_lookup(get).map(drop),
        }?;
        AwsSettings::from_lookup(get).map(drop)
    }
}

/// An environment variable a function reads at start.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Variable {
    pub name: String,
    /// Without it the function does not start.
    pub required: bool,
}

/// A value of the right shape for a variable, so parsing goes on to the next.
fn sample(name: &str) -> &'static str {
    match name {
        "PUSH_MODE" => "safe",
        "DEFAULT_FACE_FLOW" => "v2",
        n if n.ends_with("_BASE") => "https://example.com",
        n if n.ends_with("_SECONDS") || n.ends_with("_MS") || n.ends_with("_HOUR") => "600",
        _ => "x",
    }
}

/// A grant besides the secrets, the table's items and its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub action: &'static str,
    pub on: Target,
}

/// What a [`Grant`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The bus `EVENT_BUS_NAME` names.
    EventBus,
    /// reconcile's schedule group (its schedules).
    ScheduleGroup,
    /// A resource of the template, by logical id.
    Resource(&'static str),
    /// The tenants' secrets: `<stack>/tenants/*` (docs/api.md §9).
    TenantSecrets,
    /// The tenants' access-token secrets: `<stack>/tenants/*/access-token-*`.
    TenantTokens,
    /// The tenants' webhooks: `<stack>/tenants/*/webhook-*`.
    TenantWebhooks,
    /// Every resource: for an action IAM cannot narrow (ListSecrets).
    Everything,
}

/// What the functions that call WeChat may do with the tenants' secrets:
/// find them (names only), read them, and keep each tenant's access token.
const TENANT_GRANTS: [Grant; 3] = [
    Grant {
        action: "secretsmanager:ListSecrets",
        on: Target::Everything,
    },
    Grant {
        action: "secretsmanager:GetSecretValue",
        on: Target::TenantSecrets,
    },
    Grant {
        action: "secretsmanager:PutSecretValue",
        on: Target::TenantTokens,
    },
];

impl Function {
    /// Its settings' parser, as its `main.rs` wires it.
    pub const fn wiring(self) -> Wiring {
        match self {
            Self::IssueKey | Self::VerifyResult | Self::EventCallback | Self::Lookup => {
                Wiring::Services
            }
            Self::Reconcile => Wiring::Reconcile,
            Self::Authinfo => Wiring::Kiosk,
            Self::PublishEvents => Wiring::Events,
            Self::DeliverWebhooks => Wiring::Webhooks,
        }
    }

    /// The environment variables it reads at start, found by running its
    /// settings' parser (so this list cannot drift from the code): a variable
    /// is required if parsing stops without it.
    pub fn env(self) -> Vec<Variable> {
        let read = RefCell::new(BTreeSet::new());
        let record = |name: &str| {
            read.borrow_mut().insert(name.to_owned());
            Some(sample(name).to_owned())
        };
        // Every variable set, so the parser reads each one it knows (a sample it refused would
        // stop it early: the unit test below would then miss the later variables).
        let _ = self.wiring().parse(&record);
        read.into_inner()
            .into_iter()
            .map(|name| {
                let without = |n: &str| (n != name).then(|| sample(n).to_owned());
                let required = matches!(
                    self.wiring().parse(&without),
                    Err(ConfigError::MissingEnv(missing)) if missing == name
                );
                Variable { name, required }
            })
            .collect()
    }

    /// Its routes behind the HTTP API (each also at its function URL path);
    /// none for a function only AWS invokes.
    pub fn routes(self) -> Vec<ApiRoute> {
        api_routes()
            .into_iter()
            .filter(|r| r.function == self.package())
            .collect()
    }

    /// What else its role allows, on what: its own, and the tenants' secrets
    /// for the functions that call WeChat.
    pub fn grants(self) -> Vec<Grant> {
        let tenants: &[Grant] = if self.calls_wechat() {
            &TENANT_GRANTS
        } else {
            &[]
        };
        [self.own_grants(), tenants].concat()
    }

    const fn own_grants(self) -> &'static [Grant] {
        match self {
            Self::PublishEvents => &[
                Grant {
                    action: "events:PutEvents",
                    on: Target::EventBus,
                },
                // The stream mapping's on-failure destination.
                Grant {
                    action: "sqs:SendMessage",
                    on: Target::Resource("EventsDeadLetterQueue"),
                },
            ],
            Self::DeliverWebhooks => &[
                TENANT_GRANTS[0],
                // The tenants' webhooks, not their credentials.
                Grant {
                    action: "secretsmanager:GetSecretValue",
                    on: Target::TenantWebhooks,
                },
                // Its event source mapping reads the queue as the function's role.
                Grant {
                    action: "sqs:ReceiveMessage",
                    on: Target::Resource("TenantWebhookQueue"),
                },
                Grant {
                    action: "sqs:DeleteMessage",
                    on: Target::Resource("TenantWebhookQueue"),
                },
                Grant {
                    action: "sqs:GetQueueAttributes",
                    on: Target::Resource("TenantWebhookQueue"),
                },
                // Each try's backoff on the message it failed.
                Grant {
                    action: "sqs:ChangeMessageVisibility",
                    on: Target::Resource("TenantWebhookQueue"),
                },
            ],
            Self::Reconcile => &[
                Grant {
                    action: "scheduler:CreateSchedule",
                    on: Target::ScheduleGroup,
                },
                Grant {
                    action: "iam:PassRole",
                    on: Target::Resource("ReconcileSchedulerRole"),
                },
                // Its asynchronous invocations' (the checks') dead letters.
                Grant {
                    action: "sqs:SendMessage",
                    on: Target::Resource("ReconcileDeadLetterQueue"),
                },
            ],
            _ => &[],
        }
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

    #[test]
    fn each_functions_environment_is_what_its_settings_read() {
        let env = |f: Function| -> Vec<(String, bool)> {
            f.env().into_iter().map(|v| (v.name, v.required)).collect()
        };
        let has = |f: Function, name: &str, required: bool| {
            assert!(
                env(f).contains(&(name.to_owned(), required)),
                "{f}: {name} (required {required}) in {:?}",
                env(f)
            );
        };
        for f in Function::ALL {
            has(f, "AWS_REGION", true);
            has(f, "AWS_ENDPOINT_URL", false);
            // Every secret it may read is named by a variable it reads.
            for s in f.secrets() {
                assert!(env(f).iter().any(|(n, _)| n == s.env_var()), "{f}: {s:?}");
            }
        }
        has(Function::IssueKey, "SESSIONS_TABLE", true);
        has(Function::IssueKey, "PUSH_MODE", false);
        has(Function::Reconcile, "RECONCILE_SCHEDULE_GROUP", true);
        has(Function::Reconcile, "RECONCILE_DEAD_LETTER_ARN", false);
        has(Function::Authinfo, "MERCHANT_SECRET_ID", true);
        has(Function::PublishEvents, "EVENT_BUS_NAME", false);
        let names = |f| env(f).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert!(!names(Function::PublishEvents).contains(&"SESSIONS_TABLE".to_owned()));
        assert!(!names(Function::Authinfo).contains(&"WECHAT_APP_SECRET_ID".to_owned()));
    }

    #[test]
    fn the_http_functions_have_routes_and_the_others_none() {
        for f in Function::ALL {
            assert_eq!(
                f.routes().is_empty(),
                f.reads_stream() || f.reads_queue(),
                "{f}"
            );
        }
        let lookup = Function::Lookup.routes();
        assert_eq!(lookup.len(), 1);
        assert_eq!(lookup[0].auth, crate::http::routes::Auth::AwsIam);
    }
}
