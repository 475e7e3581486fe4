//! OAuth 2.0 access tokens for gateways that want one (RFC 6749: the password grant, §4.3,
//! and the client-credentials grant, §4.4): fetched on first use and shared by all of the
//! gateway's senders, fetched again a minute before the token expires or once the gateway
//! refuses it.

use super::{BodyFormat, GatewayAuth, OauthGrant};
use super::{HttpApi, SendError};
use crate::domain::Secret;
use std::time::{Duration, Instant};

/// How long before its stated expiry a token is replaced.
const MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct TokenSource {
    provider: String,
    client: reqwest::Client,
    token_url: String,
    body_format: BodyFormat,
    /// The token request's fields, credentials among them.
    fields: Vec<(&'static str, Secret<String>)>,
    current: tokio::sync::Mutex<Option<Token>>,
}

#[derive(Debug)]
struct Token {
    value: Secret<String>,
    /// When it is to be replaced; `None`: when the gateway refuses it.
    until: Option<Instant>,
}

impl TokenSource {
    /// The token source for `auth` when it is OAuth (`None` otherwise); `place` names the
    /// settings in errors.
    pub fn new(
        place: &str,
        provider: &str,
        auth: &GatewayAuth,
        client: reqwest::Client,
    ) -> anyhow::Result<Option<Self>> {
        let GatewayAuth::Oauth {
            token_url,
            grant,
            client_id,
            client_secret,
            username,
            password,
            scope,
            body_format,
        } = auth
        else {
            return Ok(None);
        };
        let plain = |v: &str| Secret::new(v.to_owned());
        let mut fields = match grant {
            OauthGrant::Password => {
                let (Some(username), Some(password)) = (username, password) else {
                    anyhow::bail!("{place}.auth: the password grant needs username and password");
                };
                vec![
                    ("grant_type", plain("password")),
                    ("username", plain(username)),
                    ("password", password.clone()),
                ]
            }
            OauthGrant::ClientCredentials => vec![("grant_type", plain("client_credentials"))],
        };
        fields.push(("client_id", plain(client_id)));
        fields.push(("client_secret", client_secret.clone()));
        if let Some(scope) = scope {
            fields.push(("scope", plain(scope)));
        }
        Ok(Some(TokenSource {
            provider: provider.to_owned(),
            client,
            token_url: token_url.clone(),
            body_format: *body_format,
            fields,
            current: tokio::sync::Mutex::new(None),
        }))
    }

    /// A token that is still good, fetched when there is none. Senders that need one at the
    /// same moment wait for a single request.
    pub async fn token(&self) -> Result<Secret<String>, SendError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && token.until.is_none_or(|until| Instant::now() < until)
        {
            return Ok(token.value.clone());
        }
        let token = self.fetch().await?;
        let value = token.value.clone();
        *current = Some(token);
        Ok(value)
    }

    /// Drops `refused` (the gateway would not take it) so the next send fetches another; a
    /// token fetched meanwhile is kept.
    pub async fn refused(&self, refused: &Secret<String>) {
        let mut current = self.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|t| t.value.expose() == refused.expose())
        {
            *current = None;
        }
    }

    async fn fetch(&self) -> Result<Token, SendError> {
        let provider = format!("{} token request", self.provider);
        let fields: Vec<(&str, &str)> = self
            .fields
            .iter()
            .map(|(k, v)| (*k, v.expose().as_str()))
            .collect();
        let request = self.client.post(&self.token_url);
        let request = match self.body_format {
            BodyFormat::Form => request.form(&fields),
            BodyFormat::Json => request.json(
                &fields
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>(),
            ),
        };
        let answer = HttpApi::fetch(&provider, request).await?;
        let body = answer.json();
        let token = body.get("access_token").and_then(|v| v.as_str());
        match token {
            Some(token) if answer.status.is_success() => Ok(Token {
                value: Secret::new(token.to_owned()),
                until: body
                    .get("expires_in")
                    .and_then(serde_json::Value::as_u64)
                    .map(|s| Instant::now() + Duration::from_secs(s).saturating_sub(MARGIN)),
            }),
            _ => {
                // RFC 6749 §5.2: `error` and `error_description`; never the body's token.
                let said = ["error_description", "error", "message"]
                    .iter()
                    .find_map(|k| body.get(*k).and_then(|v| v.as_str()))
                    .unwrap_or("no access_token in the answer");
                Err(answer.by_status(answer.reason(&provider, None, said)))
            }
        }
    }
}
