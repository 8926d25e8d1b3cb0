//! Sessions: finding the caller from the Bearer token or the cookie, sliding cookie
//! sessions, making and ending sessions.

use super::auth_cache::{AuthCache, Authenticated};
use super::handler::{to_json, Admin, Answer, Answered, Caller, Handler, Request};
use super::ports::{Abort, Tx};
use super::records::{
    keys, record_async, Account, Read, Session, SessionDetails, SessionKind, Write,
};
use super::{Core, Ports};
use crate::crypto;
use crate::time::iso8601;
use specs::lifetimes::{API_TOKEN_MS, SESSION_REFRESH_BELOW_MS};
use specs::messages as msg;
use specs::procedures::{
    EndMemberSessions, EndOtherSessions, EndSession, Get, ListSessions, Logout, VerifyToken,
};
use specs::wire::{AuthView, HandleInput, RemoveUserInput, SessionKindView, SessionView};
use specs::{wire::True, ApiError, NoInput};
use std::sync::Arc;

/// The longest `User-Agent` kept with a session.
const MAX_USER_AGENT_CHARS: usize = 256;

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
    /// The session of this account id, but the account is gone.
    Orphaned(String),
    Missing,
}

/// A session made and not yet stored.
pub(crate) struct NewSession {
    /// The id the client gets (never stored).
    pub id: String,
    pub digest: String,
    pub session: Session,
    pub(crate) details: SessionDetails,
}

impl NewSession {
    pub(crate) fn store(&self, tx: &dyn Tx) -> Result<(), Abort> {
        Ok(tx.put_new_session(&self.digest, &self.session, &self.details)?)
    }
}

/// Finding the caller, and making, sliding and ending sessions.
pub(crate) struct Sessions {
    ports: Ports,
    cache: AuthCache,
    /// Live cookie sessions an account may have (`Config::max_sessions_per_account`).
    pub(crate) max_per_account: usize,
    /// Dokploy's profile: a Bearer token that names no session gives way to the
    /// cookie, and API tokens slide (differences 31 and 18).
    dokploy: bool,
}

impl Sessions {
    pub(crate) fn new(ports: Ports, config: &super::Config) -> Sessions {
        Sessions {
            ports,
            cache: AuthCache::default(),
            max_per_account: config.max_sessions_per_account.max(1),
            dokploy: config.profile.is_dokploy(),
        }
    }

    fn now(&self) -> i64 {
        self.ports.now()
    }

    /// The caller, Bearer token first, then cookie, and what to do to the cookie:
    /// send it again when a cookie session was extended, blank it when it names
    /// no live session.
    pub(crate) async fn authenticate(
        &self,
        credentials: &Credentials,
    ) -> Result<(Option<Caller>, Option<CookieChange>), ApiError> {
        if credentials.bearer.is_none() && credentials.cookie.is_none() {
            return Ok((None, None));
        }
        let version = self.ports.store().version().await?;
        if let Some(token) = &credentials.bearer {
            if let Some(found) = self.live_session(token, version).await? {
                // An API token slides in Dokploy's profile (a cookie session's id
                // sent as a token is extended only when sent as the cookie).
                if found.session.kind == SessionKind::ApiToken && self.due(&found.session) {
                    self.slide(&found.digest)?;
                }
                return Ok((Some(Caller::new(found, false)), None));
            }
            // A token that names no session is refused; Dokploy falls back to the
            // cookie (difference 31), which lets any header ride on a browser's session.
            if !self.dokploy {
                return Ok((None, None));
            }
        }
        let Some(id) = &credentials.cookie else {
            return Ok((None, None));
        };
        match self.live_session(id, version).await? {
            Some(found) => {
                // Most requests come nowhere near the refresh point: no write for them.
                let extended = self.due(&found.session) && self.slide(&found.digest)?;
                let change = extended.then(|| CookieChange::Set(id.clone()));
                Ok((Some(Caller::new(found, true)), change))
            }
            None => Ok((None, Some(CookieChange::Blank))),
        }
    }

