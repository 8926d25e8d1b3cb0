//! Sessions: finding the caller from the Bearer token or the cookie, sliding cookie
//! sessions, making and ending sessions.

use super::auth_cache::{AuthCache, Authenticated};
use super::handler::{to_json, Answer, Answered, Caller, Handler, Request};
use super::ports::{Abort, Tx};
use super::records::{keys, Account, Read, Session, SessionKind, Write};
use super::{Core, Ports};
use crate::crypto;
use specs::lifetimes::{API_TOKEN_MS, SESSION_MS, SESSION_REFRESH_BELOW_MS};
use specs::procedures::{Get, Logout, VerifyToken};
use specs::wire::AuthView;
use specs::{ApiError, NoInput};
use std::sync::Arc;

/// The credentials a request carried, as the transport read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The text after `Bearer ` in `Authorization` (scheme word case-sensitive).
    pub bearer: Option<String>,
    /// The value of the `auth_session` cookie.
    pub cookie: Option<String>,
}

/// What a call does to the session cookie; the HTTP layer renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieChange {
    /// Send this session id (new or extended).
    Set(String),
    /// Tell the browser to forget its session.
    Blank,
}

/// What is stored under a session's digest.
enum Stored {
    Found(Arc<Authenticated>),
    /// The session, but its account is gone.
    Orphaned,
    Missing,
}

/// Finding the caller, and making, sliding and ending sessions.
pub(crate) struct Sessions {
    ports: Ports,
    cache: AuthCache,
}

impl Sessions {
    pub(crate) fn new(ports: Ports) -> Sessions {
        Sessions {
            ports,
            cache: AuthCache::default(),
        }
    }

    fn now(&self) -> i64 {
        self.ports.now()
    }

    /// The caller, Bearer token first, then cookie, and what to do to the cookie:
    /// send it again when a cookie session was extended, blank it when it names
    /// no live session.
    pub(crate) fn authenticate(
        &self,
        credentials: &Credentials,
    ) -> Result<(Option<Caller>, Option<CookieChange>), ApiError> {
        if let Some(token) = &credentials.bearer {
            if let Some((found, digest)) = self.live_session(token)? {
                return Ok((Some(self.caller(found, digest, false)), None));
            }
        }
        let Some(id) = &credentials.cookie else {
            return Ok((None, None));
        };
        match self.live_session(id)? {
            Some((found, digest)) => {
                // Most requests come nowhere near the refresh point: no write for them.
                let session = &found.session;
                let due = session.kind == SessionKind::Cookie
                    && session.expires_at - self.now() <= SESSION_REFRESH_BELOW_MS;
                let extended = due && self.slide(&digest)?;
                let change = extended.then(|| CookieChange::Set(id.clone()));
                Ok((Some(self.caller(found, digest, true)), change))
            }
            None => Ok((None, Some(CookieChange::Blank))),
        }
    }

    fn caller(
        &self,
        found: Arc<Authenticated>,
        session_digest: String,
        via_cookie: bool,
    ) -> Caller {
        Caller {
            found,
            session_digest,
            via_cookie,
        }
    }

    /// The live session named by `id` with its account, and the session's digest.
    /// Expired or orphaned sessions are removed on sight.
    pub(crate) fn live_session(
        &self,
        id: &str,
    ) -> Result<Option<(Arc<Authenticated>, String)>, ApiError> {
        let digest = crypto::digest(id);
        let found = match self.stored_session(&digest)? {
            Stored::Found(found) => Some(found),
            Stored::Orphaned => None,
            Stored::Missing => return Ok(None),
        };
        let live = found.filter(|found| {
            let (session, account) = (&found.session, &found.account);
            session.expires_at > self.now()
                && (session.kind == SessionKind::ApiToken || session.epoch >= account.session_epoch)
        });
        if live.is_none() {
            self.ports
                .transaction(|tx| Ok(tx.remove(&keys::session(&digest))?))?;
        }
        Ok(live.map(|found| (found, digest)))
    }

