//! [`SandboxClient`]: the [`Provider`] that talks to the sandbox acquirer over HTTP, wherever it
//! runs (mounted under this server's `/sandbox`, or a `purse sandbox-provider` process).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;

use super::{Intent, NewIntent, Provider, ProviderError, SignatureError};
use crate::config::SandboxConfig;

/// Longest wait for one call to the sandbox.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// This server's own base URL (`http://127.0.0.1:8080`), known once it listens.
pub type SelfUrl = Arc<OnceLock<String>>;

/// Talks to the sandbox acquirer. Cheap to clone.
#[derive(Clone)]
pub struct SandboxClient {
    config: Arc<SandboxConfig>,
    self_url: SelfUrl,
}

impl SandboxClient {
    pub fn new(config: SandboxConfig, self_url: SelfUrl) -> SandboxClient {
        SandboxClient {
            config: Arc::new(config),
            self_url,
        }
    }

    /// The sandbox API base, such as `http://127.0.0.1:8080/sandbox`.
    pub fn base(&self) -> Result<String, ProviderError> {
        match &self.config.provider_url {
            Some(url) => Ok(url.trim_end_matches('/').to_owned()),
            None => self
                .self_url
                .get()
                .map(|base| format!("{base}/sandbox"))
                .ok_or_else(|| {
                    ProviderError::Unreachable("the server is not listening yet".into())
                }),
        }
    }

    fn client(&self) -> awc::Client {
        awc::Client::builder().timeout(CALL_TIMEOUT).finish()
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.config.api_key)
    }

    async fn read_json<T: serde::de::DeserializeOwned>(
        response: Result<
            awc::ClientResponse<
                impl futures_util::Stream<
                    Item = Result<actix_web::web::Bytes, awc::error::PayloadError>,
                > + Unpin,
            >,
            awc::error::SendRequestError,
        >,
    ) -> Result<T, ProviderError> {
        let mut response = response.map_err(|err| ProviderError::Unreachable(err.to_string()))?;
        let body = response
            .body()
            .limit(1024 * 1024)
            .await
            .map_err(|err| ProviderError::Unreachable(err.to_string()))?;
        if !response.status().is_success() {
            return Err(ProviderError::Refused {
                status: response.status().as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(500).collect(),
            });
        }
        serde_json::from_slice(&body).map_err(|err| ProviderError::Malformed(err.to_string()))
    }
}

impl Provider for SandboxClient {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn create_intent(&self, intent: &NewIntent) -> Result<Intent, ProviderError> {
        let url = format!("{}/v1/intents", self.base()?);
        let response = self
            .client()
            .post(url)
            .insert_header(("authorization", self.bearer()))
            .send_json(intent)
            .await;
        Self::read_json(response).await
    }

    async fn fetch_intent(&self, id: &str) -> Result<Intent, ProviderError> {
        let url = format!("{}/v1/intents/{id}", self.base()?);
        let response = self
            .client()
            .get(url)
            .insert_header(("authorization", self.bearer()))
            .send()
            .await;
        Self::read_json(response).await
    }

    fn verify_webhook(
        &self,
        header: Option<&str>,
        body: &[u8],
        now_s: i64,
    ) -> Result<(), SignatureError> {
        super::verify(
            &self.config.webhook_secrets,
            header,
            body,
            now_s,
            self.config.webhook_tolerance_s,
        )
    }

    async fn fetch_settlement_report(&self, date: &str, out: &Path) -> Result<(), ProviderError> {
        let url = format!("{}/v1/settlement-reports/{date}", self.base()?);
        let mut response = self
            .client()
            .get(url)
            .timeout(Duration::from_secs(300))
            .insert_header(("authorization", self.bearer()))
            .send()
            .await
            .map_err(|err| ProviderError::Unreachable(err.to_string()))?;
        if !response.status().is_success() {
            return Err(ProviderError::Refused {
                status: response.status().as_u16(),
                body: String::new(),
            });
        }
        // Streamed to the file chunk by chunk: a report may be large.
        use std::io::Write;
        let io = |err: std::io::Error| ProviderError::Unreachable(err.to_string());
        let mut file = std::io::BufWriter::new(std::fs::File::create(out).map_err(io)?);
        while let Some(chunk) = response.next().await {
            let chunk = chunk.map_err(|err| ProviderError::Unreachable(err.to_string()))?;
            file.write_all(&chunk).map_err(io)?;
        }
        file.flush().map_err(io)?;
        Ok(())
    }
}
