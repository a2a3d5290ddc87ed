//! WeChat Pay in memory (`WeChatPay`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::config::SubMerchant;
use crate::domain::kiosk::{
    Authinfo, AuthinfoRequest, AuthinfoToken, FaceSid, InfoType, RealName, RealNameInfo,
};
use crate::error::WeChatPayError;
use crate::ports::WeChatPay;
use crate::upstream::Upstream;

use super::{Upstreams, lock};

/// WeChat Pay in memory: scripted authinfo and real-name answers.
#[derive(Debug, Default)]
pub struct FakeWeChatPay {
    real_names: Mutex<HashMap<String, RealNameInfo>>,
    upstreams: Upstreams,
}

impl FakeWeChatPay {
    pub fn script_real_name(&self, face_sid: &str, info: RealNameInfo) {
        lock(&self.real_names).insert(face_sid.to_owned(), info);
    }
    pub fn fail(&self, op: Upstream, times: u32) {
        self.upstreams.fail(op, times);
    }
    pub fn calls(&self, op: Upstream) -> u32 {
        self.upstreams.calls(op)
    }
    fn called(&self, op: Upstream) -> Result<(), WeChatPayError> {
        if self.upstreams.call(op) {
            return Err(WeChatPayError::Unavailable(format!(
                "injected fault in {op}"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl WeChatPay for FakeWeChatPay {
    async fn get_authinfo(
        &self,
        req: &AuthinfoRequest,
        _sub: Option<&SubMerchant>,
    ) -> Result<Authinfo, WeChatPayError> {
        self.called(Upstream::GetWxpayfaceAuthinfo)?;
        let n = self.calls(crate::upstream::Upstream::GetWxpayfaceAuthinfo);
        let token = format!("AUTHINFO-{}-{n}", req.caller.device_id.as_str());
        Ok(Authinfo {
            authinfo: AuthinfoToken::from_upstream(&token)
                .ok_or_else(|| WeChatPayError::Malformed("authinfo".into()))?,
            expires_in: 7200,
        })
    }

    async fn real_name(
        &self,
        face_sid: &FaceSid,
        _info_type: InfoType,
        _sub: Option<&SubMerchant>,
    ) -> Result<RealName, WeChatPayError> {
        self.called(Upstream::FacemchUsers)?;
        lock(&self.real_names)
            .get(face_sid.expose())
            .cloned()
            .map(RealName::Decrypted)
            .ok_or_else(|| WeChatPayError::V3 {
                status: 400,
                code: "INVALID_REQUEST".into(),
                message: "face_sid无效或已过期".into(),
            })
    }
}
