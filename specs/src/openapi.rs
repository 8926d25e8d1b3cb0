//! The OpenAPI 3.1 document of the REST transport, generated from the procedure
//! table, the validation rules, the wire types and the error table: what an
//! operation accepts is what its `ObjectSchema` enforces, what it answers is its
//! `Definition::Output`, and its error statuses follow from its kind and access.
//! `specs/openapi.yaml` is this module's output, checked in; a test fails when
//! they differ (`make contract` writes it again).

use crate::procedures::{Access, Definition, Id, Kind, NoOutput, Procedure};
use crate::validate::{Check, Field, ObjectSchema, Type, MAX_IMAGE_CHARS};
use crate::wire::*;
use crate::ErrorCode;
use serde_json::{json, Map, Value};

/// The component schemas of a document, filled as operations refer to them.
#[derive(Default)]
pub struct Components {
    schemas: Map<String, Value>,
}

impl Components {
    /// A `$ref` to the component `name`, made by `build` the first time.
    pub fn named(&mut self, name: &str, build: impl FnOnce(&mut Components) -> Value) -> Value {
        if !self.schemas.contains_key(name) {
            // Reserved first, so that a schema may refer to itself.
            self.schemas.insert(name.to_string(), Value::Null);
            let schema = build(self);
            self.schemas.insert(name.to_string(), schema);
        }
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.schemas
    }
}

/// A type on the wire that the document can describe: every procedure's output.
pub trait Documented {
    /// Its JSON Schema (often a `$ref` to a component); `None` for no body at all.
    fn schema(components: &mut Components) -> Option<Value>;
}

impl Documented for NoOutput {
    fn schema(_: &mut Components) -> Option<Value> {
        None
    }
}

impl Documented for True {
    fn schema(components: &mut Components) -> Option<Value> {
        Some(components.named("True", |_| {
            json!({"type": "boolean", "const": true, "description": "Always `true`: failures are errors."})
        }))
    }
}

impl Documented for bool {
    fn schema(_: &mut Components) -> Option<Value> {
        Some(json!({"type": "boolean"}))
    }
}

impl Documented for u64 {
    fn schema(components: &mut Components) -> Option<Value> {
        Some(components.named("Count", |_| {
            json!({"type": "integer", "minimum": 0, "description": "How many sessions were ended.", "examples": [2]})
        }))
    }
}

impl<T: Documented> Documented for Vec<T> {
    fn schema(components: &mut Components) -> Option<Value> {
        let items = T::schema(components)?;
        Some(json!({"type": "array", "items": items}))
    }
}

fn timestamp(components: &mut Components) -> Value {
    components.named("Timestamp", |_| {
        json!({
            "type": "string",
            "format": "date-time",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
            "description": "ISO-8601 in UTC with milliseconds, as JavaScript's `toISOString()`.",
            "examples": ["2024-10-28T09:15:02.123Z"],
        })
    })
}

fn id(components: &mut Components) -> Value {
    components.named("Id", |_| {
        json!({
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{21}$",
            "description": "A nanoid.",
            "examples": ["DRYbAlC7iUURK1Nc6vlCh"],
        })
    })
}

/// A field that is `null` on every answer. Described as a nullable string rather
/// than `type: 'null'` alone, which openapi-typescript drops from the type.
fn always_null(why: &str) -> Value {
    json!({"type": ["string", "null"], "maxLength": 0, "description": format!("Always `null`: {why}.")})
}

fn nullable(schema: Value) -> Value {
    json!({"oneOf": [schema, {"type": "null"}]})
}

