//! A generic HTTP gateway (Fonnte, Zenziva, Wablas…), driven by its configuration: one
//! request per message with the configured method, URL, credentials and body (form or JSON,
//! each value a handlebars template over `to`, `text`, `kind` (`invite`, `reminder`,
//! `question`…) and `delivery_id`; in JSON, a field
//! named as a JSON pointer such as `/language/code` is placed at that path), the number
//! written as the gateway wants it, and success read from the JSON answer — many gateways
//! answer 200 to a refusal.

use super::oauth::TokenSource;
use super::{BodyFormat, GatewayAuth, GatewaySend, PhoneFormat};
use super::{ChatOutbound, HttpApi, SendError};
use crate::domain::ChatMode;
use anyhow::Context;
use handlebars::Handlebars;
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Gateway {
    name: String,
    api: HttpApi,
    method: reqwest::Method,
    settings: GatewaySend,
    templates: Arc<Handlebars<'static>>,
    /// With OAuth: the access tokens.
    tokens: Option<Arc<TokenSource>>,
    /// A conversation, or the link for a gateway that cannot receive.
    mode: ChatMode,
}

const URL: &str = "url";

impl Gateway {
    /// The gateway's name in `[gateways]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks gateway `name`'s settings and compiles its templates.
    pub fn new(name: &str, settings: &GatewaySend, mode: ChatMode) -> anyhow::Result<Self> {
        let place = format!("gateways.{name}.send");
        let mut templates = Handlebars::new();
        templates.set_strict_mode(true);
        templates.register_escape_fn(handlebars::no_escape);
        templates
            .register_template_string(URL, &settings.url)
            .with_context(|| format!("{place}.url"))?;
        for (field, template) in &settings.body {
            templates
                .register_template_string(&body_key(field), template)
                .with_context(|| format!("{place}.body.{field}"))?;
        }
        let method = reqwest::Method::from_bytes(settings.method.to_ascii_uppercase().as_bytes())
            .with_context(|| format!("{place}.method: `{}`", settings.method))?;
        if settings.body_format == BodyFormat::Json {
            json_body(settings.body.keys().map(|k| (k.clone(), String::new())))
                .map_err(|e| anyhow::anyhow!("{place}.body: {e}"))?;
        }
        let api = HttpApi::new(
            &place,
            settings.timeout,
            settings.max_connections,
            settings.rate_per_second,
        )?;
        let tokens = TokenSource::new(
            &place,
            &format!("gateway {name}"),
            &settings.auth,
            api.client.clone(),
        )?;
        Ok(Gateway {
            name: name.to_owned(),
            api,
            method,
            settings: settings.clone(),
            templates: Arc::new(templates),
            tokens: tokens.map(Arc::new),
            mode,
        })
    }

    /// How it carries a survey.
    pub fn mode(&self) -> ChatMode {
        self.mode
    }

    /// The HTTP client, connection cap and rate limit it sends with.
    pub fn api(&self) -> &HttpApi {
        &self.api
    }

