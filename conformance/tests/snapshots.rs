//! One snapshot per procedure and outcome: the full answer (status, the headers that
//! matter, body) with volatile values (ids, tokens, dates, avatars, secrets, QR
//! images, session ids) redacted. The server and the mock must match the same files.

mod common;
use common::InProcessServer;
use conformance::client::{send_over, Client, Resp, Transport};
use conformance::target::Target;
use serde_json::{json, Value};

const ADMIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;

/// Every exemplar answer, named `procedure--outcome`, over `transport`.
async fn exemplars(target: &dyn Target, transport: Transport) -> Vec<(String, Resp)> {
    let mut out: Vec<(String, Resp)> = Vec::new();
    let addr = target.fresh().await.unwrap();
    let json_type = [("content-type", "application/json")];
    let mut admin = Client::new(addr).over(transport);
    let mut add = |name: &str, r: Resp| out.push((name.to_string(), r));

    add(
        "auth.get--unauthorized",
        send_over(transport, addr, "GET", "/api/auth.get", &[], "").await,
    );
    add(
        "auth.get--dead-cookie",
        send_over(
            transport,
            addr,
            "GET",
            "/api/auth.get",
            &[("cookie", "auth_session=gone")],
            "",
        )
        .await,
    );
    add(
        "transport--missing-content-type",
        send_over(transport, addr, "POST", "/api/auth.login", &[], ADMIN).await,
    );
    add(
        "transport--parse-error",
        send_over(transport, addr, "POST", "/api/auth.login", &json_type, "{x").await,
    );
    add(
        "transport--not-found",
        send_over(transport, addr, "GET", "/api/auth.nope", &[], "").await,
    );
    add(
        "auth.login--validation",
        send_over(
            transport,
            addr,
            "POST",
            "/api/auth.login",
            &json_type,
            r#"{"email":"x"}"#,
        )
        .await,
    );
    add(
        "auth.createAdmin--success",
        admin.post("/api/auth.createAdmin", ADMIN).await,
    );
    add(
        "auth.createAdmin--admin-exists",
        Client::new(addr)
            .over(transport)
            .post("/api/auth.createAdmin", ADMIN)
            .await,
    );
    add("auth.get--success", admin.get("/api/auth.get").await);
    add(
        "auth.verifyToken--success",
        admin.post_empty("/api/auth.verifyToken").await,
    );
    add(
        "auth.login--success",
        Client::new(addr)
            .over(transport)
            .post("/api/auth.login", ADMIN)
            .await,
    );
    add(
        "auth.login--credentials",
        Client::new(addr)
            .over(transport)
            .post(
                "/api/auth.login",
                r#"{"email":"admin@example.com","password":"wrongpass1"}"#,
            )
            .await,
    );
    let token = admin.post_empty("/api/auth.generateToken").await;
    add("auth.generateToken--success", token.clone());
    let token = transport.as_rest(token).json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    add(
        "auth.update--success",
        admin
            .post(
                "/api/auth.update",
                r#"{"email":null,"password":null,"image":"/avatars/avatar-1.png"}"#,
            )
            .await,
    );
    add(
        "auth.generate2FASecret--success",
        admin.get("/api/auth.generate2FASecret").await,
    );
    add(
        "auth.verify2FASetup--invalid",
        admin
            .post(
                "/api/auth.verify2FASetup",
                r#"{"pin":"000000","secret":"JBSWY3DPEHPK3PXP"}"#,
            )
            .await,
    );
    add(
        "auth.verifyLogin2FA--invalid",
        Client::new(addr)
            .over(transport)
            .post(
                "/api/auth.verifyLogin2FA",
                r#"{"pin":"000000","id":"nobody"}"#,
            )
            .await,
    );
    add(
        "auth.disable2FA--success",
        admin.post_empty("/api/auth.disable2FA").await,
    );
    add(
        "admin.createUserInvitation--success",
        admin
            .post(
                "/api/admin.createUserInvitation",
                r#"{"email":"dev@example.com"}"#,
            )
            .await,
    );
    add(
        "admin.createUserInvitation--duplicate",
        admin
            .post(
                "/api/admin.createUserInvitation",
                r#"{"email":"dev@example.com"}"#,
            )
            .await,
    );
    let all = admin.get("/api/user.all").await;
    add("user.all--success", all.clone());
    let invitation = transport.as_rest(all.clone()).json()[0].clone();
    let invite_token = invitation["token"].as_str().unwrap_or_default();
    add(
        "admin.getUserByToken--success",
        send_over(
            transport,
            addr,
            "GET",
            &format!("/api/admin.getUserByToken?token={invite_token}"),
            &[],
            "",
        )
        .await,
    );
    add(
        "admin.getUserByToken--not-found",
        send_over(
            transport,
            addr,
            "GET",
            "/api/admin.getUserByToken?token=nope",
            &[],
            "",
        )
        .await,
    );
    add(
        "auth.createUser--invalid-token",
        Client::new(addr)
            .over(transport)
            .post(
                "/api/auth.createUser",
                &json!({"password":"memberpass1","id":"x","token":invite_token}).to_string(),
            )
            .await,
    );
    let mut member = Client::new(addr).over(transport);
    add(
        "auth.createUser--success",
        member
            .post(
                "/api/auth.createUser",
                &json!({"password":"memberpass1","id":invitation["authId"],"token":invite_token})
                    .to_string(),
            )
            .await,
    );
    add(
        "user.all--member-unauthorized",
        member.get("/api/user.all").await,
    );
    add(
        "auth.one--success",
        admin
            .get(&format!(
                "/api/auth.one?id={}",
                invitation["authId"].as_str().unwrap_or_default()
            ))
            .await,
    );
    add(
        "auth.one--not-found",
        admin.get("/api/auth.one?id=nobody").await,
    );
    add(
        "auth.update--conflict",
        admin
            .post(
                "/api/auth.update",
                r#"{"email":"dev@example.com","password":null}"#,
            )
            .await,
    );
    add(
        "admin.removeUser--not-found",
        admin
            .post("/api/admin.removeUser", r#"{"authId":"nobody"}"#)
            .await,
    );
    add(
        "admin.removeUser--success",
        admin
            .post(
                "/api/admin.removeUser",
                &json!({"authId": invitation["authId"]}).to_string(),
            )
            .await,
    );
    add(
        "auth.sendResetPasswordEmail--self-hosted",
        Client::new(addr)
            .over(transport)
            .post(
                "/api/auth.sendResetPasswordEmail",
                r#"{"email":"a@example.com"}"#,
            )
            .await,
    );
    add(
        "auth.resetPassword--self-hosted",
        Client::new(addr)
            .over(transport)
            .post(
                "/api/auth.resetPassword",
                r#"{"resetPasswordToken":"x","password":"password123"}"#,
            )
            .await,
    );
    add(
        "auth.confirmEmail--self-hosted",
        Client::new(addr)
            .over(transport)
            .post("/api/auth.confirmEmail", r#"{"confirmationToken":"x"}"#)
            .await,
    );
    add(
        "auth.listSessions--success",
        admin.get("/api/auth.listSessions").await,
    );
    add(
        "auth.endSession--not-found",
        admin
            .post("/api/auth.endSession", r#"{"handle":"nothing"}"#)
            .await,
    );
    add(
        "auth.endOtherSessions--success",
        admin.post_empty("/api/auth.endOtherSessions").await,
    );
    add(
        "auth.logout--token",
        admin
            .with_bearer(&token)
            .post_empty("/api/auth.logout")
            .await,
    );
    add(
        "auth.logout--success",
        admin.post_empty("/api/auth.logout").await,
    );
    out
}

/// The part of an answer a snapshot keeps.
fn snapshot_value(r: &Resp) -> Value {
    let body = if r.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone()))
    };
    let set_cookie = r.set_cookie().map(|c| match c.split_once(';') {
        Some((pair, rest)) if pair != "auth_session=" => {
            format!("auth_session=[session id];{rest}")
        }
        _ => c,
    });
    json!({
        "status": r.status,
        "headers": {
            "content-type": r.header("content-type"),
            "cache-control": r.header("cache-control"),
            "set-cookie": set_cookie,
        },
        "body": body,
    })
}

