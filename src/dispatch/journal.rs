//! One log line per delivery handled: `sent`, `retried`, `deferred`, `failed`, `expired` or
//! `cancelled` at info (a hand-back at shutdown or past the lease, `released`, at debug), and
//! an internal error (a panic in rendering or a channel) at error. Each line names the
//! delivery, invitation, campaign, channel, kind and provider as fields — never a name, an
//! address or a number: an error the provider wrote has those masked.

use crate::store::{Claimed, FinalStatus, Outcome};

/// An outcome as metrics and logs name it.
pub fn label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Sent { .. } => "sent",
        Outcome::Retry { .. } => "retried",
        Outcome::Released { until: None, .. } => "released",
        Outcome::Released { until: Some(_), .. } => "deferred",
        Outcome::Failed { status, .. } => match status {
            FinalStatus::Failed => "failed",
            FinalStatus::Expired => "expired",
            FinalStatus::Cancelled => "cancelled",
        },
    }
}

/// Logs what became of `c` (sent through `provider`) at `now`.
pub fn log(c: &Claimed, provider: &str, outcome: &Outcome, now: chrono::DateTime<chrono::Utc>) {
    macro_rules! line {
        ($level:ident, $($field:tt)*) => {
            tracing::$level!(
                delivery = c.delivery_id,
                invitation = c.invitation_id,
                campaign = %c.campaign,
                channel = %c.channel,
                kind = %c.kind,
                provider,
                attempt = c.attempts,
                outcome = label(outcome),
                $($field)*
            )
        };
    }
    match outcome {
        Outcome::Sent { message_id, .. } => line!(info, message_id = %message_id, "delivery sent"),
        Outcome::Retry { due_at, error, .. } => line!(
            info,
            retry_in = %human(*due_at - now),
            error = %masked(error),
            "delivery will be retried"
        ),
        Outcome::Released {
            until: Some(until), ..
        } => line!(
            info,
            until = %until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            wait = %human(*until - now),
            "delivery deferred"
        ),
        Outcome::Released { until: None, .. } => line!(debug, "delivery released unsent"),
        Outcome::Failed { error, .. } => line!(info, error = %masked(error), "delivery given up"),
    }
}

/// Logs a panic inside the send of `c`, at error; the delivery fails with it as its reason.
pub fn internal_error(c: &Claimed, provider: &str, panic: &str) {
    tracing::error!(
        delivery = c.delivery_id,
        invitation = c.invitation_id,
        campaign = %c.campaign,
        channel = %c.channel,
        kind = %c.kind,
        provider,
        attempt = c.attempts,
        outcome = "failed",
        error = %masked(panic),
        "delivery failed: internal error"
    );
}

/// A duration as people read it, to the second (to the millisecond under one): `4m 12s`,
/// `2h 5s`, `250ms`. Negative durations read `0s`.
pub fn human(duration: chrono::Duration) -> String {
    let d = duration.to_std().unwrap_or_default();
    let rounded = if d < std::time::Duration::from_secs(1) {
        std::time::Duration::from_millis(d.as_millis() as u64)
    } else {
        std::time::Duration::from_secs(d.as_secs() + u64::from(d.subsec_millis() >= 500))
    };
    crate::domain::duration::format(rounded)
}

/// `text` with what could be personal data masked: words holding an `@` (addresses) become
/// `[address]`, runs of seven digits or more (phone numbers) `[number]`.
pub fn masked(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`' | ','))
            .unwrap_or(rest.len());
        if word_end == 0 {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = &rest[..word_end];
        if word.contains('@') {
            out.push_str("[address]");
        } else {
            out.push_str(&mask_numbers(word));
        }
        rest = &rest[word_end..];
    }
    out
}

/// `word` with each run of seven digits or more (`+` and separators `-`, `.`, `(`, `)`
/// between digits included) as `[number]`.
fn mask_numbers(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let mut end = i + 1;
            let mut digits = usize::from(chars[i].is_ascii_digit());
            while end < chars.len()
                && (chars[end].is_ascii_digit()
                    || (matches!(chars[end], '-' | '.' | '(' | ')')
                        && chars.get(end + 1).is_some_and(char::is_ascii_digit)))
            {
                digits += usize::from(chars[end].is_ascii_digit());
                end += 1;
            }
            if digits >= 7 {
                out.push_str("[number]");
            } else {
                out.extend(&chars[i..end]);
            }
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        let d = chrono::Duration::milliseconds;
        assert_eq!(human(d(252_345)), "4m 12s");
        assert_eq!(human(d(53_800)), "54s");
        assert_eq!(human(d(7_205_000)), "2h 5s");
        assert_eq!(human(d(250)), "250ms");
        assert_eq!(human(d(0)), "0s");
        assert_eq!(human(d(-5_000)), "0s");
    }

    #[test]
    fn addresses_and_numbers_are_masked_and_the_rest_kept() {
        assert_eq!(
            masked(
                "SMTP: permanent error (550): 5.1.1 <reject.me@example.com>: Recipient address rejected"
            ),
            "SMTP: permanent error (550): 5.1.1 <[address]>: Recipient address rejected"
        );
        assert_eq!(
            masked("email address `budi@@example`: invalid"),
            "email address `[address]`: invalid"
        );
        assert_eq!(
            masked("Twilio 400 error 21211: The 'To' number +62 812-3456-7890 is not valid"),
            "Twilio 400 error 21211: The 'To' number +62 [number] is not valid"
        );
        assert_eq!(masked("to +6281234567890, later"), "to [number], later");
        assert_eq!(
            masked("gave up after 8 attempts: HTTP 503 in 30s"),
            "gave up after 8 attempts: HTTP 503 in 30s"
        );
        assert_eq!(masked("Ünïcödé ok"), "Ünïcödé ok");
    }

    #[test]
    fn labels_tell_a_deferral_from_a_hand_back() {
        let released = |until| Outcome::Released {
            delivery_id: 1,
            until,
        };
        assert_eq!(label(&released(None)), "released");
        assert_eq!(label(&released(Some(chrono::Utc::now()))), "deferred");
    }
}
