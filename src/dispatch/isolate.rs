//! Each send runs isolated: a panic inside rendering or a channel becomes an error for that
//! one delivery (recorded with the reason), not the end of the worker that was sending it.

use futures_util::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// Runs `work` to its end; a panic inside it comes back as `Err("panicked: {message}")`.
///
/// Whatever `work` borrowed mutably may be left half-changed by the panic: the caller drops
/// it (a sender with an SMTP connection mid-command is replaced by a fresh one).
pub async fn isolated<T>(work: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|panic| format!("panicked: {}", panic_message(panic.as_ref())))
}

/// What a panic said: its message when it is text (as `panic!` and `expect` make it).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_with_its_message() {
        let answer = isolated(async { 42 }).await;
        assert_eq!(answer, Ok(42));

        let literal = isolated(async {
            tokio::task::yield_now().await;
            panic!("writing `Mailbox` returned an error");
        })
        .await;
        assert_eq!(
            literal,
            Err::<(), _>("panicked: writing `Mailbox` returned an error".into())
        );

        let id = 7;
        let formatted = isolated(async move {
            let senders: Vec<u8> = Vec::new();
            *senders
                .first()
                .unwrap_or_else(|| panic!("delivery {id} has no sender"))
        })
        .await;
        assert_eq!(formatted, Err("panicked: delivery 7 has no sender".into()));

        let payload = isolated(async { std::panic::panic_any(3_u8) }).await;
        assert_eq!(payload, Err::<(), _>("panicked: (no message)".into()));
    }

    #[tokio::test]
    async fn what_the_panicking_work_borrowed_is_the_callers_again() {
        let mut sent = vec!["first"];
        let result = isolated(async {
            sent.push("second");
            panic!("mid-send");
        })
        .await;
        assert!(result.is_err());
        // The worker goes on: the next send works, with the state the panic left.
        let next = isolated(async {
            sent.push("third");
            sent.len()
        })
        .await;
        assert_eq!(next, Ok(3));
    }
}
