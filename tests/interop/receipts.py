"""Interop: receipts served by the running functions, verified with PyJWT (an independent JOSE
implementation) through the business-backend example, against the JWKS the function publishes.
Every genuine receipt must verify and name its person; a tampered payload, an unknown kid, an
expired receipt and an `alg: none` header must all be refused; a genuine receipt of a failed
verification is refused as a pass unless asked for; identity_hash is computed as the documented
vector says.

    python tests/interop/receipts.py RECEIPTS_JSON   (written by `wxface-dev demo --receipts`)
"""

import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "backend"))

import jwt  # noqa: E402
from verify_receipt import NotVerified, identity_hash, verify_receipt  # noqa: E402

# docs/api.md §6's vector: the identity_key 00..1f, and the hash of 李四's session seq_00001.
VECTOR_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
VECTOR_HASH = "c279218d14bff972f3fa4478e4e14799828673f039a5a05c60a61be232a0e47c"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def with_parts(token, header=None, payload=None, signature=None):
    h, p, s = token.split(".")
    if header is not None:
        h = b64url(json.dumps(header).encode())
    if payload is not None:
        p = b64url(json.dumps(payload).encode())
    return ".".join([h, p, s if signature is None else signature])


def main(path):
    record = json.load(open(path, encoding="utf-8"))
    jwks = jwt.PyJWKClient(record["jwks_url"])
    aud, iss = record["audience"], record["issuer"]
    passed, failed = 0, 0

    def check(name, ok):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + name)
        passed, failed = passed + ok, failed + (not ok)

    def refused(token, **kwargs):
        kwargs.setdefault("require_verified", False)
        try:
            verify_receipt(token, record["jwks_url"], aud, iss, jwks=jwks, **kwargs)
            return False
        except (jwt.PyJWTError, jwt.PyJWKClientError):
            return True

    check(
        "identity_hash: the documented vector",
        identity_hash(VECTOR_KEY, "seq_00001", " 李四 ", "11010519491231002x") == VECTOR_HASH,
    )
    statuses = {r["status"] for r in record["receipts"]}
    check("the demo produced receipts of a pass and of a failure", {"verified", "failed"} <= statuses)
    for r in record["receipts"]:
        token, what = r["receipt"], f"{r['status']} {r['out_seq_no'][:8]}"
        claims = verify_receipt(token, record["jwks_url"], aud, iss, jwks=jwks, require_verified=False)
        try:
            strict = verify_receipt(token, record["jwks_url"], aud, iss, jwks=jwks)
            taken = strict["status"] == "verified" and strict["verified"] is True
        except NotVerified:
            taken = False
        check(f"{what}: taken as a pass only if it is one", taken == (r["status"] == "verified"))
        check(f"{what}: verifies", claims["out_seq_no"] == r["out_seq_no"])
        check(f"{what}: names its person", claims["identity_hash"] == r["identity_hash"])
        header = json.loads(unb64url(token.split(".")[0]))
        forged = dict(claims, status="verified", verified=True, identity_hash="0" * 64)
        check(f"{what}: a tampered payload is refused", refused(with_parts(token, payload=forged)))
        check(
            f"{what}: an unknown kid is refused",
            refused(with_parts(token, header=dict(header, kid="not-published"))),
        )
        # Verified as if after its exp (a negative leeway moves the clock forward).
        late = claims["exp"] - int(time.time()) + 1
        check(f"{what}: an expired receipt is refused", refused(token, leeway=-late))
        none = with_parts(token, header={"alg": "none", "typ": "JWT", "kid": header["kid"]}, signature="")
        check(f"{what}: alg none is refused", refused(none))
    print(f"receipts interop (PyJWT {jwt.__version__}): {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
