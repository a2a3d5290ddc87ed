//! WeChat in memory (`WeChat`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{
    GetInfoEvidence, IdCardNumber, LoginCode, OpenId, OutSeqNo, PersonName, UserIdKey, VerifyId,
    VerifyResultToken,
};
use crate::error::WeChatError;
use crate::ports::WeChat;
use crate::upstream::Upstream;

use super::{Upstreams, lock};

/// How the fake WeChat answers getinfo for one verify_result.
#[derive(Debug, Clone)]
pub enum GetInfo {
    Evidence(GetInfoEvidence),
    Errcode(i64),
    Unavailable,
}

/// WeChat in memory: login codes map to openids, sessions it issued are
/// remembered, answers are scripted, every call is counted.
#[derive(Debug, Default)]
pub struct FakeWeChat {
    codes: Mutex<HashMap<String, OpenId>>,
    getinfo: Mutex<HashMap<String, GetInfo>>,
    verify_ret: Mutex<HashMap<String, i64>>,
    next_id: Mutex<u32>,
    upstreams: Upstreams,
}

impl FakeWeChat {
    /// A one-time login code for `openid`.
    pub fn code_for(&self, openid: &str) -> LoginCode {
        let mut n = lock(&self.next_id);
        *n += 1;
        let code = format!("code-{}", *n);
        let openid = OpenId::from_wechat(openid).unwrap_or_else(|| panic!("bad openid {openid}"));
        lock(&self.codes).insert(code.clone(), openid);
        LoginCode::parse(&code).unwrap_or_else(|_| panic!("bad code {code}"))
    }
    pub fn script_getinfo(&self, verify_result: &str, answer: GetInfo) {
        lock(&self.getinfo).insert(verify_result.to_owned(), answer);
    }
    pub fn script_verify_ret(&self, verify_id: &VerifyId, verify_ret: i64) {
        lock(&self.verify_ret).insert(verify_id.as_str().to_owned(), verify_ret);
    }
    /// The next `times` calls of `op` fail as unavailable.
    pub fn fail(&self, op: Upstream, times: u32) {
        self.upstreams.fail(op, times);
    }
    pub fn calls(&self, op: Upstream) -> u32 {
        self.upstreams.calls(op)
    }

    /// A call that issues a fresh handle (valid an hour).
    fn issue<T>(
        &self,
        op: Upstream,
        prefix: &str,
        from_wechat: fn(&str) -> Option<T>,
    ) -> Result<(T, i64), WeChatError> {
        self.called(op)?;
        let handle = from_wechat(&self.mint(prefix))
            .ok_or_else(|| WeChatError::Malformed(format!("{op}: a malformed handle")))?;
        Ok((handle, 3600))
    }

    fn called(&self, op: Upstream) -> Result<(), WeChatError> {
        if self.upstreams.call(op) {
            return Err(WeChatError::Unavailable(format!("injected fault in {op}")));
        }
        Ok(())
    }
    pub(super) fn mint(&self, prefix: &str) -> String {
        let mut n = lock(&self.next_id);
        *n += 1;
        format!("{prefix}{:08x}", *n)
    }
}

#[async_trait]
impl WeChat for FakeWeChat {
    async fn login(&self, code: &LoginCode) -> Result<OpenId, WeChatError> {
        self.called(Upstream::Jscode2session)?;
        lock(&self.codes)
            .remove(code.expose())
            .ok_or(WeChatError::Api {
                errcode: 40029,
                errmsg: "invalid code".into(),
            })
    }

    async fn get_verify_id(
        &self,
        _out_seq_no: &OutSeqNo,
        _name: &PersonName,
        _id: &IdCardNumber,
        _openid: &OpenId,
    ) -> Result<(VerifyId, i64), WeChatError> {
        self.issue(Upstream::Getverifyid, "vid-", VerifyId::from_wechat)
    }

    async fn query_verify_info(
        &self,
        verify_id: &VerifyId,
        _out_seq_no: &OutSeqNo,
        _cert_hash: &str,
        _openid: &OpenId,
    ) -> Result<i64, WeChatError> {
        self.called(Upstream::Queryverifyinfo)?;
        Ok(lock(&self.verify_ret)
            .get(verify_id.as_str())
            .copied()
            .unwrap_or(10300))
    }

    async fn get_user_id_key(
        &self,
        _name: &PersonName,
        _id: &IdCardNumber,
        _out_seq_no: &OutSeqNo,
    ) -> Result<(UserIdKey, i64), WeChatError> {
        self.issue(Upstream::Getuseridkey, "uik-", UserIdKey::from_wechat)
    }

    async fn get_info(
        &self,
        verify_result: &VerifyResultToken,
    ) -> Result<GetInfoEvidence, WeChatError> {
        self.called(Upstream::Getinfo)?;
        match lock(&self.getinfo).get(verify_result.expose()).cloned() {
            Some(GetInfo::Evidence(e)) => Ok(e),
            Some(GetInfo::Errcode(errcode)) => Err(WeChatError::Api {
                errcode,
                errmsg: "scripted".into(),
            }),
            Some(GetInfo::Unavailable) => Err(WeChatError::Unavailable("scripted".into())),
            None => Err(WeChatError::Api {
                errcode: 84001,
                errmsg: "invalid identify id".into(),
            }),
        }
    }
}
