//! Each zod issue example of the reference, byte for byte.

use serde_json::{json, Value};
use specs::procedures::schemas;
use specs::validate::{flatten, is_zod_email, issues_pretty_json};
use specs::{ApiError, ErrorCode};

fn issues_json(schema: &specs::ObjectSchema, input: Value) -> String {
    let issues = schema.validate(Some(&input)).unwrap_err();
    serde_json::to_string(&issues).unwrap()
}

#[test]
fn missing_field_is_required() {
    assert_eq!(
        issues_json(&schemas::SEND_RESET_PASSWORD_EMAIL, json!({})),
        r#"[{"code":"invalid_type","expected":"string","received":"undefined","path":["email"],"message":"Required"}]"#
    );
}

#[test]
fn bad_email() {
    assert_eq!(
        issues_json(&schemas::CREATE_USER_INVITATION, json!({"email": "nope"})),
        r#"[{"validation":"email","code":"invalid_string","message":"Invalid email","path":["email"]}]"#
    );
}

#[test]
fn too_short_password() {
    assert_eq!(
        issues_json(
            &schemas::LOGIN,
            json!({"email": "a@b.co", "password": "short"})
        ),
        r#"[{"code":"too_small","minimum":8,"type":"string","inclusive":true,"exact":false,"message":"String must contain at least 8 character(s)","path":["password"]}]"#
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        issues_json(&schemas::ONE, json!({"id": 5})),
        r#"[{"code":"invalid_type","expected":"string","received":"number","path":["id"],"message":"Expected string, received number"}]"#
    );
    assert_eq!(
        issues_json(&schemas::ONE, json!({"id": null})),
        r#"[{"code":"invalid_type","expected":"string","received":"null","path":["id"],"message":"Expected string, received null"}]"#
    );
}

#[test]
fn every_failing_field_at_once_in_schema_order() {
    // Keys sent in the opposite order: issues still follow the schema.
    let json = issues_json(&schemas::LOGIN, json!({"password": "x", "email": "bad"}));
    assert_eq!(
        json,
        r#"[{"validation":"email","code":"invalid_string","message":"Invalid email","path":["email"]},{"code":"too_small","minimum":8,"type":"string","inclusive":true,"exact":false,"message":"String must contain at least 8 character(s)","path":["password"]}]"#
    );
}

#[test]
fn min_then_email_on_an_empty_string() {
    assert_eq!(
        issues_json(&schemas::SEND_RESET_PASSWORD_EMAIL, json!({"email": ""})),
        r#"[{"code":"too_small","minimum":1,"type":"string","inclusive":true,"exact":false,"message":"String must contain at least 1 character(s)","path":["email"]},{"validation":"email","code":"invalid_string","message":"Invalid email","path":["email"]}]"#
    );
}

#[test]
fn enum_issue() {
    assert_eq!(
        issues_json(
            &schemas::UPDATE,
            json!({"email": null, "password": null, "rol": "root"})
        ),
        r#"[{"received":"root","code":"invalid_enum_value","options":["admin","user"],"path":["rol"],"message":"Invalid enum value. Expected 'admin' | 'user', received 'root'"}]"#
    );
    assert_eq!(
        issues_json(
            &schemas::UPDATE,
            json!({"email": null, "password": null, "rol": 1})
        ),
        r#"[{"code":"invalid_type","expected":"'admin' | 'user'","received":"number","path":["rol"],"message":"Expected 'admin' | 'user', received number"}]"#
    );
}

#[test]
fn length_counts_utf16_units_like_javascript() {
    // Four emoji are eight UTF-16 units: long enough for zod's min(8).
    let ok = schemas::LOGIN.validate(Some(&json!({"email": "a@b.co", "password": "😀😀😀😀"})));
    assert!(ok.is_ok());
    let short = schemas::LOGIN.validate(Some(&json!({"email": "a@b.co", "password": "ééééééé"})));
    assert!(short.is_err());
}

#[test]
fn unknown_keys_are_dropped() {
    let cleaned = schemas::LOGIN
        .validate(Some(
            &json!({"email": "a@b.co", "extra": 1, "password": "12345678"}),
        ))
        .unwrap();
    assert_eq!(
        serde_json::to_string(&cleaned).unwrap(),
        r#"{"email":"a@b.co","password":"12345678"}"#
    );
}

