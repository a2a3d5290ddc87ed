//! The sessions table exactly as `template.yaml` declares it.
//!
//! The template is parsed with yaml-rust2, which reads CloudFormation's short-form tags
//! (`!Ref X`, `!Sub "..."`, `!GetAtt X.Arn`) as plain scalars or sequences, so they do not
//! break parsing. Only the `AWS::DynamoDB::Table` resource is interpreted.

use std::path::Path;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, StreamSpecification,
    StreamViewType, TimeToLiveSpecification, TimeToLiveStatus,
};
use yaml_rust2::{Yaml, YamlLoader};

/// Logical id of the sessions table in template.yaml.
pub const SESSIONS_TABLE_LOGICAL_ID: &str = "SessionsTable";

/// A secondary index as declared in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    /// (attribute, "HASH" | "RANGE")
    pub key_schema: Vec<(String, String)>,
    /// "ALL" | "KEYS_ONLY" | "INCLUDE"
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

/// The parts of an `AWS::DynamoDB::Table` the harness reproduces on the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Logical id in the template (e.g. `SessionsTable`).
    pub logical_id: String,
    pub partition_key: String,
    pub sort_key: Option<String>,
    /// (attribute, "S" | "N" | "B")
    pub attribute_definitions: Vec<(String, String)>,
    /// (attribute, "HASH" | "RANGE")
    pub key_schema: Vec<(String, String)>,
    /// "PAY_PER_REQUEST" or "PROVISIONED"
    pub billing_mode: String,
    /// (read, write) capacity units when provisioned.
    pub provisioned_throughput: Option<(i64, i64)>,
    pub global_secondary_indexes: Vec<IndexSpec>,
    /// `TimeToLiveSpecification.AttributeName` when `Enabled: true`.
    pub ttl_attribute: Option<String>,
    pub point_in_time_recovery: bool,
    pub sse_enabled: bool,
    /// `StreamSpecification.StreamViewType` (e.g. `NEW_AND_OLD_IMAGES`), when the table streams.
    pub stream_view_type: Option<String>,
}

/// Parses the sessions table out of `template_path` (the resource of type
/// `AWS::DynamoDB::Table`; if there are several, the one with logical id `SessionsTable`).
pub fn sessions_table_spec(template_path: &Path) -> Result<TableSpec, String> {
    let text = std::fs::read_to_string(template_path)
        .map_err(|e| format!("cannot read {}: {e}", template_path.display()))?;
    table_spec_from_str(&text).map_err(|e| format!("{}: {e}", template_path.display()))
}

/// Parses a template's text into its YAML document. CloudFormation's short-form tags lose
/// their tag and keep their value: `!Ref X` reads as `"X"`, `!GetAtt X.Arn` as `"X.Arn"`,
/// `!Sub "a${X}"` as `"a${X}"`, `!If [c, a, b]` as the sequence `[c, a, b]`.
pub fn load_template(text: &str) -> Result<Yaml, String> {
    let mut docs = YamlLoader::load_from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    if docs.is_empty() {
        return Err("empty template".into());
    }
    Ok(docs.swap_remove(0))
}

