//! EventBridge Scheduler's part in the server's own checks (docs/api.md
//! §7.4), played here: reconcile books one-time schedules on moto's
//! Scheduler (which keeps them but runs nothing), and [`Checks::fire_due`]
//! runs each schedule whose time has come by the test's clock as the
//! scheduler would: the schedule is deleted (`ActionAfterCompletion:
//! DELETE`) and its input handed to reconcile's handler.

use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::error::DisplayErrorContext;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde_json::Value;

pub struct Checks {
    client: Client,
    pub group: String,
}

/// One booked check: its schedule's name, time and input.
#[derive(Debug, Clone)]
pub struct Booked {
    pub name: String,
    pub at: i64,
    pub input: Value,
}

/// `at(yyyy-mm-ddThh:mm:ss)` (UTC) as unix seconds.
fn at_of(expression: &str) -> Option<i64> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    DateTime::from_str(&format!("{inner}Z"), Format::DateTime)
        .ok()
        .map(|t| t.secs())
}

impl Checks {
    /// The schedule group `group` (created if it does not exist).
    pub async fn start(aws: &aws_config::SdkConfig, group: &str) -> Result<Self, String> {
        let client = Client::new(aws);
        match client.create_schedule_group().name(group).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) => {}
            Err(e) => return Err(format!("CreateScheduleGroup: {}", DisplayErrorContext(&e))),
        }
        Ok(Self {
            client,
            group: group.to_owned(),
        })
    }

    /// Every check booked and not run yet, earliest first.
    pub async fn booked(&self) -> Result<Vec<Booked>, String> {
        let list = self
            .client
            .list_schedules()
            .group_name(&self.group)
            .send()
            .await
            .map_err(|e| format!("ListSchedules: {}", DisplayErrorContext(&e)))?;
        let mut out = Vec::new();
        for summary in list.schedules() {
            let Some(name) = summary.name() else { continue };
            let s = self
                .client
                .get_schedule()
                .group_name(&self.group)
                .name(name)
                .send()
                .await
                .map_err(|e| format!("GetSchedule: {}", DisplayErrorContext(&e)))?;
            let expression = s.schedule_expression().unwrap_or_default();
            let at = at_of(expression)
                .ok_or(format!("{name}: not a one-time schedule: {expression}"))?;
            let input = s
                .target()
                .and_then(|t| t.input())
                .and_then(|i| serde_json::from_str(i).ok())
                .ok_or(format!("{name}: no JSON input"))?;
            out.push(Booked {
                name: name.to_owned(),
                at,
                input,
            });
        }
        out.sort_by_key(|b| b.at);
        Ok(out)
    }

    /// Runs every check due at `now` (and any a run books that is due too):
    /// how many ran. A check whose run fails stays booked (the scheduler and
    /// Lambda retry it).
    pub async fn fire_due<F, Fut>(&self, now: i64, invoke: F) -> Result<usize, String>
    where
        F: Fn(Value) -> Fut,
        Fut: std::future::Future<Output = Result<Value, String>>,
    {
        let mut ran = 0;
        loop {
            let due: Vec<Booked> = self
                .booked()
                .await?
                .into_iter()
                .filter(|b| b.at <= now)
                .collect();
            let Some(next) = due.into_iter().next() else {
                return Ok(ran);
            };
            if invoke(next.input.clone()).await.is_err() {
                return Ok(ran);
            }
            ran += 1;
            self.client
                .delete_schedule()
                .group_name(&self.group)
                .name(&next.name)
                .send()
                .await
                .map_err(|e| format!("DeleteSchedule: {}", DisplayErrorContext(&e)))?;
        }
    }
}