#[test]
fn input_that_is_not_an_object() {
    assert_eq!(
        serde_json::to_string(&schemas::LOGIN.validate(None).unwrap_err()).unwrap(),
        r#"[{"code":"invalid_type","expected":"object","received":"undefined","path":[],"message":"Required"}]"#
    );
    assert_eq!(
        serde_json::to_string(&schemas::LOGIN.validate(Some(&json!([1]))).unwrap_err()).unwrap(),
        r#"[{"code":"invalid_type","expected":"object","received":"array","path":[],"message":"Expected object, received array"}]"#
    );
}

#[test]
fn update_lets_empty_and_null_mean_unchanged() {
    assert!(schemas::UPDATE
        .validate(Some(&json!({"email": "", "password": null})))
        .is_ok());
    assert_eq!(
        issues_json(&schemas::UPDATE, json!({"email": "x", "password": "short"})),
        r#"[{"validation":"email","code":"invalid_string","message":"Invalid email","path":["email"]},{"code":"too_small","minimum":8,"type":"string","inclusive":true,"exact":false,"message":"String must contain at least 8 character(s)","path":["password"]}]"#
    );
    // email and password are required keys even though they may be null.
    assert_eq!(
        issues_json(&schemas::UPDATE, json!({})),
        r#"[{"code":"invalid_type","expected":"string","received":"undefined","path":["email"],"message":"Required"},{"code":"invalid_type","expected":"string","received":"undefined","path":["password"],"message":"Required"}]"#
    );
}

#[test]
fn query_strings_repeat_into_arrays() {
    let pairs = vec![
        ("id".to_string(), "a".to_string()),
        ("id".to_string(), "b".to_string()),
    ];
    let input = schemas::ONE.input_from_query(&pairs);
    assert_eq!(input, json!({"id": ["a", "b"]}));
    assert_eq!(
        issues_json(&schemas::ONE, input),
        r#"[{"code":"invalid_type","expected":"string","received":"array","path":["id"],"message":"Expected string, received array"}]"#
    );
    let single = schemas::ONE.input_from_query(&[("id".to_string(), "abc".to_string())]);
    assert_eq!(single, json!({"id": "abc"}));
}

#[test]
fn query_strings_coerce_booleans() {
    static FLAG: specs::ObjectSchema = specs::ObjectSchema {
        fields: &[specs::validate::Field::required(
            "flag",
            specs::validate::Type::Boolean,
        )],
    };
    assert_eq!(
        FLAG.input_from_query(&[("flag".into(), "false".into())]),
        json!({"flag": true}),
        "zod's z.coerce.boolean is JavaScript's Boolean(): any non-empty string is true"
    );
    assert_eq!(
        FLAG.input_from_query(&[("flag".into(), "".into())]),
        json!({"flag": false})
    );
}

#[test]
fn the_rest_envelope() {
    let err = ApiError::validation(
        schemas::CONFIRM_EMAIL
            .validate(Some(&json!({})))
            .unwrap_err(),
    );
    assert_eq!(
        err.to_json(),
        r#"{"message":"Input validation failed","code":"BAD_REQUEST","issues":[{"code":"invalid_type","expected":"string","received":"undefined","path":["confirmationToken"],"message":"Required"}]}"#
    );
    assert_eq!(err.http_status(), 400);
    assert_eq!(
        ApiError::unauthorized().to_json(),
        r#"{"message":"UNAUTHORIZED","code":"UNAUTHORIZED"}"#
    );
}

#[test]
fn status_and_json_rpc_codes() {
    let table: Vec<(&str, u16, i32)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str(), c.http_status(), c.json_rpc_code()))
        .collect();
    for (name, status, rpc) in [
        ("PARSE_ERROR", 400, -32700),
        ("BAD_REQUEST", 400, -32600),
        ("UNAUTHORIZED", 401, -32001),
        ("FORBIDDEN", 403, -32003),
        ("NOT_FOUND", 404, -32004),
        ("METHOD_NOT_SUPPORTED", 405, -32005),
        ("TIMEOUT", 408, -32008),
        ("CONFLICT", 409, -32009),
        ("PRECONDITION_FAILED", 412, -32012),
        ("PAYLOAD_TOO_LARGE", 413, -32013),
        ("UNPROCESSABLE_CONTENT", 422, -32022),
        ("TOO_MANY_REQUESTS", 429, -32029),
        ("CLIENT_CLOSED_REQUEST", 499, -32099),
        ("INTERNAL_SERVER_ERROR", 500, -32603),
    ] {
        assert!(table.contains(&(name, status, rpc)), "{name}");
        assert_eq!(ErrorCode::from_name(name).unwrap().as_str(), name);
    }
    assert_eq!(ErrorCode::UnsupportedMediaType.http_status(), 415);
    assert_eq!(ErrorCode::NotImplemented.http_status(), 501);
}

