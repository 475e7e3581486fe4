//! What every provider that calls back does — verify a call and split it into events, decode
//! a stored event — behind one trait, and the configured providers by route and by name.
//!
//! Twilio, the WhatsApp Cloud API and each configured gateway implement [`WebhookProvider`]
//! in their own module; [`Providers`] finds the one a route (`/webhooks/{route}`) or a stored
//! event's provider name belongs to.

use super::gateway::Gateway;
use super::twilio::{Callback, Twilio};
use super::whatsapp::Whatsapp;
use super::{Gateways, RawEvent, Rejection};
use crate::channels::{TwilioSettings, WhatsappSettings};
use crate::replies::Inbound;
use http::HeaderMap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One call a provider made, as received.
pub struct Call<'a> {
    /// The URL it called: the public base URL, the path and the query.
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// What a provider is answered once its events are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledgement {
    /// `None`: no body at all.
    pub content_type: Option<&'static str>,
    pub body: &'static str,
}

/// A provider whose callbacks surveyd receives.
pub trait WebhookProvider: Send + Sync {
    /// The name its events are stored under: `twilio`, `whatsapp`, `gateway:{name}`.
    fn name(&self) -> &str;

    /// Checks the call's signature, then its shape, and splits it into inbox events. Nothing
    /// of a refused call is kept; a provider not configured to call back refuses every call.
    fn verify(&self, call: &Call<'_>) -> Result<Vec<RawEvent>, Rejection>;

    /// Decodes a stored event of this provider. `Ok(None)`: a well-formed event surveyd does
    /// not act on.
    fn decode(&self, kind: &str, payload: &str) -> Result<Option<Inbound>, String>;

    /// The answer once the call's events are stored.
    fn acknowledgement(&self) -> Acknowledgement;
}

/// The providers surveyd knows, as configured: Twilio's two callbacks, WhatsApp and every
/// configured gateway.
pub struct Providers {
    /// By route under `/webhooks/`: `twilio/inbound`, `twilio/status`, `whatsapp`,
    /// `gateways/{name}`.
    routes: BTreeMap<String, Arc<dyn WebhookProvider>>,
    whatsapp: Arc<Whatsapp>,
}

impl Providers {
    pub fn new(twilio: &TwilioSettings, whatsapp: &WhatsappSettings, gateways: &Gateways) -> Self {
        let whatsapp = Arc::new(Whatsapp::new(whatsapp));
        let mut routes: BTreeMap<String, Arc<dyn WebhookProvider>> = BTreeMap::new();
        for callback in [Callback::Inbound, Callback::Status] {
            let route = format!("twilio/{}", callback.route());
            routes.insert(route, Arc::new(Twilio::new(twilio, callback)));
        }
        routes.insert("whatsapp".into(), Arc::clone(&whatsapp) as _);
        for (name, settings) in gateways {
            let gateway = Gateway::new(name, settings);
            routes.insert(format!("gateways/{name}"), Arc::new(gateway));
        }
        Providers { routes, whatsapp }
    }

    /// The provider called at `/webhooks/{route}`; when there is none, the name of the one
    /// the route would be for (a gateway not configured), for the refusal's log.
    pub fn at(&self, route: &str) -> Result<&dyn WebhookProvider, String> {
        if let Some(provider) = self.routes.get(route) {
            return Ok(provider.as_ref());
        }
        Err(match route.split_once('/') {
            Some(("gateways", name)) => super::gateway::provider(name),
            Some((provider, _)) => provider.to_owned(),
            None => route.to_owned(),
        })
    }

    /// The WhatsApp Cloud API, for its subscription handshake.
    pub fn whatsapp(&self) -> &Whatsapp {
        &self.whatsapp
    }

    /// Decodes a stored event of `provider`. `Ok(None)`: a well-formed event surveyd does not
    /// act on.
    pub fn decode(
        &self,
        provider: &str,
        kind: &str,
        payload: &str,
    ) -> Result<Option<Inbound>, String> {
        match self.routes.values().find(|p| p.name() == provider) {
            Some(found) => found.decode(kind, payload),
            None => Err(match provider.strip_prefix("gateway:") {
                Some(name) => format!("gateway `{name}` is not configured any more"),
                None => format!("unknown provider `{provider}`"),
            }),
        }
    }
}