impl Documented for AuthView {
    fn schema(components: &mut Components) -> Option<Value> {
        Some(components.named("Auth", |c| {
            json!({
                "type": "object",
                "description": "An account. Never the password hash; `secret`, `resetPasswordToken` and `confirmationToken` are always `null`; `token` (the API token) is shown to its owner only.",
                "required": ["id", "email", "rol", "image", "secret", "token", "is2FAEnabled", "createdAt", "resetPasswordToken", "resetPasswordExpiresAt", "confirmationToken", "confirmationExpiresAt"],
                "additionalProperties": false,
                "properties": {
                    "id": id(c),
                    // zod's rule rather than `format: email`: zod takes what RFC 5321
                    // does not (a 70-letter top-level domain).
                    "email": {"type": "string", "pattern": format!("^{EMAIL_PATTERN}$"), "description": "Lowercased; it passed zod's email rule."},
                    "rol": {"type": "string", "enum": ["admin", "user"]},
                    "image": {
                        "type": "string",
                        "maxLength": MAX_IMAGE_CHARS,
                        "description": "`/avatars/avatar-N.png` (N from 1 to 12) chosen at creation, or what `auth.update` set: an `/avatars/…` path, an https URL or a data:image URL.",
                        "examples": ["/avatars/avatar-1.png"],
                    },
                    "secret": always_null("the 2FA secret is never shown"),
                    "token": {"type": ["string", "null"], "description": "The current API token, to its owner; `null` elsewhere."},
                    "is2FAEnabled": {"type": "boolean"},
                    "createdAt": timestamp(c),
                    "resetPasswordToken": always_null("reset tokens go by email only"),
                    "resetPasswordExpiresAt": nullable(timestamp(c)),
                    "confirmationToken": always_null("confirmation tokens go by email only"),
                    "confirmationExpiresAt": nullable(timestamp(c)),
                },
            })
        }))
    }
}

impl Documented for LoginOutput {
    fn schema(components: &mut Components) -> Option<Value> {
        Some(components.named("LoginOutput", |c| {
            json!({
                "type": "object",
                "required": ["is2FAEnabled", "authId"],
                "additionalProperties": false,
                "properties": {
                    "is2FAEnabled": {"type": "boolean", "description": "When true no session was made; finish with `auth.verifyLogin2FA`."},
                    "authId": id(c),
                },
            })
        }))
    }
}

impl Documented for TwoFactorSecret {
    fn schema(components: &mut Components) -> Option<Value> {
        Some(components.named("TwoFactorSecret", |_| {
            json!({
                "type": "object",
                "required": ["qrCodeUrl", "secret"],
                "additionalProperties": false,
                "properties": {
                    "qrCodeUrl": {"type": "string", "pattern": "^data:image/png;base64,", "description": "A PNG of the `otpauth://totp/Dokploy:<email>?…&issuer=Dokploy` URI."},
                    "secret": {"type": "string", "pattern": "^[A-Z2-7]{24}$", "description": "Base32, 15 random bytes."},
                },
            })
        }))
    }
}

impl Documented for SessionView {
    fn schema(components: &mut Components) -> Option<Value> {
        Some(components.named("Session", |c| {
            json!({
                "type": "object",
                "required": ["handle", "kind", "createdAt", "lastUsedAt", "expiresAt", "clientAddress", "userAgent", "current"],
                "additionalProperties": false,
                "properties": {
                    "handle": {"type": "string", "minLength": 1, "description": "Opaque; names the session to `auth.endSession`. Never the session id.", "examples": ["5f0c1e2d3b4a59687766554433221100"]},
                    "kind": {"type": "string", "enum": ["cookie", "apiToken"]},
                    "createdAt": timestamp(c),
                    "lastUsedAt": timestamp(c),
                    "expiresAt": timestamp(c),
                    "clientAddress": {"type": ["string", "null"], "description": "The client address when the session was made."},
                    "userAgent": {"type": ["string", "null"], "maxLength": 256, "description": "The `User-Agent` when the session was made."},
                    "current": {"type": "boolean", "description": "The session this request came with."},
                },
            })
        }))
    }
}

fn member_properties(c: &mut Components) -> Map<String, Value> {
    let mut properties = Map::new();
    properties.insert("userId".into(), id(c));
    properties.insert(
        "token".into(),
        json!({"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "The invitation token; the link is `<site>/invitation?token=<token>`."}),
    );
    properties.insert("isRegistered".into(), json!({"type": "boolean"}));
    properties.insert("expirationDate".into(), timestamp(c));
    properties.insert("createdAt".into(), timestamp(c));
    for permission in PERMISSION_FLAGS {
        properties.insert(permission.into(), json!({"type": "boolean"}));
    }
    for list in ["accesedProjects", "accesedServices"] {
        properties.insert(
            list.into(),
            json!({"type": "array", "items": {"type": "string"}, "description": "Dokploy's spelling."}),
        );
    }
    properties.insert("adminId".into(), id(c));
    properties.insert("authId".into(), id(c));
    properties.insert(
        "auth".into(),
        AuthView::schema(c).expect("an account has a body"),
    );
    properties
}

fn object(description: &str, properties: Map<String, Value>) -> Value {
    let required: Vec<&String> = properties.keys().collect();
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "additionalProperties": false,
        "properties": properties,
    })
}

