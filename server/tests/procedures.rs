//! Every procedure's success and each of its errors (§4 of the contract).

mod common;
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use std::sync::Arc;

fn bad_request(message: &str) -> String {
    envelope("BAD_REQUEST", message)
}

#[tokio::test]
async fn create_admin_once() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let me = admin.get("/api/auth.get").await.json();
    assert_eq!(me["rol"], "admin");
    assert_eq!(me["id"].as_str().unwrap().len(), 21);
    assert!(me["image"]
        .as_str()
        .unwrap()
        .starts_with("/avatars/avatar-"));
    assert_eq!(me["createdAt"], "2024-10-28T09:15:02.123Z");
    let keys: Vec<&str> = me.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "email",
            "rol",
            "image",
            "secret",
            "token",
            "is2FAEnabled",
            "createdAt",
            "resetPasswordToken",
            "resetPasswordExpiresAt",
            "confirmationToken",
            "confirmationExpiresAt"
        ]
    );
    let r = h
        .client()
        .post(
            "/api/auth.createAdmin",
            r#"{"email":"other@example.com","password":"password123"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, bad_request("Admin already exists"))
    );
    assert!(r.set_cookie().is_none());
    let r = h
        .client()
        .post(
            "/api/auth.createAdmin",
            r#"{"email":"bad","password":"short"}"#,
        )
        .await;
    assert_eq!(r.json()["issues"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn login() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let id = {
        let mut a = admin.clone();
        a.get("/api/auth.get").await.json()["id"].clone()
    };
    let mut c = h.client();
    let r = c
        .post(
            "/api/auth.login",
            r#"{"email":"ADMIN@example.com","password":"password123"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"is2FAEnabled": false, "authId": id}));
    assert!(r.session_id().is_some());
    assert_eq!(c.get("/api/auth.get").await.status, 200);
    for body in [
        r#"{"email":"admin@example.com","password":"wrongpassword"}"#,
        r#"{"email":"nobody@example.com","password":"password123"}"#,
    ] {
        let r = h.client().post("/api/auth.login", body).await;
        assert_eq!(
            (r.status, r.body.clone()),
            (400, bad_request("Error: Credentials do not match"))
        );
        assert!(r.set_cookie().is_none());
    }
}

#[tokio::test]
async fn verify_token() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    assert_eq!(admin.post_empty("/api/auth.verifyToken").await.body, "true");
    assert_eq!(
        h.client().post_empty("/api/auth.verifyToken").await.status,
        401
    );
}

#[tokio::test]
async fn update() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let (_, member_id) = h.member(&mut admin, "dev@example.com").await;
    let _ = member_id;
    let r = admin.post("/api/auth.update", r#"{"email":"New@Example.com","password":null,"image":"/avatars/avatar-3.png","rol":"user","is2FAEnabled":true}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let me = r.json();
    assert_eq!(me["email"], "new@example.com");
    assert_eq!(me["image"], "/avatars/avatar-3.png");
    assert_eq!(me["rol"], "admin", "other keys are ignored");
    assert_eq!(me["is2FAEnabled"], false);
    assert!(!r.body.contains("$2b$"), "never the hash");
    let r = admin
        .post(
            "/api/auth.update",
            r#"{"email":"dev@example.com","password":""}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (409, envelope("CONFLICT", "Email already in use"))
    );
    let r = admin
        .post(
            "/api/auth.update",
            r#"{"email":"not-an-email","password":"short"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["issues"].as_array().unwrap().len(), 2);
    let r = admin.post("/api/auth.update", r#"{"image":"x"}"#).await;
    assert_eq!(r.json()["issues"][0]["path"], json!(["email"]));
    assert_eq!(
        h.client()
            .post("/api/auth.update", r#"{"email":null,"password":null}"#)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_new_password_ends_the_other_sessions() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let mut other = h.client();
    other
        .post(
            "/api/auth.login",
            r#"{"email":"admin@example.com","password":"password123"}"#,
        )
        .await;
    let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .post(
            "/api/auth.update",
            r#"{"email":null,"password":"newpassword1"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        admin.get("/api/auth.get").await.status,
        200,
        "the session making the change stays"
    );
    assert_eq!(
        other.get("/api/auth.get").await.status,
        401,
        "the other session ended"
    );
    assert_eq!(
        admin.with_bearer(&token).get("/api/auth.get").await.status,
        200,
        "the API token stays"
    );
    let r = h
        .client()
        .post(
            "/api/auth.login",
            r#"{"email":"admin@example.com","password":"newpassword1"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .client()
        .post(
            "/api/auth.login",
            r#"{"email":"admin@example.com","password":"password123"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn generate_token_replaces_the_previous_one() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let first = admin.post_empty("/api/auth.generateToken").await.json();
    let second = admin.post_empty("/api/auth.generateToken").await.json();
    let (first, second) = (
        first["token"].as_str().unwrap(),
        second["token"].as_str().unwrap(),
    );
    assert_ne!(first, second);
    assert_eq!(
        admin.with_bearer(first).get("/api/auth.get").await.status,
        401
    );
    assert_eq!(
        admin.with_bearer(second).get("/api/auth.get").await.json()["token"],
        second
    );
}

#[tokio::test]
async fn one() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    admin.post_empty("/api/auth.generateToken").await;
    let me = admin.get("/api/auth.get").await.json();
    let (mut member, member_id) = h.member(&mut admin, "dev@example.com").await;
    let r = admin
        .get(&format!("/api/auth.one?id={}", me["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.json(), me, "one's own account, token included");
    let r = admin.get(&format!("/api/auth.one?id={member_id}")).await;
    assert_eq!(r.json()["email"], "dev@example.com");
    assert_eq!(r.json()["token"], Value::Null);
    let r = admin.get("/api/auth.one?id=nope").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, envelope("NOT_FOUND", "Auth not found"))
    );
    let r = member.get(&format!("/api/auth.one?id={member_id}")).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (401, envelope("UNAUTHORIZED", "UNAUTHORIZED")),
        "members are not admins"
    );
}

fn decode_qr(data_url: &str) -> String {
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            data_url
                .strip_prefix("data:image/png;base64,")
                .expect("a PNG data URL"),
        )
        .unwrap();
    let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .unwrap()
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn two_factor_from_setup_to_login() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let r = admin.get("/api/auth.generate2FASecret").await;
    assert_eq!(r.status, 200);
    let out = r.json();
    let secret = out["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 24);
    let uri = decode_qr(out["qrCodeUrl"].as_str().unwrap());
    assert!(
        uri.starts_with("otpauth://totp/Dokploy:admin%40example.com?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=Dokploy"), "{uri}");
    for default in ["algorithm=SHA1", "digits=6", "period=30"] {
        // Key Uri Format defaults: either stated or left out.
        let key = default.split('=').next().unwrap();
        assert!(uri.contains(default) || !uri.contains(key), "{uri}");
    }
    assert_eq!(
        admin.get("/api/auth.get").await.json()["is2FAEnabled"],
        false,
        "nothing stored yet"
    );

    let pin = |offset: i64| {
        server::core::totp_code(&secret, (h.now_secs() as i64 + offset) as u64).unwrap()
    };
    let wrong = if pin(0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = admin
        .post(
            "/api/auth.verify2FASetup",
            &json!({"pin": wrong, "secret": secret}).to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, bad_request("Invalid 2FA code"))
    );
    let r = admin
        .post(
            "/api/auth.verify2FASetup",
            &json!({"pin": pin(-30), "secret": secret}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["is2FAEnabled"],
        true,
        "the record after the change"
    );
    assert_eq!(r.json()["secret"], Value::Null);

    let mut c = h.client();
    let r = c
        .post(
            "/api/auth.login",
            r#"{"email":"admin@example.com","password":"password123"}"#,
        )
        .await;
    let id = r.json()["authId"].clone();
    assert_eq!(r.json()["is2FAEnabled"], true);
    assert!(r.set_cookie().is_none(), "no session before the pin");
    let r = c
        .post(
            "/api/auth.verifyLogin2FA",
            &json!({"pin": wrong, "id": id}).to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, bad_request("Invalid 2FA code"))
    );
    let r = c
        .post(
            "/api/auth.verifyLogin2FA",
            &json!({"pin": pin(30), "id": id}).to_string(),
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    assert!(r.session_id().is_some());
    assert_eq!(c.get("/api/auth.get").await.status, 200);
    // The pin alone, without a fresh password, opens nothing.
    let r = h
        .client()
        .post(
            "/api/auth.verifyLogin2FA",
            &json!({"pin": pin(0), "id": id}).to_string(),
        )
        .await;
    assert_eq!(r.status, 400);
    // A pending login expires after 5 minutes.
    h.client()
        .post(
            "/api/auth.login",
            r#"{"email":"admin@example.com","password":"password123"}"#,
        )
        .await;
    h.clock.advance(5 * 60_000 + 1);
    let r = h
        .client()
        .post(
            "/api/auth.verifyLogin2FA",
            &json!({"pin": pin(0), "id": id}).to_string(),
        )
        .await;
    assert_eq!(r.status, 400);

    let r = admin.post_empty("/api/auth.disable2FA").await;
    assert_eq!(r.json()["is2FAEnabled"], false);
    let r = h
        .client()
        .post(
            "/api/auth.login",
            r#"{"email":"admin@example.com","password":"password123"}"#,
        )
        .await;
    assert_eq!(r.json()["is2FAEnabled"], false);
    let r = admin
        .post(
            "/api/auth.verify2FASetup",
            r#"{"pin":"123456","secret":"not base32!"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .client()
        .post("/api/auth.verifyLogin2FA", r#"{"pin":"12345","id":"x"}"#)
        .await;
    assert_eq!(r.json()["issues"][0]["minimum"], 6);
}

#[tokio::test]
async fn invitations() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let admin_me = admin.get("/api/auth.get").await.json();
    let r = admin
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"Dev@Example.com"}"#,
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let r = admin
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"dev@example.com"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            400,
            bad_request("Error to create this user\ncheck if the email is not registered")
        )
    );
    let r = admin
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"admin@example.com"}"#,
        )
        .await;
    assert_eq!(r.status, 400);

    let all = admin.get("/api/user.all").await.json();
    let invitation = all[0].clone();
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(invitation["isRegistered"], false);
    assert_eq!(invitation["expirationDate"], "2024-10-29T09:15:02.123Z");
    assert_eq!(invitation["auth"]["email"], "dev@example.com");
    assert_eq!(invitation["auth"]["rol"], "user");
    assert_eq!(invitation["canAccessToAPI"], false);
    assert_eq!(invitation["accesedProjects"], json!([]));
    let token = invitation["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 64);
    let auth_id = invitation["authId"].as_str().unwrap().to_string();

    let r = h
        .client()
        .get(&format!("/api/admin.getUserByToken?token={token}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["isExpired"], false);
    assert_eq!(r.json()["authId"], auth_id.as_str());
    let r = h.client().get("/api/admin.getUserByToken?token=nope").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, envelope("NOT_FOUND", "Invitation not found"))
    );

    // The token opens only its own account.
    let hijack = json!({"password": "hijacked1", "id": admin_me["id"], "token": token});
    let r = h
        .client()
        .post("/api/auth.createUser", &hijack.to_string())
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, bad_request("Invalid token"))
    );
    let r = h
        .client()
        .post(
            "/api/auth.createUser",
            &json!({"password": "memberpass1", "id": auth_id, "token": "wrong"}).to_string(),
        )
        .await;
    assert_eq!(r.status, 400);

    let mut member = h.client();
    let accept = json!({"password": "memberpass1", "id": auth_id, "token": token}).to_string();
    let r = member.post("/api/auth.createUser", &accept).await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    assert!(r.session_id().is_some());
    assert_eq!(member.get("/api/auth.get").await.json()["rol"], "user");
    let r = h.client().post("/api/auth.createUser", &accept).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, bad_request("Invalid token")),
        "used once"
    );
    let r = h
        .client()
        .get(&format!("/api/admin.getUserByToken?token={token}"))
        .await;
    assert_eq!(r.json()["isExpired"], true, "registered");
    assert_eq!(
        admin.get("/api/user.all").await.json()[0]["isRegistered"],
        true
    );

    // Members are not admins.
    assert_eq!(member.get("/api/user.all").await.status, 401);
    assert_eq!(
        member
            .post(
                "/api/admin.createUserInvitation",
                r#"{"email":"x@example.com"}"#
            )
            .await
            .status,
        401
    );
    assert_eq!(
        member
            .post(
                "/api/admin.removeUser",
                &json!({"authId": auth_id}).to_string()
            )
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn invitations_expire_after_a_day() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    admin
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"late@example.com"}"#,
        )
        .await;
    let invitation = admin.get("/api/user.all").await.json()[0].clone();
    h.clock.advance(24 * HOUR + 1);
    let token = invitation["token"].as_str().unwrap();
    let r = h
        .client()
        .get(&format!("/api/admin.getUserByToken?token={token}"))
        .await;
    assert_eq!(r.json()["isExpired"], true);
    let r = h
        .client()
        .post(
            "/api/auth.createUser",
            &json!({"password": "memberpass1", "id": invitation["authId"], "token": token})
                .to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, bad_request("Invitation expired"))
    );
}

