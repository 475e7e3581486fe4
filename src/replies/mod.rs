//! Replies that arrive as messages (SMS, WhatsApp, a gateway): what the customer said, and what
//! surveyd does with it.

pub mod parse;