impl Documented for MemberView {
    fn schema(components: &mut Components) -> Option<Value> {
        Some(components.named("Member", |c| {
            object(
                "An invited member (Dokploy's `user` record) with its account.",
                member_properties(c),
            )
        }))
    }
}

impl Documented for InvitationView {
    fn schema(components: &mut Components) -> Option<Value> {
        Some(components.named("Invitation", |c| {
            let mut properties = member_properties(c);
            properties.insert(
                "isExpired".into(),
                json!({"type": "boolean", "description": "True once registered or 24 h after the invitation."}),
            );
            object("A member with `isExpired`.", properties)
        }))
    }
}

// ---------- inputs ----------

/// zod 3's email rule (`validate::is_zod_email`) as an ECMA-262 pattern.
pub const EMAIL_PATTERN: &str =
    r"(?!\.)(?!.*\.\.)[A-Za-z0-9_'+.-]*[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}";

/// `Check::Image` as a pattern (its length is `maxLength`).
pub const IMAGE_PATTERN: &str = r"/avatars/[A-Za-z0-9._~-]+|https://[A-Za-z0-9._~/?#\[\]@!$&'()*+,;=%:-]+|data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9._~+/=-]+";

/// The JSON Schema of a string with these checks. Lengths count characters as zod
/// does (UTF-16 code units), which is what JSON Schema counts for all but astral
/// characters.
fn string_schema(checks: &[Check]) -> Map<String, Value> {
    let mut schema = Map::new();
    let mut patterns = Vec::new();
    let mut notes = Vec::new();
    for check in checks {
        match *check {
            Check::Min(min) => {
                schema.insert("minLength".into(), json!(min));
            }
            Check::Max(max) => {
                schema.insert("maxLength".into(), json!(max));
            }
            Check::Email => {
                patterns.push(format!("^{EMAIL_PATTERN}$"));
                notes.push("zod's email rule");
            }
            Check::EmailUnlessEmpty => {
                patterns.push(format!("^({EMAIL_PATTERN})?$"));
                notes.push("zod's email rule, or `\"\"` for unchanged");
            }
            Check::MinUnlessEmpty(min) => {
                patterns.push(format!("^([\\s\\S]{{{min},}})?$"));
                notes.push("`\"\"` for unchanged");
            }
            Check::Image => {
                schema.insert("maxLength".into(), json!(MAX_IMAGE_CHARS));
                patterns.push(format!("^({IMAGE_PATTERN})?$"));
                notes.push("an `/avatars/…` path, an `https://` URL or a `data:image/(png|jpeg|gif|webp|svg+xml);base64,…` URL, or `\"\"` for unchanged");
            }
        }
    }
    match patterns.len() {
        0 => {}
        1 => {
            schema.insert("pattern".into(), json!(patterns[0]));
        }
        _ => unreachable!("one pattern per string rule"),
    }
    if !notes.is_empty() {
        schema.insert("description".into(), json!(notes.join("; ")));
    }
    schema
}

fn field_schema(field: &Field) -> Value {
    let (ty, mut schema) = match field.ty {
        Type::String(checks) => ("string", string_schema(checks)),
        Type::Boolean => ("boolean", Map::new()),
        Type::Enum(options) => {
            let mut schema = Map::new();
            let mut values: Vec<Value> = options.iter().map(|o| json!(o)).collect();
            if field.nullable {
                values.push(Value::Null);
            }
            schema.insert("enum".into(), Value::Array(values));
            ("string", schema)
        }
    };
    let ty = if field.nullable {
        json!([ty, "null"])
    } else {
        json!(ty)
    };
    let mut typed = Map::new();
    typed.insert("type".into(), ty);
    typed.append(&mut schema);
    Value::Object(typed)
}

/// An input object: fields in schema order; unknown keys are dropped, not refused.
fn input_schema(schema: &ObjectSchema, description: Option<&str>) -> Value {
    let properties: Map<String, Value> = schema
        .fields
        .iter()
        .map(|f| (f.name.to_string(), field_schema(f)))
        .collect();
    let required: Vec<&str> = schema.required_fields().collect();
    let mut object = json!({"type": "object", "required": required, "properties": properties});
    if let Some(description) = description {
        object["description"] = json!(description);
    }
    object
}