#[tokio::test]
async fn remove_user() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let me = admin.get("/api/auth.get").await.json();
    let (mut member, member_id) = h.member(&mut admin, "dev@example.com").await;
    let r = admin
        .post(
            "/api/admin.removeUser",
            &json!({"authId": me["id"]}).to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, envelope("NOT_FOUND", "User not found")),
        "not oneself"
    );
    let r = admin
        .post("/api/admin.removeUser", r#"{"authId":"nobody"}"#)
        .await;
    assert_eq!(r.status, 404);
    let r = admin
        .post(
            "/api/admin.removeUser",
            &json!({"authId": member_id}).to_string(),
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(
        member.get("/api/auth.get").await.status,
        401,
        "its sessions ended"
    );
    assert_eq!(admin.get("/api/user.all").await.json(), json!([]));
    let r = h
        .client()
        .post(
            "/api/auth.login",
            r#"{"email":"dev@example.com","password":"memberpass1"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    // The email can be invited again.
    let r = admin
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"dev@example.com"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn cloud_procedures_are_404_in_self_hosted_mode() {
    let h = Harness::start().await;
    for (path, body) in [
        (
            "/api/auth.sendResetPasswordEmail",
            r#"{"email":"a@example.com"}"#,
        ),
        (
            "/api/auth.resetPassword",
            r#"{"resetPasswordToken":"x","password":"password123"}"#,
        ),
        ("/api/auth.confirmEmail", r#"{"confirmationToken":"x"}"#),
    ] {
        let r = h.client().post(path, body).await;
        assert_eq!(
            (r.status, r.body.clone()),
            (
                404,
                envelope(
                    "NOT_FOUND",
                    "This feature is only available in the cloud version"
                )
            ),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_is_accepted_once() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let secret = admin.get("/api/auth.generate2FASecret").await.json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let pin = |offset: i64| {
        server::core::totp_code(&secret, (h.now_secs() as i64 + offset) as u64).unwrap()
    };
    let setup = json!({"pin": pin(0), "secret": secret}).to_string();
    assert_eq!(
        admin.post("/api/auth.verify2FASetup", &setup).await.status,
        200
    );
    let login = || async {
        let r = h
            .client()
            .post(
                "/api/auth.login",
                r#"{"email":"admin@example.com","password":"password123"}"#,
            )
            .await;
        r.json()["authId"].clone()
    };
    let addr = h.addr();
    let verify = |id: Value, pin: String| async move {
        Client::new(addr)
            .post(
                "/api/auth.verifyLogin2FA",
                &json!({"pin": pin, "id": id}).to_string(),
            )
            .await
    };
    let id = login().await;
    let r = verify(id.clone(), pin(0)).await;
    assert_eq!(
        (r.status, r.body),
        (400, bad_request("Invalid 2FA code")),
        "the setup pin is spent"
    );
    assert_eq!(verify(id.clone(), pin(30)).await.status, 200);
    login().await;
    assert_eq!(verify(id.clone(), pin(30)).await.status, 400, "replayed");
    h.clock.advance(30_000);
    login().await;
    assert_eq!(
        verify(id.clone(), pin(-30)).await.status,
        400,
        "an older step"
    );
    assert_eq!(
        verify(id.clone(), pin(0)).await.status,
        400,
        "the step last accepted"
    );
    assert_eq!(
        verify(id.clone(), pin(30)).await.status,
        200,
        "a later step is new"
    );

    // Two requests at once with the same fresh pin: one session, not two.
    h.clock.advance(60_000);
    login().await;
    let fresh = pin(0);
    let (a, b) = tokio::join!(verify(id.clone(), fresh.clone()), verify(id.clone(), fresh));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
}

#[tokio::test]
async fn passwords_over_72_bytes_are_refused_not_cut() {
    let h = Harness::start().await;
    let long = "é".repeat(37); // 74 bytes, 37 characters
    let r = h
        .client()
        .post(
            "/api/auth.createAdmin",
            &json!({"email": "admin@example.com", "password": long}).to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, bad_request("Password must be at most 72 bytes"))
    );
    let mut admin = h.admin().await;
    let r = admin
        .post(
            "/api/auth.update",
            &json!({"email": null, "password": "x".repeat(73)}).to_string(),
        )
        .await;
    assert_eq!(r.status, 400);
    let exactly = "y".repeat(72);
    assert_eq!(
        admin
            .post(
                "/api/auth.update",
                &json!({"email": null, "password": exactly}).to_string()
            )
            .await
            .status,
        200
    );
    let longer = format!("{exactly}zzz");
    let r = h
        .client()
        .post(
            "/api/auth.login",
            &json!({"email": "admin@example.com", "password": longer}).to_string(),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "bcrypt would cut it to the stored password: refused"
    );
    let r = h
        .client()
        .post(
            "/api/auth.login",
            &json!({"email": "admin@example.com", "password": exactly}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_weak_hash_is_strengthened_at_login() {
    use server::core::records::Read;
    use server::core::{Call, Core, Deps};
    let store = Arc::new(server::storage::MemoryStore::new());
    let core_with_cost = |cost: u32| {
        let deps = Deps {
            store: store.clone(),
            clock: Arc::new(server::time::SystemClock),
            random: Arc::new(server::crypto::OsRandom::new()),
            hasher: Arc::new(server::hashing::Bcrypt::new(cost)),
            mailer: Arc::new(server::core::ports::NoMail),
            notifier: Arc::new(server::core::ports::NoNotifier),
        };
        Core::new(deps, Default::default())
    };
    // An account hashed at cost 4, as by an older configuration …
    let old = core_with_cost(4).await.unwrap();
    let fixtures = serde_json::from_value(
        json!({"admins": [{"email": "admin@example.com", "password": "password123"}]}),
    )
    .unwrap();
    old.load_fixtures(&fixtures).await.unwrap();
    let hash = |store: &Arc<server::storage::MemoryStore>| {
        let store: &dyn server::core::ports::Store = &**store;
        store
            .account_by_email("admin@example.com")
            .unwrap()
            .unwrap()
            .password_hash
            .unwrap()
    };
    assert!(hash(&store).starts_with("$2b$04$"));
    // … logs in to a server configured for cost 5.
    let new = core_with_cost(5).await.unwrap();
    let login = |password: &str| Call {
        procedure: specs::find("auth.login").unwrap(),
        input: Some(json!({"email": "admin@example.com", "password": password})),
        credentials: Default::default(),
        client: None,
    };
    assert!(new.call(login("wrongpass1")).await.result.is_err());
    assert!(
        hash(&store).starts_with("$2b$04$"),
        "a failed login changes nothing"
    );
    assert!(new.call(login("password123")).await.result.is_ok());
    assert!(
        hash(&store).starts_with("$2b$05$"),
        "re-hashed at the configured cost"
    );
    assert!(
        new.call(login("password123")).await.result.is_ok(),
        "and the password still works"
    );
}
