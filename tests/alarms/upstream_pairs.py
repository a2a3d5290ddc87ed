"""Every (function, WeChat / WeChat Pay endpoint) pair the functions really called during the
run has its upstream alarm in template.yaml.

    python tests/alarms/upstream_pairs.py target/test-logs

The pairs come from the embedded-metric records the functions printed (namespace wxface,
dimensions Function + Upstream) in the logs of the e2e demo, the API tests and the soak; the
alarms from template.yaml (MetricName UpstreamErrorRate, one per pair). The template test checks
the alarms against a table of the code's endpoints; this checks that table against what the
functions did. A pair the run never exercised is listed, not failed.
"""

import json
import sys
from pathlib import Path

from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parents[2]


def template_resources():
    template, matches = decode_str((ROOT / "template.yaml").read_text())
    if template is None:
        sys.exit(f"template.yaml does not parse: {matches}")
    return template["Resources"]


def function_binaries(resources):
    return {
        r["Metadata"]["BuildProperties"]["Binary"]
        for r in resources.values()
        if r["Type"] == "AWS::Serverless::Function"
    }


def alarmed_pairs(resources):
    pairs = set()
    for r in resources.values():
        p = r.get("Properties", {})
        if r["Type"] != "AWS::CloudWatch::Alarm" or p.get("MetricName") != "UpstreamErrorRate":
            continue
        dims = {d["Name"]: d["Value"] for d in p["Dimensions"]}
        function = resources[dims["Function"]["Ref"]]
        pairs.add((function["Metadata"]["BuildProperties"]["Binary"], dims["Upstream"]))
    return pairs


def called_pairs(logs, binaries):
    pairs = set()
    for path in logs.rglob("*"):
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            start = line.find('{"')
            if start < 0 or '"_aws"' not in line:
                continue
            try:
                record = json.loads(line[start:])
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            function, upstream = record.get("Function"), record.get("Upstream")
            # Unit tests print records as function "local"; only the deployed names count.
            if upstream and function in binaries:
                pairs.add((function, upstream))
    return pairs


def main():
    logs = Path(sys.argv[1])
    resources = template_resources()
    alarmed = alarmed_pairs(resources)
    called = called_pairs(logs, function_binaries(resources))
    print(f"upstream pairs: {len(called)} called in this run, {len(alarmed)} alarmed")
    for f, u in sorted(alarmed - called):
        print(f"  not called in this run: {f} -> {u}")
    missing = sorted(called - alarmed)
    for f, u in missing:
        print(f"  FAILED: {f} called {u}, which has no upstream alarm in template.yaml")
    if len(called) < 5:
        sys.exit(f"only {len(called)} pairs found under {logs}: are the functions' logs there?")
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