/// A procedure's input schema, with what it means beyond its rules and an example
/// (the credentials the README and the mock's fixtures use).
pub fn input_schema_of(procedure: &Procedure, schema: &ObjectSchema) -> Value {
    let mut described = input_schema(schema, input_description(procedure.id));
    if let Some(example) = input_example(procedure.id) {
        described["examples"] = json!([example]);
    }
    described
}

/// An input that passes the procedure's rules.
fn input_example(id: Id) -> Option<Value> {
    let credentials = json!({"email": "admin@example.com", "password": "password123"});
    let token = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let id_example = "DRYbAlC7iUURK1Nc6vlCh";
    Some(match id {
        Id::CreateAdmin | Id::Login => credentials,
        Id::CreateUser => json!({"password": "password123", "id": id_example, "token": token}),
        Id::Update => {
            json!({"email": "new@example.com", "password": null, "image": "/avatars/avatar-2.png"})
        }
        Id::One => json!({"id": id_example}),
        Id::Verify2FASetup => json!({"pin": "123456", "secret": "JBSWY3DPEHPK3PXPJBSWY3DP"}),
        Id::VerifyLogin2FA => json!({"pin": "123456", "id": id_example}),
        Id::SendResetPasswordEmail | Id::CreateUserInvitation => {
            json!({"email": "member@example.com"})
        }
        Id::ResetPassword => json!({"resetPasswordToken": token, "password": "password456"}),
        Id::ConfirmEmail => json!({"confirmationToken": token}),
        Id::GetUserByToken => json!({"token": token}),
        Id::RemoveUser | Id::EndMemberSessions => json!({"authId": id_example}),
        Id::EndSession => json!({"handle": "5f0c1e2d3b4a59687766554433221100"}),
        Id::Get
        | Id::VerifyToken
        | Id::Logout
        | Id::GenerateToken
        | Id::Generate2FASecret
        | Id::Disable2FA
        | Id::All
        | Id::ListSessions
        | Id::EndOtherSessions => return None,
    })
}

/// The name of a procedure's input schema: `auth.login` → `LoginInput`.
pub fn input_name(procedure: &Procedure) -> String {
    let method = procedure
        .name
        .split_once('.')
        .map_or(procedure.name, |(_, m)| m);
    let mut name = method[..1].to_uppercase();
    name.push_str(&method[1..]);
    name.push_str("Input");
    name
}

// ---------- errors ----------

/// Where an error status can come from, as the description of its response.
fn error_description(status: u16) -> &'static str {
    match status {
        400 => "`BAD_REQUEST`: input validation failed (`issues` present) or the procedure refused the input; `PARSE_ERROR`: the body is not JSON.",
        401 => "`UNAUTHORIZED`: no valid session, or not an admin on an admin procedure.",
        403 => "`FORBIDDEN` `Cross-site request refused`: a change made with the session cookie from a page of another site (difference 22).",
        404 => "`NOT_FOUND`: unknown path or wrong method (message `Not found`), or a record the procedure looked for does not exist.",
        408 => "`TIMEOUT`: the answer took longer than the server's request timeout.",
        409 => "`CONFLICT`: the email is already in use by another account.",
        413 => "`PAYLOAD_TOO_LARGE`: the body is over 100,000 bytes.",
        415 => "`UNSUPPORTED_MEDIA_TYPE`: a body whose `Content-Type` is not `application/json`, or a change made with the session cookie and no `Content-Type: application/json` (difference 22).",
        429 => "`TOO_MANY_REQUESTS`: throttled; `Retry-After` says when to try again.",
        500 => "`INTERNAL_SERVER_ERROR`: the storage or the mail server failed; nothing internal is shown.",
        503 => "`SERVICE_UNAVAILABLE`: the store cannot write now (a full or read-only disk); the same request succeeds once it can (difference 27). Or, with `Retry-After`, a call that checks or sets a password while more bcrypt work is queued than would finish within half the request timeout.",
        _ => "An error.",
    }
}

/// The name of the shared response for an error status.
fn error_response_name(status: u16) -> String {
    // The last code of a status is its general one (`BAD_REQUEST` after `PARSE_ERROR`).
    let code = ErrorCode::ALL
        .into_iter()
        .rev()
        .find(|c| c.http_status() == status)
        .expect("every documented status has a code");
    code.as_str()
        .split('_')
        .map(|word| {
            let lower = word.to_lowercase();
            let mut name = lower[..1].to_uppercase();
            name.push_str(&lower[1..]);
            name
        })
        .collect()
}