    /// Sends one message; returns the gateway's id for it.
    pub async fn send(&self, message: &ChatOutbound) -> Result<String, SendError> {
        let permanent =
            |reason: String| SendError::Permanent(format!("gateway {}: {reason}", self.name));
        let data = json!({
            "to": phone(&message.to, self.settings.phone_format).map_err(permanent)?,
            "text": message.text,
            "kind": message.kind,
            "delivery_id": message.delivery_id,
        });
        let render = |key: &str| {
            self.templates
                .render(key, &data)
                .map_err(|e| permanent(e.to_string()))
        };
        let url = render(URL)?;
        let mut fields: Vec<(String, String)> = Vec::with_capacity(self.settings.body.len() + 2);
        for field in self.settings.body.keys() {
            fields.push((field.clone(), render(&body_key(field))?));
        }
        let mut request = self.api.client.request(self.method.clone(), &url);
        let token = match &self.tokens {
            Some(tokens) => Some(tokens.token().await?),
            None => None,
        };
        match &self.settings.auth {
            GatewayAuth::Header { name, value } => {
                request = request.header(name.as_str(), value.expose().as_str())
            }
            GatewayAuth::Bearer { token } => request = request.bearer_auth(token.expose()),
            GatewayAuth::Basic { username, password } => {
                request = request.basic_auth(username, Some(password.expose()))
            }
            GatewayAuth::Body { fields: secret } => {
                fields.extend(secret.iter().map(|(k, v)| (k.clone(), v.expose().clone())));
            }
            GatewayAuth::Query { name, value } => {
                request = request.query(&[(name.as_str(), value.expose().as_str())])
            }
            GatewayAuth::Oauth { .. } => {
                let token = token.as_ref().map(|t| t.expose().as_str());
                request = request.bearer_auth(token.unwrap_or_default());
            }
            // Signed below, once the body is final.
            GatewayAuth::Hmac { .. } => {}
        }
        request = match self.settings.body_format {
            BodyFormat::Form => request.form(&fields),
            BodyFormat::Json => request.json(&json_body(fields).map_err(permanent)?),
        };
        if let GatewayAuth::Hmac {
            username,
            secret,
            headers,
        } = &self.settings.auth
        {
            let (client, built) = request.build_split();
            let mut built = built.map_err(|e| permanent(format!("the request: {e}")))?;
            sign(
                &mut built,
                username,
                secret.expose(),
                headers,
                chrono::Utc::now(),
            )
            .map_err(permanent)?;
            request = reqwest::RequestBuilder::from_parts(client, built);
        }
        let answer = HttpApi::fetch(&format!("gateway {}", self.name), request).await?;
        if let (Some(tokens), Some(token)) = (&self.tokens, &token)
            && answer.status == reqwest::StatusCode::UNAUTHORIZED
        {
            tokens.refused(token).await;
            return Err(SendError::Transient(answer.reason(
                &format!("gateway {}", self.name),
                None,
                "the access token was refused; a new one is fetched for the next attempt",
            )));
        }
        let body = answer.json();
        let succeeded = answer.status.is_success()
            && body.pointer(&self.settings.success.pointer) == Some(&self.settings.success.value);
        if !succeeded {
            // The configured reason field, else the start of the answer.
            let said = self
                .settings
                .error
                .as_deref()
                .and_then(|p| body.pointer(p))
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_else(|| answer.body.chars().take(200).collect());
            let reason = answer.reason(&format!("gateway {}", self.name), None, &said);
            let lower = said.to_lowercase();
            if self
                .settings
                .retry_on
                .iter()
                .any(|words| lower.contains(&words.to_lowercase()))
            {
                return Err(SendError::Transient(reason));
            }
            // A 2xx that fails the success rule is a refusal; other statuses sort as usual.
            return Err(answer.by_status(reason));
        }
        match body.pointer(&self.settings.message_id) {
            Some(Value::String(id)) => Ok(id.clone()),
            Some(Value::Number(id)) => Ok(id.to_string()),
            _ => Err(SendError::Transient(format!(
                "gateway {}: accepted, but no message id at `{}`",
                self.name, self.settings.message_id
            ))),
        }
    }
}

/// Signs `request` as the HTTP Signatures scheme of [`GatewayAuth::Hmac`] says, at `now`:
/// adds `Date` (and `Digest` when `headers` names it) and `Authorization`.
fn sign(
    request: &mut reqwest::Request,
    username: &str,
    secret: &str,
    headers: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    use base64::Engine;
    use hmac::Mac;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .unwrap_or_default();
    let digest = format!("SHA-256={}", b64(&sha2::Sha256::digest(body)));
    let url = request.url();
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut lines = Vec::with_capacity(headers.len());
    for header in headers {
        let line = match header.to_ascii_lowercase().as_str() {
            "request-line" => format!("{} {target} HTTP/1.1", request.method()),
            "date" => format!("date: {date}"),
            "digest" => format!("digest: {digest}"),
            other => {
                return Err(format!(
                    "cannot sign the header `{other}` (date, request-line or digest)"
                ));
            }
        };
        lines.push(line);
    }
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(lines.join("\n").as_bytes());
    let signature = b64(&mac.finalize().into_bytes());
    let authorization = format!(
        "hmac username=\"{username}\", algorithm=\"hmac-sha256\", headers=\"{}\", signature=\"{signature}\"",
        headers.join(" ").to_ascii_lowercase()
    );
    let value = |text: &str| {
        reqwest::header::HeaderValue::from_str(text).map_err(|e| format!("a header: {e}"))
    };
    let map = request.headers_mut();
    map.insert(reqwest::header::DATE, value(&date)?);
    if headers.iter().any(|h| h.eq_ignore_ascii_case("digest")) {
        map.insert("digest", value(&digest)?);
    }
    let mut authorization = value(&authorization)?;
    authorization.set_sensitive(true);
    map.insert(reqwest::header::AUTHORIZATION, authorization);
    Ok(())
}

