//! Invitations and members: an admin invites by email, the invited person sets a
//! password with the token, the admin lists and removes members.

use super::records::{keys, Account, Member, Read, Write};
use super::{Caller, Core, Output};
use crate::crypto;
use crate::time::iso8601;
use specs::messages as msg;
use specs::wire::{EmailInput, InvitationView, MemberView, RemoveUserInput, Role, TokenInput};
use specs::ApiError;

impl Core {
    fn member_view(&self, member: &Member, account: &Account) -> MemberView {
        MemberView {
            user_id: member.user_id.clone(),
            token: member.token.clone(),
            is_registered: member.registered,
            expiration_date: iso8601(member.expires_at),
            created_at: iso8601(member.created_at),
            permissions: member.permissions.clone(),
            admin_id: member.admin_id.clone(),
            auth_id: member.auth_id.clone(),
            auth: self.view(account, false),
        }
    }

    /// The member record of `account` if it belongs to the caller's organisation.
    fn membership(&self, account: &Account, caller: &Caller) -> Result<Option<Member>, ApiError> {
        let (Some(user_id), Some(admin_id)) = (&account.member_id, &caller.account().admin_id)
        else {
            return Ok(None);
        };
        Ok(self
            .store()
            .member(user_id)?
            .filter(|m| m.admin_id == *admin_id))
    }

    pub(crate) fn is_member_of(
        &self,
        account: &Account,
        caller: &Caller,
    ) -> Result<bool, ApiError> {
        Ok(self.membership(account, caller)?.is_some())
    }

    pub(crate) fn create_user_invitation(
        &self,
        caller: &Caller,
        input: EmailInput,
    ) -> Result<Output, ApiError> {
        let duplicate = || ApiError::bad_request(msg::INVITATION_DUPLICATE);
        let admin_id = caller
            .account()
            .admin_id
            .clone()
            .ok_or_else(|| super::internal("an admin account without an admin id"))?;
        let email = input.email.to_lowercase();
        if self.store().account_by_email(&email)?.is_some() {
            return Err(duplicate());
        }
        let random = &*self.deps.random;
        let mut account = self.new_account(&email, Role::User, None);
        let token = crypto::new_token(random);
        let now = self.now();
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
        self.transaction(|tx| {
            if tx.account_by_email(&email)?.is_some() {
                return Err(duplicate().into());
            }
            let member = Member {
                seq: tx.next_member_seq()?,
                ..member.clone()
            };
            tx.put_account(&account, None)?;
            tx.put_member(&member, &token_digest)?;
            Ok(())
        })?;
        Output::nothing()
    }

    pub(crate) fn get_user_by_token(&self, input: TokenInput) -> Result<Output, ApiError> {
        let not_found = || ApiError::not_found(msg::INVITATION_NOT_FOUND);
        let store = self.store();
        let user_id = store
            .text(&keys::invitation(&crypto::digest(&input.token)))?
            .ok_or_else(not_found)?;
        let member = store.member(&user_id)?.ok_or_else(not_found)?;
        let account = store.account(&member.auth_id)?.ok_or_else(not_found)?;
        Output::json(&InvitationView {
            is_expired: member.registered || self.now() > member.expires_at,
            member: self.member_view(&member, &account),
        })
    }

    pub(crate) fn remove_user(
        &self,
        caller: &Caller,
        input: RemoveUserInput,
    ) -> Result<Output, ApiError> {
        let not_found = || ApiError::not_found(msg::USER_NOT_MEMBER);
        let account = self
            .store()
            .account(&input.auth_id)?
            .ok_or_else(not_found)?;
        let member = self.membership(&account, caller)?.ok_or_else(not_found)?;
        self.transaction(|tx| {
            let Some(account) = tx.account(&account.id)? else {
                return Err(not_found().into());
            };
            if let Some(token) = &account.api_token {
                tx.remove(&keys::session(&crypto::digest(token)))?;
            }
            tx.delete_account(&account)?;
            tx.delete_member(&member, &crypto::digest(&member.token))?;
            // Its cookie sessions now name no account and are removed when seen.
            Ok(())
        })?;
        Output::nothing()
    }

    pub(crate) fn all_members(&self, caller: &Caller) -> Result<Output, ApiError> {
        let Some(admin_id) = &caller.account().admin_id else {
            return Output::json(&Vec::<MemberView>::new());
        };
        let store = self.store();
        let prefix = keys::members_of(admin_id);
        let mut members = Vec::new();
        for (key, _) in store.scan_prefix(&prefix)? {
            let user_id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
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
            .map(|(m, a)| self.member_view(m, a))
            .collect();
        Output::json(&views)
    }
}
