//! Checks an answer against an OpenAPI document: the status is one the operation
//! lists, the content type and the body fit its schema. The JSON Schema keywords
//! the generated documents use are checked (`type`, `const`, `enum`, `properties`,
//! `required`, `additionalProperties: false`, `items`, `minItems`, lengths,
//! `minimum`, `allOf`, `oneOf`, `anyOf`, `$ref`); `pattern` and `format` are left
//! to schemathesis, which the CI runs too. A mismatch names the schema path.

use serde_json::Value;

/// Why `value` does not fit `schema` (a schema of `document`): where in the value,
/// and the schema path that refused it.
pub fn check_value(document: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    check(document, schema, value, "#", "")
}

fn resolve<'a>(document: &'a Value, schema: &'a Value, at: &str) -> (&'a Value, String) {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => match reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(pointer))
        {
            Some(target) => resolve(document, target, reference),
            None => (&Value::Null, format!("{at} (a dangling $ref {reference})")),
        },
        None => (schema, at.to_string()),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, ty: &str) -> bool {
    let actual = type_name(value);
    actual == ty || (ty == "number" && actual == "integer")
}

/// JavaScript's `length`, which zod counts and our schemas are written in.
fn length(s: &str) -> usize {
    s.encode_utf16().count()
}

fn check(
    document: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    instance: &str,
) -> Result<(), String> {
    let (schema, at) = resolve(document, schema, at);
    let at = at.as_str();
    let fail = |keyword: &str, why: String| {
        let place = if instance.is_empty() { "/" } else { instance };
        Err(format!("{place}: {why} (schema {at}/{keyword})"))
    };
    if schema.is_null() {
        return fail("$ref", "the schema does not exist".into());
    }
    if let Some(ty) = schema.get("type") {
        let allowed: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.iter().any(|t| has_type(value, t)) {
            return fail(
                "type",
                format!(
                    "{} where the document says {}",
                    type_name(value),
                    allowed.join(" or ")
                ),
            );
        }
    }
    if let Some(expected) = schema.get("const") {
        if expected != value {
            return fail(
                "const",
                format!("{value} where the document says {expected}"),
            );
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return fail(
                "enum",
                format!("{value} is not one of {}", Value::Array(options.clone())),
            );
        }
    }
    if let Value::String(s) = value {
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if (length(s) as u64) < min {
                return fail(
                    "minLength",
                    format!("{} characters, fewer than {min}", length(s)),
                );
            }
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if (length(s) as u64) > max {
                return fail(
                    "maxLength",
                    format!("{} characters, more than {max}", length(s)),
                );
            }
        }
    }
    if let (Some(n), Some(min)) = (
        value.as_f64(),
        schema.get("minimum").and_then(Value::as_f64),
    ) {
        if n < min {
            return fail("minimum", format!("{n} is below {min}"));
        }
    }
    if let Value::Object(object) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                return fail("required", format!("`{name}` is missing"));
            }
        }
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => check(
                    document,
                    field_schema,
                    field,
                    &format!("{at}/properties/{name}"),
                    &format!("{instance}/{name}"),
                )?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return fail(
                        "additionalProperties",
                        format!("`{name}` is not in the document"),
                    );
                }
                None => {}
            }
        }
    }
    if let Value::Array(items) = value {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                return fail(
                    "minItems",
                    format!("{} items, fewer than {min}", items.len()),
                );
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(
                    document,
                    item_schema,
                    item,
                    &format!("{at}/items"),
                    &format!("{instance}/{i}"),
                )?;
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for (i, part) in all.iter().enumerate() {
            check(document, part, value, &format!("{at}/allOf/{i}"), instance)?;
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let fits = any
            .iter()
            .enumerate()
            .map(|(i, part)| check(document, part, value, &format!("{at}/anyOf/{i}"), instance));
        let misses: Vec<String> = fits.filter_map(Result::err).collect();
        if misses.len() == any.len() {
            return fail("anyOf", format!("fits none: {}", misses.join("; ")));
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let results: Vec<Result<(), String>> = one
            .iter()
            .enumerate()
            .map(|(i, part)| check(document, part, value, &format!("{at}/oneOf/{i}"), instance))
            .collect();
        let fitting = results.iter().filter(|r| r.is_ok()).count();
        if fitting != 1 {
            let misses: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            let why = match fitting {
                0 => format!(
                    "fits none: {}",
                    misses
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                n => format!("fits {n} of them, where exactly one must"),
            };
            return fail("oneOf", why);
        }
    }
    Ok(())
}

/// An answer as the suite saw it.
pub struct Answer<'a> {
    pub method: &'a str,
    /// The path without the query, as sent: `/api/auth.login`.
    pub path: &'a str,
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub body: &'a str,
}

/// Checks a REST answer against `document` (whose server URL ends in `/api`).
/// `Ok` also for paths the document does not describe (they are not its business).
pub fn check_answer(document: &Value, answer: &Answer) -> Result<(), String> {
    let Some(path) = answer.path.strip_prefix("/api") else {
        return Ok(());
    };
    let method = answer.method.to_ascii_lowercase();
    let Some(operation) = document
        .pointer(&format!("/paths/{}", escape(path)))
        .and_then(|item| item.get(&method))
    else {
        // An unknown path or a wrong method: the contract's 404, not an operation.
        return Ok(());
    };
    let where_ = format!("{} {}", answer.method, answer.path);
    let Some(response) = operation["responses"].get(answer.status.to_string()) else {
        let listed: Vec<&String> = operation["responses"]
            .as_object()
            .map(|r| r.keys().collect())
            .unwrap_or_default();
        return Err(format!(
            "{where_} answered {}, a status the document does not list for it (it lists {listed:?})",
            answer.status
        ));
    };
    let (response, response_at) = resolve(document, response, "#/paths");
    match response.pointer("/content/application~1json/schema") {
        None => {
            if !answer.body.is_empty() {
                return Err(format!(
                    "{where_} answered {} with a body where the document says none ({response_at})",
                    answer.status
                ));
            }
            Ok(())
        }
        Some(schema) => {
            let json = answer.content_type.is_some_and(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|t| t.trim() == "application/json")
            });
            if !json {
                return Err(format!(
                    "{where_} answered {} with content type {:?} where the document says application/json",
                    answer.status, answer.content_type
                ));
            }
            let value: Value = serde_json::from_str(answer.body).map_err(|e| {
                format!(
                    "{where_} answered {} with a body that is not JSON: {e}",
                    answer.status
                )
            })?;
            let at = format!(
                "#/paths/{}/{method}/responses/{}/content/application~1json/schema",
                escape(path),
                answer.status
            );
            check(document, schema, &value, &at, "").map_err(|why| {
                format!(
                    "{where_} answered {} with a body the document does not allow: {why}",
                    answer.status
                )
            })
        }
    }
}