    /// The session stored under `digest` with its account, from the cache while
    /// nothing was written, else from the store.
    fn stored_session(&self, digest: &str) -> Result<Stored, ApiError> {
        let store = self.ports.store();
        // Read before the records: a write in between makes the entry unusable.
        let version = store.version();
        if let Some(found) = self.cache.get(digest, version) {
            return Ok(Stored::Found(found));
        }
        let Some(session) = store.record::<Session>(&keys::session(digest))? else {
            return Ok(Stored::Missing);
        };
        let Some(account) = store.account(&session.account_id)? else {
            return Ok(Stored::Orphaned);
        };
        let found = Authenticated::new(session, account);
        self.cache.put(digest.to_string(), version, found.clone());
        Ok(Stored::Found(found))
    }

    /// Extends a cookie session with half its life or less left; true if it did.
    fn slide(&self, digest: &str) -> Result<bool, ApiError> {
        let now = self.now();
        self.ports.transaction(|tx| {
            let key = keys::session(digest);
            let Some(mut session) = tx.record::<Session>(&key)? else {
                return Ok(false);
            };
            if session.kind != SessionKind::Cookie
                || session.expires_at - now > SESSION_REFRESH_BELOW_MS
            {
                return Ok(false);
            }
            session.expires_at = now + SESSION_MS;
            tx.put_session(digest, &session)?;
            Ok(true)
        })
    }

    /// A new session id and its record, not yet stored.
    pub(crate) fn new_session(
        &self,
        account: &Account,
        kind: SessionKind,
    ) -> (String, String, Session) {
        let id = crypto::new_session_id(self.ports.random());
        let digest = crypto::digest(&id);
        let lifetime = match kind {
            SessionKind::Cookie => SESSION_MS,
            SessionKind::ApiToken => API_TOKEN_MS,
        };
        let session = Session {
            account_id: account.id.clone(),
            kind,
            expires_at: self.now() + lifetime,
            epoch: account.session_epoch,
        };
        (id, digest, session)
    }

    /// Moves a session to the account's new epoch, so it outlives a password change.
    pub(crate) fn restamp_session(
        &self,
        tx: &dyn Tx,
        digest: &str,
        epoch: u64,
    ) -> Result<(), Abort> {
        if let Some(mut session) = tx.record::<Session>(&keys::session(digest))? {
            session.epoch = epoch;
            tx.put_session(digest, &session)?;
        }
        Ok(())
    }

    /// Makes and stores a cookie session for `account`; the change to send.
    pub(crate) fn start_cookie_session(&self, account: &Account) -> Result<CookieChange, ApiError> {
        let (id, digest, session) = self.new_session(account, SessionKind::Cookie);
        self.ports
            .transaction(|tx| Ok(tx.put_session(&digest, &session)?))?;
        Ok(CookieChange::Set(id))
    }

    /// Ends the session named by the request's cookie, if it is live; whether it was.
    fn end_cookie_session(&self, credentials: &Credentials) -> Result<bool, ApiError> {
        let Some(id) = &credentials.cookie else {
            return Ok(false);
        };
        match self.live_session(id)? {
            Some((_, digest)) => {
                self.ports
                    .transaction(|tx| Ok(tx.remove(&keys::session(&digest))?))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl Handler for Get {
    async fn handle(
        core: &Core,
        caller: &Caller,
        _: NoInput,
        _: &Request<'_>,
    ) -> Answered<AuthView> {
        // Rendered once per cached session: the frontend asks on every page.
        let own = &caller.found.own_view;
        let json = own.get_or_init(|| to_json(&core.accounts.view_own(caller.account())));
        Ok(Answer::text(json.clone()))
    }
}

impl Handler for VerifyToken {
    async fn handle(_: &Core, _: &Caller, _: NoInput, _: &Request<'_>) -> Answered<bool> {
        Ok(Answer::json(&true))
    }
}

impl Handler for Logout {
    async fn handle(core: &Core, _: &Caller, _: NoInput, request: &Request<'_>) -> Answered<bool> {
        if request.credentials.cookie.is_none() {
            return Ok(Answer::json(&false));
        }
        let ended = core.sessions.end_cookie_session(request.credentials)?;
        Ok(Answer::json(&ended).with_cookie(CookieChange::Blank))
    }
}
