//! Secrets inside URLs, hidden for showing: the password of `user:password@`, and the values of
//! query parameters whose names say they are secret (`token`, `key`, `secret`, `password`,
//! `sig`, `signature`, `access_token`, `api_key`…). The rest of the URL is left as written (a
//! gateway's URL may be a template, `…?to={{to}}`).

use std::borrow::Cow;

const REDACTED: &str = "[redacted]";

/// Parameter names (and endings of names, after `_` or `-`) that hold secrets.
const SECRET_NAMES: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "pass",
    "sig",
    "signature",
    "auth",
    "credential",
    "credentials",
    "apikey",
    "passkey",
    "accesstoken",
];

/// `text` with the secrets of a URL in it redacted; text that is no URL comes back as it is.
pub fn url(text: &str) -> Cow<'_, str> {
    let Some(scheme_end) = text.find("://") else {
        return Cow::Borrowed(text);
    };
    let rest_start = scheme_end + 3;
    let (before_fragment, fragment) = match text[rest_start..].find('#') {
        Some(i) => text.split_at(rest_start + i),
        None => (text, ""),
    };
    let authority_end = before_fragment[rest_start..]
        .find(['/', '?'])
        .map_or(before_fragment.len(), |i| rest_start + i);
    let mut shown = String::with_capacity(text.len());
    shown.push_str(&text[..rest_start]);
    let authority = &text[rest_start..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    shown.push_str(user);
                    shown.push(':');
                    shown.push_str(REDACTED);
                }
                None => shown.push_str(userinfo),
            }
            shown.push('@');
            shown.push_str(host);
        }
        None => shown.push_str(authority),
    }
    let path_and_query = &before_fragment[authority_end..];
    match path_and_query.split_once('?') {
        Some((path, query)) => {
            shown.push_str(path);
            shown.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if is_secret(name) => format!("{name}={REDACTED}"),
                    _ => pair.to_owned(),
                })
                .collect();
            shown.push_str(&pairs.join("&"));
        }
        None => shown.push_str(path_and_query),
    }
    shown.push_str(fragment);
    if shown == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(shown)
    }
}

fn is_secret(name: &str) -> bool {
    let name: String = url::form_urlencoded::parse(format!("{name}=").as_bytes())
        .next()
        .map(|(n, _)| n.to_ascii_lowercase())
        .unwrap_or_default();
    SECRET_NAMES.iter().any(|secret| {
        name == *secret
            || name
                .strip_suffix(secret)
                .is_some_and(|head| head.ends_with(['_', '-', '.']))
            || (secret.len() >= 5 && name.ends_with(secret))
    })
}

/// Serialises a URL (for `surveyd config show`) with its secrets redacted.
pub fn serialize<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&url(&value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_secret_parameters_are_hidden() {
        for (written, shown) in [
            (
                "postgres://surveyd:s3cret@db.internal:5432/surveyd?sslmode=require",
                "postgres://surveyd:[redacted]@db.internal:5432/surveyd?sslmode=require",
            ),
            (
                "https://hooks.example/x?token=abc&team=billing&sig=def#top",
                "https://hooks.example/x?token=[redacted]&team=billing&sig=[redacted]#top",
            ),
            (
                "https://api.example/send?to={{to}}&api_key=k&Access_Token=t&userkey=u",
                "https://api.example/send?to={{to}}&api_key=[redacted]&Access_Token=[redacted]&userkey=u",
            ),
            (
                "https://u:p@h.example?password=x&passkey=y&monkey=z",
                "https://u:[redacted]@h.example?password=[redacted]&passkey=[redacted]&monkey=z",
            ),
            ("https://user@h.example/p", "https://user@h.example/p"),
            ("sqlite://data/surveyd.db", "sqlite://data/surveyd.db"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(url(written), shown, "{written}");
        }
    }
}
