//! Accounts: the first admin, accepting an invitation, login, update, API tokens, `auth.one`.

use super::*;

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "auth.createAdmin",
            "success: true and a session cookie",
            empty,
            |ctx| {
                let r = ctx
                    .client()
                    .post(
                        "/api/auth.createAdmin",
                        r#"{"email":"Admin@Example.com","password":"password123"}"#,
                    )
                    .await;
                expect(&r, 200, "true")?;
                let id = expect_session_cookie(&r)?;
                let me = ctx
                    .send(
                        "GET",
                        "/api/auth.get",
                        &[("cookie", &format!("auth_session={id}"))],
                        "",
                    )
                    .await;
                expect_auth_shape(&me.json(), ADMIN_EMAIL)?;
                ensure!(me.json()["rol"] == "admin", "rol {}", me.json()["rol"]);
                Ok(())
            }
        ),
        check!(
            "auth.createAdmin",
            "400 once an admin exists",
            self_hosted,
            |ctx| {
                if !ctx.is_live() {
                    ctx.admin().await?;
                }
                let exists = match ctx.dokploy() {
                    // A catch block rewrites Dokploy's own message.
                    true => msg::dokploy::ADMIN_EXISTS,
                    false => msg::ADMIN_EXISTS,
                };
                let r = ctx
                    .client()
                    .post(
                        "/api/auth.createAdmin",
                        r#"{"email":"other@example.com","password":"password123"}"#,
                    )
                    .await;
                expect_error(&r, "BAD_REQUEST", exists)?;
                ensure!(r.set_cookie().is_none(), "a cookie on a refusal");
                Ok(())
            }
        ),
        check!(
            "auth.createUser",
            "success: the invited account logs in",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let invitation = ctx.invite(&mut admin, &ctx.email("dev")).await?;
                let mut member = ctx.client();
                let r = member.post("/api/auth.createUser", &json!({"password": MEMBER_PASSWORD, "id": invitation["authId"], "token": invitation["token"]}).to_string()).await;
                expect(&r, 200, "true")?;
                expect_session_cookie(&r)?;
                let me = member.get("/api/auth.get").await.json();
                ensure!(me["rol"] == "user", "rol {}", me["rol"]);
                Ok(())
            }
        ),
        check!(
            "auth.createUser",
            "400 for a token of another account or used twice",
            |ctx| {
                let mut admin = ctx.admin().await?;
                // The account the invitation is not for: the admin's own on a fresh
                // instance, another member on a live one.
                let (victim_email, victim_id) = if ctx.is_live() {
                    let email = ctx.email("victim");
                    (
                        email.clone(),
                        json!(ctx.member(&mut admin, &email).await?.1),
                    )
                } else {
                    let id = admin.get("/api/auth.get").await.json()["id"].clone();
                    (ADMIN_EMAIL.to_string(), id)
                };
                let invitation = ctx.invite(&mut admin, &ctx.email("dev")).await?;
                let hijack =
                    json!({"password": "hijacked1", "id": victim_id, "token": invitation["token"]});
                let r = ctx
                    .client()
                    .post("/api/auth.createUser", &hijack.to_string())
                    .await;
                if ctx.dokploy() {
                    // Any pending invitation sets any account's password (difference 1).
                    expect(&r, 200, "true")?;
                    let login = json!({"email": victim_email, "password": "hijacked1"});
                    let r = ctx
                        .client()
                        .post("/api/auth.login", &login.to_string())
                        .await;
                    return expect_status(&r, 200)
                        .map_err(|e| format!("the hijacked password: {e}"));
                }
                expect_error(&r, "BAD_REQUEST", msg::INVALID_TOKEN)?;
                let accept = json!({"password": MEMBER_PASSWORD, "id": invitation["authId"], "token": invitation["token"]}).to_string();
                expect(
                    &ctx.client().post("/api/auth.createUser", &accept).await,
                    200,
                    "true",
                )?;
                expect_error(
                    &ctx.client().post("/api/auth.createUser", &accept).await,
                    "BAD_REQUEST",
                    msg::INVALID_TOKEN,
                )
            }
        ),
        check!(
            "auth.createUser",
            "400 for an invitation over 24 h old",
            clock,
            |ctx| {
                let mut admin = ctx.admin().await?;
                let invitation = ctx.invite(&mut admin, &ctx.email("dev")).await?;
                ctx.advance(24 * 3_600_000 + 1000).await?;
                let accept = json!({"password": MEMBER_PASSWORD, "id": invitation["authId"], "token": invitation["token"]});
                let r = ctx
                    .client()
                    .post("/api/auth.createUser", &accept.to_string())
                    .await;
                if ctx.dokploy() {
                    // Dokploy's invitations never expire (difference 2).
                    return expect(&r, 200, "true");
                }
                expect_error(&r, "BAD_REQUEST", msg::INVITATION_EXPIRED)
            }
        ),
        check!("auth.login", "success without 2FA", |ctx| {
            let (mut me, account) = ctx.account().await?;
            let id = me.get("/api/auth.get").await.json()["id"].clone();
            let shouted =
                json!({"email": account.email.to_uppercase(), "password": account.password});
            let r = ctx
                .client()
                .post("/api/auth.login", &shouted.to_string())
                .await;
            let r = if ctx.dokploy() {
                // Dokploy looks the email up as typed (difference 4).
                expect_error(&r, "BAD_REQUEST", msg::dokploy::LOGIN_UNKNOWN_EMAIL)?;
                ctx.client()
                    .post("/api/auth.login", &account.credentials())
                    .await
            } else {
                r
            };
            expect(
                &r,
                200,
                &json!({"is2FAEnabled": false, "authId": id}).to_string(),
            )?;
            expect_session_cookie(&r).map(|_| ())
        }),
        check!(
            "auth.login",
            "one message for a wrong password and an unknown email",
            |ctx| {
                let (_, account) = ctx.account().await?;
                // Dokploy tells an unknown email apart (difference 3).
                let unknown = match ctx.dokploy() {
                    true => msg::dokploy::LOGIN_UNKNOWN_EMAIL,
                    false => msg::CREDENTIALS,
                };
                for (body, message) in [
                    (
                        json!({"email": account.email, "password": "wrongpass1"}),
                        msg::CREDENTIALS,
                    ),
                    (
                        json!({"email": ctx.email("nobody"), "password": account.password}),
                        unknown,
                    ),
                ] {
                    let r = ctx
                        .client()
                        .post("/api/auth.login", &body.to_string())
                        .await;
                    expect_error(&r, "BAD_REQUEST", message)?;
                    ensure!(r.set_cookie().is_none(), "a cookie on a failed login");
                }
                Ok(())
            }
        ),
        check!(
            "auth.login",
            "400 for a password over 72 bytes when set; never cut to match",
            |ctx| {
                if ctx.dokploy() {
                    // Dokploy takes any length, and bcrypt compares the first 72
                    // bytes: a longer password matches another that shares them
                    // (difference 28).
                    let (mut me, account) = ctx.account().await?;
                    let set = json!({"email": null, "password": "x".repeat(80)});
                    expect_status(&me.post("/api/auth.update", &set.to_string()).await, 200)?;
                    let cut = json!({"email": account.email, "password": format!("{}zzz", "x".repeat(72))});
                    let r = ctx.client().post("/api/auth.login", &cut.to_string()).await;
                    return expect_status(&r, 200).map_err(|e| format!("cut to match: {e}"));
                }
                if !ctx.is_live() {
                    let long = "é".repeat(37); // 74 bytes, 37 characters
                    let body = json!({"email": ADMIN_EMAIL, "password": long}).to_string();
                    let r = ctx.client().post("/api/auth.createAdmin", &body).await;
                    expect_error(&r, "BAD_REQUEST", msg::PASSWORD_TOO_LONG)?;
                }
                let (mut me, account) = ctx.account().await?;
                let set = |password: &str| json!({"email": null, "password": password}).to_string();
                let r = me.post("/api/auth.update", &set(&"x".repeat(73))).await;
                expect_error(&r, "BAD_REQUEST", msg::PASSWORD_TOO_LONG)?;
                let exactly = "y".repeat(72);
                expect_status(&me.post("/api/auth.update", &set(&exactly)).await, 200)?;
                let login = |password: &str| {
                    json!({"email": account.email, "password": password}).to_string()
                };
                // bcrypt would cut it to the stored password: refused all the same.
                let r = ctx
                    .client()
                    .post("/api/auth.login", &login(&format!("{exactly}zzz")))
                    .await;
                expect_error(&r, "BAD_REQUEST", msg::CREDENTIALS)?;
                expect_status(
                    &ctx.client().post("/api/auth.login", &login(&exactly)).await,
                    200,
                )
            }
        ),
        check!(
            "auth.update",
            "400 for an email over 254 characters or an image no page should load (difference 23)",
            |ctx| {
                let (mut me, _) = ctx.account().await?;
                if ctx.dokploy() {
                    // Dokploy stores any length and any image (difference 23).
                    let local = ctx.email("a");
                    let local = local.split('@').next().unwrap_or_default();
                    let too_long = format!("{local:a<243}@example.com");
                    let body = json!({"email": too_long, "password": null, "image": "javascript:alert(1)"});
                    let r = me.post("/api/auth.update", &body.to_string()).await;
                    expect_status(&r, 200)?;
                    ensure!(
                        r.json()["email"] == too_long.as_str()
                            && r.json()["image"] == "javascript:alert(1)",
                        "not kept: {}",
                        r.body
                    );
                    return Ok(());
                }
                let issue =
                    |issue: specs::Issue| specs::ApiError::validation(vec![issue]).to_json();
                let too_long = format!("{}@example.com", "a".repeat(243));
                let body = json!({"email": too_long, "password": null}).to_string();
                let r = me.post("/api/auth.update", &body).await;
                let path = vec!["email".to_string()];
                expect(&r, 400, &issue(specs::Issue::TooBig { maximum: 254, path }))?;
                let invite = json!({ "email": too_long }).to_string();
                let r = ctx
                    .admin_beside(&me)
                    .await?
                    .post("/api/admin.createUserInvitation", &invite)
                    .await;
                expect_status(&r, 400)?;
                for image in [
                    "javascript:alert(1)",
                    "http://plain.example/a.png",
                    "<svg onload=x>",
                ] {
                    let body = json!({"email": null, "password": null, "image": image}).to_string();
                    let r = me.post("/api/auth.update", &body).await;
                    let invalid = specs::Issue::Custom {
                        message: specs::validate::INVALID_IMAGE,
                        path: vec!["image".to_string()],
                    };
                    expect(&r, 400, &issue(invalid)).map_err(|e| format!("image {image}: {e}"))?;
                }
                for image in [
                    "/avatars/avatar-3.png",
                    "https://cdn.example.com/me.png?size=64",
                    "data:image/png;base64,iVBORw0KGgo=",
                ] {
                    let body = json!({"email": null, "password": null, "image": image}).to_string();
                    let r = me.post("/api/auth.update", &body).await;
                    expect_status(&r, 200).map_err(|e| format!("image {image}: {e}"))?;
                    ensure!(
                        r.json()["image"] == image,
                        "image {image} not kept: {}",
                        r.body
                    );
                }
                // The longest email still fits the 2FA QR code.
                let unique = ctx.email("b");
                let local = unique.split('@').next().unwrap_or_default();
                let longest = format!("{local:b<242}@example.com");
                let body = json!({"email": longest, "password": null}).to_string();
                expect_status(&me.post("/api/auth.update", &body).await, 200)?;
                expect_status(&me.get("/api/auth.generate2FASecret").await, 200)
            }
        ),
        check!(
            "auth.update",
            "returns the record after, email lowercased",
            |ctx| {
                let (mut me, _) = ctx.account().await?;
                let role = me.get("/api/auth.get").await.json()["rol"].clone();
                let new = ctx.email("new");
                let capitalised = format!("{}{}", new[..1].to_uppercase(), &new[1..])
                    .replace("@example.com", "@Example.com");
                // A role in the input is ignored: the other one is asked for.
                let asked = if role == "admin" { "user" } else { "admin" };
                let body = json!({"email": capitalised, "password": null, "image": "/avatars/avatar-2.png", "rol": asked});
                let r = me.post("/api/auth.update", &body.to_string()).await;
                expect_status(&r, 200)?;
                if ctx.dokploy() {
                    // Its record carries the password hash (difference 5): only what
                    // changed is checked.
                    ensure!(r.json()["email"] == new.as_str(), "email: {}", r.body);
                } else {
                    expect_auth_shape(&r.json(), &new)?;
                }
                ensure!(
                    r.json()["image"] == "/avatars/avatar-2.png" && r.json()["rol"] == role,
                    "{} (rol before: {role})",
                    r.body
                );
                Ok(())
            }
        ),
        check!("auth.update", "409 for another account's email", |ctx| {
            let (mut me, _) = ctx.account().await?;
            let other = ctx.email("dev");
            ctx.invite(&mut ctx.admin_beside(&me).await?, &other)
                .await?;
            let r = me
                .post(
                    "/api/auth.update",
                    &json!({"email": other, "password": null}).to_string(),
                )
                .await;
            if ctx.dokploy() {
                // Dokploy's database refuses it: a 500 (difference 14).
                return expect_status(&r, 500);
            }
            expect_error(&r, "CONFLICT", msg::EMAIL_IN_USE)
        }),
        check!(
            "auth.update",
            "a new password ends the other sessions",
            |ctx| {
                let (mut me, account) = ctx.account().await?;
                let mut other = ctx.login_as(&account, "another device").await?;
                expect_status(
                    &me.post(
                        "/api/auth.update",
                        r#"{"email":null,"password":"newpassword1"}"#,
                    )
                    .await,
                    200,
                )?;
                expect_status(&me.get("/api/auth.get").await, 200)?;
                // Dokploy leaves them alive (difference 9).
                let ended = if ctx.dokploy() { 200 } else { 401 };
                expect_status(&other.get("/api/auth.get").await, ended)
            }
        ),
        check!(
            "auth.generateToken",
            "a new token; the old one is refused",
            |ctx| {
                let (mut me, account) = ctx.account().await?;
                let first = new_token(&mut me).await?;
                let answer = me.post_empty("/api/auth.generateToken").await.json();
                let second = me.get("/api/auth.get").await.json()["token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if ctx.dokploy() {
                    // The answer is the record before the change (difference 6).
                    ensure!(
                        answer["token"] == first.as_str(),
                        "not the record before: {answer}"
                    );
                } else {
                    expect_auth_shape(&answer, &account.email)?;
                    ensure!(
                        answer["token"] == second.as_str(),
                        "not the record after: {answer}"
                    );
                }
                ensure!(
                    second.len() == 40 && first != second,
                    "tokens {first} {second}"
                );
                expect_status(&me.with_bearer(&first).get("/api/auth.get").await, 401)?;
                expect_status(&me.with_bearer(&second).get("/api/auth.get").await, 200)
            }
        ),
        check!(
            "auth.one",
            "own account and members; 404; 401 for members",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let email = ctx.email("dev");
                let (mut member, member_id) = ctx.member(&mut admin, &email).await?;
                let r = admin.get(&format!("/api/auth.one?id={member_id}")).await;
                expect_auth_shape(&r.json(), &email)?;
                ensure!(r.json()["token"].is_null(), "another account's token shown");
                expect_error(
                    &admin.get("/api/auth.one?id=nobody").await,
                    "NOT_FOUND",
                    msg::AUTH_NOT_FOUND,
                )?;
                expect_error(
                    &member.get(&format!("/api/auth.one?id={member_id}")).await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )
            }
        ),
    ]
}