fn error_response(status: u16, components: &mut Components) -> Value {
    let envelope = error_envelope(components);
    let codes: Vec<&str> = ErrorCode::ALL
        .into_iter()
        .filter(|c| c.http_status() == status)
        .map(ErrorCode::as_str)
        .collect();
    let mut response = json!({
        "description": error_description(status),
        "content": {"application/json": {"schema": {
            "allOf": [envelope, {"type": "object", "properties": {"code": {"enum": codes}}}],
        }}},
    });
    if matches!(status, 429 | 503) {
        response["headers"] = json!({"Retry-After": {
            "description": "Seconds to wait (on 503: when password hashing is saturated).",
            "schema": {"type": "integer", "minimum": 1},
        }});
    }
    response
}

fn error_envelope(components: &mut Components) -> Value {
    components.named("ErrorEnvelope", |c| {
        let codes: Vec<&str> = ErrorCode::ALL.into_iter().map(ErrorCode::as_str).collect();
        let issue = zod_issue(c);
        json!({
            "type": "object",
            "description": "Every error. `issues` appears only when input validation failed.",
            "required": ["message", "code"],
            "additionalProperties": false,
            "properties": {
                "message": {"type": "string"},
                "code": {"type": "string", "enum": codes},
                "issues": {"type": "array", "minItems": 1, "items": issue},
            },
        })
    })
}

/// Every issue kind `validate::Issue` has, with zod's keys.
fn zod_issue(components: &mut Components) -> Value {
    components.named("ZodIssue", |c| {
        let path = c.named("IssuePath", |_| {
            json!({"type": "array", "description": "Where in the input; `[]` is the input itself.", "items": {"type": "string"}})
        });
        let length = |code: &str, bound: &str, example: &str| {
            json!({
                "type": "object",
                "required": ["code", bound, "type", "inclusive", "exact", "message", "path"],
                "additionalProperties": false,
                "properties": {
                    "code": {"type": "string", "const": code},
                    bound: {"type": "integer", "minimum": 0},
                    "type": {"type": "string", "const": "string"},
                    "inclusive": {"type": "boolean", "const": true},
                    "exact": {"type": "boolean", "const": false},
                    "message": {"type": "string", "examples": [example]},
                    "path": path,
                },
            })
        };
        let variants = [
            c.named("InvalidTypeIssue", |_| json!({
                "type": "object",
                "required": ["code", "expected", "received", "path", "message"],
                "additionalProperties": false,
                "properties": {
                    "code": {"type": "string", "const": "invalid_type"},
                    "expected": {"type": "string", "examples": ["string", "object", "boolean", "'admin' | 'user'"]},
                    "received": {"type": "string", "enum": ["undefined", "null", "boolean", "number", "string", "array", "object"]},
                    "path": path,
                    "message": {"type": "string", "examples": ["Required", "Expected string, received number"]},
                },
            })),
            c.named("InvalidEmailIssue", |_| json!({
                "type": "object",
                "required": ["validation", "code", "message", "path"],
                "additionalProperties": false,
                "properties": {
                    "validation": {"type": "string", "const": "email"},
                    "code": {"type": "string", "const": "invalid_string"},
                    "message": {"type": "string", "const": "Invalid email"},
                    "path": path,
                },
            })),
            c.named("TooSmallIssue", |_| length("too_small", "minimum", "String must contain at least 8 character(s)")),
            c.named("TooBigIssue", |_| length("too_big", "maximum", "String must contain at most 254 character(s)")),
            c.named("CustomIssue", |_| json!({
                "type": "object",
                "description": "A refinement that failed (the `image` rule).",
                "required": ["code", "message", "path"],
                "additionalProperties": false,
                "properties": {
                    "code": {"type": "string", "const": "custom"},
                    "message": {"type": "string", "examples": [crate::validate::INVALID_IMAGE]},
                    "path": path,
                },
            })),
            c.named("InvalidEnumValueIssue", |_| json!({
                "type": "object",
                "required": ["received", "code", "options", "path", "message"],
                "additionalProperties": false,
                "properties": {
                    "received": {"type": "string"},
                    "code": {"type": "string", "const": "invalid_enum_value"},
                    "options": {"type": "array", "items": {"type": "string"}},
                    "path": path,
                    "message": {"type": "string"},
                },
            })),
        ];
        json!({"description": "A zod 3 issue, with zod's keys in zod's order.", "oneOf": variants})
    })
}

