//! Webhooks: what providers call back with (replies and delivery statuses). Every request is
//! verified against the provider's signature before anything of it is stored.

pub mod signature;
