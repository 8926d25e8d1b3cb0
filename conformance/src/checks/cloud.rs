//! Cloud mode: sign-up and confirmation, password reset by email; 404 in self-hosted mode.

use super::*;

/// Why the cloud flows are checked in the contract profile only.
const DOKPLOY_CLOUD: &str = "Dokploy's cloud mode was not measured, and its confirmEmail is admin-only (difference 8), so the contract's sign-up flow cannot pass there";

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "auth.sendResetPasswordEmail",
            "404 in self-hosted mode",
            stateless_self_hosted,
            |ctx| {
                ctx.cloud_only(
                    "auth.sendResetPasswordEmail",
                    r#"{"email":"a@example.com"}"#,
                )
                .await
            }
        ),
        check!(
            "auth.resetPassword",
            "404 in self-hosted mode",
            stateless_self_hosted,
            |ctx| {
                let body = r#"{"resetPasswordToken":"x","password":"password123"}"#;
                ctx.cloud_only("auth.resetPassword", body).await
            }
        ),
        check!(
            "auth.confirmEmail",
            "404 in self-hosted mode",
            stateless_self_hosted,
            |ctx| {
                let body = r#"{"confirmationToken":"x"}"#;
                if ctx.dokploy() {
                    // Admin-only, and its self-hosted message inverted (difference 8).
                    let r = ctx.client().post("/api/auth.confirmEmail", body).await;
                    expect_error(&r, "UNAUTHORIZED", msg::UNAUTHORIZED)?;
                    let r = ctx
                        .admin()
                        .await?
                        .post("/api/auth.confirmEmail", body)
                        .await;
                    return expect_error(&r, "NOT_FOUND", msg::dokploy::CONFIRM_EMAIL_SELF_HOSTED);
                }
                ctx.cloud_only("auth.confirmEmail", body).await
            }
        )
        .in_dokploy(InDokploy::Stateful),
        check!(
            "auth.createAdmin",
            "cloud: sign-up without a cookie, confirmation by email, then login",
            cloud,
            |ctx| {
                let r = ctx.client().post("/api/auth.createAdmin", ADMIN).await;
                expect(&r, 200, "true")?;
                ensure!(
                    r.set_cookie().is_none(),
                    "a cookie before confirmation: {:?}",
                    r.set_cookie()
                );
                let first = ctx.email_token("confirm-email?token=").await?;
                let sent = ctx.emails_sent().await;
                let r = ctx.client().post("/api/auth.login", ADMIN).await;
                expect_error(&r, "BAD_REQUEST", msg::EMAIL_NOT_CONFIRMED)?;
                ensure!(
                    ctx.emails_sent().await == sent,
                    "a second confirmation mail within minutes (difference 24)"
                );
                let confirm = |token: &str| json!({"confirmationToken": token}).to_string();
                let r = ctx
                    .client()
                    .post("/api/auth.confirmEmail", &confirm(&first))
                    .await;
                expect(&r, 200, "true")?;
                let r = ctx
                    .client()
                    .post("/api/auth.confirmEmail", &confirm(&first))
                    .await;
                expect_error(&r, "NOT_FOUND", msg::TOKEN_NOT_FOUND)
                    .map_err(|e| format!("a used token: {e}"))?;
                let r = ctx.client().post("/api/auth.login", ADMIN).await;
                expect_status(&r, 200)?;
                expect_session_cookie(&r).map(|_| ())
            }
        )
        .not_in_dokploy(DOKPLOY_CLOUD),
        check!(
            "auth.createAdmin",
            "cloud: many admins; 400 for an email in use",
            cloud,
            |ctx| {
                expect(
                    &ctx.client().post("/api/auth.createAdmin", ADMIN).await,
                    200,
                    "true",
                )?;
                let other = r#"{"email":"second@example.com","password":"password123"}"#;
                expect(
                    &ctx.client().post("/api/auth.createAdmin", other).await,
                    200,
                    "true",
                )?;
                let shouted = r#"{"email":"ADMIN@example.com","password":"password123"}"#;
                let r = ctx.client().post("/api/auth.createAdmin", shouted).await;
                expect_error(&r, "BAD_REQUEST", msg::EMAIL_IN_USE)
            }
        )
        .not_in_dokploy(DOKPLOY_CLOUD),
        check!(
            "auth.resetPassword",
            "cloud: a reset by email sets the password once and ends the sessions",
            cloud,
            |ctx| {
                let mut admin = ctx.confirmed_cloud_admin().await?;
                let sent_before = ctx.target.emails().await.map_or(0, |e| e.len());
                let unknown = r#"{"email":"nobody@example.com"}"#;
                let r = ctx
                    .client()
                    .post("/api/auth.sendResetPasswordEmail", unknown)
                    .await;
                expect(&r, 200, "")?;
                let sent_after = ctx.target.emails().await.map_or(0, |e| e.len());
                ensure!(
                    sent_after == sent_before,
                    "an email sent to an unknown address"
                );
                let known = json!({"email": ADMIN_EMAIL}).to_string();
                let r = ctx
                    .client()
                    .post("/api/auth.sendResetPasswordEmail", &known)
                    .await;
                expect(&r, 200, "")?;
                let token = ctx.email_token("reset-password?token=").await?;
                // A second request within minutes sends no second mail (difference 24).
                let sent = ctx.emails_sent().await;
                let r = ctx
                    .client()
                    .post("/api/auth.sendResetPasswordEmail", &known)
                    .await;
                expect(&r, 200, "")?;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                ensure!(
                    ctx.emails_sent().await == sent,
                    "a second reset mail within minutes"
                );
                let reset =
                    json!({"resetPasswordToken": token, "password": "a new password"}).to_string();
                let r = ctx.client().post("/api/auth.resetPassword", &reset).await;
                expect(&r, 200, "true")?;
                expect_error(
                    &admin.get("/api/auth.get").await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )
                .map_err(|e| format!("the old session after a reset: {e}"))?;
                let r = ctx.client().post("/api/auth.resetPassword", &reset).await;
                expect_error(&r, "NOT_FOUND", msg::TOKEN_NOT_FOUND)
                    .map_err(|e| format!("a used reset token: {e}"))?;
                let r = ctx.client().post("/api/auth.login", ADMIN).await;
                expect_error(&r, "BAD_REQUEST", msg::CREDENTIALS)?;
                let new = json!({"email": ADMIN_EMAIL, "password": "a new password"}).to_string();
                expect_status(&ctx.client().post("/api/auth.login", &new).await, 200)
            }
        )
        .not_in_dokploy(DOKPLOY_CLOUD),
        check!(
            "auth.confirmEmail",
            "cloud: emailed tokens expire after 24 h",
            cloud_clock,
            |ctx| {
                expect(
                    &ctx.client().post("/api/auth.createAdmin", ADMIN).await,
                    200,
                    "true",
                )?;
                let first = ctx.email_token("confirm-email?token=").await?;
                ctx.advance(specs::lifetimes::CONFIRMATION_TOKEN_MS + 1000)
                    .await?;
                let confirm = |token: &str| json!({"confirmationToken": token}).to_string();
                let r = ctx
                    .client()
                    .post("/api/auth.confirmEmail", &confirm(&first))
                    .await;
                expect_error(&r, "NOT_FOUND", msg::CONFIRMATION_EXPIRED)?;
                // Logging in sends a new one, which replaces the first and works.
                ctx.client().post("/api/auth.login", ADMIN).await;
                let resent = ctx.email_token("confirm-email?token=").await?;
                ensure!(
                    resent != first,
                    "login did not send a new confirmation token"
                );
                let r = ctx
                    .client()
                    .post("/api/auth.confirmEmail", &confirm(&first))
                    .await;
                expect_error(&r, "NOT_FOUND", msg::TOKEN_NOT_FOUND)
                    .map_err(|e| format!("the replaced token: {e}"))?;
                expect(
                    &ctx.client()
                        .post("/api/auth.confirmEmail", &confirm(&resent))
                        .await,
                    200,
                    "true",
                )?;
                let mut admin = ctx.client();
                expect_status(&admin.post("/api/auth.login", ADMIN).await, 200)?;
                let known = json!({"email": ADMIN_EMAIL}).to_string();
                expect(
                    &ctx.client()
                        .post("/api/auth.sendResetPasswordEmail", &known)
                        .await,
                    200,
                    "",
                )?;
                let token = ctx.email_token("reset-password?token=").await?;
                let me = admin.get("/api/auth.get").await.json();
                ensure!(
                    me["resetPasswordExpiresAt"].is_string() && me["resetPasswordToken"].is_null(),
                    "auth.get shows when a reset expires, never its token: {me}"
                );
                ctx.advance(specs::lifetimes::RESET_TOKEN_MS + 1000).await?;
                let reset = json!({"resetPasswordToken": token, "password": "a new password"});
                let r = ctx
                    .client()
                    .post("/api/auth.resetPassword", &reset.to_string())
                    .await;
                expect_error(&r, "NOT_FOUND", msg::TOKEN_EXPIRED)
            }
        )
        .not_in_dokploy(DOKPLOY_CLOUD),
        check!(
            "admin.createUserInvitation",
            "cloud: another admin's email answered as if invited, nothing made (difference 25)",
            cloud,
            |ctx| {
                let mut first = ctx.confirmed_cloud_admin().await?;
                let other = r#"{"email":"second@example.com","password":"password123"}"#;
                let mut second = ctx.confirmed_cloud_admin_as(other).await?;
                let invite = |email: &str| json!({ "email": email }).to_string();
                let r = second
                    .post("/api/admin.createUserInvitation", &invite(ADMIN_EMAIL))
                    .await;
                expect(&r, 200, "")?;
                expect(&second.get("/api/user.all").await, 200, "[]")
                    .map_err(|e| format!("an invitation was made: {e}"))?;
                // Within the admin's own organisation the refusal stays.
                let r = first
                    .post("/api/admin.createUserInvitation", &invite(ADMIN_EMAIL))
                    .await;
                expect_error(&r, "BAD_REQUEST", msg::INVITATION_DUPLICATE)?;
                expect(
                    &first
                        .post(
                            "/api/admin.createUserInvitation",
                            &invite("dev@example.com"),
                        )
                        .await,
                    200,
                    "",
                )?;
                let r = first
                    .post(
                        "/api/admin.createUserInvitation",
                        &invite("dev@example.com"),
                    )
                    .await;
                expect_error(&r, "BAD_REQUEST", msg::INVITATION_DUPLICATE)
            }
        )
        .not_in_dokploy(DOKPLOY_CLOUD),
    ]
}