fn assert_snapshots(target: &dyn Target, runtime: &tokio::runtime::Runtime) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    // Strings only: a `null` (a secret never sent back) stays in the snapshot.
    let volatile = || {
        insta::dynamic_redaction(|value, _path| match value.as_str() {
            Some(_) => insta::internals::Content::from("[volatile]"),
            None => value,
        })
    };
    let scopes = [
        ".body",
        ".body[]",
        ".body.auth",
        ".body[].auth",
        ".body.result.data.json",
        ".body.result.data.json[]",
        ".body.result.data.json.auth",
        ".body.result.data.json[].auth",
    ];
    for selector in [
        ".id",
        ".authId",
        ".token",
        ".createdAt",
        ".image",
        ".secret",
        ".qrCodeUrl",
        ".userId",
        ".adminId",
        ".expirationDate",
        ".handle",
        ".lastUsedAt",
        ".expiresAt",
    ] {
        for scope in scopes {
            settings.add_redaction(&format!("{scope}{selector}"), volatile());
        }
    }
    // Every snapshot is compared, and every mismatch reported: one failing snapshot
    // does not hide the others.
    let mut mismatched = Vec::new();
    settings.bind(|| {
        for (transport, prefix) in [(Transport::Rest, ""), (Transport::Trpc, "trpc--")] {
            for (name, response) in runtime.block_on(exemplars(target, transport)) {
                let name = format!("{prefix}{name}");
                let value = snapshot_value(&response);
                let compared = std::panic::catch_unwind(|| {
                    insta::assert_json_snapshot!(name.clone(), value);
                });
                if compared.is_err() {
                    mismatched.push(name);
                }
            }
        }
    });
    assert!(
        mismatched.is_empty(),
        "{} snapshots differ (each diff is printed above): {}",
        mismatched.len(),
        mismatched.join(", ")
    );
}

#[test]
fn the_server_matches_the_snapshots() {
    let runtime = common::runtime();
    assert_snapshots(&InProcessServer::default(), &runtime);
}

#[test]
fn the_mock_matches_the_same_snapshots() {
    let runtime = common::runtime();
    assert_snapshots(&common::mock_on(&runtime), &runtime);
}
