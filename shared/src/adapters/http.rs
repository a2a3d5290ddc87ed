//! What the WeChat and WeChat Pay clients share: one way to build an HTTP
//! client, to read an answer (bounded) and to name a transport failure.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;

/// Neither WeChat nor WeChat Pay answers anything near this; a larger body
/// is refused without being read to its end.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Per-attempt `timeout`, a shorter connect timeout, and no redirects: a
/// signed request goes where it was signed for, or nowhere.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .redirect(Policy::none())
        .build()
}

/// A failure as logs and errors name it; never the URL (it carries tokens).
pub fn transport_error(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    }
}

/// One answer, read in full.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    TooLarge,
    /// The connection failed or timed out while the body was read.
    Transport(&'static str),
}

/// Reads the whole body, refusing one over [`MAX_ANSWER_BYTES`].
pub async fn read_answer(mut resp: reqwest::Response) -> Result<Answer, ReadError> {
    let status = resp.status().as_u16();
    let headers = std::mem::take(resp.headers_mut());
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(ReadError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(ReadError::Transport(transport_error(&e))),
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}
