//! `dokploy-auth import-dokploy`: the auth state of an existing Dokploy (v0.10.5 to
//! v0.15, PostgreSQL) copied into an empty store, so that every account logs in
//! with its old password and keeps its role, 2FA secret and API token, cookie
//! sessions stay valid until they expire, members stay with their admin, and
//! pending invitation links keep working. Dokploy's database is only read (a
//! read-only transaction). Where Dokploy keeps what: the reference's §7.

use crate::core::ports::{Store, Tx};
use crate::core::records::{keys, Account, Member, Session, SessionDetails, SessionKind, Write};
use crate::crypto::digest;
use crate::storage::database_url::DatabaseUrl;
use crate::storage::postgres::describe;
use specs::wire::{Permissions, Role};
use std::collections::HashMap;
use tokio_postgres::NoTls;

/// What an import brought over.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub admins: usize,
    pub members: usize,
    pub pending_invitations: usize,
    pub sessions: usize,
    pub api_tokens: usize,
    /// Sessions already expired, left behind.
    pub expired_sessions: usize,
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} admin(s), {} member(s) and {} pending invitation(s); {} cookie session(s) and {} API token(s) still valid ({} expired session(s) left behind)",
            self.admins,
            self.members,
            self.pending_invitations,
            self.sessions,
            self.api_tokens,
            self.expired_sessions
        )
    }
}

/// Dokploy's `auth` row.
struct AuthRow {
    id: String,
    email: String,
    password: String,
    rol: String,
    image: Option<String>,
    created_at: Option<String>,
    secret: Option<String>,
    is_2fa_enabled: bool,
    token: Option<String>,
    reset_token: Option<String>,
    reset_expires_at: Option<String>,
    confirmation_token: Option<String>,
    confirmation_expires_at: Option<String>,
}

/// Reads Dokploy's auth state at `from` and writes it into `store`, which must hold
/// no account. `now_ms` decides which sessions have expired.
pub async fn import_dokploy(
    from: &str,
    store: &dyn Store,
    now_ms: i64,
) -> Result<Imported, String> {
    let from = DatabaseUrl::parse(from)?;
    let reach =
        |e: tokio_postgres::Error| format!("cannot reach Dokploy's database: {}", describe(&e));
    let (client, connection) = match from.tls {
        Some(tls) => {
            let (client, connection) = from.config.connect(tls).await.map_err(reach)?;
            (client, tokio::spawn(async move { drop(connection.await) }))
        }
        None => {
            let (client, connection) = from.config.connect(NoTls).await.map_err(reach)?;
            (client, tokio::spawn(async move { drop(connection.await) }))
        }
    };
    let read = read_dokploy(&client).await;
    drop(client);
    connection.abort();
    let dokploy = read?;
    if !store
        .scan_prefix(keys::ACCOUNT_PREFIX)
        .map_err(|e| e.to_string())?
        .is_empty()
    {
        return Err("the target already holds accounts: import into a new data directory or an empty database".into());
    }
    write(store, dokploy, now_ms)
}

/// Everything read from Dokploy, before anything is written.
struct Dokploy {
    auths: Vec<AuthRow>,
    /// `admin`: adminId by authId.
    admins: HashMap<String, String>,
    members: Vec<MemberRow>,
    /// `session`: id, user_id, expiry in ms.
    sessions: Vec<(String, String, i64)>,
}

struct MemberRow {
    user_id: String,
    auth_id: String,
    admin_id: String,
    token: String,
    registered: bool,
    expires_at: i64,
    created_at: Option<String>,
    permissions: Permissions,
}