    /// The live session named by `id` with its account (and its digest), given the
    /// store's `version` read before. Expired or orphaned sessions are removed on
    /// sight.
    pub(crate) async fn live_session(
        &self,
        id: &str,
        version: u64,
    ) -> Result<Option<Arc<Authenticated>>, ApiError> {
        // One reading of the clock for the cache and the expiry.
        let now = self.now();
        let digest = match self.cache.get(id, version, now) {
            Some(found) if self.is_live(&found.session, &found.account, now) => {
                return Ok(Some(found));
            }
            Some(dead) => dead.digest.clone(),
            None => crypto::digest(id),
        };
        // Boxed: a miss reads the store, and unboxed its future would make every
        // call's future larger, a cached one too (each move copies all of it).
        let stored = Box::pin(self.stored_session(id, &digest, version, now)).await?;
        let account_id = match stored {
            Stored::Found(found) if self.is_live(&found.session, &found.account, now) => {
                return Ok(Some(found));
            }
            Stored::Found(dead) => dead.session.account_id.clone(),
            Stored::Orphaned(account_id) => account_id,
            Stored::Missing => return Ok(None),
        };
        self.ports
            .transaction(|tx| Ok(tx.remove_session(&digest, &account_id)?))?;
        Ok(None)
    }

    /// Not expired at `now`, and (a cookie session) not ended by a password change.
    fn is_live(&self, session: &Session, account: &Account, now: i64) -> bool {
        session.expires_at > now
            && (session.kind == SessionKind::ApiToken || session.epoch >= account.session_epoch)
    }

    /// The session stored under `digest` (named by `id`) with its account, from the
    /// store; kept in the cache for the store's `version` (read before the records:
    /// a write in between makes the entry unusable).
    async fn stored_session(
        &self,
        id: &str,
        digest: &str,
        version: u64,
        now: i64,
    ) -> Result<Stored, ApiError> {
        let store = self.ports.store();
        let Some(session) = record_async::<Session>(store, &keys::session(digest)).await? else {
            return Ok(Stored::Missing);
        };
        let account_key = keys::account(&session.account_id);
        let Some(account) = record_async::<Account>(store, &account_key).await? else {
            return Ok(Stored::Orphaned(session.account_id));
        };
        let found = Authenticated::new(digest.to_string(), session, account);
        self.cache.put(id, version, found.clone(), now);
        Ok(Stored::Found(found))
    }

    /// Extends a cookie session with half its life or less left; true if it did.
    /// How close to its end a session of `kind` must come to be extended: a cookie
    /// session at half its day; an API token never, but in Dokploy's profile at half
    /// its year (lucia's rule, measured; difference 18).
    fn slides_below(&self, kind: SessionKind) -> Option<i64> {
        match kind {
            SessionKind::Cookie => Some(SESSION_REFRESH_BELOW_MS),
            SessionKind::ApiToken => self.dokploy.then_some(API_TOKEN_MS / 2),
        }
    }

    /// Whether `session` is close enough to its end to be extended now (most
    /// requests are not: no write for them).
    fn due(&self, session: &Session) -> bool {
        self.slides_below(session.kind)
            .is_some_and(|below| session.expires_at - self.now() <= below)
    }

    fn slide(&self, digest: &str) -> Result<bool, ApiError> {
        let now = self.now();
        self.ports.transaction(|tx| {
            let key = keys::session(digest);
            let Some(mut session) = tx.record::<Session>(&key)? else {
                return Ok(false);
            };
            if !self.due(&session) {
                return Ok(false);
            }
            session.expires_at = now + session.kind.lifetime();
            tx.put_session(digest, &session)?;
            let details_key = keys::session_details(digest);
            if let Some(mut details) = tx.record::<SessionDetails>(&details_key)? {
                details.refreshed_at = now;
                tx.insert(&details_key, super::records::encode(&details))?;
            }
            Ok(true)
        })
    }

    /// Forgets the cached sessions and when each was last seen.
    pub(crate) fn forget_cache(&self) {
        self.cache.clear();
    }