/// The error statuses an operation can answer.
pub fn error_statuses(procedure: &Procedure) -> Vec<u16> {
    let mut statuses = vec![400, 404, 408, 429, 500];
    if procedure.access != Access::Public {
        statuses.push(401);
    }
    if procedure.kind == Kind::Mutation {
        // The cross-site rule, the body's size and type, and a store that cannot write.
        statuses.extend([403, 413, 415, 503]);
    }
    if procedure.id == Id::Update {
        statuses.push(409);
    }
    statuses.sort_unstable();
    statuses
}

// ---------- operations ----------

/// What each operation does, in a line.
pub fn summary(id: Id) -> &'static str {
    match id {
        Id::CreateAdmin => "Create the first admin (self-hosted) or sign up an admin (cloud).",
        Id::CreateUser => "Accept an invitation: set the password of the invited account and log in.",
        Id::Login => "Log in with email and password.",
        Id::Get => "The caller's account.",
        Id::VerifyToken => "Check that the credential is valid (Dokploy's CLI calls this).",
        Id::Logout => "End the cookie session; false when the request carried no cookie session.",
        Id::Update => "Change the caller's email, password or image.",
        Id::GenerateToken => "Replace the caller's API token.",
        Id::One => "An account of the admin's organisation by id.",
        Id::Generate2FASecret => "A new TOTP secret and its QR code (not stored until verified).",
        Id::Verify2FASetup => "Enable 2FA with a secret and a current pin.",
        Id::VerifyLogin2FA => "Finish a login on a 2FA account with a current pin.",
        Id::Disable2FA => "Disable 2FA.",
        Id::SendResetPasswordEmail => "Email a password reset link (cloud); the same answer whether or not the email has an account.",
        Id::ResetPassword => "Set a new password with the token from the reset email (cloud).",
        Id::ConfirmEmail => "Confirm an email address with the token from the confirmation email (cloud).",
        Id::CreateUserInvitation => "Invite a member by email.",
        Id::GetUserByToken => "The invitation behind a link (public: the invitation page reads it).",
        Id::RemoveUser => "Remove a member and its account.",
        Id::All => "The admin's members.",
        Id::ListSessions => "The caller's sessions (beyond Dokploy).",
        Id::EndSession => "End one of the caller's sessions by its handle (beyond Dokploy).",
        Id::EndOtherSessions => "End every session of the caller but this one; how many (beyond Dokploy).",
        Id::EndMemberSessions => "End every session of a member; how many (beyond Dokploy).",
    }
}

/// What the input of an operation means beyond its rules.
fn input_description(id: Id) -> Option<&'static str> {
    match id {
        Id::Update => Some("Only `email`, `password` and `image` are used; `null` or `\"\"` leaves a field as it is. The other keys are accepted, type-checked and ignored."),
        Id::CreateUser => Some("`id` is the invited account's id (`authId`); it must be the one the token was issued for."),
        Id::VerifyLogin2FA => Some("`id` is the `authId` from `auth.login`."),
        Id::Verify2FASetup => Some("`secret` is the base32 secret from `auth.generate2FASecret`."),
        Id::EndSession => Some("`handle` is a session's handle from `auth.listSessions`."),
        _ => None,
    }
}

