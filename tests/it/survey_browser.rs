//! A customer in a real browser (headless Chromium through chromedriver) opens the rating
//! link of a received email, finds the rating preselected, answers the rest with the
//! keyboard and mouse, submits, and the answers are in the store.

use crate::support;
use crate::support::browser::Driver;
use crate::support::{SmtpServer, SurveyLoop, TestDb};
use fantoccini::Locator;
use mail_parser::MessageParser;
use std::time::Duration;
use surveyd::auth::survey_token_digest;
use surveyd::domain::{ContactRecord, Locale};

async fn a_customer_answers_in_a_browser(db: &TestDb) {
    let smtp = SmtpServer::start();
    let run = SurveyLoop::start(db, smtp.port).await;
    let closed = run.clock.now() - chrono::Duration::hours(3);
    let contact = ContactRecord {
        customer_name: Some("Maria Tan".into()),
        locale: Some(Locale::parse("en").unwrap()),
        ..support::closed_contact("T-1", "C-1", Some("maria@example.com"), closed)
    };
    db.store.upsert_contacts(&[contact], closed).await.unwrap();
    run.plan(db, false).await;
    assert_eq!(run.dispatch(db).await.sent, 1);
    let received = smtp.wait_for(1, Duration::from_secs(10));
    let message = MessageParser::default()
        .parse(received[0].as_bytes())
        .unwrap();
    let html = message.body_html(0).unwrap();
    // The "4" button of the email's HTML part, as the customer clicks it.
    let link = html
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&#x3D;", "="))
        .find(|href| href.ends_with("?r=4"))
        .expect("a rating link for 4");
    let token = link
        .rsplit("/s/")
        .next()
        .unwrap()
        .trim_end_matches("?r=4")
        .to_owned();

    let driver = Driver::start();
    let browser = driver.browser().await;
    let answered = async {
        browser.goto(&link).await?;
        let four = browser
            .find(Locator::Css("input[name=csat][value='4']"))
            .await?;
        assert_eq!(four.prop("checked").await?.as_deref(), Some("true"));
        // The rating is changed to 5 with the keyboard (arrow keys move within a radio group).
        four.send_keys("\u{E014}").await?; // ArrowRight
        let five = browser
            .find(Locator::Css("input[name=csat][value='5']"))
            .await?;
        assert_eq!(five.prop("checked").await?.as_deref(), Some("true"));
        browser
            .find(Locator::XPath("//label[normalize-space()='Yes']"))
            .await?
            .click()
            .await?;
        browser
            .find(Locator::Css("textarea[name=comment]"))
            .await?
            .send_keys("Quick & friendly")
            .await?;
        browser
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        // The thanks page's heading (waiting for any h1 could find the form's, about to go).
        browser
            .wait()
            .for_element(Locator::XPath("//h1[normalize-space()='Thank you!']"))
            .await?
            .text()
            .await
    }
    .await;
    let _ = browser.close().await;
    assert_eq!(answered.expect("the browser session"), "Thank you!");

    let invitation = db
        .store
        .invitation_by_token(&survey_token_digest(&token))
        .await
        .unwrap()
        .unwrap();
    let mut answers = db.store.answers(invitation.id).await.unwrap();
    answers.sort_by(|a, b| a.question.cmp(&b.question));
    let got: Vec<(&str, Option<i16>, Option<&str>)> = answers
        .iter()
        .map(|a| (a.question.as_str(), a.number, a.text.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("comment", None, Some("Quick & friendly")),
            ("csat", Some(5), None),
            ("resolved", Some(1), None),
        ]
    );
    run.app.stop().await;
}

on_both_backends!(a_customer_answers_in_a_browser);