    /// A new session for `account`, made by `request`, not yet stored.
    pub(crate) fn new_session(
        &self,
        account: &Account,
        kind: SessionKind,
        request: &Request<'_>,
    ) -> NewSession {
        let id = crypto::new_session_id(self.ports.random());
        let digest = crypto::digest(&id);
        let now = self.now();
        let session = Session {
            account_id: account.id.clone(),
            kind,
            expires_at: now + kind.lifetime(),
            epoch: account.session_epoch,
        };
        let details = SessionDetails {
            created_at: now,
            refreshed_at: now,
            client_address: request.client.map(|a| a.to_string()),
            user_agent: request
                .user_agent
                .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        };
        NewSession {
            id,
            digest,
            session,
            details,
        }
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
    pub(crate) fn start_cookie_session(
        &self,
        account: &Account,
        request: &Request<'_>,
    ) -> Result<CookieChange, ApiError> {
        let new = self.new_session(account, SessionKind::Cookie, request);
        self.ports.transaction(|tx| new.store(tx))?;
        self.keep_within(account, self.max_per_account)?;
        Ok(CookieChange::Set(new.id))
    }

    /// Ends the session named by the request's cookie, if it is live; whether it was.
    async fn end_cookie_session(&self, credentials: &Credentials) -> Result<bool, ApiError> {
        let Some(id) = &credentials.cookie else {
            return Ok(false);
        };
        let version = self.ports.store().version().await?;
        match self.live_session(id, version).await? {
            Some(found) => {
                let account_id = &found.session.account_id;
                self.ports
                    .transaction(|tx| Ok(tx.remove_session(&found.digest, account_id)?))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Ends the oldest cookie sessions of `account` past `max` (a login makes one
    /// each time: without a bound, a script logging in makes sessions without end).
    /// API tokens are kept. How many ended.
    pub(crate) fn keep_within(&self, account: &Account, max: usize) -> Result<u64, ApiError> {
        let digests = self.digests_of(&account.id)?;
        if digests.len() <= max {
            return Ok(0);
        }
        let live = self.live_sessions_of(account)?;
        let live_digests: std::collections::HashSet<&str> =
            live.iter().map(|(digest, _, _)| digest.as_str()).collect();
        // Dead ones listed still (expired, or before a password change) go too.
        let mut ending: Vec<String> = digests
            .iter()
            .filter(|d| !live_digests.contains(d.as_str()))
            .cloned()
            .collect();
        let mut cookies: Vec<(i64, &str)> = live
            .iter()
            .filter(|(_, session, _)| session.kind == SessionKind::Cookie)
            .map(|(digest, session, details)| {
                let made = details
                    .as_ref()
                    .map_or(session.expires_at - session.kind.lifetime(), |d| {
                        d.created_at
                    });
                (made, digest.as_str())
            })
            .collect();
        cookies.sort();
        let over = cookies.len().saturating_sub(max);
        ending.extend(cookies.iter().take(over).map(|(_, d)| d.to_string()));
        self.end(&account.id, &ending)
    }

    /// Removes every expired session (a sweep on a schedule: otherwise a session is
    /// removed only when it is presented after it expired), in batches. How many.
    pub(crate) fn sweep_expired(&self) -> Result<u64, ApiError> {
        let now = self.now();
        let mut expired = Vec::new();
        for (key, value) in self.ports.store().scan_prefix(keys::SESSION_PREFIX)? {
            let session: Session = super::records::decode(&value)?;
            if session.expires_at <= now {
                expired.push((super::records::last_segment(&key), session.account_id));
            }
        }
        for batch in expired.chunks(500) {
            self.ports.transaction(|tx| {
                for (digest, account_id) in batch {
                    tx.remove_session(digest, account_id)?;
                }
                Ok(())
            })?;
        }
        Ok(expired.len() as u64)
    }

    /// Lists under their accounts the sessions stored before sessions were listed
    /// (once: a marker says it was done).
    pub(crate) fn index_existing(&self) -> Result<(), ApiError> {
        let store = self.ports.store();
        if store.get(keys::SESSIONS_LISTED)?.is_some() {
            return Ok(());
        }
        let stored = store.scan_prefix(keys::SESSION_PREFIX)?;
        self.ports.transaction(|tx| {
            for (key, value) in &stored {
                let digest = super::records::last_segment(key);
                let session: Session = super::records::decode(value)?;
                tx.insert(
                    &keys::session_of(&session.account_id, &digest),
                    digest.clone().into_bytes(),
                )?;
            }
            Ok(tx.insert(keys::SESSIONS_LISTED, b"1".to_vec())?)
        })
    }

    /// The digests of every session stored for `account_id`.
    fn digests_of(&self, account_id: &str) -> Result<Vec<String>, ApiError> {
        let pairs = self
            .ports
            .store()
            .scan_prefix(&keys::sessions_of(account_id))?;
        Ok(pairs
            .iter()
            .map(|(key, _)| super::records::last_segment(key))
            .collect())
    }

    /// The live sessions of `account`, with their digests.
    pub(crate) fn live_sessions_of(
        &self,
        account: &Account,
    ) -> Result<Vec<(String, Session, Option<SessionDetails>)>, ApiError> {
        use super::records::decode;
        let digests = self.digests_of(&account.id)?;
        // Each session and its details, all in one read.
        let wanted: Vec<Vec<u8>> = digests
            .iter()
            .flat_map(|digest| [keys::session(digest), keys::session_details(digest)])
            .collect();
        let values = self.ports.store().get_many(&wanted)?;
        let now = self.now();
        let mut live = Vec::new();
        for (digest, pair) in digests.into_iter().zip(values.chunks_exact(2)) {
            let Some(session) = pair[0].as_deref().map(decode::<Session>).transpose()? else {
                continue;
            };
            if session.account_id == account.id && self.is_live(&session, account, now) {
                let details = pair[1]
                    .as_deref()
                    .map(decode::<SessionDetails>)
                    .transpose()?;
                live.push((digest, session, details));
            }
        }
        Ok(live)
    }

    /// Ends the sessions of `account_id` named by `digests`; an ended API token is
    /// also taken off the account. How many there were.
    pub(crate) fn end(&self, account_id: &str, digests: &[String]) -> Result<u64, ApiError> {
        self.ports.transaction(|tx| {
            let mut ended = 0;
            let mut account = tx.account(account_id)?;
            for digest in digests {
                let Some(session) = tx.record::<Session>(&keys::session(digest))? else {
                    continue;
                };
                if session.account_id != account_id {
                    continue;
                }
                tx.remove_session(digest, account_id)?;
                ended += 1;
                if let Some(account) = account.as_mut() {
                    let is_token = |t: &String| crypto::digest(t) == *digest;
                    if account.api_token.as_ref().is_some_and(is_token) {
                        account.api_token = None;
                        tx.put_account(account, None)?;
                    }
                }
            }
            Ok(ended)
        })
    }

    /// Ends every session of `account_id`.
    pub(crate) fn end_all(&self, account_id: &str) -> Result<u64, ApiError> {
        let digests = self.digests_of(account_id)?;
        self.end(account_id, &digests)
    }

    /// The live sessions of `account` as their owner sees them (`current`: the
    /// digest of the caller's own session, if any). Newest first; made in the same
    /// millisecond: the current one, then cookie sessions, then by handle, so that
    /// the order is the same every time.
    pub(crate) fn views_of(
        &self,
        account: &Account,
        current: &str,
    ) -> Result<Vec<SessionView>, ApiError> {
        let mut views: Vec<SessionView> = self
            .live_sessions_of(account)?
            .into_iter()
            .map(|(digest, session, details)| self.view(&digest, &session, details, current))
            .collect();
        views.sort_by(|a, b| {
            (
                b.created_at.as_str(),
                b.current,
                a.kind == SessionKindView::ApiToken,
                &a.handle,
            )
                .cmp(&(
                    a.created_at.as_str(),
                    a.current,
                    b.kind == SessionKindView::ApiToken,
                    &b.handle,
                ))
        });
        Ok(views)
    }

    /// What the owner sees of a session.
    pub(crate) fn view(
        &self,
        digest: &str,
        session: &Session,
        details: Option<SessionDetails>,
        current: &str,
    ) -> SessionView {
        // A session made before details were kept: its start, from its lifetime.
        let made = session.expires_at - session.kind.lifetime();
        let details = details.unwrap_or(SessionDetails {
            created_at: made,
            refreshed_at: made,
            client_address: None,
            user_agent: None,
        });
        let seen = self.cache.last_seen(digest).unwrap_or(0);
        SessionView {
            handle: crypto::session_handle(digest),
            kind: match session.kind {
                SessionKind::Cookie => SessionKindView::Cookie,
                SessionKind::ApiToken => SessionKindView::ApiToken,
            },
            created_at: iso8601(details.created_at),
            last_used_at: iso8601(details.refreshed_at.max(seen)),
            expires_at: iso8601(session.expires_at),
            client_address: details.client_address,
            user_agent: details.user_agent,
            current: digest == current,
        }
    }
}

impl Handler for ListSessions {
    async fn handle(
        core: &Core,
        caller: &Caller,
        _: NoInput,
        _: &Request<'_>,
    ) -> Answered<Vec<SessionView>> {
        let views = core
            .sessions
            .views_of(caller.account(), caller.session_digest())?;
        Ok(Answer::json(&views))
    }
}

impl Handler for EndSession {
    async fn handle(
        core: &Core,
        caller: &Caller,
        input: HandleInput,
        request: &Request<'_>,
    ) -> Answered<True> {
        let sessions = &core.sessions;
        let account = caller.account();
        let named = sessions
            .digests_of(&account.id)?
            .into_iter()
            .find(|digest| {
                crypto::secrets_equal(
                    crypto::session_handle(digest).as_bytes(),
                    input.handle.as_bytes(),
                )
            });
        let not_found = || ApiError::not_found(msg::SESSION_NOT_FOUND);
        let digest = named.ok_or_else(not_found)?;
        if sessions.end(&account.id, std::slice::from_ref(&digest))? == 0 {
            return Err(not_found());
        }
        core.audit_ended(&account.id, None, 1, request);
        // Ending the session this request came with forgets the cookie too.
        let answer = Answer::json(&True);
        Ok(if digest == caller.session_digest() && caller.via_cookie {
            answer.with_cookie(CookieChange::Blank)
        } else {
            answer
        })
    }
}

impl Handler for EndOtherSessions {
    async fn handle(
        core: &Core,
        caller: &Caller,
        _: NoInput,
        request: &Request<'_>,
    ) -> Answered<u64> {
        let sessions = &core.sessions;
        let account = caller.account();
        // Every other cookie session; the API token stays (`auth.endSession` or
        // `auth.generateToken` replace it).
        let others: Vec<String> = sessions
            .live_sessions_of(account)?
            .into_iter()
            .filter(|(digest, session, _)| {
                session.kind == SessionKind::Cookie && digest != caller.session_digest()
            })
            .map(|(digest, _, _)| digest)
            .collect();
        let ended = sessions.end(&account.id, &others)?;
        core.audit_ended(&account.id, None, ended, request);
        Ok(Answer::json(&ended))
    }
}

impl Handler for EndMemberSessions {
    async fn handle(
        core: &Core,
        admin: Admin<'_>,
        input: RemoveUserInput,
        request: &Request<'_>,
    ) -> Answered<u64> {
        let (account, _) = core.invitations.member_of(&admin, &input.auth_id)?;
        let ended = core.sessions.end_all(&account.id)?;
        let by = admin.account().id.as_str();
        core.audit_ended(&account.id, Some(by), ended, request);
        Ok(Answer::json(&ended))
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
    async fn handle(_: &Core, _: &Caller, _: NoInput, _: &Request<'_>) -> Answered<True> {
        Ok(Answer::json(&True))
    }
}

impl Handler for Logout {
    async fn handle(
        core: &Core,
        caller: &Caller,
        _: NoInput,
        request: &Request<'_>,
    ) -> Answered<bool> {
        if request.credentials.cookie.is_none() {
            return Ok(Answer::json(&false));
        }
        let ended = core
            .sessions
            .end_cookie_session(request.credentials)
            .await?;
        core.audit_ended(&caller.account().id, None, u64::from(ended), request);
        Ok(Answer::json(&ended).with_cookie(CookieChange::Blank))
    }
}