fn operation<P: Definition>(components: &mut Components) -> (String, String, Value)
where
    P::Output: Documented,
{
    let procedure = P::PROCEDURE;
    let namespace = procedure.name.split('.').next().unwrap_or(procedure.name);
    let access = match procedure.access {
        Access::Public => "public",
        Access::Protected => "protected",
        Access::Admin => "admin",
    };
    let mut op = json!({
        "operationId": procedure.name.replace('.', "_"),
        "summary": summary(procedure.id),
        "tags": [namespace],
        "x-procedure": procedure.name,
        "x-kind": procedure.kind.as_str(),
        "x-access": access,
    });
    if procedure.access == Access::Public {
        op["security"] = json!([]);
    }
    match (procedure.kind, procedure.input) {
        (Kind::Mutation, Some(schema)) => {
            let name = input_name(&procedure);
            let reference = components.named(&name, |_| input_schema_of(&procedure, schema));
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": reference}},
            });
        }
        (Kind::Mutation, None) => {
            let reference = components.named("NoInput", |_| {
                // Any JSON: the procedure ignores it (an array is as good as `{}`).
                json!({
                    "description": "The procedure takes no input; any JSON is accepted and ignored. Send `{}`: a change made with the session cookie needs `Content-Type: application/json` (difference 22).",
                    "examples": [{}],
                })
            });
            op["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {"schema": reference}},
            });
        }
        (Kind::Query, Some(schema)) => {
            let parameters: Vec<Value> = schema
                .fields
                .iter()
                .map(|f| {
                    let mut parameter = json!({"name": f.name, "in": "query", "required": !f.optional, "schema": field_schema(f)});
                    if let Some(example) = input_example(procedure.id).and_then(|e| e.get(f.name).cloned()) {
                        parameter["example"] = example;
                    }
                    parameter
                })
                .collect();
            op["parameters"] = Value::Array(parameters);
        }
        (Kind::Query, None) => {}
    }
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        match P::Output::schema(components) {
            Some(schema) => json!({
                "description": "Success.",
                "content": {"application/json": {"schema": schema}},
            }),
            None => json!({"description": "Success: an empty body."}),
        },
    );
    for status in error_statuses(&procedure) {
        responses.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/{}", error_response_name(status))}),
        );
    }
    op["responses"] = Value::Object(responses);
    let method = procedure.kind.http_method().to_lowercase();
    (format!("/{}", procedure.name), method, op)
}

macro_rules! every_operation {
    ($components:ident, [$($procedure:ident),*]) => {
        vec![$(operation::<crate::procedures::$procedure>(&mut $components)),*]
    };
}

/// The whole document, as `GET /api/openapi.json` serves it.
pub fn document() -> Value {
    let mut components = Components::default();
    let operations = with_every_procedure!(every_operation!(components,));
    let mut paths = Map::new();
    for (path, method, op) in operations {
        paths.insert(path, json!({ method: op }));
    }
    let mut statuses: Vec<u16> = crate::PROCEDURES.iter().flat_map(error_statuses).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let mut responses = Map::new();
    for status in statuses {
        let response = error_response(status, &mut components);
        responses.insert(error_response_name(status), response);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Dokploy auth API (REST transport)",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "The auth procedures of Dokploy as `/api/<procedure>`, with precise outputs and errors.",
            "description": "Every procedure is a query (`GET`, input in the query string) or a mutation (`POST`, input as a JSON body). Errors share one envelope, `ErrorEnvelope`. Behaviour, messages and every deliberate difference from Dokploy are in `specs/CONTRACT.md`. Generated from the `specs` crate's procedure table (`x-procedure`, `x-kind` and `x-access` are its columns): do not edit `specs/openapi.yaml` by hand, run `make contract`.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [
            {"url": "http://localhost:3000/api", "description": "The server (`make run`, `dokploy-auth serve`)."},
            {"url": "http://localhost:4000/api", "description": "The mock (`make mock`, `dokploy-auth-mock`)."},
        ],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "tags": [
            {"name": "auth", "description": "Accounts, sessions, API tokens and 2FA."},
            {"name": "admin", "description": "Invitations and members (admin only, except reading an invitation)."},
            {"name": "user", "description": "Listing the members."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `auth.generateToken` (or any session id). The scheme word is case-sensitive: `Authorization: Bearer <token>`. Tried before the cookie.",
                },
                "cookieAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": crate::cookie::NAME,
                    "description": "The cookie session set by `createAdmin`, `createUser`, `login` and `verifyLogin2FA`.",
                },
            },
            "responses": responses,
            "schemas": components.into_map(),
        },
    })
}

/// The first lines of a generated file.
pub const GENERATED_HEADER: &str =
    "# Generated from the specs crate by `make contract`: do not edit by hand.\n";

/// `document()` as the YAML text checked in as `specs/openapi.yaml`.
pub fn document_yaml() -> String {
    to_yaml(&document())
}

/// A generated document as YAML, with the header that says so.
pub fn to_yaml(document: &Value) -> String {
    let body = serde_yaml_ng::to_string(document).expect("a JSON value is YAML");
    format!("{GENERATED_HEADER}{body}")
}