#[test]
fn trpc_forms_of_the_issues() {
    let issues = schemas::LOGIN
        .validate(Some(&json!({"email": "bad", "password": "12345678"})))
        .unwrap_err();
    assert_eq!(
        flatten(&issues),
        json!({"formErrors": [], "fieldErrors": {"email": ["Invalid email"]}})
    );
    assert_eq!(
        issues_pretty_json(&issues),
        "[\n  {\n    \"validation\": \"email\",\n    \"code\": \"invalid_string\",\n    \"message\": \"Invalid email\",\n    \"path\": [\n      \"email\"\n    ]\n  }\n]"
    );
}

#[test]
fn zod_email_rule() {
    for good in [
        "a@b.co",
        "first.last+tag@sub.example.com",
        "o'neil@x.io",
        "A_B-c@EXAMPLE.ORG",
        "1@2.ab",
    ] {
        assert!(is_zod_email(good), "{good}");
    }
    for bad in [
        "",
        "a",
        "a@b",
        "a@b.c",
        ".a@b.co",
        "a..b@c.co",
        "a.@b.co",
        "a'@b.co",
        "a@-b.co",
        "a@b..co",
        "a@b.c1",
        "a b@c.co",
        "a@b@c.co",
        "é@b.co",
        "a@b.co.",
        "@b.co",
        "a@.co",
    ] {
        assert!(!is_zod_email(bad), "{bad}");
    }
}

#[test]
fn emails_over_254_characters_are_too_big() {
    let at_most = format!("{}@example.com", "a".repeat(242));
    assert_eq!(at_most.encode_utf16().count(), 254);
    assert!(schemas::LOGIN
        .validate(Some(&json!({"email": at_most, "password": "password1"})))
        .is_ok());
    let over = format!("a{at_most}");
    assert_eq!(
        issues_json(
            &schemas::LOGIN,
            json!({"email": over, "password": "password1"})
        ),
        r#"[{"code":"too_big","maximum":254,"type":"string","inclusive":true,"exact":false,"message":"String must contain at most 254 character(s)","path":["email"]}]"#
    );
    // `auth.update`'s email, and the reset request's, are bounded too.
    let update = json!({"email": over, "password": null});
    assert!(issues_json(&schemas::UPDATE, update).contains("too_big"));
    let reset = json!({ "email": over });
    assert!(issues_json(&schemas::SEND_RESET_PASSWORD_EMAIL, reset).contains("too_big"));
}

#[test]
fn an_image_is_an_avatar_path_an_https_url_or_a_data_image_url() {
    let with = |image: &str| json!({"email": null, "password": null, "image": image});
    for good in [
        "",
        "/avatars/avatar-12.png",
        "https://cdn.example.com/u/1.png?s=64#x",
        "data:image/webp;base64,UklGRg==",
    ] {
        assert!(
            schemas::UPDATE.validate(Some(&with(good))).is_ok(),
            "{good}"
        );
    }
    let too_long = format!("data:image/png;base64,{}", "A".repeat(65_536));
    for bad in [
        "javascript:alert(1)",
        "http://example.com/a.png",
        "https://exa mple.com/",
        "/avatars/../../etc/passwd",
        "data:text/html;base64,PGI+",
        "data:image/png,raw",
        too_long.as_str(),
    ] {
        assert_eq!(
            issues_json(&schemas::UPDATE, with(bad)),
            r#"[{"code":"custom","message":"Invalid image: an /avatars/ path, an https URL or a data:image URL of at most 65536 characters","path":["image"]}]"#,
            "{bad}"
        );
    }
}
