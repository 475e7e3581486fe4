//! The reply parser: answers read from what customers type in chats and SMS (digits, words in
//! Indonesian and English, emoji, button ids), opt-out keywords, and no panic on any input —
//! neither there nor in the webhook decoders.

use proptest::prelude::*;
use std::path::Path;
use surveyd::domain::Locale;
use surveyd::questionnaire::{Answer, Question, Questionnaire};
use surveyd::replies::parse::{Keyword, answer, keyword};

fn post_contact() -> Questionnaire {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/questionnaires/post-contact.toml");
    Questionnaire::load(&path, &Locale::parse("id").unwrap()).unwrap()
}

/// A questionnaire with the other kinds: NPS, effort, a choice, an optional rating.
fn others() -> Questionnaire {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/others.toml");
    Questionnaire::load(path.as_ref(), &Locale::parse("id").unwrap()).unwrap()
}

fn question<'a>(q: &'a Questionnaire, id: &str) -> &'a Question {
    q.question(id).unwrap()
}

fn number(q: &Question, reply: &str) -> Result<Option<Answer>, String> {
    answer(q, reply)
}

#[test]
fn ratings_from_digits_words_and_emoji() {
    let survey = post_contact();
    let csat = question(&survey, "csat");
    for (reply, expected) in [
        ("5", 5),
        (" 3. ", 3),
        ("5/5", 5),
        ("4/5", 4),
        ("4 bintang", 4),
        ("nilai 2", 2),
        ("5️⃣", 5),
        ("5 sangat puas 👍", 5),
        ("lima", 5),
        ("Empat", 4),
        ("five", 5),
        ("sangat puas", 5),
        ("Puas banget!", 5),
        ("puas", 4),
        ("puas, tidak ada keluhan", 4),
        ("biasa saja", 3),
        ("kurang puas", 2),
        ("tidak puas", 2),
        ("Sangat tidak puas", 1),
        ("very satisfied", 5),
        ("not satisfied", 2),
        ("not bad", 3),
        ("tidak baik", 2),
        ("⭐⭐⭐⭐", 4),
        ("★★", 2),
        ("😍", 5),
        ("🙂🙂", 4),
        ("😡", 1),
    ] {
        assert_eq!(
            number(csat, reply),
            Ok(Some(Answer::Number(expected))),
            "{reply}"
        );
    }
}

#[test]
fn unclear_or_out_of_range_ratings_are_refused_with_the_reason() {
    let survey = post_contact();
    let csat = question(&survey, "csat");
    assert_eq!(number(csat, "6"), Err("6 is not from 1 to 5".into()));
    assert_eq!(number(csat, "0"), Err("0 is not from 1 to 5".into()));
    assert_eq!(
        number(csat, "⭐⭐⭐⭐⭐⭐"),
        Err("6 is not from 1 to 5".into())
    );
    for reply in [
        "3 atau 4",
        "satu atau dua",
        "hmm",
        "😍😡",
        "",
        "99999999999999999999",
    ] {
        let error = number(csat, reply).unwrap_err();
        assert!(
            error.contains("is not") || error.contains("required"),
            "{reply}: {error}"
        );
    }
    // A long reply is quoted short.
    let long = "a".repeat(500);
    assert!(number(csat, &long).unwrap_err().len() < 100);
}

#[test]
fn yes_and_no_in_both_languages() {
    let survey = post_contact();
    let resolved = question(&survey, "resolved");
    for reply in [
        "ya",
        "Iya",
        "YES",
        "sudah",
        "ya, sudah selesai",
        "selesai 👍",
        "1",
    ] {
        assert_eq!(
            answer(resolved, reply),
            Ok(Some(Answer::Number(1))),
            "{reply}"
        );
    }
    for reply in [
        "tidak",
        "belum",
        "belum selesai",
        "No",
        "gak",
        "nope",
        "👎",
        "0",
    ] {
        assert_eq!(
            answer(resolved, reply),
            Ok(Some(Answer::Number(0))),
            "{reply}"
        );
    }
    assert!(answer(resolved, "mungkin").is_err());
}

#[test]
fn button_and_list_ids_name_the_question_and_value() {
    let survey = post_contact();
    assert_eq!(
        answer(question(&survey, "csat"), "csat_5"),
        Ok(Some(Answer::Number(5)))
    );
    assert_eq!(
        answer(question(&survey, "csat"), "CSAT_2"),
        Ok(Some(Answer::Number(2)))
    );
    assert_eq!(
        answer(question(&survey, "resolved"), "resolved_0"),
        Ok(Some(Answer::Number(0)))
    );
    assert!(answer(question(&survey, "csat"), "csat_9").is_err());
    let others = others();
    assert_eq!(
        answer(question(&others, "reason"), "reason_friendly"),
        Ok(Some(Answer::Text("friendly".into())))
    );
}

