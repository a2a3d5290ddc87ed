"""No function in shared/src or functions/ is longer than 60 lines (tests aside): a longer one is
split into named steps. Counts from the `fn` line to its closing brace; skips `#[cfg(test)]`
modules and the test-only modules (shared/src/testing/, shared/src/props.rs). Exits 1 naming
each function over the limit.

    python3 scripts/check-fn-length.py [--limit 60]
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRS = ["shared/src", "functions"]
TEST_ONLY = ["shared/src/testing/", "shared/src/props.rs"]
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def code(line):
    """The line without string and char literals and comments (for counting braces)."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//")[0]


def block_end(lines, start):
    """The index of the line closing the first block that opens at or after `start`, or None
    for a declaration without a body."""
    depth, opened = 0, False
    for j in range(start, len(lines)):
        s = code(lines[j])
        for c in s:
            if c == "{":
                depth += 1
                opened = True
            elif c == "}":
                depth -= 1
        if not opened and ";" in s:
            return None
        if opened and depth <= 0:
            return j
    return None


def long_functions(path, limit):
    lines = path.read_text().split("\n")
    out, i = [], 0
    while i < len(lines):
        if re.match(r"\s*#\[cfg\(test\)\]", lines[i]):
            end = block_end(lines, i + 1)
            i = (end if end is not None else i) + 1
            continue
        m = FN.match(lines[i])
        if m:
            end = block_end(lines, i)
            if end is not None and end - i + 1 > limit:
                out.append(f"{path.relative_to(ROOT)}:{i + 1}: {m.group(6)} is {end - i + 1} lines")
        i += 1
    return out


def main():
    limit = int(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else 60
    found = []
    for d in DIRS:
        for p in sorted((ROOT / d).rglob("*.rs")):
            rel = str(p.relative_to(ROOT))
            if not any(rel.startswith(t) for t in TEST_ONLY):
                found += long_functions(p, limit)
    verdict = (
        f"{len(found)} functions over {limit} lines: split them into named steps"
        if found
        else f"no function over {limit} lines in {', '.join(DIRS)}"
    )
    print("\n".join([*found, verdict]))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
