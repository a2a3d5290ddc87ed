"""The workspace's declared `rust-version` is true: no locked dependency needs a newer Rust.

A user whose toolchain is older than a dependency's `rust-version` should get cargo's clear
"requires rustc X" for the workspace itself, not a confusing error deep inside a dependency.
Reads `cargo metadata` (offline, from Cargo.lock); exits 1 naming the packages that need more.

    python3 scripts/check-rust-version.py
"""

import json
import subprocess
import sys


def version(v):
    return tuple(int(x) for x in v.split("."))


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    ours = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
    if len(ours) != 1 or None in ours:
        print(f"check-rust-version: the workspace members declare {sorted(map(str, ours))}, not one rust-version")
        return 1
    declared = ours.pop()
    needs = sorted(
        ((p["rust_version"], p["name"], p["version"]) for p in meta["packages"]
         if p["id"] not in members and p.get("rust_version")),
        key=lambda t: version(t[0]),
    )
    newer = [n for n in needs if version(n[0]) > version(declared)]
    if newer:
        for rv, name, v in newer[-10:]:
            print(f"check-rust-version: {name} {v} needs Rust {rv}")
        print(f"check-rust-version: FAIL: rust-version = \"{declared}\" in Cargo.toml, but the lock needs {newer[-1][0]}")
        return 1
    print(f"check-rust-version: OK: rust-version {declared}; the most any locked dependency needs is {needs[-1][0]} ({needs[-1][1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
