//! Sessions: `auth.get`, `auth.verifyToken`, `auth.logout`, cookie sliding.

use super::*;

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!("auth.get", "the caller's record, shaped", |ctx| {
            let mut admin = ctx.admin().await?;
            expect_auth_shape(&admin.get("/api/auth.get").await.json(), ADMIN_EMAIL)
        }),
        check!(
            "auth.get",
            "401 without a session, blank cookie for a dead one",
            stateless,
            |ctx| {
                expect_error(
                    &ctx.client().get("/api/auth.get").await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )?;
                let r = send(
                    ctx.addr,
                    "GET",
                    "/api/auth.get",
                    &[("cookie", "auth_session=nosuchsession")],
                    "",
                )
                .await;
                expect_error(&r, "UNAUTHORIZED", msg::UNAUTHORIZED)?;
                ensure!(
                    r.set_cookie().as_deref() == Some(BLANK),
                    "cookie {:?}",
                    r.set_cookie()
                );
                let r = send(
                    ctx.addr,
                    "GET",
                    "/api/auth.get",
                    &[("authorization", "bearer x")],
                    "",
                )
                .await;
                expect_status(&r, 401)
            }
        ),
        check!("auth.get", "sliding cookie sessions", clock, |ctx| {
            let mut admin = ctx.admin().await?;
            ctx.advance(13 * 3_600_000).await?;
            let r = admin.get("/api/auth.get").await;
            expect_status(&r, 200)?;
            expect_session_cookie(&r)?;
            // Extended to a full day from then: dead a day and a bit later.
            ctx.advance(24 * 3_600_000 + 1000).await?;
            let r = admin.get("/api/auth.get").await;
            expect_status(&r, 401)?;
            ensure!(
                r.set_cookie().as_deref() == Some(BLANK),
                "cookie {:?}",
                r.set_cookie()
            );
            Ok(())
        }),
        check!(
            "auth.verifyToken",
            "true with a session, 401 without",
            |ctx| {
                let mut admin = ctx.admin().await?;
                expect(
                    &admin.post_empty("/api/auth.verifyToken").await,
                    200,
                    "true",
                )?;
                expect_error(
                    &ctx.client().post_empty("/api/auth.verifyToken").await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )
            }
        ),
        check!(
            "auth.logout",
            "ends the cookie session; false for a Bearer token",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                expect(
                    &admin
                        .with_bearer(&token)
                        .post_empty("/api/auth.logout")
                        .await,
                    200,
                    "false",
                )?;
                let cookie = format!("auth_session={}", admin.cookie.clone().unwrap_or_default());
                let r = admin.post_empty("/api/auth.logout").await;
                expect(&r, 200, "true")?;
                ensure!(
                    r.set_cookie().as_deref() == Some(BLANK),
                    "cookie {:?}",
                    r.set_cookie()
                );
                expect_status(
                    &send(ctx.addr, "GET", "/api/auth.get", &[("cookie", &cookie)], "").await,
                    401,
                )
            }
        ),
    ]
}