#[test]
fn other_kinds_scales_choices_and_optional_questions() {
    let survey = others();
    assert_eq!(
        answer(question(&survey, "nps"), "10/10"),
        Ok(Some(Answer::Number(10)))
    );
    assert_eq!(
        answer(question(&survey, "nps"), "sepuluh"),
        Ok(Some(Answer::Number(10)))
    );
    assert_eq!(
        answer(question(&survey, "nps"), "nol"),
        Ok(Some(Answer::Number(0)))
    );
    // Satisfaction words mean nothing on a 0–10 scale.
    assert!(answer(question(&survey, "nps"), "sangat puas").is_err());
    assert_eq!(
        answer(question(&survey, "effort"), "7"),
        Ok(Some(Answer::Number(7)))
    );
    let reason = question(&survey, "reason");
    for reply in ["2", "ramah", "Friendly agent", "FRIENDLY"] {
        assert_eq!(
            answer(reason, reply),
            Ok(Some(Answer::Text("friendly".into()))),
            "{reply}"
        );
    }
    assert!(answer(reason, "3").is_err());
    let again = question(&survey, "again");
    assert_eq!(answer(again, "lewati"), Ok(None));
    assert_eq!(answer(again, "-"), Ok(None));
    assert_eq!(answer(again, "4"), Ok(Some(Answer::Number(4))));
    let comment = question(&post_contact(), "comment").clone();
    assert_eq!(answer(&comment, "tidak ada"), Ok(None));
    assert_eq!(
        answer(&comment, " Agennya ramah sekali "),
        Ok(Some(Answer::Text("Agennya ramah sekali".into())))
    );
}

#[test]
fn keywords_are_whole_messages() {
    for reply in [
        "STOP",
        "stop",
        " Stop! ",
        "BERHENTI",
        "unsubscribe",
        "UNREG",
        "stop survei",
        "Opt out",
    ] {
        assert_eq!(keyword(reply), Some(Keyword::OptOut), "{reply}");
    }
    for reply in ["START", "mulai", "UNSTOP"] {
        assert_eq!(keyword(reply), Some(Keyword::OptIn), "{reply}");
    }
    for reply in ["please don't stop", "5", "ya", "stopwatch", ""] {
        assert_eq!(keyword(reply), None, "{reply}");
    }
}

proptest! {
    #[test]
    fn no_reply_makes_the_parser_panic(reply in any::<String>()) {
        let survey = post_contact();
        let others = others();
        for q in survey.questions.iter().chain(others.questions.iter()) {
            let _ = answer(q, &reply);
        }
        let _ = keyword(&reply);
    }

    #[test]
    fn digits_on_the_scale_are_read_back(n in 1i16..=5, before in "[ a-z]{0,6}", after in "[ a-z.!]{0,6}") {
        let survey = post_contact();
        let reply = format!("{before}{n}{after}");
        prop_assert_eq!(answer(question(&survey, "csat"), &reply), Ok(Some(Answer::Number(n))));
    }
}

proptest! {
    /// The webhook decoders read stored payloads of any shape without panicking.
    #[test]
    fn no_payload_makes_a_decoder_panic(payload in any::<String>(), json in json_value()) {
        let providers = surveyd::config::Settings::load(None).unwrap().webhook_providers();
        for kind in ["message", "status", "unknown"] {
            for provider in ["twilio", "whatsapp", "gateway:none", "other"] {
                let _ = providers.decode(provider, kind, &payload);
                let _ = providers.decode(provider, kind, &json.to_string());
            }
        }
        let _ = surveyd::webhooks::twilio::form_pairs(payload.as_bytes());
    }

    /// WhatsApp bodies of any JSON shape are split into events without panicking.
    #[test]
    fn no_body_makes_the_whatsapp_splitter_panic(json in json_value()) {
        let body = json.to_string();
        let mut headers = axum::http::HeaderMap::new();
        let signature = surveyd::webhooks::signature::meta_signature("s", body.as_bytes());
        headers.insert("x-hub-signature-256", signature.parse().unwrap());
        let events =
            surveyd::webhooks::whatsapp::accept("s", Some("1065"), &headers, body.as_bytes())
                .unwrap();
        // Nothing is stored only when every change was acknowledged as not a survey's.
        let changes: Vec<&serde_json::Value> = json["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|entry| entry["changes"].as_array().into_iter().flatten())
            .collect();
        let not_ours = |c: &&serde_json::Value| {
            c["field"] != "messages"
                || c["value"]["metadata"]["phone_number_id"]
                    .as_str()
                    .is_some_and(|id| id != "1065")
        };
        prop_assert!(!events.is_empty() || (!changes.is_empty() && changes.iter().all(not_ours)));
    }
}

/// JSON values shaped like webhook bodies: objects and arrays of the keys the decoders read.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("entry"),
        Just("changes"),
        Just("value"),
        Just("messages"),
        Just("statuses"),
        Just("field"),
        Just("from"),
        Just("id"),
        Just("type"),
        Just("text"),
        Just("body"),
        Just("interactive"),
        Just("button_reply"),
        Just("button"),
        Just("payload"),
        Just("status"),
        Just("errors"),
        Just("code"),
        Just("context"),
        Just("message"),
        Just("contacts"),
        Just("wa_id"),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("messages")),
        Just(serde_json::Value::from("interactive")),
        Just(serde_json::Value::from("failed")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key.clone().prop_map(str::to_owned), inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