/// As [`sessions_table_spec`], from the template's text.
pub fn table_spec_from_str(text: &str) -> Result<TableSpec, String> {
    let doc = &load_template(text)?;
    let resources = doc["Resources"]
        .as_hash()
        .ok_or("template has no Resources mapping")?;

    let tables: Vec<(&str, &Yaml)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .filter_map(|(k, r)| k.as_str().map(|k| (k, r)))
        .collect();
    let (logical_id, resource) = match tables.as_slice() {
        [] => return Err("no AWS::DynamoDB::Table resource".into()),
        [one] => *one,
        many => *many
            .iter()
            .find(|(id, _)| *id == SESSIONS_TABLE_LOGICAL_ID)
            .ok_or_else(|| {
                format!("several DynamoDB tables and none is named {SESSIONS_TABLE_LOGICAL_ID}")
            })?,
    };
    let props = &resource["Properties"];
    if props.as_hash().is_none() {
        return Err(format!("{logical_id}: no Properties"));
    }
    if !props["LocalSecondaryIndexes"].is_badvalue() {
        return Err(format!(
            "{logical_id}: LocalSecondaryIndexes are not supported by the harness"
        ));
    }

    let attribute_definitions = props["AttributeDefinitions"]
        .as_vec()
        .ok_or_else(|| format!("{logical_id}: AttributeDefinitions missing"))?
        .iter()
        .map(|a| {
            let name = str_field(a, "AttributeName")?;
            let ty = str_field(a, "AttributeType")?;
            if !matches!(ty.as_str(), "S" | "N" | "B") {
                return Err(format!("attribute {name}: unknown AttributeType {ty}"));
            }
            Ok((name, ty))
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| format!("{logical_id}: {e}"))?;

    let key_schema = parse_key_schema(&props["KeySchema"])
        .map_err(|e| format!("{logical_id}: KeySchema: {e}"))?;
    let partition_key = key_schema
        .iter()
        .find(|(_, t)| t == "HASH")
        .map(|(n, _)| n.clone())
        .ok_or_else(|| format!("{logical_id}: KeySchema has no HASH key"))?;
    let sort_key = key_schema
        .iter()
        .find(|(_, t)| t == "RANGE")
        .map(|(n, _)| n.clone());

    let billing_mode = props["BillingMode"]
        .as_str()
        .unwrap_or("PROVISIONED")
        .to_string();
    let provisioned_throughput = throughput(&props["ProvisionedThroughput"]);
    if billing_mode == "PROVISIONED" && provisioned_throughput.is_none() {
        return Err(format!(
            "{logical_id}: PROVISIONED billing needs ProvisionedThroughput"
        ));
    }

    let mut global_secondary_indexes = Vec::new();
    if let Some(gsis) = props["GlobalSecondaryIndexes"].as_vec() {
        for g in gsis {
            let name = str_field(g, "IndexName").map_err(|e| format!("{logical_id}: {e}"))?;
            let key_schema = parse_key_schema(&g["KeySchema"])
                .map_err(|e| format!("{logical_id}: index {name}: {e}"))?;
            let projection_type = g["Projection"]["ProjectionType"]
                .as_str()
                .unwrap_or("ALL")
                .to_string();
            let non_key_attributes = g["Projection"]["NonKeyAttributes"]
                .as_vec()
                .map(|v| {
                    v.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            global_secondary_indexes.push(IndexSpec {
                name,
                key_schema,
                projection_type,
                non_key_attributes,
            });
        }
    }

    // Every key attribute must be defined, and (as CloudFormation insists) nothing else.
    let key_attrs: Vec<&String> = key_schema
        .iter()
        .chain(
            global_secondary_indexes
                .iter()
                .flat_map(|g| g.key_schema.iter()),
        )
        .map(|(n, _)| n)
        .collect();
    for k in &key_attrs {
        if !attribute_definitions.iter().any(|(n, _)| n == *k) {
            return Err(format!(
                "{logical_id}: key attribute {k} missing from AttributeDefinitions"
            ));
        }
    }
    for (n, _) in &attribute_definitions {
        if !key_attrs.contains(&n) {
            return Err(format!(
                "{logical_id}: AttributeDefinitions lists {n}, which is no key (CloudFormation rejects that)"
            ));
        }
    }

    let ttl = &props["TimeToLiveSpecification"];
    let ttl_attribute = match ttl["Enabled"].as_bool() {
        Some(true) => {
            Some(str_field(ttl, "AttributeName").map_err(|e| format!("{logical_id}: TTL: {e}"))?)
        }
        _ => None,
    };
    let point_in_time_recovery =
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
            .as_bool()
            .unwrap_or(false);
    let sse_enabled = props["SSESpecification"]["SSEEnabled"]
        .as_bool()
        .unwrap_or(false);

    let stream_view_type = props["StreamSpecification"]["StreamViewType"]
        .as_str()
        .map(str::to_owned);

    Ok(TableSpec {
        stream_view_type,
        logical_id: logical_id.to_string(),
        partition_key,
        sort_key,
        attribute_definitions,
        key_schema,
        billing_mode,
        provisioned_throughput,
        global_secondary_indexes,
        ttl_attribute,
        point_in_time_recovery,
        sse_enabled,
    })
}

fn str_field(y: &Yaml, key: &str) -> Result<String, String> {
    y[key]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("{key} missing or not a string"))
}

fn parse_key_schema(y: &Yaml) -> Result<Vec<(String, String)>, String> {
    let v = y.as_vec().ok_or("missing or not a list")?;
    let ks = v
        .iter()
        .map(|k| {
            let name = str_field(k, "AttributeName")?;
            let ty = str_field(k, "KeyType")?;
            if !matches!(ty.as_str(), "HASH" | "RANGE") {
                return Err(format!("unknown KeyType {ty}"));
            }
            Ok((name, ty))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if ks.iter().filter(|(_, t)| t == "HASH").count() != 1 {
        return Err("needs exactly one HASH key".into());
    }
    Ok(ks)
}

fn throughput(y: &Yaml) -> Option<(i64, i64)> {
    let num = |v: &Yaml| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    Some((
        num(&y["ReadCapacityUnits"])?,
        num(&y["WriteCapacityUnits"])?,
    ))
}

fn key_elements(ks: &[(String, String)]) -> Result<Vec<KeySchemaElement>, String> {
    ks.iter()
        .map(|(n, t)| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(KeyType::from(t.as_str()))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Creates `table_name` on `ddb` as `<root>/template.yaml` declares the sessions table: key
/// schema, attribute definitions, billing mode, secondary indexes, and TTL
/// (`UpdateTimeToLive`). Idempotent: an existing table is left as it is (its TTL is still
/// enabled if it was not).
pub async fn create_sessions_table(
    ddb: &aws_sdk_dynamodb::Client,
    table_name: &str,
) -> Result<(), String> {
    let spec = sessions_table_spec(&crate::template_path())?;
    create_table_from_spec(ddb, table_name, &spec).await
}

/// As [`create_sessions_table`], from a parsed spec.
pub async fn create_table_from_spec(
    ddb: &aws_sdk_dynamodb::Client,
    table_name: &str,
    spec: &TableSpec,
) -> Result<(), String> {
    let mut req = ddb
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::from(spec.billing_mode.as_str()))
        .set_key_schema(Some(key_elements(&spec.key_schema)?));
    for (n, t) in &spec.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::from(t.as_str()))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    let throughput = |(r, w): (i64, i64)| {
        ProvisionedThroughput::builder()
            .read_capacity_units(r)
            .write_capacity_units(w)
            .build()
            .map_err(|e| e.to_string())
    };
    if spec.billing_mode == "PROVISIONED"
        && let Some(t) = spec.provisioned_throughput
    {
        req = req.provisioned_throughput(throughput(t)?);
    }
    for g in &spec.global_secondary_indexes {
        let mut projection =
            Projection::builder().projection_type(ProjectionType::from(g.projection_type.as_str()));
        for a in &g.non_key_attributes {
            projection = projection.non_key_attributes(a);
        }
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(&g.name)
            .set_key_schema(Some(key_elements(&g.key_schema)?))
            .projection(projection.build());
        if spec.billing_mode == "PROVISIONED"
            && let Some(t) = spec.provisioned_throughput
        {
            gsi = gsi.provisioned_throughput(throughput(t)?);
        }
        req = req.global_secondary_indexes(gsi.build().map_err(|e| e.to_string())?);
    }

    let stream = spec.stream_view_type.as_deref().map(|view| {
        let view = StreamViewType::from(view);
        StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(view)
            .build()
    });
    req = req.set_stream_specification(stream.transpose().map_err(|e| e.to_string())?);

    match req.send().await {
        Ok(_) => {}
        Err(e) => {
            let already = e
                .as_service_error()
                .map(|s| s.is_resource_in_use_exception())
                .unwrap_or(false);
            if !already {
                return Err(failed("CreateTable", table_name)(e));
            }
        }
    }

    if let Some(attr) = &spec.ttl_attribute {
        let current = ddb
            .describe_time_to_live()
            .table_name(table_name)
            .send()
            .await
            .map_err(failed("DescribeTimeToLive", table_name))?;
        let enabled = current
            .time_to_live_description()
            .map(|d| {
                matches!(
                    d.time_to_live_status(),
                    Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
                ) && d.attribute_name() == Some(attr.as_str())
            })
            .unwrap_or(false);
        if !enabled {
            ddb.update_time_to_live()
                .table_name(table_name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attr)
                        .enabled(true)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .send()
                .await
                .map_err(failed("UpdateTimeToLive", table_name))?;
        }
    }
    Ok(())
}

/// The error of DynamoDB call `op` on `table`, with the SDK's whole story.
fn failed<E: std::error::Error>(op: &str, table: &str) -> impl FnOnce(E) -> String {
    let what = format!("{op} {table}");
    move |e| {
        format!(
            "{what}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Resources:
  SessionsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-sessions"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: pk
          AttributeType: S
      KeySchema:
        - AttributeName: pk
          KeyType: HASH
      TimeToLiveSpecification:
        AttributeName: expires_at
        Enabled: true
      SSESpecification:
        SSEEnabled: true
      PointInTimeRecoverySpecification:
        PointInTimeRecoveryEnabled: true
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          SESSIONS_TABLE: !Ref SessionsTable
      Policies:
        - Statement:
            - Effect: Allow
              Resource: !GetAtt SessionsTable.Arn
            - Effect: Allow
              Resource: !Join [":", [a, !Ref "AWS::Region"]]
Outputs:
  Url:
    Value: !GetAtt FnUrl.FunctionUrl
"#;

    #[test]
    fn parses_table_with_cloudformation_tags() {
        let spec = table_spec_from_str(SAMPLE).expect("parses");
        assert_eq!(spec.logical_id, "SessionsTable");
        assert_eq!(spec.partition_key, "pk");
        assert_eq!(spec.sort_key, None);
        assert_eq!(spec.attribute_definitions, vec![("pk".into(), "S".into())]);
        assert_eq!(spec.billing_mode, "PAY_PER_REQUEST");
        assert_eq!(spec.ttl_attribute.as_deref(), Some("expires_at"));
        assert!(spec.point_in_time_recovery);
        assert!(spec.sse_enabled);
    }

    #[test]
    fn rejects_undeclared_key_attribute() {
        let bad = SAMPLE.replace(
            "- AttributeName: pk\n          KeyType",
            "- AttributeName: id\n          KeyType",
        );
        let err = table_spec_from_str(&bad).unwrap_err();
        assert!(
            err.contains("id missing from AttributeDefinitions"),
            "{err}"
        );
    }

    #[test]
    fn rejects_template_without_table() {
        let err = table_spec_from_str("Resources:\n  X:\n    Type: AWS::SNS::Topic\n").unwrap_err();
        assert!(err.contains("no AWS::DynamoDB::Table"), "{err}");
    }

    #[test]
    fn the_real_template_declares_the_contract_table() {
        // docs/api.md §2: partition key `pk` (string), TTL attribute `expires_at`.
        let spec = sessions_table_spec(&crate::template_path()).expect("template.yaml parses");
        assert_eq!(spec.logical_id, SESSIONS_TABLE_LOGICAL_ID);
        assert_eq!(spec.partition_key, "pk");
        assert!(
            spec.attribute_definitions
                .contains(&("pk".into(), "S".into()))
        );
        assert_eq!(spec.ttl_attribute.as_deref(), Some("expires_at"));
        assert_eq!(spec.billing_mode, "PAY_PER_REQUEST");
        assert!(spec.point_in_time_recovery);
        assert!(spec.sse_enabled);
    }
}
