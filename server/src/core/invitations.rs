//! Invitations and members: an admin invites by email, the invited person sets a
//! password with the token, the admin lists and removes members.

use super::audit::AuditKind;
use super::handler::{Admin, Answer, Answered, Caller, Handler, Request};
use super::records::{keys, Account, Member, Read, Write};
use super::{Core, Ports};
use crate::crypto;
use crate::time::iso8601;
use serde_json::Value;
use specs::messages as msg;
use specs::procedures::{All, CreateUserInvitation, GetUserByToken, RemoveUser};
use specs::wire::{
    AuthView, EmailInput, InvitationView, MemberView, RemoveUserInput, Role, TokenInput,
};
use specs::{ApiError, NoInput, NoOutput};

/// Members of an admin's organisation, and the invitations that make them.
pub(crate) struct Invitations {
    ports: Ports,
    /// The last invitation's `seq` made here. Kept by each process rather than in
    /// the store: a counter there would be one key that every invitation writes,
    /// which on a shared database makes every two concurrent invitations conflict.
    last_seq: std::sync::atomic::AtomicU64,
}

fn member_view(core: &Core, member: &Member, account: &Account) -> MemberView {
    let accounts = &core.accounts;
    let expiration_date = match core.config().profile {
        // Dokploy's column is a timestamp without zone, sent as PostgreSQL prints it
        // (the reference's §6b).
        specs::Profile::Dokploy014 => crate::time::as_postgres_prints(member.expires_at),
        specs::Profile::Contract => iso8601(member.expires_at),
    };
    MemberView {
        user_id: member.user_id.clone(),
        token: member.token.clone(),
        is_registered: member.registered,
        expiration_date,
        created_at: iso8601(member.created_at),
        permissions: member.permissions.clone(),
        admin_id: member.admin_id.clone(),
        auth_id: member.auth_id.clone(),
        auth: AuthView {
            // Dokploy leaves only the secret out of these (difference 5).
            secret: None,
            ..accounts.view(account, false)
        },
    }
}

