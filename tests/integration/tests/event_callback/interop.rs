//! Interop with wechatpy's `WeChatCrypto`, an independent implementation:
//! what it encrypts we accept, and what we encrypt it decrypts.

use std::path::PathBuf;
use std::process::Command;

use wxface::push::AesKey;
use wxface::push::crypto::signature;
use wxface_harness::workspace_root;

use crate::security::finished_v1;
use crate::world::World;

fn wechatpy(args: &[&str]) -> Result<String, String> {
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "run `bash scripts/venv.sh` first: {} is missing",
        python.display()
    );
    let out = Command::new(python)
        .arg(root.join("tests/interop/wechatpy_push.py"))
        .args(args)
        .output()
        .expect("python runs");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("utf-8"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// wechatpy decrypting `encrypt` for `appid`, as WeChat's sample account
/// would have signed it.
fn wechatpy_decrypt(
    aes_key: &str,
    appid: &str,
    sig: &str,
    encrypt: &str,
) -> Result<String, String> {
    let fixed = [
        "--token",
        "spamtest",
        "--timestamp",
        "1409735669",
        "--nonce",
        "1320562132",
    ];
    let mut args = vec!["decrypt", "--aes-key", aes_key, "--appid", appid];
    args.extend(fixed);
    args.extend(["--msg-signature", sig, "--encrypt", encrypt]);
    wechatpy(&args)
}

fn msg_file(content: &str) -> PathBuf {
    let dir = workspace_root().join("target/test-run");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut r = [0u8; 6];
    wxface::domain::pii::random_bytes(&mut r);
    let path = dir.join(format!("wechatpy-{}.msg", hex(&r)));
    std::fs::write(&path, content).expect("write");
    path
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn what_wechatpy_encrypts_finalizes_a_session() {
    let w = World::new().await;
    for (i, format) in ["json", "xml"].into_iter().enumerate() {
        let (issued, vr) = finished_v1(&w, "o-interop", i).await;
        let seq = issued["out_seq_no"].as_str().unwrap();
        let message = if format == "json" {
            serde_json::json!({"ToUserName": "gh_0123456789ab", "FromUserName": "o-interop", "CreateTime": 1,
                "MsgType": "event", "Event": "face_identify", "openid": "o-interop",
                "out_seq_no": seq, "verify_result": vr})
            .to_string()
        } else {
            format!(
                "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[face_identify]]></Event><openid><![CDATA[o-interop]]></openid><out_seq_no><![CDATA[{seq}]]></out_seq_no><verify_result><![CDATA[{vr}]]></verify_result></xml>"
            )
        };
        let file = msg_file(&message);
        let ts = w.clock_now().to_string();
        let out = wechatpy(&[
            "encrypt",
            "--token",
            &w.app.push_token,
            "--aes-key",
            &w.app.encoding_aes_key,
            "--appid",
            &w.app.appid,
            "--timestamp",
            &ts,
            "--nonce",
            "98765",
            "--format",
            format,
            "--msg-file",
            file.to_str().unwrap(),
        ])
        .expect("wechatpy encrypts");
        let _ = std::fs::remove_file(file);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let encrypt = v["encrypt"].as_str().unwrap();
        let sig = signature(&[&w.app.push_token, &ts, "98765"]);
        let uri = format!(
            "/?signature={sig}&timestamp={ts}&nonce=98765&encrypt_type=aes&msg_signature={}",
            v["msg_signature"].as_str().unwrap()
        );
        let body =
            serde_json::json!({"ToUserName": "gh_0123456789ab", "Encrypt": encrypt}).to_string();
        let (status, text) = w.deliver(&uri, &body).await;
        assert_eq!((status, text.as_str()), (200, "success"), "{format}");
        let r = w.verify("o-interop", &issued["out_seq_no"], None).await;
        assert_eq!(r.body["status"], "verified", "{format}: {}", r.body);
    }
}

#[test]
fn what_we_encrypt_wechatpy_decrypts() {
    let aes = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"; // trailing bits set (docs/wechat.md §5.7)
    let key = AesKey::from_encoding_aes_key(aes).unwrap();
    for message in [
        r#"{"demo_resp":"good luck"}"#,
        "<xml><a><![CDATA[中文 & more]]></a></xml>",
        &"x".repeat(1000),
    ] {
        let encrypt = key.encrypt(message, "wx2c2769f8efd9abc2");
        let sig = signature(&["spamtest", "1409735669", "1320562132", &encrypt]);
        let out = wechatpy_decrypt(aes, "wx2c2769f8efd9abc2", &sig, &encrypt);
        assert_eq!(out.as_deref(), Ok(message));
        // And wechatpy refuses it for another appid, as we would.
        let other = wechatpy_decrypt(aes, "wx0000000000000000", &sig, &encrypt);
        assert!(other.is_err());
    }
}
