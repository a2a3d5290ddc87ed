//! The access-token lease: one instance at a time refreshes the token.

use async_trait::async_trait;

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::{DynamoStore, Written, conditional, n, s};
use crate::error::{StoreError, WeChatError};
use crate::ports::TokenLease;

const LEASE_PK: &str = "lease#access-token";

#[async_trait]
impl TokenLease for DynamoStore {
    async fn try_acquire(&self, holder: &str, now: i64, until: i64) -> Result<bool, WeChatError> {
        let outcome = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(self.pk(LEASE_PK.into())))
            .item("holder", s(holder))
            .item("lease_until", n(until))
            .item("expires_at", n(until + 3600))
            .condition_expression("attribute_not_exists(pk) OR lease_until < :now")
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        // Held by us already: a retried request whose answer was lost.
        Ok(conditional(outcome)
            .map_err(lease_error)?
            .by_us("holder", holder))
    }

    async fn release(&self, holder: &str) -> Result<(), WeChatError> {
        let outcome = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(self.pk(LEASE_PK.into())))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        // Not ours any more means someone took over an expired lease (or a
        // retry finds it deleted already): fine.
        conditional(outcome)
            .map(|_: Written| ())
            .map_err(lease_error)
    }
}

fn lease_error(e: StoreError) -> WeChatError {
    WeChatError::Unavailable(format!("token lease: {e}"))
}