/// A JSON body from its fields: a field named as a JSON pointer (`/parameters/body/0/value`)
/// is placed at that path, a numeric step making an array; any other name is a top-level key.
fn json_body(fields: impl IntoIterator<Item = (String, String)>) -> Result<Value, String> {
    let mut root = Value::Object(Default::default());
    for (name, value) in fields {
        let Some(path) = name.strip_prefix('/') else {
            root[name.as_str()] = Value::String(value);
            continue;
        };
        let mut here = &mut root;
        for step in path.split('/') {
            let step = step.replace("~1", "/").replace("~0", "~");
            if here.is_null() {
                *here = match step.parse::<usize>() {
                    Ok(_) => Value::Array(Vec::new()),
                    Err(_) => Value::Object(Default::default()),
                };
            }
            here = match (here, step.parse::<usize>()) {
                (Value::Array(items), Ok(i)) => {
                    if items.len() <= i {
                        items.resize(i + 1, Value::Null);
                    }
                    &mut items[i]
                }
                (Value::Object(map), _) => map.entry(step).or_insert(Value::Null),
                _ => {
                    return Err(format!(
                        "`{name}` passes through a value that is not an object or array"
                    ));
                }
            };
        }
        if !here.is_null() {
            return Err(format!("`{name}` is given twice"));
        }
        *here = Value::String(value);
    }
    Ok(root)
}

fn body_key(field: &str) -> String {
    format!("body.{field}")
}

/// An E.164 number as the gateway wants it written.
fn phone(e164: &str, format: PhoneFormat) -> Result<String, String> {
    match format {
        PhoneFormat::E164 => Ok(e164.to_owned()),
        PhoneFormat::International => Ok(e164.trim_start_matches('+').to_owned()),
        PhoneFormat::National => {
            let number =
                phonenumber::parse(None, e164).map_err(|e| format!("number `{e164}`: {e}"))?;
            let national = number.national();
            Ok(format!(
                "0{}{}",
                "0".repeat(usize::from(national.zeros())),
                national.value()
            ))
        }
    }
}

#[cfg(test)]
mod tests {

    /// Mekari's HMAC scheme, the signature as Python's `hmac` computes it over the same
    /// string (`date: …` and the request line, joined by a newline; Mekari's "HMAC
    /// authentication" page).
    #[test]
    fn a_request_is_signed_as_mekari_checks_it() {
        let client = reqwest::Client::new();
        let mut request = client
            .post("https://api.mekari.com/qontak/chat/v1/broadcasts/whatsapp/direct")
            .body("{}")
            .build()
            .unwrap();
        let now = "2021-08-24T02:18:19Z".parse().unwrap();
        let headers = ["date".to_owned(), "request-line".to_owned()];
        sign(&mut request, "client-id", "Sa8IGIh_secret", &headers, now).unwrap();
        assert_eq!(request.headers()["date"], "Tue, 24 Aug 2021 02:18:19 GMT");
        assert_eq!(
            request.headers()["authorization"],
            "hmac username=\"client-id\", algorithm=\"hmac-sha256\", headers=\"date request-line\", \
             signature=\"rhJCVwaKGgojXogeBGs+bf6z+oPNUJ+HKjTxfrD85DE=\""
        );
    }

    use super::*;

    #[test]
    fn json_fields_named_as_pointers_nest() {
        let body = json_body(
            [
                ("to_number", "62812"),
                ("/language/code", "id"),
                ("/parameters/body/0/key", "1"),
                ("/parameters/body/0/value_text", "Ayu"),
                ("/a~1b", "slash"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .unwrap();
        assert_eq!(
            body,
            json!({
                "to_number": "62812",
                "language": {"code": "id"},
                "parameters": {"body": [{"key": "1", "value_text": "Ayu"}]},
                "a/b": "slash",
            })
        );
        let clash =
            json_body([("/a", "x"), ("/a/b", "y")].map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert_eq!(
            clash.unwrap_err(),
            "`/a/b` passes through a value that is not an object or array"
        );
    }

    #[test]
    fn numbers_are_written_as_the_gateway_wants() {
        let n = "+6281234567890";
        assert_eq!(phone(n, PhoneFormat::E164).unwrap(), "+6281234567890");
        assert_eq!(
            phone(n, PhoneFormat::International).unwrap(),
            "6281234567890"
        );
        assert_eq!(phone(n, PhoneFormat::National).unwrap(), "081234567890");
    }
}
