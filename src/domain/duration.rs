//! Durations as people write them in settings (`2h`, `7d`, `365d`, `1m 30s`): read by
//! humantime, and written back in days, hours, minutes, seconds and milliseconds — never in
//! months or years, whose lengths vary (`365d` stays `365d`).
//!
//! Use it as `#[serde(with = "crate::domain::duration")]` on a `Duration` or an
//! `Option<Duration>`.

use std::time::Duration;

/// `duration` in the largest units that add up to it exactly: `365d`, `21d 2h`, `1m 30s`,
/// `250ms`, `0s`.
pub fn format(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".into();
    }
    let mut secs = duration.as_secs();
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    let millis = duration.subsec_millis();
    if millis > 0 {
        parts.push(format!("{millis}ms"));
    }
    if parts.is_empty() {
        parts.push(format!("{}ns", duration.subsec_nanos()));
    }
    parts.join(" ")
}

/// What can be written as a duration: a `Duration` or an `Option<Duration>`.
pub trait Written {
    fn written(&self) -> Option<String>;
}

impl Written for Duration {
    fn written(&self) -> Option<String> {
        Some(format(*self))
    }
}

impl Written for Option<Duration> {
    fn written(&self) -> Option<String> {
        self.map(format)
    }
}

pub fn serialize<T: Written, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    match value.written() {
        Some(text) => s.serialize_str(&text),
        None => s.serialize_none(),
    }
}

pub fn deserialize<'de, T: Read, D: serde::Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    T::read(d)
}

/// `text` as a duration; the error says how to write one.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration ({e}); write it like 30s, 5m, 2h or 7d"))
}

/// What can be read from a duration's text: a `Duration` or an `Option<Duration>`.
pub trait Read: Sized {
    fn read<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

impl Read for Duration {
    fn read<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Text)
    }
}

impl Read for Option<Duration> {
    fn read<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(Maybe)
    }
}

struct Text;

impl serde::de::Visitor<'_> for Text {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration such as \"30s\", \"5m\", \"2h\" or \"7d\"")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }
}

struct Maybe;

impl<'de> serde::de::Visitor<'de> for Maybe {
    type Value = Option<Duration>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        Text.expecting(f)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Duration::read(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_people_write_them() {
        for (text, written) in [
            ("365d", "365d"),
            ("7d", "7d"),
            ("2h", "2h"),
            ("90s", "1m 30s"),
            ("21days 2h", "21d 2h"),
            ("250ms", "250ms"),
            ("0s", "0s"),
        ] {
            let duration = humantime::parse_duration(text).unwrap();
            assert_eq!(format(duration), written, "{text}");
            assert_eq!(humantime::parse_duration(written).unwrap(), duration);
        }
    }
}
