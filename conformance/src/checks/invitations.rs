//! Invitations and members: invite, read by token, remove, list.

use super::*;

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "admin.createUserInvitation",
            "success; duplicate 400; members 401",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let email = ctx.email("dev");
                let (mut member, _) = ctx.member(&mut admin, &email).await?;
                // Shouted: the contract compares emails lowercased; whether Dokploy
                // does here was not measured, so its profile sends the same email.
                let again = match ctx.dokploy() {
                    true => email.clone(),
                    false => email.to_uppercase(),
                };
                let shouted = json!({ "email": again }).to_string();
                let r = admin
                    .post("/api/admin.createUserInvitation", &shouted)
                    .await;
                expect_error(&r, "BAD_REQUEST", msg::INVITATION_DUPLICATE)?;
                let r = member
                    .post(
                        "/api/admin.createUserInvitation",
                        r#"{"email":"x@example.com"}"#,
                    )
                    .await;
                expect_error(&r, "UNAUTHORIZED", msg::UNAUTHORIZED)
            }
        ),
        check!(
            "admin.getUserByToken",
            "the invitation; 404 for an unknown token",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let email = ctx.email("dev");
                let invitation = ctx.invite(&mut admin, &email).await?;
                let token = invitation["token"].as_str().unwrap_or_default();
                ensure!(token.len() == 64, "token {token:?}");
                let r = ctx
                    .send(
                        "GET",
                        &format!("/api/admin.getUserByToken?token={token}"),
                        &[],
                        "",
                    )
                    .await;
                expect_status(&r, 200)?;
                ensure!(
                    r.json()["isExpired"] == false && r.json()["auth"]["email"] == email,
                    "{}",
                    r.body
                );
                let r = ctx
                    .send("GET", "/api/admin.getUserByToken?token=unknown", &[], "")
                    .await;
                expect_error(&r, "NOT_FOUND", msg::INVITATION_NOT_FOUND)
            }
        )
        .trpc_only_in_dokploy(DOKPLOY_REST_GATE),
        check!(
            "admin.removeUser",
            "removes a member and its sessions; 404 for oneself (Dokploy: 400, nothing deleted)",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let me = admin.get("/api/auth.get").await.json()["id"].clone();
                let (mut member, member_id) = ctx.member(&mut admin, &ctx.email("dev")).await?;
                // Oneself: Dokploy answers 400 `Error to delete this user` and deletes
                // nothing (§6b), as for anyone not the caller's member.
                let (code, message) = match ctx.dokploy() {
                    true => ("BAD_REQUEST", msg::dokploy::REMOVE_USER),
                    false => ("NOT_FOUND", msg::USER_NOT_MEMBER),
                };
                let own = json!({"authId": me}).to_string();
                expect_error(
                    &admin.post("/api/admin.removeUser", &own).await,
                    code,
                    message,
                )?;
                expect_status(&admin.get("/api/auth.get").await, 200)
                    .map_err(|e| format!("the admin removed itself: {e}"))?;
                expect(
                    &admin
                        .post(
                            "/api/admin.removeUser",
                            &json!({"authId": member_id}).to_string(),
                        )
                        .await,
                    200,
                    "",
                )?;
                expect_status(&member.get("/api/auth.get").await, 401)
            }
        ),
        check!(
            "user.all",
            "the members with their accounts; 401 for members",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let (dev, pending) = (ctx.email("dev"), ctx.email("pending"));
                let (mut member, _) = ctx.member(&mut admin, &dev).await?;
                let member_token = new_token(&mut member).await?;
                ctx.invite(&mut admin, &pending).await?;
                let all = admin.get("/api/user.all").await.json();
                // Those the check made, in the order the list gives them (on a live
                // instance the list holds its real members too).
                let ours: Vec<&Value> = all
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| {
                        !ctx.is_live() || m["auth"]["email"] == dev || m["auth"]["email"] == pending
                    })
                    .collect();
                let emails: Vec<&str> = ours
                    .iter()
                    .filter_map(|m| m["auth"]["email"].as_str())
                    .collect();
                ensure!(emails == [&dev, &pending], "members {emails:?}");
                ensure!(
                    ours[0]["isRegistered"] == true && ours[1]["isRegistered"] == false,
                    "{all}"
                );
                for m in all.as_array().into_iter().flatten() {
                    // Dokploy leaves only `secret` out of these (difference 5).
                    if !ctx.dokploy() {
                        expect_auth_shape(
                            &m["auth"],
                            m["auth"]["email"].as_str().unwrap_or_default(),
                        )?;
                    }
                    // Dokploy shows the admin its members' API tokens (difference 19).
                    let shown = match ctx.dokploy() && m["auth"]["email"] == dev {
                        true => json!(member_token),
                        false => Value::Null,
                    };
                    ensure!(
                        m["auth"]["token"] == shown,
                        "a member's token: {} where {shown} was expected",
                        m["auth"]["token"]
                    );
                }
                expect_error(
                    &member.get("/api/user.all").await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )
            }
        ),
    ]
}