impl Invitations {
    /// Orders invitations made in the same millisecond (by this process).
    pub(crate) fn next_seq(&self) -> u64 {
        self.last_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    pub(crate) fn new(ports: Ports) -> Invitations {
        Invitations {
            ports,
            last_seq: Default::default(),
        }
    }

    /// The member record of `account` if it belongs to the caller's organisation.
    pub(crate) fn membership(
        &self,
        account: &Account,
        caller: &Caller,
    ) -> Result<Option<Member>, ApiError> {
        let (Some(user_id), Some(admin_id)) = (&account.member_id, &caller.account().admin_id)
        else {
            return Ok(None);
        };
        Ok(self
            .ports
            .store()
            .member(user_id)?
            .filter(|m| m.admin_id == *admin_id))
    }

    /// The account `auth_id` and its member record, if it is a member of the
    /// caller's organisation; else 404 `User not found`.
    pub(crate) fn member_of(
        &self,
        caller: &Caller,
        auth_id: &str,
    ) -> Result<(Account, Member), ApiError> {
        let not_found = || ApiError::not_found(msg::USER_NOT_MEMBER);
        let account = self.ports.store().account(auth_id)?.ok_or_else(not_found)?;
        let member = self.membership(&account, caller)?.ok_or_else(not_found)?;
        Ok((account, member))
    }
}

impl Handler for CreateUserInvitation {
    async fn handle(
        core: &Core,
        admin: Admin<'_>,
        input: EmailInput,
        request: &Request<'_>,
    ) -> Answered<NoOutput> {
        let ports = &core.invitations.ports;
        let duplicate = || ApiError::bad_request(msg::INVITATION_DUPLICATE);
        let admin_id = admin
            .account()
            .admin_id
            .clone()
            .ok_or_else(|| super::internal("an admin account without an admin id"))?;
        let email = input.email.to_lowercase();
        if let Some(existing) = ports.store().account_by_email(&email)? {
            let ours = existing.id == admin.account().id
                || core.invitations.membership(&existing, &admin)?.is_some();
            // An email registered with another admin (cloud mode) is answered as if
            // invited, and nothing is made: the refusal would tell that it exists.
            return if ours {
                Err(duplicate())
            } else {
                Ok(Answer::nothing())
            };
        }
        let random = ports.random();
        let mut account = core.accounts.new_account(&email, Role::User, None);
        let token = crypto::new_token(random);
        let now = ports.now();
        let member = Member {
            user_id: crypto::new_id(random),
            auth_id: account.id.clone(),
            admin_id,
            token: token.clone(),
            registered: false,
            expires_at: now + specs::lifetimes::INVITATION_MS,
            created_at: now,
            seq: 0,
            permissions: Default::default(),
        };
        account.member_id = Some(member.user_id.clone());
        let token_digest = crypto::digest(&token);
        let member = Member {
            seq: core.invitations.next_seq(),
            ..member
        };
        ports.transaction(|tx| {
            if tx.account_by_email(&email)?.is_some() {
                return Err(duplicate().into());
            }
            tx.put_account(&account, None)?;
            tx.put_member(&member, &token_digest)?;
            Ok(())
        })?;
        let by = admin.account().id.as_str();
        core.audit_by(AuditKind::InvitationCreated, &account.id, by, request);
        Ok(Answer::nothing())
    }
}

impl Handler for GetUserByToken {
    async fn handle(
        core: &Core,
        _: (),
        input: TokenInput,
        request: &Request<'_>,
    ) -> Answered<InvitationView> {
        core.guessing_token(request, async { invitation(core, input) })
            .await
    }
}

fn invitation(core: &Core, input: TokenInput) -> Answered<InvitationView> {
    let not_found = || ApiError::not_found(msg::INVITATION_NOT_FOUND);
    let ports = &core.invitations.ports;
    let store = ports.store();
    let user_id = store
        .text(&keys::invitation(&crypto::digest(&input.token)))?
        .ok_or_else(not_found)?;
    let member = store.member(&user_id)?.ok_or_else(not_found)?;
    let account = store.account(&member.auth_id)?.ok_or_else(not_found)?;
    Ok(Answer::json(&InvitationView {
        is_expired: member.registered || ports.now() > member.expires_at,
        member: member_view(core, &member, &account),
    }))
}

impl Handler for RemoveUser {
    async fn handle(
        core: &Core,
        admin: Admin<'_>,
        input: RemoveUserInput,
        request: &Request<'_>,
    ) -> Answered<NoOutput> {
        let invitations = &core.invitations;
        let (account, member) = invitations.member_of(&admin, &input.auth_id).map_err(|e| {
            match core.config().profile {
                // Anyone not the caller's member, the caller included (§6b).
                specs::Profile::Dokploy014 if e.code == specs::ErrorCode::NotFound => {
                    ApiError::bad_request(msg::dokploy::REMOVE_USER)
                }
                _ => e,
            }
        })?;
        let not_found = || ApiError::not_found(msg::USER_NOT_MEMBER);
        // Its sessions and token first; one made meanwhile names no account and is
        // removed when seen.
        let ended = core.sessions.end_all(&account.id)?;
        invitations.ports.transaction(|tx| {
            let Some(account) = tx.account(&account.id)? else {
                return Err(not_found().into());
            };
            tx.delete_account(&account)?;
            tx.delete_member(&member, &crypto::digest(&member.token))?;
            Ok(())
        })?;
        let by = admin.account().id.as_str();
        core.audit_ended(&account.id, Some(by), ended, request);
        core.audit_by(AuditKind::MemberRemoved, &account.id, by, request);
        Ok(Answer::nothing())
    }
}

impl Handler for All {
    async fn handle(
        core: &Core,
        admin: Admin<'_>,
        _: NoInput,
        _: &Request<'_>,
    ) -> Answered<Vec<MemberView>> {
        let Some(admin_id) = &admin.account().admin_id else {
            return Ok(Answer::json(&Vec::new()));
        };
        let store = core.invitations.ports.store();
        let mut members = Vec::new();
        for (key, value) in store.scan_prefix(&keys::members_of(admin_id))? {
            // The user id is the value (a sealed store's keys do not show it);
            // entries written before that name it only in their key.
            let user_id = match value.is_empty() {
                true => super::records::last_segment(&key),
                false => String::from_utf8_lossy(&value).into_owned(),
            };
            let Some(member) = store.member(&user_id)? else {
                continue;
            };
            let Some(account) = store.account(&member.auth_id)? else {
                continue;
            };
            members.push((member, account));
        }
        members.sort_by_key(|(member, _)| (member.created_at, member.seq));
        let views: Vec<MemberView> = members
            .iter()
            .map(|(m, a)| member_view(core, m, a))
            .collect();
        if !core.config().profile.is_dokploy() {
            return Ok(Answer::json(&views));
        }
        // Dokploy's `auth` here is the row as stored: with its password hash, and
        // without a `secret` key (§6b).
        let mut rows = Vec::with_capacity(views.len());
        for (view, (_, account)) in views.iter().zip(&members) {
            let mut row = serde_json::to_value(view).map_err(super::internal)?;
            if let Some(auth) = row.get_mut("auth").and_then(Value::as_object_mut) {
                auth.shift_remove("secret");
                let password = serde_json::json!(account.password_hash);
                auth.shift_insert(2, "password".to_string(), password);
            }
            rows.push(row);
        }
        Ok(Answer::text(super::handler::to_json(&rows)))
    }
}
