"""docs/openapi.yaml's own examples conform to the schemas beside them (no running stack needed),
so a user copying one gets a request the functions take and an answer of the shape they give.
Also: no flow mapping of the file lost a value to a stray comma (`{description: a, b}` is two
keys, the second with no value)."""

import os

import yaml
from jsonschema import Draft202012Validator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
    DOC = yaml.safe_load(f)


def follow(node):
    """A `$ref` to a component (response, request body, example), followed."""
    while isinstance(node, dict) and "$ref" in node:
        target = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def examples():
    """(where, schema, value) of every example of a request body or a response."""
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            bodies = [
                (f"{method.upper()} {path} {s}", follow(r)) for s, r in op["responses"].items()
            ]
            if "requestBody" in op:
                bodies.append((f"{method.upper()} {path} request", follow(op["requestBody"])))
            for where, body in bodies:
                for media, content in (body.get("content") or {}).items():
                    for name, ex in (content.get("examples") or {}).items():
                        yield f"{where} {media} {name}", content["schema"], follow(ex)["value"]


def test_every_example_conforms_to_its_schema():
    checked = 0
    for where, schema, value in examples():
        # The components beside the schema, so its `#/components/...` refs resolve.
        validator = Draft202012Validator({"components": DOC["components"], "allOf": [schema]})
        errors = [e.message for e in validator.iter_errors(value)]
        assert not errors, f"{where}: {errors}"
        checked += 1
    assert checked >= 10, f"only {checked} examples found"


def test_no_key_lost_its_value():
    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                # `enum: [.., null]` and `default: null` hold None on purpose; a key does not.
                assert v is not None or k in ("default", "example"), f"{path}/{k} has no value"
                walk(v, f"{path}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}/{i}")

    walk(DOC, "")
