//! The transports: REST framing and errors, tRPC envelopes and batches.

use super::*;

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "transport",
            "415 without a JSON content type",
            stateless,
            |ctx| {
                let body = r#"{"email":"a@b.co","password":"password1"}"#;
                if ctx.dokploy() {
                    // No 415: Next.js hands on whatever it parsed, and the input reads
                    // as missing (behind the gate: with a session).
                    let cookie = ctx.rest_session().await?;
                    for content_type in [None, Some("text/plain"), Some(FORM)] {
                        let mut headers = vec![("cookie", cookie.as_str())];
                        headers.extend(content_type.map(|t| ("content-type", t)));
                        let r = send(ctx.addr, "POST", "/api/auth.login", &headers, body).await;
                        expect_input_missing(&r)
                            .map_err(|e| format!("content type {content_type:?}: {e}"))?;
                    }
                    return Ok(());
                }
                let r = send(ctx.addr, "POST", "/api/auth.login", &[], body).await;
                expect_error(&r, "UNSUPPORTED_MEDIA_TYPE", msg::MISSING_CONTENT_TYPE)?;
                let r = send(
                    ctx.addr,
                    "POST",
                    "/api/auth.login",
                    &[("content-type", "text/plain")],
                    body,
                )
                .await;
                expect_error(
                    &r,
                    "UNSUPPORTED_MEDIA_TYPE",
                    &msg::unsupported_content_type("text/plain"),
                )
            }
        ).in_dokploy(InDokploy::Stateful),
        check!("transport", "413 over 100,000 bytes", stateless, |ctx| {
            if ctx.dokploy() {
                // Next.js reads REST bodies up to 1 MB, and says so in plain text.
                let json = [("content-type", "application/json")];
                let over = format!(r#"{{"email":"{}@b.co"}}"#, "a".repeat(1_100_000));
                let r = send(ctx.addr, "POST", "/api/auth.login", &json, &over).await;
                expect(&r, 413, msg::dokploy::BODY_OVER_1MB)?;
                let under = format!(r#"{{"email":"{}@b.co"}}"#, "a".repeat(100_001));
                let r = send(ctx.addr, "POST", "/api/auth.login", &json, &under).await;
                return expect(&r, 401, msg::dokploy::GATE)
                    .map_err(|e| format!("a body of 100,016 bytes is read, then gated: {e}"));
            }
            let big = format!(
                r#"{{"email":"{}@b.co","password":"password1"}}"#,
                "a".repeat(100_001)
            );
            let r = send(
                ctx.addr,
                "POST",
                "/api/auth.login",
                &[("content-type", "application/json")],
                &big,
            )
            .await;
            expect_error(&r, "PAYLOAD_TOO_LARGE", msg::BODY_TOO_LARGE)
        }),
        check!(
            "transport",
            "400 PARSE_ERROR for a body that is not JSON",
            stateless,
            |ctx| {
                let r = send(
                    ctx.addr,
                    "POST",
                    "/api/auth.login",
                    &[("content-type", "application/json")],
                    "{nope",
                )
                .await;
                if ctx.dokploy() {
                    // Next.js's answer, before the gate, in plain text.
                    expect(&r, 400, msg::dokploy::INVALID_JSON)?;
                    ensure!(r.header("content-type").is_none(), "a content type");
                    return Ok(());
                }
                expect_error(&r, "PARSE_ERROR", msg::PARSE_BODY)
            }
        ),
        check!(
            "transport",
            "404 for unknown paths, wrong methods, wrong case",
            stateless,
            |ctx| {
                let cookie = match ctx.dokploy() {
                    // Behind the gate: with a session.
                    true => ctx.rest_session().await?,
                    false => String::new(),
                };
                let session = [("cookie", cookie.as_str())];
                let headers: &[(&str, &str)] = if ctx.dokploy() { &session } else { &[] };
                if ctx.dokploy() {
                    // Dokploy matches paths ignoring case, `.` as any character
                    // (difference 11).
                    for path in ["/api/Auth.get", "/api/authXget"] {
                        let r = send(ctx.addr, "GET", path, headers, "").await;
                        expect_status(&r, 200).map_err(|e| format!("GET {path}: {e}"))?;
                    }
                }
                for (method, path) in [
                    ("GET", "/api/auth.nope"),
                    ("POST", "/api/auth.get"),
                    ("GET", "/api/auth.login"),
                    ("GET", "/api/Auth.get"),
                    ("GET", "/api/authXget"),
                ]
                .into_iter()
                .take(if ctx.dokploy() { 3 } else { 5 })
                {
                    let r = send(ctx.addr, method, path, headers, "").await;
                    expect_error(&r, "NOT_FOUND", msg::NOT_FOUND)
                        .map_err(|e| format!("{method} {path}: {e}"))?;
                }
                Ok(())
            }
        ).in_dokploy(InDokploy::Stateful),
        check!("transport", "204 for HEAD", stateless, |ctx| {
            let r = send(ctx.addr, "HEAD", "/api/anything", &[], "").await;
            if ctx.dokploy() {
                // The gate answers first.
                return expect_status(&r, 401);
            }
            expect(&r, 204, "")
        }),
        check!(
            "transport",
            "without a session: public procedures answer, others 401, unknown paths 404 (difference 12)",
            stateless,
            |ctx| {
                let json = [("content-type", "application/json")];
                let login = r#"{"email":"nobody@conformance.invalid","password":"password1"}"#;
                let public = send(ctx.addr, "POST", "/api/auth.login", &json, login).await;
                let protected = send(ctx.addr, "GET", "/api/auth.get", &[], "").await;
                let unknown = send(ctx.addr, "GET", "/api/auth.nope", &[], "").await;
                if ctx.dokploy() {
                    for r in [public, protected, unknown] {
                        expect(&r, 401, msg::dokploy::GATE)?;
                        let content_type = r.header("content-type");
                        ensure!(
                            content_type.as_deref() == Some("application/json; charset=utf-8"),
                            "content type {content_type:?}"
                        );
                    }
                    return Ok(());
                }
                expect_error(&public, "BAD_REQUEST", msg::CREDENTIALS)?;
                expect_error(&protected, "UNAUTHORIZED", msg::UNAUTHORIZED)?;
                expect_error(&unknown, "NOT_FOUND", msg::NOT_FOUND)
            }
        ),
        check!(
            "transport",
            "zod issues, every field, schema order",
            stateless,
            |ctx| {
                let body = r#"{"password":"short","email":"bad","extra":1}"#;
                let r = if ctx.dokploy() {
                    // Behind the gate: with a session.
                    let cookie = ctx.rest_session().await?;
                    let headers = [("cookie", cookie.as_str()), ("content-type", "application/json")];
                    send(ctx.addr, "POST", "/api/auth.login", &headers, body).await
                } else {
                    ctx.client().post("/api/auth.login", body).await
                };
                expect(
                    &r,
                    400,
                    r#"{"message":"Input validation failed","code":"BAD_REQUEST","issues":[{"validation":"email","code":"invalid_string","message":"Invalid email","path":["email"]},{"code":"too_small","minimum":8,"type":"string","inclusive":true,"exact":false,"message":"String must contain at least 8 character(s)","path":["password"]}]}"#,
                )
            }
        ).in_dokploy(InDokploy::Stateful),
        check!(
            "trpc",
            "a batch answers its items in call order, 207 when statuses differ",
            stateless,
            |ctx| {
                let input = r#"{"0":{"json":null,"meta":{"values":["undefined"]}},"1":{"json":{"id":"x"}}}"#;
                let encoded: String = form_urlencoded::byte_serialize(input.as_bytes()).collect();
                let path =
                    format!("/api/trpc/auth.get,auth.nope,auth.login?batch=1&input={encoded}");
                let r = send(ctx.addr, "GET", &path, &[], "").await;
                expect(
                    &r,
                    207,
                    &json!([
                        {"error": {"json": {"message": msg::UNAUTHORIZED, "code": -32001,
                            "data": {"code": "UNAUTHORIZED", "httpStatus": 401, "path": "auth.get", "zodError": null}}}},
                        {"error": {"json": {"message": "No \"query\"-procedure on path \"auth.nope\"", "code": -32004,
                            "data": {"code": "NOT_FOUND", "httpStatus": 404, "path": "auth.nope", "zodError": null}}}},
                        {"error": {"json": {"message": "No \"query\"-procedure on path \"auth.login\"", "code": -32004,
                            "data": {"code": "NOT_FOUND", "httpStatus": 404, "path": "auth.login", "zodError": null}}}},
                    ])
                    .to_string(),
                )
            }
        ),
        check!(
            "trpc",
            "a validation error: the issues as message, zodError as flatten()",
            stateless,
            |ctx| {
                let r = send(
                    ctx.addr,
                    "POST",
                    "/api/trpc/auth.login",
                    &[("content-type", "application/json")],
                    r#"{"json":{"email":"bad","password":"short"}}"#,
                )
                .await;
                let issues = r#"[{"validation":"email","code":"invalid_string","message":"Invalid email","path":["email"]},{"code":"too_small","minimum":8,"type":"string","inclusive":true,"exact":false,"message":"String must contain at least 8 character(s)","path":["password"]}]"#;
                let pretty = serde_json::to_string_pretty(
                    &serde_json::from_str::<Value>(issues).expect("valid JSON"),
                )
                .expect("serializes");
                expect(
                    &r,
                    400,
                    &json!({"error": {"json": {"message": pretty, "code": -32600, "data": {
                        "code": "BAD_REQUEST", "httpStatus": 400, "path": "auth.login",
                        "zodError": {"formErrors": [], "fieldErrors": {
                            "email": ["Invalid email"],
                            "password": ["String must contain at least 8 character(s)"]}}}}}})
                    .to_string(),
                )
            }
        ),
        check!(
            "trpc",
            "an unreadable request: one error item without a path",
            stateless,
            |ctx| {
                let item = |status: u16, code: &str, number: i32, message: &str| {
                    json!({"error": {"json": {"message": message, "code": number,
                        "data": {"code": code, "httpStatus": status, "zodError": null}}}})
                    .to_string()
                };
                let r = send(ctx.addr, "GET", "/api/trpc/auth.get?batch=1", &[], "").await;
                let message = r#""input" needs to be an object when doing a batch call"#;
                expect(&r, 400, &item(400, "BAD_REQUEST", -32600, message))?;
                let r = send(
                    ctx.addr,
                    "POST",
                    "/api/trpc/auth.login?batch=1",
                    &[("content-type", "application/json")],
                    "{nope",
                )
                .await;
                if ctx.dokploy() {
                    // The message is V8's `JSON.parse` text, which varies with
                    // Node's version (difference 21): only its envelope is checked.
                    let error = &r.json()["error"]["json"];
                    ensure!(
                        r.status == 400
                            && error["code"] == -32700
                            && error["data"]["code"] == "PARSE_ERROR"
                            && error["message"].is_string(),
                        "{} {}",
                        r.status,
                        r.body
                    );
                } else {
                    expect(&r, 400, &item(400, "PARSE_ERROR", -32700, msg::PARSE_BODY))?;
                }
                let r = send(ctx.addr, "PUT", "/api/trpc/auth.get", &[], "").await;
                let message = "Unexpected request method PUT";
                expect(&r, 405, &item(405, "METHOD_NOT_SUPPORTED", -32005, message))
            }
        ),
        check!("trpc", "each call of a batch sets its own cookie", |ctx| {
            let (_, account) = ctx.account().await?;
            let credentials = account.credentials();
            let body = format!(r#"{{"0":{{"json":{credentials}}},"1":{{"json":{credentials}}}}}"#);
            let r = send(
                ctx.addr,
                "POST",
                "/api/trpc/auth.login,auth.login?batch=1",
                &[("content-type", "application/json")],
                &body,
            )
            .await;
            expect_status(&r, 200)?;
            let items = r.json();
            ensure!(
                items[0]["result"]["data"]["json"]["is2FAEnabled"] == false
                    && items[1]["result"]["data"]["json"]["is2FAEnabled"] == false,
                "items {items}"
            );
            let cookies = r.headers.get_all("set-cookie").iter().count();
            ensure!(cookies == 2, "{cookies} Set-Cookie headers, expected 2");
            Ok(())
        }),
        check!(
            "transport",
            "a cookie session's change must declare JSON (difference 22)",
            |ctx| {
                let (mut me, _) = ctx.account().await?;
                let cookie = format!("auth_session={}", me.cookie.clone().ok_or("no cookie")?);
                if ctx.dokploy() {
                    // Dokploy takes a cookie session's change from any page, in any
                    // content type: a form turns 2FA off, a plain POST logs out.
                    ctx.enable_2fa(&mut me).await?;
                    let headers = [("cookie", cookie.as_str()), ("content-type", FORM)];
                    let r = send(ctx.addr, "POST", "/api/auth.disable2FA", &headers, "").await;
                    expect_status(&r, 200).map_err(|e| format!("the form post: {e}"))?;
                    let record = me.get("/api/auth.get").await.json();
                    ensure!(record["is2FAEnabled"] == false, "2FA still on: {record}");
                    let headers = [("cookie", cookie.as_str()), ("content-type", "text/plain")];
                    let r = send(ctx.addr, "POST", "/api/trpc/auth.logout", &headers, "").await;
                    expect_status(&r, 200).map_err(|e| format!("the plain logout: {e}"))?;
                    return expect_status(&me.get("/api/auth.get").await, 401);
                }
                for path in ["/api/auth.logout", "/api/trpc/auth.logout"] {
                    for content_type in [None, Some("text/plain")] {
                        let mut headers = vec![("cookie", cookie.as_str())];
                        headers.extend(content_type.map(|t| ("content-type", t)));
                        let r = send(ctx.addr, "POST", path, &headers, "").await;
                        ensure!(
                            r.status == 415,
                            "{path} with the cookie and content type {content_type:?}: {} {}",
                            r.status,
                            r.body
                        );
                    }
                }
                let form = "application/x-www-form-urlencoded";
                let headers = [("cookie", cookie.as_str()), ("content-type", form)];
                let r = send(ctx.addr, "POST", "/api/auth.disable2FA", &headers, "").await;
                expect_error(
                    &r,
                    "UNSUPPORTED_MEDIA_TYPE",
                    &msg::unsupported_content_type(form),
                )?;
                expect_status(&me.get("/api/auth.get").await, 200)
                    .map_err(|e| format!("the refused logout ended the session: {e}"))?;
                // From a page of the server's own host, JSON declared: accepted.
                let own = format!("http://{}", ctx.addr);
                let headers = [
                    ("cookie", cookie.as_str()),
                    ("content-type", "application/json"),
                    ("origin", own.as_str()),
                    ("sec-fetch-site", "same-origin"),
                ];
                let r = send(ctx.addr, "POST", "/api/auth.verifyToken", &headers, "").await;
                expect(&r, 200, "true")
            }
        ),
    ]
}
