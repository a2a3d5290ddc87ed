"""The hospital's side of a partner-mode (服务商模式) real-name lookup.

In partner mode the service provider runs wxface's authinfo function, and WeChat Pay encrypts the
patient's real-name fields to the hospital's own (sub-merchant) API certificate: the provider
passes them through without being able to read them. The hospital's server (or the kiosk, if the
hospital keeps its key there) decrypts them with the hospital's private key, here.

Input: the JSON answer of `POST /real-name` (stdin or a file). Output: the decrypted fields as
JSON. Decryption tries RSA-OAEP (SHA-1) first, whose success is authoritative, then PKCS#1 v1.5
(what WeChat Pay uses for these fields), and refuses a plaintext that cannot be what it claims to
be (a PKCS#1 v1.5 "success" on the wrong block is possible, and OpenSSL >= 3.2 returns random
bytes instead of an error). Never log the output.

    python decrypt_real_name.py --key sub_merchant_private_key.pem [--serial SERIAL] [answer.json]
"""

import argparse
import base64
import functools
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


class DecryptError(Exception):
    """A field that is not for this key, or not what it claims to be (names the field only)."""


def _decrypt(key, field, b64, valid):
    """The field's plaintext. OAEP's success is authoritative; a PKCS#1 v1.5 result that is not a
    valid value is taken as the wrong key (implicit rejection hands back random bytes)."""
    block = base64.b64decode(b64, validate=True)
    if len(block) != key.key_size // 8:
        raise DecryptError(f"{field} is not a ciphertext for this key")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    try:
        text = key.decrypt(block, oaep).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        pass
    else:
        if not valid(text):
            raise DecryptError(f"{field} does not hold a valid value")
        return text
    try:
        text = key.decrypt(block, padding.PKCS1v15()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        text = None
    if text is None or not valid(text):
        raise DecryptError(f"{field} does not decrypt with this key")
    return text


def _valid_name(name):
    return 0 < len(name) <= 64 and bool(name.strip()) and name.isprintable()


def _valid_phone(phone):
    return 5 <= len(phone) <= 20 and all(c.isdigit() or c in "+- " for c in phone)


def _valid_id(credential_type, value):
    if credential_type != 1:
        return 0 < len(value) <= 64 and value.isprintable() and " " not in value
    if len(value) != 18 or not value[:17].isdigit():
        return False
    return CHECK[sum(int(d) * w for d, w in zip(value[:17], WEIGHTS)) % 11] == value[17]


@functools.lru_cache(maxsize=8)
def _load_key(private_key_pem):
    # Loading checks the key's consistency, which costs far more than a decryption.
    return serialization.load_pem_private_key(private_key_pem, password=None)


def decrypt_answer(answer, private_key_pem, serial=None):
    """The answer's ids and its decrypted fields; DecryptError for anything not for this key."""
    if serial is not None and answer.get("sub_serial_no", "").upper().lstrip("0") != serial.upper().lstrip("0"):
        raise DecryptError("the answer is encrypted to another certificate (sub_serial_no)")
    key = _load_key(private_key_pem)
    out = {k: answer[k] for k in ("openid", "sub_openid", "union_id", "credential_type") if k in answer}
    if "encrypted_real_name" in answer:
        out["real_name"] = _decrypt(key, "real_name", answer["encrypted_real_name"], _valid_name)
    if "encrypted_credential_id" in answer:
        kind = answer.get("credential_type")
        out["credential_id"] = _decrypt(
            key, "credential_id", answer["encrypted_credential_id"], lambda v: _valid_id(kind, v)
        )
    if "encrypted_phone_number" in answer:
        out["phone_number"] = _decrypt(key, "phone_number", answer["encrypted_phone_number"], _valid_phone)
    return out


def main(argv):
    p = argparse.ArgumentParser(description="Decrypt a partner-mode real-name answer.")
    p.add_argument("--key", required=True, help="the sub-merchant's API private key (PEM)")
    p.add_argument("--serial", help="its certificate's serial, to check sub_serial_no")
    p.add_argument("answer", nargs="?", help="the answer JSON (default: stdin)")
    args = p.parse_args(argv[1:])
    text = open(args.answer, encoding="utf-8").read() if args.answer else sys.stdin.read()
    try:
        out = decrypt_answer(json.loads(text), open(args.key, "rb").read(), args.serial)
    except DecryptError as e:
        print(f"refused: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
