//! Which mini-program a request is for (docs/api.md §9): the deployment's
//! own (its app secret's appid), or a tenant from the directory.

use std::ops::Deref;
use std::sync::Arc;

use async_trait::async_trait;

use super::{ServiceError, Services};
use crate::domain::AppId;

/// The tenants a deployment serves besides its own mini-program.
#[async_trait]
pub trait Tenants: Send + Sync {
    /// The services of tenant `appid`; `None` when there is no such tenant.
    async fn services(&self, appid: &AppId) -> Result<Option<Arc<Services>>, ServiceError>;
}

/// How a request names its mini-program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// WeChat's `Referer`: a deployment with no tenants ignores it, as it
    /// always did.
    ByReferer,
    /// An `appid` parameter: an appid the deployment does not serve is refused.
    Explicitly,
}

/// The services one request runs with.
pub enum ForApp<'a> {
    Own(&'a Services),
    Tenant(Arc<Services>),
}

impl Deref for ForApp<'_> {
    type Target = Services;
    fn deref(&self) -> &Services {
        match self {
            Self::Own(s) => s,
            Self::Tenant(s) => s,
        }
    }
}

impl Services {
    /// The services of mini-program `appid` (none named: the deployment's
    /// own). An appid that is neither the own nor a tenant's is
    /// `UnknownApp`, decided without a call to AWS once the directory is read.
    pub async fn for_app(
        &self,
        appid: Option<&AppId>,
        named: Named,
    ) -> Result<ForApp<'_>, ServiceError> {
        let Some(appid) = appid else {
            return Ok(ForApp::Own(self));
        };
        if self.tenants.is_none() && named == Named::ByReferer {
            return Ok(ForApp::Own(self));
        }
        if self.secrets.app_secrets().await?.appid == appid.as_str() {
            return Ok(ForApp::Own(self));
        }
        let tenant = match &self.tenants {
            Some(tenants) => tenants.services(appid).await?,
            None => None,
        };
        if tenant.is_none() {
            tracing::info!(
                event = "unknown_appid",
                appid = appid.as_str(),
                "no such tenant"
            );
        }
        tenant.map(ForApp::Tenant).ok_or(ServiceError::UnknownApp)
    }
}