async fn read_dokploy(db: &tokio_postgres::Client) -> Result<Dokploy, String> {
    let sql = |e: tokio_postgres::Error| format!("reading Dokploy's database: {}", describe(&e));
    // Only ever read: the whole import is one read-only transaction.
    db.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(sql)?;
    let tables = db
        .query_one(
            "SELECT to_regclass('public.auth') IS NOT NULL, to_regclass('public.admin') IS NOT NULL, \
             to_regclass('public.\"user\"') IS NOT NULL, to_regclass('public.session') IS NOT NULL",
            &[],
        )
        .await
        .map_err(sql)?;
    if !(0..4).all(|i| tables.get::<_, bool>(i)) {
        return Err("this database has no Dokploy auth tables (auth, admin, \"user\", session): is it a Dokploy v0.10.5–v0.15 database?".into());
    }
    let columns = Columns::read(db).await.map_err(sql)?;
    let auth = |name: &str, absent: &str| columns.select("auth", name, absent);
    let auths = db
        .query(
            &format!(
                "SELECT id, email, password, rol::text, {}, {} AS created_at, {}, {}, {}, {}, {}, {}, {} \
                 FROM auth ORDER BY created_at, id",
                auth("image", "NULL::text"),
                auth("createdAt", "NULL::text"),
                auth("secret", "NULL::text"),
                auth("is2FAEnabled", "false"),
                auth("token", "NULL::text"),
                auth("resetPasswordToken", "NULL::text"),
                auth("resetPasswordExpiresAt", "NULL::text"),
                auth("confirmationToken", "NULL::text"),
                auth("confirmationExpiresAt", "NULL::text"),
            ),
            &[],
        )
        .await
        .map_err(sql)?
        .into_iter()
        .map(|r| AuthRow {
            id: r.get(0),
            email: r.get(1),
            password: r.get(2),
            rol: r.get(3),
            image: r.get(4),
            created_at: r.get(5),
            secret: r.get(6),
            is_2fa_enabled: r.get::<_, Option<bool>>(7).unwrap_or(false),
            token: r.get(8),
            reset_token: r.get(9),
            reset_expires_at: r.get(10),
            confirmation_token: r.get(11),
            confirmation_expires_at: r.get(12),
        })
        .collect();
    let admins = db
        .query("SELECT \"authId\", \"adminId\" FROM admin", &[])
        .await
        .map_err(sql)?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let user = |name: &str, absent: &str| columns.select("user", name, absent);
    let members = db
        .query(
            &format!(
                "SELECT \"userId\", \"authId\", \"adminId\", token, \"isRegistered\", \
                 (extract(epoch from \"expirationDate\") * 1000)::bigint, {} AS created_at, {} \
                 FROM \"user\" ORDER BY created_at, \"userId\"",
                user("createdAt", "NULL::text"),
                specs::wire::PERMISSION_FLAGS
                    .map(|flag| user(flag, "false"))
                    .into_iter()
                    .chain(
                        ["accesedProjects", "accesedServices"]
                            .map(|list| user(list, "NULL::text[]"))
                    )
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            &[],
        )
        .await
        .map_err(sql)?
        .into_iter()
        .map(|r| {
            let flag = |i: usize| r.get::<_, Option<bool>>(i).unwrap_or(false);
            MemberRow {
                user_id: r.get(0),
                auth_id: r.get(1),
                admin_id: r.get(2),
                token: r.get(3),
                registered: r.get::<_, Option<bool>>(4).unwrap_or(false),
                expires_at: r.get::<_, Option<i64>>(5).unwrap_or(0),
                created_at: r.get(6),
                permissions: Permissions {
                    can_create_projects: flag(7),
                    can_access_to_ssh_keys: flag(8),
                    can_create_services: flag(9),
                    can_delete_projects: flag(10),
                    can_delete_services: flag(11),
                    can_access_to_docker: flag(12),
                    can_access_to_api: flag(13),
                    can_access_to_git_providers: flag(14),
                    can_access_to_traefik_files: flag(15),
                    accesed_projects: r.get::<_, Option<Vec<String>>>(16).unwrap_or_default(),
                    accesed_services: r.get::<_, Option<Vec<String>>>(17).unwrap_or_default(),
                },
            }
        })
        .collect();
    let sessions = db
        .query(
            "SELECT id, user_id, (extract(epoch from expires_at) * 1000)::bigint FROM session",
            &[],
        )
        .await
        .map_err(sql)?
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    db.batch_execute("COMMIT").await.map_err(sql)?;
    Ok(Dokploy {
        auths,
        admins,
        members,
        sessions,
    })
}

/// The columns Dokploy's `auth` and `"user"` tables have. The optional ones (an
/// image, 2FA, reset and confirmation tokens, permission flags) may differ between
/// versions: one that is absent reads as its default.
struct Columns(std::collections::HashSet<(String, String)>);

impl Columns {
    async fn read(db: &tokio_postgres::Client) -> Result<Columns, tokio_postgres::Error> {
        let rows = db
            .query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name IN ('auth', 'user')",
                &[],
            )
            .await?;
        Ok(Columns(rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }

    /// `"name"` if `table` has it, else `absent` (a typed SQL default).
    fn select(&self, table: &str, name: &str, absent: &str) -> String {
        if self.0.contains(&(table.to_string(), name.to_string())) {
            format!("\"{name}\"")
        } else {
            absent.to_string()
        }
    }
}

fn write(store: &dyn Store, dokploy: Dokploy, now_ms: i64) -> Result<Imported, String> {
    let mut imported = Imported::default();
    let member_of: HashMap<&str, &MemberRow> = dokploy
        .members
        .iter()
        .map(|m| (m.auth_id.as_str(), m))
        .collect();
    let time = |text: &Option<String>| text.as_deref().and_then(crate::time::parse_iso8601);
    let mut accounts = Vec::new();
    for row in &dokploy.auths {
        let member = member_of.get(row.id.as_str());
        let pending = member.is_some_and(|m| !m.registered);
        let role = if row.rol == "admin" {
            Role::Admin
        } else {
            Role::User
        };
        let account = Account {
            id: row.id.clone(),
            email: row.email.to_lowercase(),
            role,
            image: row.image.clone().unwrap_or_default(),
            // A pending invitee's hash is of a random string: it sets its password
            // through the invitation.
            password_hash: (!pending).then(|| row.password.clone()),
            totp_secret: row.secret.clone().filter(|_| row.is_2fa_enabled),
            two_factor_enabled: row.is_2fa_enabled && row.secret.is_some(),
            api_token: row.token.clone(),
            created_at: time(&row.created_at).unwrap_or(now_ms),
            session_epoch: 0,
            last_totp_step: None,
            pending_2fa_until: None,
            admin_id: dokploy.admins.get(&row.id).cloned(),
            member_id: member.map(|m| m.user_id.clone()),
            email_confirmed: row.confirmation_token.is_none(),
            reset_digest: row.reset_token.as_deref().map(digest),
            reset_expires_at: time(&row.reset_expires_at),
            confirmation_digest: row.confirmation_token.as_deref().map(digest),
            confirmation_expires_at: time(&row.confirmation_expires_at),
        };
        match (account.role, pending) {
            (Role::Admin, _) => imported.admins += 1,
            (Role::User, true) => imported.pending_invitations += 1,
            (Role::User, false) => imported.members += 1,
        }
        accounts.push(account);
    }
    // Each live session once: an API token when it is the token its account
    // shows, a cookie session otherwise; the expired ones are only counted.
    let tokens: HashMap<&str, &str> = dokploy
        .auths
        .iter()
        .filter_map(|a| Some((a.token.as_deref()?, a.id.as_str())))
        .collect();
    let mut sessions = Vec::new();
    for (id, user_id, expires_at) in &dokploy.sessions {
        if *expires_at <= now_ms {
            imported.expired_sessions += 1;
            continue;
        }
        let kind = if tokens.get(id.as_str()) == Some(&user_id.as_str()) {
            imported.api_tokens += 1;
            SessionKind::ApiToken
        } else {
            imported.sessions += 1;
            SessionKind::Cookie
        };
        let session = Session {
            account_id: user_id.clone(),
            kind,
            expires_at: *expires_at,
            epoch: 0,
        };
        // When it was made is not kept; when it would have been, at the latest.
        let made = (expires_at - kind.lifetime()).min(now_ms);
        let details = SessionDetails {
            created_at: made,
            refreshed_at: made,
            client_address: None,
            user_agent: None,
        };
        sessions.push((digest(id), session, details));
    }
    // Self-hosted mode's one admin (several: a cloud instance, which has none).
    let only_admin = accounts
        .iter()
        .find(|a| a.role == Role::Admin)
        .filter(|_| imported.admins == 1)
        .map(|a| a.id.clone());
    let result = store.transaction(&mut |tx: &dyn Tx| {
        for account in &accounts {
            tx.put_account(account, None)?;
            if let Some(digest) = &account.reset_digest {
                tx.insert(&keys::reset_token(digest), account.id.clone().into_bytes())?;
            }
            if let Some(digest) = &account.confirmation_digest {
                tx.insert(
                    &keys::confirmation_token(digest),
                    account.id.clone().into_bytes(),
                )?;
            }
        }
        for (seq, row) in dokploy.members.iter().enumerate() {
            let member = Member {
                user_id: row.user_id.clone(),
                auth_id: row.auth_id.clone(),
                admin_id: row.admin_id.clone(),
                token: row.token.clone(),
                registered: row.registered,
                expires_at: row.expires_at,
                created_at: time(&row.created_at).unwrap_or(now_ms),
                seq: seq as u64 + 1,
                permissions: row.permissions.clone(),
            };
            tx.put_member(&member, &digest(&row.token))?;
        }
        for (digest, session, details) in &sessions {
            tx.put_new_session(digest, session, details)?;
        }
        tx.insert(keys::SESSIONS_LISTED, Vec::new())?;
        if let Some(admin) = &only_admin {
            tx.insert(keys::SELF_HOSTED_ADMIN, admin.clone().into_bytes())?;
        }
        Ok(())
    });
    result.map_err(|e| format!("writing the imported accounts: {e:?}"))?;
    Ok(imported)
}
