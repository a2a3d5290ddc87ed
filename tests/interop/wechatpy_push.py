#!/usr/bin/env python3
"""Message-push crypto through wechatpy, a third-party implementation that
the Rust code (backend and simulator) is checked against.

  encrypt --token T --aes-key K --appid A --timestamp TS --nonce N
          --format json|xml --msg-file F [--random R]
      prints {"encrypt", "msg_signature", "timestamp", "nonce"} as JSON.
      --random: the 16-byte random prefix (16 ASCII characters) instead of
      wechatpy's own, to reproduce a known ciphertext.
  decrypt --token T --aes-key K --appid A --timestamp TS --nonce N
          --msg-signature S --encrypt E
      prints the decrypted message; exit 1 with the reason on stderr when
      wechatpy rejects it (bad signature, another appid, bad ciphertext).

Uses wechatpy.crypto.WeChatCrypto(token, encoding_aes_key, appid):
encrypt_message() renders the XML reply envelope
(<Encrypt>, <MsgSignature>, <TimeStamp>, <Nonce>), from which the values are
taken; decrypt_message() is given the Encrypt value as a dict, the same for
JSON and XML bodies. The format only selects how --msg-file is checked.
Exit 2 on usage errors (argparse) or an unreadable/invalid --msg-file.
"""

import argparse
import json
import sys
import xml.etree.ElementTree as ET

try:
    import xmltodict
    from wechatpy.crypto import PrpCrypto, WeChatCrypto
    from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
except ImportError as e:  # pragma: no cover - environment problem
    sys.stderr.write(f"wechatpy_push: {e} (install: bash scripts/venv.sh)\n")
    sys.exit(3)


def fixed_random_crypto(random):
    """A PrpCrypto whose 16-byte random prefix is `random`."""

    class FixedRandomPrpCrypto(PrpCrypto):
        def get_random_string(self):
            return random

    return FixedRandomPrpCrypto


def cmd_encrypt(args):
    try:
        with open(args.msg_file, "rb") as f:
            raw = f.read()
        msg = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        sys.stderr.write(f"wechatpy_push: --msg-file {args.msg_file}: {e}\n")
        return 2
    try:
        if args.format == "json":
            json.loads(msg)
        else:
            ET.fromstring(msg)
    except (ValueError, ET.ParseError) as e:
        sys.stderr.write(f"wechatpy_push: --msg-file is not {args.format}: {e}\n")
        return 2

    crypto = WeChatCrypto(args.token, args.aes_key, args.appid)
    if args.random is None:
        out = crypto.encrypt_message(msg, args.nonce, args.timestamp)
    else:
        if len(args.random.encode("utf-8")) != 16:
            sys.stderr.write("wechatpy_push: --random must be 16 bytes\n")
            return 2
        # Same code path as encrypt_message, with a fixed PrpCrypto.
        out = crypto._encrypt_message(
            msg, args.nonce, args.timestamp, fixed_random_crypto(args.random)
        )
    envelope = xmltodict.parse(out)["xml"]
    print(
        json.dumps(
            {
                "encrypt": envelope["Encrypt"],
                "msg_signature": envelope["MsgSignature"],
                "timestamp": envelope["TimeStamp"],
                "nonce": envelope["Nonce"],
            }
        )
    )
    return 0


def cmd_decrypt(args):
    try:
        crypto = WeChatCrypto(args.token, args.aes_key, args.appid)
    except Exception as e:  # wechatpy asserts on a bad key length
        sys.stderr.write(f"wechatpy_push: bad EncodingAESKey: {e!r}\n")
        return 1
    try:
        msg = crypto.decrypt_message(
            {"Encrypt": args.encrypt}, args.msg_signature, args.timestamp, args.nonce
        )
    except InvalidSignatureException:
        sys.stderr.write("wechatpy_push: rejected: invalid msg_signature\n")
        return 1
    except InvalidAppIdException:
        sys.stderr.write("wechatpy_push: rejected: appid mismatch\n")
        return 1
    except Exception as e:  # bad base64, bad length, bad padding, bad UTF-8
        sys.stderr.write(f"wechatpy_push: rejected: {type(e).__name__}: {e}\n")
        return 1
    # Raw UTF-8 and no trailing newline, whatever the locale: callers
    # compare bytes.
    sys.stdout.buffer.write(msg.encode("utf-8"))
    sys.stdout.flush()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="wechatpy_push.py",
        description="WeChat message-push crypto via wechatpy (interop checks).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--token", required=True)
        p.add_argument("--aes-key", required=True, help="EncodingAESKey (43 chars)")
        p.add_argument("--appid", required=True)
        p.add_argument("--timestamp", required=True)
        p.add_argument("--nonce", required=True)

    enc = sub.add_parser("encrypt", help="encrypt and sign a message")
    common(enc)
    enc.add_argument("--format", required=True, choices=["json", "xml"])
    enc.add_argument("--msg-file", required=True)
    enc.add_argument("--random", help="fixed 16-byte random prefix")
    enc.set_defaults(func=cmd_encrypt)

    dec = sub.add_parser("decrypt", help="check msg_signature and decrypt")
    common(dec)
    dec.add_argument("--msg-signature", required=True)
    dec.add_argument("--encrypt", required=True)
    dec.set_defaults(func=cmd_decrypt)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
