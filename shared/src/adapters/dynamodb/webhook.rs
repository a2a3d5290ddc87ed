//! A tenant's webhook, disabled by its receiver's 410 (docs/api.md §9):
//! `t#<appid>#webhook#disabled`, holding the SHA-256 of the URL that said so,
//! so a new URL is tried again.

use async_trait::async_trait;

use super::{DynamoStore, s, unavailable};
use crate::domain::AppId;
use crate::error::StoreError;
use crate::ports::WebhookState;

const DISABLED: &str = "webhook#disabled";

fn digest(url: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        url.as_bytes(),
    ))
}

#[async_trait]
impl WebhookState for DynamoStore {
    async fn disabled(&self, appid: &AppId, url: &str) -> Result<bool, StoreError> {
        let tenant = self.for_tenant(appid);
        let out = (tenant.client.get_item())
            .table_name(&tenant.table)
            .key("pk", s(tenant.pk(DISABLED.into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let said = out.item.as_ref().and_then(|i| i.get("url_sha256"));
        Ok(said.and_then(|v| v.as_s().ok()) == Some(&digest(url)))
    }

    async fn disable(&self, appid: &AppId, url: &str) -> Result<(), StoreError> {
        let tenant = self.for_tenant(appid);
        (tenant.client.put_item())
            .table_name(&tenant.table)
            .item("pk", s(tenant.pk(DISABLED.into())))
            .item("kind", s("webhook"))
            .item("url_sha256", s(digest(url)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
