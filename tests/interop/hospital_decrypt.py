"""examples/hospital/decrypt_real_name.py against many ciphertexts: the right key always opens a
field, the wrong key is always refused as "does not decrypt with this key", for both paddings.

A wrong key under PKCS#1 v1.5 gets random bytes back from OpenSSL >= 3.2 (implicit rejection),
which now and then pass for a short name; one run of the partner test is not enough to see it.

    python tests/interop/hospital_decrypt.py [ROUNDS]
"""

import base64
import pathlib
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples/hospital"))
import decrypt_real_name as helper  # noqa: E402

KEYS = ROOT / "tests/testdata/wechatpay-keys"
NAME, ID = "张三", "11010519491231002X"


def main(rounds):
    a = (KEYS / "sub_merchant_private_key.pem").read_bytes()
    b = (KEYS / "sub_merchant_b_private_key.pem").read_bytes()
    pub = serialization.load_pem_private_key(a, None).public_key()
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    bad = 0
    for i in range(rounds):
        pad = padding.PKCS1v15() if i % 2 else oaep
        seal = lambda v: base64.b64encode(pub.encrypt(v.encode(), pad)).decode()  # noqa: E731
        answer = {"credential_type": 1, "encrypted_real_name": seal(NAME), "encrypted_credential_id": seal(ID)}
        opened = helper.decrypt_answer(answer, a)
        if (opened["real_name"], opened["credential_id"]) != (NAME, ID):
            bad += 1
            print("round", i, "the right key did not open the fields", file=sys.stderr)
        try:
            helper.decrypt_answer(answer, b)
            bad += 1
            print("round", i, "the wrong key was not refused", file=sys.stderr)
        except helper.DecryptError as e:
            if "does not decrypt with this key" not in str(e):
                bad += 1
                print("round", i, "refused unclearly:", e, file=sys.stderr)
    print(f"hospital helper: {rounds} rounds, {bad} wrong")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
