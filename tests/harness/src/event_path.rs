//! The stack's event path (docs/api.md §7) on moto, with the parts AWS runs
//! played here: Lambda's event source mapping reads the table's stream from
//! moto's DynamoDB Streams and invokes publish-events' handler with the
//! records as Lambda would (retrying from a reported failure); the handler
//! puts events on moto's EventBridge, whose rule delivers them to an SQS
//! queue, the consumer.
//!
//! Each path has its own bus, rule and queue, so tests sharing one moto do
//! not see each other's events.

use serde_json::{Value, json};

/// A call to moto in an AWS JSON protocol. moto picks the service from the
/// credential scope, so the call carries an (unchecked) SigV4 header.
async fn aws_json(
    endpoint: &str,
    service: &str,
    target: &str,
    body: Value,
) -> Result<Value, String> {
    let version = if service == "events" { "1.1" } else { "1.0" };
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
    );
    let resp = reqwest::Client::new()
        .post(endpoint)
        .header("X-Amz-Target", target)
        .header("Content-Type", format!("application/x-amz-json-{version}"))
        .header("Authorization", auth)
        .header("X-Amz-Date", "20260101T000000Z")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("{target}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("{target}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{target}: {status} {text}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub struct EventPath {
    endpoint: String,
    pub bus: String,
    queue_url: String,
    stream_arn: String,
    /// Per shard: the last sequence number the "mapping" has handed over successfully.
    checkpoints: std::collections::BTreeMap<String, String>,
}

impl EventPath {
    /// A bus named `name`, a rule for `Verification Finalized` events on it, and a queue the
    /// rule delivers to; the stream of `table` (which must have one).
    pub async fn start(
        endpoint: &str,
        ddb: &aws_sdk_dynamodb::Client,
        table: &str,
        name: &str,
    ) -> Result<Self, String> {
        let stream_arn = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| format!("DescribeTable: {e}"))?
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or("the table has no stream")?
            .to_owned();
        // Made by an earlier demo against the same `make dev`: used again.
        match aws_json(
            endpoint,
            "events",
            "AWSEvents.CreateEventBus",
            json!({"Name": name}),
        )
        .await
        {
            Err(e) if !e.contains("ResourceAlreadyExistsException") => return Err(e),
            _ => {}
        }
        let q = aws_json(
            endpoint,
            "sqs",
            "AmazonSQS.CreateQueue",
            json!({"QueueName": name}),
        )
        .await?;
        let queue_url = q["QueueUrl"].as_str().ok_or("no QueueUrl")?.to_owned();
        let attrs = aws_json(
            endpoint,
            "sqs",
            "AmazonSQS.GetQueueAttributes",
            json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
        )
        .await?;
        let queue_arn = attrs["Attributes"]["QueueArn"]
            .as_str()
            .ok_or("no QueueArn")?;
        // The rule the template's webhook uses, with a queue as its target.
        let pattern = json!({"source": ["wxface"], "detail-type": ["Verification Finalized"]});
        aws_json(
            endpoint,
            "events",
            "AWSEvents.PutRule",
            json!({"Name": name, "EventBusName": name, "EventPattern": pattern.to_string()}),
        )
        .await?;
        aws_json(
            endpoint,
            "events",
            "AWSEvents.PutTargets",
            json!({"Rule": name, "EventBusName": name, "Targets": [{"Id": "consumer", "Arn": queue_arn}]}),
        )
        .await?;
        Ok(Self {
            endpoint: endpoint.to_owned(),
            bus: name.to_owned(),
            queue_url,
            stream_arn,
            checkpoints: Default::default(),
        })
    }

    /// The stream records after the checkpoints, per shard, as Lambda hands them over.
    pub async fn pending_records(&self) -> Result<Vec<(String, Vec<Value>)>, String> {
        let d = aws_json(
            &self.endpoint,
            "dynamodb",
            "DynamoDBStreams_20120810.DescribeStream",
            json!({"StreamArn": self.stream_arn}),
        )
        .await?;
        let mut out = Vec::new();
        for shard in d["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let id = shard["ShardId"].as_str().ok_or("no ShardId")?.to_owned();
            let mut req = json!({"StreamArn": self.stream_arn, "ShardId": id, "ShardIteratorType": "TRIM_HORIZON"});
            if let Some(seq) = self.checkpoints.get(&id) {
                req["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                req["SequenceNumber"] = json!(seq);
            }
            let it = aws_json(
                &self.endpoint,
                "dynamodb",
                "DynamoDBStreams_20120810.GetShardIterator",
                req,
            )
            .await?;
            // Every page, as the mapping reads on until it is caught up.
            let mut iterator = it["ShardIterator"].clone();
            let mut list = Vec::new();
            while iterator.is_string() {
                let page = aws_json(
                    &self.endpoint,
                    "dynamodb",
                    "DynamoDBStreams_20120810.GetRecords",
                    json!({"ShardIterator": iterator}),
                )
                .await?;
                let records = page["Records"].as_array().cloned().unwrap_or_default();
                if records.is_empty() {
                    break;
                }
                list.extend(records);
                iterator = page["NextShardIterator"].clone();
            }
            out.push((id, list));
        }
        Ok(out)
    }

    /// One round of the event source mapping: every shard's new records to `invoke` (the
    /// function), the checkpoint moved past what it did not report as failed. Returns how
    /// many records were handed over and how many failures were reported.
    pub async fn deliver<F, Fut>(&mut self, invoke: F) -> Result<(usize, usize), String>
    where
        F: Fn(Value) -> Fut,
        Fut: std::future::Future<Output = Result<Value, String>>,
    {
        let (mut handed, mut failed) = (0, 0);
        for (shard, records) in self.pending_records().await? {
            if records.is_empty() {
                continue;
            }
            handed += records.len();
            let seqs: Vec<String> = records
                .iter()
                .map(|r| {
                    r["dynamodb"]["SequenceNumber"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            let mut event = json!({"Records": records});
            for r in event["Records"].as_array_mut().into_iter().flatten() {
                r["eventSourceARN"] = json!(self.stream_arn);
            }
            let answer = invoke(event).await;
            // The checkpoint: past everything before the first failure; nothing on an error.
            let done = match answer {
                Err(_) => {
                    failed += 1;
                    0
                }
                Ok(a) => match a["batchItemFailures"][0]["itemIdentifier"].as_str() {
                    Some(seq) => {
                        failed += 1;
                        seqs.iter().position(|s| s == seq).unwrap_or(0)
                    }
                    None => seqs.len(),
                },
            };
            if done > 0 {
                self.checkpoints.insert(shard, seqs[done - 1].clone());
            }
        }
        Ok((handed, failed))
    }

    /// The consumer queue's URL (a function fed by the queue is given it).
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The next message of the consumer queue as Lambda's SQS event of one record (left on the
    /// queue, invisible for its visibility timeout); `None` when it is empty.
    pub async fn receive_one(&self) -> Result<Option<Value>, String> {
        let r = aws_json(
            &self.endpoint,
            "sqs",
            "AmazonSQS.ReceiveMessage",
            json!({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 1,
                   "AttributeNames": ["ApproximateReceiveCount"]}),
        )
        .await?;
        Ok(r["Messages"].as_array().and_then(|m| m.first()).map(|m| {
            json!({"Records": [{
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"]},
                "eventSource": "aws:sqs",
            }]})
        }))
    }

    /// Lambda's SQS event source mapping, one message per invocation (BatchSize 1), until the
    /// queue is empty: a message the function reports as failed is handed over again, as SQS
    /// would once its backoff has passed (made visible at once: the test does not wait hours).
    /// Returns how many invocations there were.
    pub async fn feed_queue<F, Fut>(&self, invoke: F) -> Result<usize, String>
    where
        F: Fn(Value) -> Fut,
        Fut: std::future::Future<Output = Result<Value, String>>,
    {
        let mut invocations = 0;
        loop {
            let Some(event) = self.receive_one().await? else {
                return Ok(invocations);
            };
            invocations += 1;
            let handle = event["Records"][0]["receiptHandle"].clone();
            let failed = match invoke(event).await {
                Err(_) => true,
                Ok(a) => a["batchItemFailures"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty()),
            };
            let (target, body) = if failed {
                let body = json!({"QueueUrl": self.queue_url, "ReceiptHandle": handle, "VisibilityTimeout": 0});
                ("AmazonSQS.ChangeMessageVisibility", body)
            } else {
                let body = json!({"QueueUrl": self.queue_url, "ReceiptHandle": handle});
                ("AmazonSQS.DeleteMessage", body)
            };
            aws_json(&self.endpoint, "sqs", target, body).await?;
            if invocations > 100 {
                return Err("the queue never emptied".into());
            }
        }
    }

    /// Every event the consumer queue holds (received and deleted), as EventBridge delivered it.
    pub async fn consume(&self) -> Result<Vec<Value>, String> {
        let mut events = Vec::new();
        loop {
            let r = aws_json(
                &self.endpoint,
                "sqs",
                "AmazonSQS.ReceiveMessage",
                json!({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 10}),
            )
            .await?;
            let messages = r["Messages"].as_array().cloned().unwrap_or_default();
            if messages.is_empty() {
                return Ok(events);
            }
            for m in messages {
                let body = m["Body"].as_str().ok_or("no Body")?;
                events.push(serde_json::from_str(body).map_err(|e| format!("event: {e}"))?);
                aws_json(
                    &self.endpoint,
                    "sqs",
                    "AmazonSQS.DeleteMessage",
                    json!({"QueueUrl": self.queue_url, "ReceiptHandle": m["ReceiptHandle"]}),
                )
                .await?;
            }
        }
    }
}
