"""Checks a wxface receipt on the business's own backend, with PyJWT.

A receipt (a compact ES256 JWS) proves that wxface decided this verification on its server:
verify it against wxface's published keys (the JWKS), check the audience (your mini-program's
appid) and the issuer, then recompute `identity_hash` from the name and ID number you hold and
the deployment's `identity_key`, so the result is about the person you meant. Never act on a
result the mini-program relays without this check.

The same goes for a `Verification Finalized` event (EventBridge, or the webhook): verify its
`detail.receipt` with this function and act on the receipt's claims, not on the event's other
fields, which anyone allowed to put events on the bus could have written.

A receipt is signed for every final state: `failed` and `rejected` receipts verify too. A valid
signature proves what wxface decided, not that the person passed: `verify_receipt` refuses any
receipt whose `status` is not `verified` (and `verified` true) unless `require_verified=False`.

    WXFACE_IDENTITY_KEY=<base64> python verify_receipt.py JWKS_URL APPID RECEIPT [NAME ID_CARD_NUMBER]
"""

import base64
import hashlib
import hmac
import os
import sys

import jwt  # PyJWT, with the `cryptography` package for ES256

# Clock skew tolerated between wxface and this server, in seconds.
LEEWAY = 30


class NotVerified(jwt.InvalidTokenError):
    """A genuine receipt of a verification the person did not pass (failed or rejected)."""


def verify_receipt(
    token, jwks_url, audience, issuer="wxface", leeway=LEEWAY, jwks=None, require_verified=True
):
    """The receipt's claims, or an exception (jwt.PyJWTError) if it must not be trusted: its
    signature, audience, issuer or expiry fails, or (unless require_verified=False) it is not
    the receipt of a passed verification."""
    jwks = jwks or jwt.PyJWKClient(jwks_url, cache_keys=True)
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],  # never "none", never a symmetric algorithm
        audience=audience,
        issuer=issuer,
        leeway=leeway,
        options={"require": ["exp", "iat", "jti", "sub", "out_seq_no", "status"]},
    )
    if require_verified and (claims.get("status") != "verified" or claims.get("verified") is not True):
        raise NotVerified(f"the verification was not passed (status {claims.get('status')!r})")
    return claims


def identity_hash(identity_key, out_seq_no, name, id_card_number):
    """What the receipt's identity_hash must be for this person and session: HMAC-SHA256 under
    the deployment's identity_key (base64 of 32 bytes, from its identity secret)."""
    name = name.strip()
    id_card_number = id_card_number.strip()
    if id_card_number.endswith("x"):
        id_card_number = id_card_number[:-1] + "X"
    b64 = lambda s: base64.b64encode(s.encode("utf-8")).decode("ascii")
    text = (
        f"out_seq_no={out_seq_no}&cert_type={b64('IDENTITY_CARD')}"
        f"&cert_name={b64(name)}&cert_no={b64(id_card_number)}"
    )
    key = base64.b64decode(identity_key.strip(), validate=True)
    if len(key) != 32:
        raise ValueError("identity_key must be base64 of 32 bytes")
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def main(argv):
    if len(argv) not in (4, 6):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    claims = verify_receipt(argv[3], argv[1], argv[2])
    if len(argv) == 6 and claims.get("identity_hash") != identity_hash(
        os.environ["WXFACE_IDENTITY_KEY"], claims["out_seq_no"], argv[4], argv[5]
    ):
        print("the receipt is about another person", file=sys.stderr)
        return 1
    print(claims)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
