//! The check scheduler port on EventBridge Scheduler: one one-time schedule
//! per check (`at(...)`, UTC), deleted once it has run, invoking the
//! reconcile function with the check. Nothing exists, and nothing is billed,
//! while no session is pending.

use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::error::DisplayErrorContext;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use crate::config::ScheduleTarget;
use crate::domain::reconcile::Check;
use crate::error::SchedulerError;
use crate::ports::CheckScheduler;

pub struct EventBridgeScheduler {
    client: Client,
    target: ScheduleTarget,
}

impl EventBridgeScheduler {
    pub fn new(client: Client, target: ScheduleTarget) -> Self {
        Self { client, target }
    }
}

/// The schedule's name: one per session and time, so booking a check twice
/// (a retried stream batch, a lost answer) finds it there.
pub fn schedule_name(check: &Check) -> String {
    match &check.appid {
        None => format!("{}-{}", check.out_seq_no, check.at),
        Some(appid) => format!("{appid}-{}-{}", check.out_seq_no, check.at),
    }
}

/// `at(yyyy-mm-ddThh:mm:ss)`, in UTC.
pub fn at_expression(at: i64) -> String {
    let iso = DateTime::from_secs(at)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    format!("at({})", iso.trim_end_matches('Z'))
}

#[async_trait]
impl CheckScheduler for EventBridgeScheduler {
    async fn book(&self, check: &Check) -> Result<(), SchedulerError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| SchedulerError(format!("{what}: {e}"));
        let t = &self.target;
        let mut target = Target::builder()
            .arn(&t.function_arn)
            .role_arn(&t.role_arn)
            .input(check.to_json())
            // A check is worth delivering until the verify_id expires.
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_event_age_in_seconds(3600)
                    .maximum_retry_attempts(185)
                    .build(),
            );
        if let Some(dlq) = &t.dead_letter_arn {
            target = target.dead_letter_config(DeadLetterConfig::builder().arn(dlq).build());
        }
        let target = target.build().map_err(|e| failed("target", &e))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| failed("window", &e))?;
        let outcome = self
            .client
            .create_schedule()
            .name(schedule_name(check))
            .group_name(&t.group)
            .schedule_expression(at_expression(check.at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(()),
            // Booked already (a retry): one check.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(SchedulerError(DisplayErrorContext(&e).to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_times_are_what_the_scheduler_takes() {
        let check = Check {
            out_seq_no: crate::domain::OutSeqNo::parse("abcdefghijklmnopqrstuvwxyz012345").unwrap(),
            at: 1_796_675_400,
            failures: 2,
            appid: Some(crate::domain::AppId::parse("wx0123456789abcdef").unwrap()),
        };
        let name = schedule_name(&check);
        // Names: at most 64 of [0-9a-zA-Z-_.], a tenant's too.
        assert!(
            name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(at_expression(1_796_675_400), "at(2026-12-07T20:30:00)");
    }
}
