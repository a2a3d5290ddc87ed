//! Builds pushes the way WeChat does, to forge, alter and replay them.
//! (The simulator's push client and wechatpy are the independent senders;
//! this one exists to send what they never would.)

use serde_json::json;
use wxface::push::AesKey;
use wxface::push::crypto::signature;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Compat,
    Safe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

#[derive(Debug, Clone)]
pub struct Push {
    pub token: String,
    pub aes_key: String,
    pub appid: String,
    pub mode: Mode,
    pub format: Format,
    pub timestamp: i64,
    pub nonce: String,
}

pub struct FaceIdentify<'a> {
    pub openid: &'a str,
    pub out_seq_no: &'a str,
    pub verify_result: &'a str,
}

impl Push {
    pub fn message(&self, e: &FaceIdentify<'_>) -> String {
        match self.format {
            Format::Json => json!({
                "ToUserName": "gh_0123456789ab", "FromUserName": e.openid,
                "CreateTime": self.timestamp, "MsgType": "event", "Event": "face_identify",
                "openid": e.openid, "out_seq_no": e.out_seq_no, "verify_result": e.verify_result,
            })
            .to_string(),
            Format::Xml => format!(
                "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{o}]]></FromUserName><CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[face_identify]]></Event><openid><![CDATA[{o}]]></openid><out_seq_no><![CDATA[{s}]]></out_seq_no><verify_result><![CDATA[{v}]]></verify_result></xml>",
                o = e.openid,
                t = self.timestamp,
                s = e.out_seq_no,
                v = e.verify_result
            ),
        }
    }

    /// (path and query, body) of the push carrying `message`.
    pub fn request(&self, message: &str) -> (String, String) {
        let ts = self.timestamp.to_string();
        let sig = signature(&[&self.token, &ts, &self.nonce]);
        let mut uri = format!("/?signature={sig}&timestamp={ts}&nonce={}", self.nonce);
        if self.mode == Mode::Plain {
            return (uri, message.to_owned());
        }
        let key = AesKey::from_encoding_aes_key(&self.aes_key).expect("key");
        let encrypt = key.encrypt(message, &self.appid);
        let msg_sig = signature(&[&self.token, &ts, &self.nonce, &encrypt]);
        uri.push_str(&format!(
            "&openid=o&encrypt_type=aes&msg_signature={msg_sig}"
        ));
        let body = match (self.mode, self.format) {
            (Mode::Safe, Format::Json) => {
                json!({"ToUserName": "gh_0123456789ab", "Encrypt": encrypt}).to_string()
            }
            (Mode::Safe, Format::Xml) => format!(
                "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
            ),
            (_, Format::Json) => {
                let mut v: serde_json::Value = serde_json::from_str(message).expect("json");
                v["Encrypt"] = json!(encrypt);
                v.to_string()
            }
            (_, Format::Xml) => message.replace(
                "</xml>",
                &format!("<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
            ),
        };
        (uri.replace("openid=o&", ""), body)
    }
}
