//! Reading what a customer typed (or tapped) in a chat or SMS reply: an answer to the question
//! asked — digits (`5`, `5/5`, `4 bintang`), words in Indonesian and English (`lima`,
//! `sangat puas`, `ya`, `belum`, `no`), star and face emoji, button and list ids — or an opt-out
//! or opt-in keyword.

use crate::questionnaire::{Answer, Question, QuestionKind};

/// A message that is a keyword, not an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop sending survey messages on this channel.
    OptOut,
    /// Sending may resume.
    OptIn,
}

/// The opt-out keywords: the carriers' and Twilio's, and those Indonesian services use.
const OPT_OUT: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "end",
    "quit",
    "revoke",
    "optout",
    "opt out",
    "cancel",
    "berhenti",
    "stop survei",
    "stop survey",
    "unreg",
    "batal",
    "berhenti langganan",
    "jangan kirim lagi",
];
const OPT_IN: &[&str] = &["start", "unstop", "mulai", "mulai lagi"];

/// The keyword a whole message is, if it is one: the message alone, in any case, with
/// surrounding spaces and punctuation ignored ("Stop!" is one, "please don't stop" is not).
pub fn keyword(text: &str) -> Option<Keyword> {
    let words = words(text).join(" ");
    if OPT_OUT.contains(&words.as_str()) {
        Some(Keyword::OptOut)
    } else if OPT_IN.contains(&words.as_str()) {
        Some(Keyword::OptIn)
    } else {
        None
    }
}

/// Words said for a point of a 1–5 satisfaction scale, longest first so that
/// "sangat tidak puas" is not read as "puas".
const SATISFACTION: &[(&str, i16)] = &[
    ("sangat tidak memuaskan", 1),
    ("sangat tidak puas", 1),
    ("very dissatisfied", 1),
    ("very unsatisfied", 1),
    ("sangat buruk", 1),
    ("very bad", 1),
    ("tidak memuaskan", 2),
    ("kurang memuaskan", 2),
    ("tidak baik", 2),
    ("kurang baik", 2),
    ("tidak bagus", 2),
    ("kurang bagus", 2),
    ("not good", 2),
    ("not bad", 3),
    ("kurang puas", 2),
    ("tidak puas", 2),
    ("dissatisfied", 2),
    ("unsatisfied", 2),
    ("not satisfied", 2),
    ("buruk", 2),
    ("bad", 2),
    ("biasa saja", 3),
    ("biasa", 3),
    ("cukup", 3),
    ("neutral", 3),
    ("okay", 3),
    ("ok", 3),
    ("sangat memuaskan", 5),
    ("puas banget", 5),
    ("puas sekali", 5),
    ("sangat puas", 5),
    ("very satisfied", 5),
    ("sangat baik", 5),
    ("excellent", 5),
    ("memuaskan", 4),
    ("puas", 4),
    ("satisfied", 4),
    ("baik", 4),
    ("bagus", 4),
    ("good", 4),
];

/// Number words, Indonesian and English.
const NUMBERS: &[(&str, i16)] = &[
    ("nol", 0),
    ("zero", 0),
    ("satu", 1),
    ("one", 1),
    ("dua", 2),
    ("two", 2),
    ("tiga", 3),
    ("three", 3),
    ("empat", 4),
    ("four", 4),
    ("lima", 5),
    ("five", 5),
    ("enam", 6),
    ("six", 6),
    ("tujuh", 7),
    ("seven", 7),
    ("delapan", 8),
    ("eight", 8),
    ("sembilan", 9),
    ("nine", 9),
    ("sepuluh", 10),
    ("ten", 10),
];

const YES: &[&str] = &[
    "ya", "iya", "iyaa", "y", "yes", "yep", "yup", "sudah", "udah", "sdh", "selesai", "beres",
    "betul", "benar", "resolved", "solved", "done", "ok",
];
const NO: &[&str] = &[
    "tidak",
    "tdk",
    "gak",
    "ga",
    "nggak",
    "ngga",
    "enggak",
    "engga",
    "belum",
    "blm",
    "bukan",
    "no",
    "n",
    "nope",
    "not",
    "unresolved",
];

/// Said instead of an answer to an optional question.
const NOTHING: &[&str] = &[
    "-",
    "skip",
    "lewati",
    "tidak ada",
    "ga ada",
    "gak ada",
    "nggak ada",
    "none",
    "nothing",
    "no",
    "tidak",
    "cukup",
];

/// Faces for a 1–5 satisfaction scale.
const FACES: &[(char, i16)] = &[
    ('😡', 1),
    ('😠', 1),
    ('😭', 1),
    ('🤬', 1),
    ('😞', 2),
    ('🙁', 2),
    ('☹', 2),
    ('😕', 2),
    ('😢', 2),
    ('😐', 3),
    ('😶', 3),
    ('😑', 3),
    ('🙂', 4),
    ('😊', 4),
    ('😀', 4),
    ('😃', 4),
    ('😄', 4),
    ('😁', 5),
    ('😍', 5),
    ('🤩', 5),
    ('🥰', 5),
];