/// A JSON pointer segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The schema of a procedure's successful answer in `document`, if it has a body.
pub fn success_schema<'a>(document: &'a Value, procedure: &crate::Procedure) -> Option<&'a Value> {
    let method = procedure.kind.http_method().to_ascii_lowercase();
    document
        .pointer(&format!(
            "/paths/{}/{method}/responses/200",
            escape(&format!("/{}", procedure.name))
        ))?
        .pointer("/content/application~1json/schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer<'a>(path: &'a str, status: u16, body: &'a str) -> Answer<'a> {
        Answer {
            method: if path.contains("get") { "GET" } else { "POST" },
            path,
            status,
            content_type: Some("application/json"),
            body,
        }
    }

    const AUTH: &str = r#"{"id":"DRYbAlC7iUURK1Nc6vlCh","email":"a@example.com","rol":"admin","image":"/avatars/avatar-1.png","secret":null,"token":null,"is2FAEnabled":false,"createdAt":"2024-10-28T09:15:02.123Z","resetPasswordToken":null,"resetPasswordExpiresAt":null,"confirmationToken":null,"confirmationExpiresAt":null}"#;

    #[test]
    fn a_right_answer_passes_and_each_kind_of_wrong_one_is_named() {
        let doc = crate::openapi::document();
        check_answer(&doc, &answer("/api/auth.get", 200, AUTH)).unwrap();
        let wrong_type = AUTH.replace(r#""is2FAEnabled":false"#, r#""is2FAEnabled":"false""#);
        let why = check_answer(&doc, &answer("/api/auth.get", 200, &wrong_type)).unwrap_err();
        assert!(
            why.contains("/is2FAEnabled: string where the document says boolean"),
            "{why}"
        );
        assert!(
            why.contains("#/components/schemas/Auth/properties/is2FAEnabled/type"),
            "{why}"
        );
        let extra = AUTH.replace(r#""id":"#, r#""password":"x","id":"#);
        let why = check_answer(&doc, &answer("/api/auth.get", 200, &extra)).unwrap_err();
        assert!(why.contains("`password` is not in the document"), "{why}");
        let why = check_answer(&doc, &answer("/api/auth.get", 418, "{}")).unwrap_err();
        assert!(
            why.contains("418, a status the document does not list"),
            "{why}"
        );
        // Errors: the envelope, the code that goes with the status, every issue kind.
        let issue = r#"{"message":"Input validation failed","code":"BAD_REQUEST","issues":[{"code":"too_big","maximum":254,"type":"string","inclusive":true,"exact":false,"message":"String must contain at most 254 character(s)","path":["email"]}]}"#;
        check_answer(&doc, &answer("/api/auth.login", 400, issue)).unwrap();
        let wrong_code = r#"{"message":"x","code":"NOT_FOUND"}"#;
        assert!(check_answer(&doc, &answer("/api/auth.login", 400, wrong_code)).is_err());
        // An empty answer where the document says so, and a body where it does not.
        check_answer(&doc, &answer("/api/admin.createUserInvitation", 200, "")).unwrap();
        assert!(check_answer(
            &doc,
            &answer("/api/admin.createUserInvitation", 200, "true")
        )
        .is_err());
        let mut plain = answer("/api/auth.get", 200, AUTH);
        plain.content_type = Some("text/plain");
        assert!(check_answer(&doc, &plain).is_err());
    }

    #[test]
    fn keywords() {
        let doc = json!({});
        let one_of = json!({"oneOf": [{"type": "string"}, {"type": "null"}]});
        assert!(check_value(&doc, &one_of, &json!(null)).is_ok());
        assert!(check_value(&doc, &one_of, &json!(1)).is_err());
        let lengths = json!({"type": "string", "minLength": 2, "maxLength": 3});
        assert!(check_value(&doc, &lengths, &json!("ab")).is_ok());
        assert!(check_value(&doc, &lengths, &json!("a")).is_err());
        assert!(check_value(&doc, &lengths, &json!("abcd")).is_err());
        // Lengths in UTF-16 code units, as zod counts: one emoji is two.
        assert!(check_value(&doc, &lengths, &json!("😀")).is_ok());
        let count = json!({"type": "integer", "minimum": 0});
        assert!(check_value(&doc, &count, &json!(-1)).is_err());
        assert!(check_value(&doc, &count, &json!(1.5)).is_err());
        let items = json!({"type": "array", "minItems": 1, "items": {"const": true}});
        assert!(check_value(&doc, &items, &json!([])).is_err());
        assert!(check_value(&doc, &items, &json!([true, false]))
            .unwrap_err()
            .contains("/1:"));
    }
}
