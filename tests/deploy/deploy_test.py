"""The deploy test: template.yaml deployed with the real SAM CLI to a local AWS emulator, then
read back through the AWS APIs and compared with what the template says and the code needs.

    python tests/deploy/deploy_test.py --endpoint http://127.0.0.1:PORT --work DIR [--build-status F]

Run by scripts/deploy-test.sh (which starts the emulator). Steps, each checked:
  1. `sam deploy` of the template as `sam build` would leave it (each CodeUri a folder with a
     stand-in arm64 `bootstrap`: this tests the stack, not the code): CREATE_COMPLETE;
  2. the stack as AWS would give it: every output, each function's configuration (architecture,
     runtime, handler, memory, timeout, logging, environment, role, function URL auth), each
     role's policies equal to what the code calls, log retention, the alarms, the table and the
     stream's event source mapping;
  3. `sam deploy` again with other parameters: UPDATE_COMPLETE, and step 2 again with them;
  4. scripts/deploy-function.sh issue-key: the function's code is the real bootstrap now, and
     its configuration is what it was;
  5. delete: DELETE_COMPLETE, the resources with DeletionPolicy Retain still there, the others
     gone.
Between steps 3 and 4 (the release build still running), the HTTP API front (Front=HttpApi) as a
second stack, with the real x86_64 bootstraps of the functions (target/debug: the code the e2e
runs; the release profile would be a second full build):
  A1. `sam deploy`: CREATE_COMPLETE; step 2's checks, and the API as the template says: its routes
      (each to its function, lookup's AWS_IAM), payload 2.0, the throttled $default stage with its
      access log, no function URL anywhere;
  A2. the simulators' credentials put into the stack's secrets (`wxface-dev setup --stack-secrets`);
  A3. `wxface-dev demo --api`: v2, v1, v1 by push, a kiosk's authinfo and real name, direct and
      for a hospital, each receipt verified against the JWKS served through the API: every
      request through the emulator's HTTP API to the functions it runs as processes;
  A4. through the API: 404 for what is no route, 403 for an unsigned GET /lookup, and a SigV4
      GET /lookup answers the demo's session with a receipt;
  A5. delete.
What the emulator does not implement is printed as "not shown by the emulator: ..." and not
counted as checked (docs/deploy.md "The deploy test").
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import boto3
from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
# The stack the steps work on: the function URL one, or for a while the HTTP API one.
STACK = "wxface-deploy-test"
URL_STACK = STACK
API_STACK = "wxface-deploy-test-api"
# The emulator's account (its pseudo parameter AWS::AccountId).
ACCOUNT = "000000000000"

GET = "secretsmanager:GetSecretValue"
PUT = "secretsmanager:PutSecretValue"
STREAM = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}

# The function manifest (wxface::functions, printed by `wxface-dev manifest`): by package, its
# environment, secrets, table items, stream, other grants. Read in main().
MANIFEST = {}


def needs(binary, props):
    """What the function's code calls, and on what: the least privilege of
    tests/harness/tests/template.rs, from the manifest, here read back from IAM. A target is the
    table, its stream, the event bus, reconcile's schedules, or a resource by logical id (a secret:
    the one its variable names)."""
    f = MANIFEST[binary]
    out = []
    items = {a for a, _ in f["items"]}
    if items:
        out.append((items, "table"))
    if f["reads_stream"]:
        out.append((STREAM, "stream"))
    env = props["Environment"]["Variables"]
    for s in f["secrets"]:
        ref = env.get(s["env_var"])
        if not isinstance(ref, dict) or "Ref" not in ref:
            check(False, f"{binary}: {s['env_var']} does not name a secret of the stack")
            continue
        out.append(({GET, PUT} if s["written"] else {GET}, ref["Ref"]))
    for g in f["grants"]:
        out.append(({g["action"]}, g["on"]))
    return out


def check_environment(binary, props):
    """The template sets every variable the function requires, and none of its own that it does
    not read (Globals' are shared)."""
    f = MANIFEST[binary]
    read = {v["name"] for v in f["env"]}
    required = {v["name"] for v in f["env"] if v["required"]} - LAMBDA_SETS
    env = props["Environment"]["Variables"]
    check(required <= set(env), f"{binary}: environment lacks {sorted(required - set(env))}")
    stray = set(props.get("OwnEnvironment", {})) - read
    check(not stray, f"{binary}: environment sets {sorted(stray)}, which it does not read")


# What Lambda sets itself (the region, the role's credentials).
LAMBDA_SETS = {"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

# The second deploy's parameters: every kind of change a user makes (the topic is made first).
UPDATE = {
    "DefaultFaceFlow": "v1",
    "IssueKeyLimitPerHour": "3",
    "LogLevel": "DEBUG",
    "LogRetentionDays": "7",
    "PushMode": "compatible",
    "SecretsTtlSeconds": "60",
    "UpstreamErrorRatePercent": "35",
    # X-Ray's two actions join every role, and each function traces.
    "Tracing": "Active",
}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

checked = 0
failures = []
not_shown = []


def check(ok, what):
    global checked
    checked += 1
    if not ok:
        failures.append(what)
        print(f"  FAILED: {what}", file=sys.stderr)


def equal(got, want, what):
    check(got == want, f"{what}: got {got!r}, want {want!r}")


def step(title):
    print(f"\n-- {title}", flush=True)


class Stack:
    """The template with the stack's parameters and physical ids, to resolve intrinsics."""

    def __init__(self, template, aws, params):
        self.t = template
        self.aws = aws
        self.params = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
        self.params.update(params)
        summaries = aws.cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        self.physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
        # Types as deployed: SAM's generated resources (function URLs) are not in the template.
        self.types = {r["LogicalResourceId"]: r["ResourceType"] for r in summaries}

    def condition(self, c):
        if isinstance(c, str):
            return self.condition(self.t["Conditions"][c])
        ((k, a),) = c.items()
        if k == "Fn::Not":
            return not self.condition(a[0])
        if k == "Fn::And":
            return all(map(self.condition, a))
        if k == "Fn::Or":
            return any(map(self.condition, a))
        if k == "Fn::Equals":
            return self.resolve(a[0]) == self.resolve(a[1])
        if k == "Condition":
            return self.condition(a)
        raise ValueError(f"condition {k} not handled")

    def ref(self, name):
        pseudo = {
            "AWS::StackName": STACK,
            "AWS::Region": REGION,
            "AWS::NoValue": None,
            # The emulator's: it knows no other partition.
            "AWS::Partition": "aws",
            "AWS::AccountId": ACCOUNT,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.physical[name]

    def resolve(self, v):
        if isinstance(v, dict) and len(v) == 1:
            ((k, a),) = v.items()
            if k == "Ref":
                return self.ref(a)
            if k == "Fn::Sub" and isinstance(a, str):
                return re.sub(r"\$\{([^}.]+)\}", lambda m: str(self.ref(m.group(1))), a)
            if k == "Fn::Sub":
                text, names = a
                names = {n: self.resolve(x) for n, x in names.items()}
                return re.sub(
                    r"\$\{([^}.]+)\}",
                    lambda m: str(names[m.group(1)] if m.group(1) in names else self.ref(m.group(1))),
                    text,
                )
            if k == "Fn::If":
                return self.resolve(a[1] if self.condition(a[0]) else a[2])
            if k == "Fn::GetAtt":
                return self.aws.attribute(self, *a)
        if isinstance(v, dict):
            out = {k: self.resolve(x) for k, x in v.items()}
            return {k: x for k, x in out.items() if x is not None}
        if isinstance(v, list):
            return [x for x in map(self.resolve, v) if x is not None]
        return v

    def of_type(self, ty):
        for lid, r in self.t["Resources"].items():
            if r["Type"] == ty and ("Condition" not in r or self.condition(r["Condition"])):
                yield lid, r

    def functions(self):
        """(logical id, binary, properties with Globals.Function applied) of every function."""
        glob = self.t.get("Globals", {}).get("Function", {})
        for lid, r in self.of_type("AWS::Serverless::Function"):
            props = dict(glob)
            props.update(r["Properties"])
            env = dict(glob.get("Environment", {}).get("Variables", {}))
            env.update(r["Properties"].get("Environment", {}).get("Variables", {}))
            props["Environment"] = {"Variables": env}
            props["OwnEnvironment"] = r["Properties"].get("Environment", {}).get("Variables", {})
            yield lid, r["Metadata"]["BuildProperties"]["Binary"], props


class Aws:
    def __init__(self, endpoint):
        def client(name):
            return boto3.client(name, endpoint_url=endpoint, region_name=REGION)

        self.cfn = client("cloudformation")
        self.lam = client("lambda")
        self.iam = client("iam")
        self.logs = client("logs")
        self.cw = client("cloudwatch")
        self.ddb = client("dynamodb")
        self.sm = client("secretsmanager")
        self.sqs = client("sqs")
        self.sns = client("sns")
        self.events = client("events")
        self.apigw = client("apigatewayv2")

    def attribute(self, stack, lid, attr):
        """Fn::GetAtt, read from the resource itself (not from CloudFormation)."""
        ty = stack.types[lid]
        pid = stack.physical[lid]
        if (ty, attr) == ("AWS::IAM::Role", "Arn"):
            return self.iam.get_role(RoleName=pid)["Role"]["Arn"]
        if ty == "AWS::DynamoDB::Table":
            table = self.ddb.describe_table(TableName=pid)["Table"]
            return {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn")}[attr]
        if ty == "AWS::SQS::Queue":
            arn = self.sqs.get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            return {"Arn": arn, "QueueName": arn.rsplit(":", 1)[-1]}[attr]
        if (ty, attr) == ("AWS::Logs::LogGroup", "Arn"):
            groups = self.logs.describe_log_groups(logGroupNamePrefix=pid)["logGroups"]
            return next(g["arn"] for g in groups if g["logGroupName"] == pid)
        if (ty, attr) == ("AWS::Lambda::Url", "FunctionUrl"):
            return self.lam.get_function_url_config(FunctionName=pid)["FunctionUrl"]
        if (ty, attr) == ("AWS::ApiGatewayV2::Api", "ApiEndpoint"):
            return self.apigw.get_api(ApiId=pid)["ApiEndpoint"]
        if ty == "AWS::Lambda::Function" and attr == "Arn":
            return self.lam.get_function_configuration(FunctionName=pid)["FunctionArn"]
        raise ValueError(f"GetAtt {lid}.{attr} not handled")

    def stack_status(self):
        return self.cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]


def sam_deploy(template, params, work):
    overrides = [f"{k}={v}" for k, v in params.items()]
    cmd = [
        "sam",
        "deploy",
        "--template-file",
        str(template),
        "--stack-name",
        STACK,
        "--region",
        REGION,
        "--resolve-s3",
        "--capabilities",
        "CAPABILITY_IAM",
        "--no-confirm-changeset",
        "--no-fail-on-empty-changeset",
        "--no-progressbar",
    ]
    if overrides:
        cmd += ["--parameter-overrides", *overrides]
    log = work / "sam-deploy.log"
    with open(log, "a") as out:
        rc = subprocess.run(
            cmd, cwd=template.parent, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    if rc != 0:
        print(log.read_text()[-4000:], file=sys.stderr)
    return rc


def built_template(work, real=None, name="template.yaml"):
    """template.yaml as `sam build` leaves it: each CodeUri a folder holding the function's
    bootstrap (a stand-in, or `real`'s folder for it; the line of its Binary comes before its
    CodeUri)."""
    out, binary = [], None
    for line in (ROOT / "template.yaml").read_text().splitlines(keepends=True):
        m = re.match(r"\s+Binary:\s*(\S+)", line)
        if m:
            binary = m.group(1)
        if re.match(r"\s+CodeUri:\s*\.\s*$", line):
            if real:
                line = line.replace("CodeUri: .", f"CodeUri: {real[binary]}")
            else:
                code = work / "build" / binary
                code.mkdir(parents=True, exist_ok=True)
                (code / "bootstrap").write_text(f"#!/bin/sh\n# stand-in for {binary}\nexit 1\n")
                (code / "bootstrap").chmod(0o755)
                line = line.replace("CodeUri: .", f"CodeUri: build/{binary}")
        out.append(line)
    path = work / name
    path.write_text("".join(out))
    return path


def policy_pairs(aws, role):
    """(action, resource) of every Allow in the role's inline policies, and its managed ones."""
    pairs = set()
    for name in aws.iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = aws.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(doc, str):
            doc = json.loads(doc)
        for s in doc["Statement"]:
            check(s["Effect"] == "Allow", f"{role}: a statement that is not Allow ({s})")
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            pairs |= {(a.lower(), r) for a in actions for r in resources}
    attached = aws.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    return pairs, attached


def bus_name(stack):
    """The bus publish-events puts its events on (the stack's own, or EventBusName)."""
    props = next(p for _, b, p in stack.functions() if b == "publish-events")
    return stack.resolve(props["Environment"]["Variables"]["EVENT_BUS_NAME"])


def policy_targets(stack, aws):
    """The resources needs() names, by target, as the policies must name them (read once)."""
    table = next(lid for lid, _ in stack.of_type("AWS::DynamoDB::Table"))
    target = {
        "table": stack.resolve({"Fn::GetAtt": [table, "Arn"]}),
        "stream": stack.resolve({"Fn::GetAtt": [table, "StreamArn"]}),
        "bus": aws.events.describe_event_bus(Name=bus_name(stack))["Arn"],
        # reconcile's schedules: those of its own group.
        "schedules": stack.resolve({"Fn::Sub": (
            "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}"
            ":schedule/${AWS::StackName}-reconcile/*"
        )}),
        # The tenants' secrets (docs/api.md §9) under the stack's prefix, and ListSecrets on "*".
        **{
            name: stack.resolve({"Fn::Sub": (
                "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
                ":secret:${AWS::StackName}/tenants/" + pattern
            )})
            for name, pattern in (
                ("tenant_secrets", "*"),
                ("tenant_tokens", "*/access-token-*"),
                ("tenant_webhooks", "*/webhook-*"),
            )
        },
        "*": "*",
    }
    for lid, r in stack.t["Resources"].items():
        if lid not in stack.physical:
            continue
        if r["Type"] in ("AWS::SQS::Queue", "AWS::IAM::Role"):
            target[lid] = stack.resolve({"Fn::GetAtt": [lid, "Arn"]})
        if r["Type"] == "AWS::SecretsManager::Secret":
            target[lid] = stack.physical[lid]  # what Ref gives: the ARN on AWS
            if not target[lid].startswith("arn:"):
                not_shown.append(f"{lid}: its ARN (the emulator's Ref of a secret is its name)")
    return target


def check_functions(stack, aws):
    target = policy_targets(stack, aws)
    # The function URLs of the stack's front, by function (logical id).
    urls = {
        r["Properties"]["TargetFunctionArn"]["Ref"]: r["Properties"]["AuthType"]
        for _, r in stack.of_type("AWS::Lambda::Url")
    }
    for lid, binary, props in stack.functions():
        name = stack.resolve(props["FunctionName"])
        c = aws.lam.get_function_configuration(FunctionName=name)
        for key in ("Architectures", "Runtime", "Handler", "MemorySize", "Timeout"):
            equal(c.get(key), stack.resolve(props[key]), f"{binary}: {key}")
        equal(
            c.get("LoggingConfig"),
            stack.resolve(props["LoggingConfig"]),
            f"{binary}: LoggingConfig",
        )
        want_env = {k: str(v) for k, v in stack.resolve(props["Environment"])["Variables"].items()}
        equal(c.get("Environment", {}).get("Variables"), want_env, f"{binary}: environment")
        equal(c["Role"], stack.resolve(props["Role"]), f"{binary}: role")
        try:
            auth = aws.lam.get_function_url_config(FunctionName=name)["AuthType"]
        except aws.lam.exceptions.ResourceNotFoundException:
            auth = None
        want_auth = urls.get(lid)
        equal(auth, want_auth, f"{binary}: function URL auth (None: no URL, as behind the HTTP API)")
        equal(
            c.get("TracingConfig", {}).get("Mode", "PassThrough"),
            stack.resolve(props["Tracing"]),
            f"{binary}: tracing",
        )

        # The role: exactly the calls the code makes, on exactly its resources.
        role = stack.physical[props["Role"]["Fn::GetAtt"][0]]
        group = props["LoggingConfig"]["LogGroup"]["Ref"]
        log_group = stack.resolve({"Fn::GetAtt": [group, "Arn"]})
        want = {(a.lower(), log_group) for a in LOGS}
        check_environment(binary, props)
        for actions, on in needs(binary, props):
            want |= {(a.lower(), target[on]) for a in actions}
        if stack.params["Tracing"] == "Active":
            want |= {(a.lower(), "*") for a in XRAY}
        got, attached = policy_pairs(aws, role)
        check(
            got == want,
            f"{binary}: role policy grants {sorted(got - want)} beyond, lacks {sorted(want - got)}",
        )
        equal(attached, [], f"{binary}: managed policies on its role")


def check_stack(stack, aws):
    # Outputs: each one the template declares (whose condition holds), with its value.
    outputs = {
        o["OutputKey"]: o.get("OutputValue")
        for o in aws.cfn.describe_stacks(StackName=STACK)["Stacks"][0].get("Outputs", [])
    }
    for key, o in stack.t["Outputs"].items():
        if "Condition" in o and not stack.condition(o["Condition"]):
            check(key not in outputs, f"output {key} is set though its condition does not hold")
            continue
        equal(outputs.get(key), str(stack.resolve(o["Value"])), f"output {key}")

    check_functions(stack, aws)
    check_http_api(stack, aws)

    # The stack's own bus, and its policy: wxface events from publish-events only.
    for lid, r in stack.of_type("AWS::Events::EventBus"):
        bus = aws.events.describe_event_bus(Name=stack.physical[lid])
        equal(bus["Name"], bus_name(stack), f"{lid}: the bus publish-events puts on")
        want = stack.resolve(r["Properties"]["Policy"])
        got = bus.get("Policy")
        if got is None:
            not_shown.append(f"{lid}: its Policy (the emulator gives none back)")
        else:
            got = json.loads(got) if isinstance(got, str) else got
            equal(got.get("Statement"), want["Statement"], f"{lid}: policy")

    # Log groups: the retention of the parameter.
    for lid, r in stack.of_type("AWS::Logs::LogGroup"):
        name = stack.physical[lid]
        groups = aws.logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        got = next((g.get("retentionInDays") for g in groups if g["logGroupName"] == name), None)
        equal(got, int(stack.resolve(r["Properties"]["RetentionInDays"])), f"{lid}: retention")

    # Alarms: each as the template says, with the parameters' threshold and topic.
    for lid, r in stack.of_type("AWS::CloudWatch::Alarm"):
        p = stack.resolve(r["Properties"])
        found = aws.cw.describe_alarms(AlarmNames=[p["AlarmName"]])["MetricAlarms"]
        check(len(found) == 1, f"{lid}: alarm {p['AlarmName']} exists")
        if not found:
            continue
        a = found[0]
        for key, want in p.items():
            if key == "AlarmName":
                continue
            got = a.get(key)
            if key == "Threshold":
                got, want = float(got), float(want)
            if key == "Dimensions":
                got = sorted(got, key=lambda d: d["Name"])
                want = sorted(want, key=lambda d: d["Name"])
            equal(got, want, f"{lid}: {key}")
        for key in ("AlarmActions", "OKActions"):
            if key not in p:
                equal(a.get(key, []), [], f"{lid}: {key} without a topic")

    # The table: key, billing, encryption and stream as declared.
    for lid, r in stack.of_type("AWS::DynamoDB::Table"):
        p = r["Properties"]
        name = stack.physical[lid]
        t = aws.ddb.describe_table(TableName=name)["Table"]
        equal(t["KeySchema"], p["KeySchema"], f"{lid}: key schema")
        equal(t["BillingModeSummary"]["BillingMode"], p["BillingMode"], f"{lid}: billing mode")
        equal(
            t["StreamSpecification"]["StreamViewType"],
            p["StreamSpecification"]["StreamViewType"],
            f"{lid}: stream",
        )
        # What the emulator cannot show is at least declared (and on AWS, applied).
        equal(
            p.get("TimeToLiveSpecification"),
            {"AttributeName": "expires_at", "Enabled": True},
            f"{lid}: TTL declared",
        )
        equal(
            p.get("PointInTimeRecoverySpecification"),
            {"PointInTimeRecoveryEnabled": True},
            f"{lid}: point-in-time recovery declared",
        )
        equal(p.get("SSESpecification"), {"SSEEnabled": True}, f"{lid}: encryption declared")
        ttl = aws.ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") == "DISABLED":
            not_shown.append(f"{lid}: TimeToLiveSpecification (the emulator reports TTL DISABLED)")
        else:
            equal(
                ttl.get("AttributeName"),
                p["TimeToLiveSpecification"]["AttributeName"],
                f"{lid}: TTL attribute",
            )
        pitr = aws.ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        if pitr == "DISABLED":
            not_shown.append(
                f"{lid}: PointInTimeRecoverySpecification (the emulator reports PITR DISABLED)"
            )
        else:
            equal(pitr, "ENABLED", f"{lid}: point-in-time recovery")
        sse = t.get("SSEDescription", {}).get("Status")
        if sse is None:
            not_shown.append(f"{lid}: SSESpecification (the emulator reports no SSEDescription)")
        else:
            equal(sse, "ENABLED", f"{lid}: encryption")

    # The stream's event source mappings (publish-events, reconcile) and the webhook queue's
    # (deliver-webhooks), as their Events entries say.
    for lid, binary, props in stack.functions():
        for ename, e in props.get("Events", {}).items():
            if e["Type"] == "SQS":
                want = stack.resolve(e["Properties"])
                name = stack.resolve(props["FunctionName"])
                maps = aws.lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
                check(len(maps) == 1, f"{binary}: one event source mapping ({len(maps)})")
                for m in maps:
                    equal(m["EventSourceArn"], want["Queue"], f"{binary} {ename}: queue")
                    for key in ("BatchSize", "FunctionResponseTypes"):
                        equal(m.get(key), want[key], f"{binary} {ename}: {key}")
                continue
            if e["Type"] != "DynamoDB":
                continue
            want = stack.resolve(e["Properties"])
            name = stack.resolve(props["FunctionName"])
            maps = aws.lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
            check(len(maps) == 1, f"{binary}: one event source mapping ({len(maps)})")
            if not maps:
                continue
            m = maps[0]
            equal(m["EventSourceArn"], want["Stream"], f"{binary} {ename}: stream")
            for key in (
                "StartingPosition",
                "BatchSize",
                "MaximumBatchingWindowInSeconds",
                "FunctionResponseTypes",
                "BisectBatchOnFunctionError",
                "MaximumRetryAttempts",
                "MaximumRecordAgeInSeconds",
                "FilterCriteria",
            ):
                equal(m.get(key), want[key], f"{binary} {ename}: {key}")
            equal(
                m["DestinationConfig"]["OnFailure"]["Destination"],
                want["DestinationConfig"]["OnFailure"]["Destination"],
                f"{binary} {ename}: on-failure destination",
            )


def check_http_api(stack, aws):
    """The HTTP API as the template says, or none at all behind function URLs."""
    apis = list(stack.of_type("AWS::ApiGatewayV2::Api"))
    deployed = [a for a in aws.apigw.get_apis()["Items"] if a["Name"] == STACK]
    equal(len(deployed), len(apis), "HTTP APIs of the stack")
    if not apis:
        return
    api_id = stack.physical[apis[0][0]]
    equal(aws.apigw.get_api(ApiId=api_id)["ProtocolType"], "HTTP", "the API's protocol")
    integrations = {i["IntegrationId"]: i for i in aws.apigw.get_integrations(ApiId=api_id)["Items"]}
    names = {stack.physical[lid]: b for lid, b, _ in stack.functions()}
    got = set()
    for r in aws.apigw.get_routes(ApiId=api_id)["Items"]:
        target = integrations.get(r.get("Target", "").removeprefix("integrations/"), {})
        uri = target.get("IntegrationUri", "")
        function = next((b for n, b in names.items() if uri.endswith(f":function:{n}")), uri)
        equal(
            (target.get("IntegrationType"), target.get("PayloadFormatVersion")),
            ("AWS_PROXY", "2.0"),
            f"route {r['RouteKey']}: integration",
        )
        got.add((r["RouteKey"], function, r.get("AuthorizationType", "NONE")))
    want = set()
    for _, r in stack.of_type("AWS::ApiGatewayV2::Route"):
        p = r["Properties"]
        integration = re.search(r"\$\{(\w+)\}", p["Target"]["Fn::Sub"]).group(1)
        fid = stack.t["Resources"][integration]["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]
        binary = stack.t["Resources"][fid]["Metadata"]["BuildProperties"]["Binary"]
        want.add((p["RouteKey"], binary, p["AuthorizationType"]))
    equal(got, want, "the API's routes (key, function, authorization)")
    stages = aws.apigw.get_stages(ApiId=api_id)["Items"]
    equal([s["StageName"] for s in stages], ["$default"], "the API's stages")
    for s in stages:
        p = stack.resolve(next(r for _, r in stack.of_type("AWS::ApiGatewayV2::Stage"))["Properties"])
        equal(s.get("AutoDeploy"), True, "$default: auto-deploy")
        settings = s.get("DefaultRouteSettings", {})
        for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
            if key not in settings:
                # It stores the template's names, which the API's JSON does not carry back.
                not_shown.append(f"$default stage: {key} (the emulator gives no route settings back)")
                continue
            equal(float(settings[key]), float(p["DefaultRouteSettings"][key]), f"$default: {key}")
        equal(
            s.get("AccessLogSettings", {}).get("DestinationArn"),
            p["AccessLogSettings"]["DestinationArn"],
            "$default: access log group",
        )
        equal(s.get("AccessLogSettings", {}).get("Format"), p["AccessLogSettings"]["Format"], "$default: access log format")


def real_bootstraps(work):
    """The functions' x86_64 bootstraps from target/debug (built by the e2e, or here), stripped of
    their debug info: {binary: folder holding its bootstrap}."""
    names = [b for b in sorted(os.listdir(ROOT / "functions")) if (ROOT / "functions" / b / "Cargo.toml").is_file()]
    missing = [b for b in names if not (ROOT / "target" / "debug" / b).is_file()]
    if missing:
        subprocess.run(["cargo", "build", "-q", *[a for b in missing for a in ("-p", b)]], cwd=ROOT, check=True)
    out = {}
    for b in names:
        folder = work / "real" / b
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["objcopy", "--strip-debug", str(ROOT / "target" / "debug" / b), str(folder / "bootstrap")],
            check=True,
        )
        out[b] = folder
    return out


def wxface_dev(*args, log):
    exe = ROOT / "target" / "debug" / "wxface-dev"
    with open(log, "a") as out:
        return subprocess.run([str(exe), *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode


def signed_get(url, body=b""):
    """A GET signed with SigV4 for execute-api, as a business backend's SDK signs it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="GET", url=url, data=body)
    SigV4Auth(Credentials(ACCOUNT, "test"), "execute-api", REGION).add_auth(req)
    return http(url, headers=dict(req.headers))


def http(url, method="GET", headers=None, body=None):
    """(status, body) of one request; an HTTP error status is an answer too."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_api_round(aws, endpoint, work, template, sims):
    """Steps A1-A5 on a second stack (Front=HttpApi)."""
    global STACK
    STACK = API_STACK
    stack = None
    try:
        step("A1. sam deploy: Front=HttpApi, the real x86_64 bootstraps")
        params = {
            "Front": "HttpApi",
            "Architecture": "x86_64",
            "WeChatApiBase": sims["wechat"],
            "WeChatPayFaceApiBase": sims["pay"],
            "WeChatPayApiBase": sims["pay"],
        }
        built = built_template(work, real_bootstraps(work), name="template-api.yaml")
        equal(sam_deploy(built, params, work), 0, "sam deploy (create, HttpApi) exit code")
        equal(aws.stack_status(), "CREATE_COMPLETE", "stack status after create (HttpApi)")
        stack = Stack(template, aws, params)
        check_stack(stack, aws)

        step("A2. the simulators' credentials into the stack's secrets")
        log = work / "api-demo.log"
        secret = {lid: stack.physical[lid] for lid, _ in stack.of_type("AWS::SecretsManager::Secret")}
        rc = wxface_dev(
            "setup", "--aws", endpoint, "--stack-secrets", "yes",
            "--app-secret-id", secret["WeChatAppSecret"],
            "--wechat-secret-id", secret["WeChatCredentialsSecret"],
            "--token-secret-id", secret["AccessTokenSecret"],
            "--merchant-secret-id", secret["MerchantSecret"],
            "--identity-secret-id", secret["IdentityKeySecret"],
            log=log,
        )
        equal(rc, 0, f"wxface-dev setup --stack-secrets (log: {log})")

        step("A3. wxface-dev demo through the emulator's HTTP API")
        api_id = stack.physical["HttpApi"]
        # The emulator's path form of https://{api}.execute-api.{region}.amazonaws.com.
        base = f"{endpoint}/_aws/execute-api/{api_id}"
        receipts = work / "api-receipts.json"
        rc = wxface_dev(
            "demo", "--api", base, "--sim", sims["wechat"], "--pay-sim", sims["pay"],
            "--receipts", str(receipts), "--timeout", "60",
            "--aws", endpoint, "--identity-secret-id", secret["IdentityKeySecret"],
            # The server's own check: the deployed reconcile, invoked as the scheduler does.
            "--reconcile", f"{endpoint}/2015-03-31/functions/{STACK}-reconcile/invocations",
            log=log,
        )
        equal(rc, 0, f"wxface-dev demo --api {base} exit code (log: {log})")
        if rc != 0:
            print(log.read_text()[-3000:], file=sys.stderr)
        else:
            print(f"  {log.read_text().strip().splitlines()[-1]}")

        step("A4. through the API: no route, an unsigned and a signed GET /lookup")
        status, body = http(f"{base}/", method="POST", body=b"{}")
        equal(status, 404, "POST / (no such route): status")
        status, _ = http(f"{base}/issue-key", method="GET")
        check(status in (404, 405), f"GET /issue-key (no such route): {status}, want 404 or 405")
        status, _ = http(f"{base}/lookup?out_seq_no=x")
        equal(status, 403, "unsigned GET /lookup: status")
        if receipts.exists():
            seq = json.loads(receipts.read_text())["receipts"][0]["out_seq_no"]
            status, body = signed_get(f"{base}/lookup?out_seq_no={seq}")
            answer = json.loads(body or b"{}")
            equal(status, 200, f"signed GET /lookup: status ({body[:200]!r})")
            equal((answer.get("status"), "receipt" in answer), ("verified", True), "signed GET /lookup: the verified session with a receipt")
    except Exception:
        traceback.print_exc()
        check(False, "a step of the HttpApi round raised (traceback above)")
    finally:
        step("A5. delete (HttpApi)")
        delete_and_check(aws, stack)
        STACK = URL_STACK


def bootstrap_sha256(binary):
    """The hash of the bootstrap `cargo lambda build` left (CodeSha256 is the zip's, not this)."""
    return hashlib.sha256(
        (ROOT / "target" / "lambda" / binary / "bootstrap").read_bytes()
    ).hexdigest()


def deploy_function(aws, stack, work, binary):
    props = next(p for _, b, p in stack.functions() if b == binary)
    name = stack.resolve(props["FunctionName"])
    before = aws.lam.get_function_configuration(FunctionName=name)
    env = dict(os.environ)
    env["WXFACE_STACK"] = STACK
    with open(work / "deploy-function.log", "w") as out:
        rc = subprocess.run(
            ["bash", str(ROOT / "scripts" / "deploy-function.sh"), binary, "--region", REGION],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
    equal(
        rc,
        0,
        f"scripts/deploy-function.sh {binary} exit code (log: {work / 'deploy-function.log'})",
    )
    after = aws.lam.get_function_configuration(FunctionName=name)
    check(
        after["CodeSha256"] != before["CodeSha256"], f"{binary}: new code after deploy-function.sh"
    )
    for key in (
        "Role",
        "MemorySize",
        "Timeout",
        "Environment",
        "Architectures",
        "Runtime",
        "Handler",
        "LoggingConfig",
    ):
        equal(after.get(key), before.get(key), f"{binary}: {key} kept by deploy-function.sh")
    # The deployed zip holds the real bootstrap, not the stand-in.
    location = aws.lam.get_function(FunctionName=name)["Code"].get("Location")
    code = None
    if location:
        try:
            with urllib.request.urlopen(location, timeout=30) as r:
                code = r.read()
        except OSError as e:
            print(f"  (cannot fetch the code at {location}: {e})")
    if code is None:
        not_shown.append(
            f"{binary}: the deployed code itself (get-function gave no readable Location)"
        )
        return
    zpath = work / "deployed.zip"
    zpath.write_bytes(code)
    with zipfile.ZipFile(zpath) as z:
        got = hashlib.sha256(z.read("bootstrap")).hexdigest()
    equal(
        got,
        bootstrap_sha256(binary),
        f"{binary}: the deployed bootstrap is target/lambda/{binary}/bootstrap",
    )


def delete_and_check(aws, stack):
    """Deletes the stack; then what has DeletionPolicy Retain exists, and the rest does not."""
    aws.cfn.delete_stack(StackName=STACK)
    aws.cfn.get_waiter("stack_delete_complete").wait(
        StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    gone = aws.cfn.describe_stacks()["Stacks"]
    check(
        all(s["StackName"] != STACK or s["StackStatus"] == "DELETE_COMPLETE" for s in gone),
        "stack deleted",
    )
    if stack is None:
        return
    for lid, r in stack.t["Resources"].items():
        if lid not in stack.physical:
            continue
        pid = stack.physical[lid]
        retained = r.get("DeletionPolicy") == "Retain"
        exists = {
            "AWS::DynamoDB::Table": lambda: pid in aws.ddb.list_tables()["TableNames"],
            "AWS::SecretsManager::Secret": lambda: any(
                pid in (s["Name"], s["ARN"]) for s in aws.sm.list_secrets()["SecretList"]
            ),
            "AWS::Logs::LogGroup": lambda: any(
                g["logGroupName"] == pid
                for g in aws.logs.describe_log_groups(logGroupNamePrefix=pid)["logGroups"]
            ),
        }.get(r["Type"])
        if exists is None:
            continue
        equal(exists(), retained, f"{lid} ({r['Type']}) exists after delete")


def wait_for_build(status_file, timeout_s=1800):
    """0 without a status file (deploy-function.sh builds what it needs), else the build's exit
    code once it is written."""
    if status_file is None:
        return 0
    deadline = time.monotonic() + timeout_s
    while not status_file.exists():
        if time.monotonic() > deadline:
            check(False, f"the release build did not finish within {timeout_s} s")
            return None
        time.sleep(1)
    return int(status_file.read_text().strip() or "1")


def sims(args):
    return {"wechat": args.wechat_sim, "pay": args.pay_sim}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--wechat-sim", required=True, help="the WeChat simulator's URL")
    ap.add_argument("--pay-sim", required=True, help="the WeChat Pay simulator's URL")
    ap.add_argument(
        "--manifest",
        required=True,
        type=Path,
        help="the function manifest as JSON (wxface-dev manifest)",
    )
    ap.add_argument(
        "--build-status",
        type=Path,
        help="step 4 waits for this file: the exit code of the release build (make test runs the"
        " build alongside steps 1-3); 0 runs deploy-function.sh, anything else skips it",
    )
    args = ap.parse_args()
    MANIFEST.update({f["package"]: f for f in json.loads(args.manifest.read_text())["functions"]})
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    os.environ["AWS_ENDPOINT_URL"] = args.endpoint
    os.environ["SAM_CLI_TELEMETRY"] = "0"
    aws = Aws(args.endpoint)
    template, matches = decode_str((ROOT / "template.yaml").read_text())
    if template is None:
        sys.exit(f"template.yaml does not parse: {matches}")
    built = built_template(work)

    stack = None
    try:
        step("1. sam deploy: create")
        equal(sam_deploy(built, {}, work), 0, "sam deploy (create) exit code")
        equal(aws.stack_status(), "CREATE_COMPLETE", "stack status after create")

        step("2. the stack as the template says")
        stack = Stack(template, aws, {})
        check_stack(stack, aws)

        step("3. sam deploy: update with other parameters")
        topic = aws.sns.create_topic(Name=f"{STACK}-alarms")["TopicArn"]
        update = dict(UPDATE, AlarmTopicArn=topic)
        equal(sam_deploy(built, update, work), 0, "sam deploy (update) exit code")
        equal(aws.stack_status(), "UPDATE_COMPLETE", "stack status after update")
        stack = Stack(template, aws, update)
        check_stack(stack, aws)
        # The update reached the resources (not only the stack's record of it).
        ik = aws.lam.get_function_configuration(FunctionName=f"{STACK}-issue-key")
        equal(
            ik["Environment"]["Variables"]["DEFAULT_FACE_FLOW"], "v1", "updated DEFAULT_FACE_FLOW"
        )
        equal(ik["LoggingConfig"]["ApplicationLogLevel"], "DEBUG", "updated log level")
        alarm = aws.cw.describe_alarms(AlarmNames=[f"{STACK}-verify-result-upstream-getinfo"])[
            "MetricAlarms"
        ][0]
        equal(
            (alarm["Threshold"], alarm["AlarmActions"]), (35.0, [topic]), "updated upstream alarm"
        )

        http_api_round(aws, args.endpoint, work, template, sims(args))

        step("4. scripts/deploy-function.sh issue-key")
        build = wait_for_build(args.build_status)
        if build == 0:
            deploy_function(aws, stack, work, "issue-key")
        else:
            print(f"  skipped: the release build ended with {build} (see it above)")

    except Exception:  # a step that broke is a failure; the stack is still deleted below
        traceback.print_exc()
        check(False, "a step raised (traceback above)")

    step("5. delete: the retained resources stay")
    delete_and_check(aws, stack)

    print()
    for n in dict.fromkeys(not_shown):
        print(f"not shown by the emulator: {n}")
    for f in failures:
        print(f"failed: {f}", file=sys.stderr)
    print(f"deploy test: {checked} checks, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