/// Reads the answer to `question` from a reply: its text, or the id of the button or list row
/// the customer chose (`{question id}_{value}`, in any case: `csat_5`, `RESOLVED_1`).
/// `Ok(None)` is "no answer" to an optional question; `Err` says why the reply is not one.
pub fn answer(question: &Question, reply: &str) -> Result<Option<Answer>, String> {
    let reply = reply.trim();
    if let Some(value) = button_value(question, reply) {
        return question.parse_answer(value);
    }
    if question.optional {
        let said = words(reply).join(" ");
        if NOTHING.contains(&said.as_str()) && !matches!(question.kind, QuestionKind::YesNo) {
            return Ok(None);
        }
    }
    match &question.kind {
        QuestionKind::Rating { .. } | QuestionKind::Nps | QuestionKind::Effort => {
            let (min, max) = question.scale().unwrap_or_default();
            let n = number(reply, (min, max) == (1, 5)).ok_or_else(|| {
                format!("`{}` is not a number from {min} to {max}", shorten(reply))
            })?;
            if (min..=max).contains(&n) {
                Ok(Some(Answer::Number(n)))
            } else {
                Err(format!("{n} is not from {min} to {max}"))
            }
        }
        QuestionKind::YesNo => yes_no(reply)
            .map(|yes| Some(Answer::Number(i16::from(yes))))
            .ok_or_else(|| format!("`{}` is not yes or no", shorten(reply))),
        QuestionKind::Choice { options } => {
            let said = words(reply).join(" ");
            let by_number = said
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| options.get(i));
            by_number
                .or_else(|| {
                    options.iter().find(|o| {
                        o.value.eq_ignore_ascii_case(&said)
                            || o.text.all().any(|text| words(text).join(" ") == said)
                    })
                })
                .map(|o| Some(Answer::Text(o.value.clone())))
                .ok_or_else(|| format!("`{}` is not one of the options", shorten(reply)))
        }
        QuestionKind::Text { .. } => question.parse_answer(reply),
    }
}

/// The value part of a button or list id made for `question`.
fn button_value<'a>(question: &Question, reply: &'a str) -> Option<&'a str> {
    let n = question.id.len();
    let value = reply.get(n..)?.strip_prefix('_')?;
    reply
        .get(..n)?
        .eq_ignore_ascii_case(&question.id)
        .then_some(value)
}

/// The number a reply gives: the one number in it (`5`, ` 3. `, `4 bintang`, `nilai 4`), the
/// first of `a/b` (`4/5`), a number word, stars counted (`⭐⭐⭐⭐`), or — on a 1–5
/// satisfaction scale — a word or face for a point of it.
fn number(reply: &str, satisfaction: bool) -> Option<i16> {
    let digits = digit_runs(reply);
    match digits.as_slice() {
        [n] => return n.parse().ok(),
        // "4/5": four out of five.
        [n, _] if reply.contains('/') => return n.parse().ok(),
        [] => {}
        _ => return None,
    }
    let stars = reply
        .chars()
        .filter(|c| matches!(c, '⭐' | '★' | '🌟'))
        .count();
    if stars > 0 {
        return i16::try_from(stars).ok();
    }
    let said = format!(" {} ", words(reply).join(" "));
    if satisfaction {
        // The longest phrase wins; the table is ordered so that each phrase comes before any
        // shorter phrase inside it.
        if let Some((_, n)) = SATISFACTION
            .iter()
            .find(|(phrase, _)| said.contains(&format!(" {phrase} ")))
        {
            return Some(*n);
        }
    }
    let mut named = NUMBERS
        .iter()
        .filter(|(word, _)| said.contains(&format!(" {word} ")));
    if let (Some((_, n)), None) = (named.next(), named.next()) {
        return Some(*n);
    }
    if satisfaction {
        let mut faces = reply
            .chars()
            .filter_map(|c| FACES.iter().find(|(f, _)| *f == c).map(|(_, n)| *n));
        if let Some(first) = faces.next() {
            return faces.all(|n| n == first).then_some(first);
        }
    }
    None
}

/// Yes or no: the first word of the reply that says one or the other ("belum selesai" is no,
/// "ya sudah" is yes), or a thumb.
fn yes_no(reply: &str) -> Option<bool> {
    for word in words(reply) {
        if YES.contains(&word.as_str()) || word == "1" {
            return Some(true);
        }
        if NO.contains(&word.as_str()) || word == "0" {
            return Some(false);
        }
    }
    if reply.contains('👍') {
        Some(true)
    } else if reply.contains('👎') {
        Some(false)
    } else {
        None
    }
}

/// The runs of ASCII digits in `text`, at most a handful (a reply is short; more is not a number).
fn digit_runs(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|run| !run.is_empty())
        .take(4)
        .collect()
}

/// Lowercase words of letters and digits, and lone dashes (a "-" meaning nothing to add).
fn words(text: &str) -> Vec<String> {
    let trimmed = text.trim();
    if trimmed == "-" {
        return vec!["-".into()];
    }
    trimmed
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A reply quoted in a message: at most 40 characters.
fn shorten(reply: &str) -> String {
    match reply.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &reply[..at]),
        None => reply.to_owned(),
    }
}
