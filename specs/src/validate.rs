//! Input validation that answers exactly as zod 3 does in Dokploy: the same issue
//! objects, with the same keys in the same order, in schema field order, every
//! failing field at once, unknown keys dropped.

use crate::Profile;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// One check on a string, run in the order the schema declares them (as zod does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// At least this many UTF-16 code units (JavaScript's `length`).
    Min(usize),
    /// zod's `.email()`.
    Email,
    /// `Min` that lets the empty string through: `""` means "leave unchanged".
    MinUnlessEmpty(usize),
    /// `Email` that lets the empty string through.
    EmailUnlessEmpty,
    /// At most this many UTF-16 code units (zod's `.max()`).
    Max(usize),
    /// An avatar Dokploy's frontend can show: one of its `/avatars/…` paths, an
    /// `https://` URL, or a `data:image/…;base64,` URL; `""` (unchanged) passes.
    Image,
}

/// The longest `image` accepted (a data URL of about 48 KB of image).
pub const MAX_IMAGE_CHARS: usize = 65_536;

/// The message of an `image` that is none of what `Check::Image` accepts.
pub const INVALID_IMAGE: &str =
    "Invalid image: an /avatars/ path, an https URL or a data:image URL of at most 65536 characters";

fn is_avatar(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    if s.encode_utf16().count() > MAX_IMAGE_CHARS {
        return false;
    }
    let plain = |rest: &str, extra: &str| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c) || extra.contains(c))
    };
    if let Some(name) = s.strip_prefix("/avatars/") {
        return plain(name, "");
    }
    if let Some(rest) = s.strip_prefix("https://") {
        return plain(rest, "/?#[]@!$&'()*+,;=%:");
    }
    if let Some(rest) = s.strip_prefix("data:image/") {
        let Some((kind, data)) = rest.split_once(";base64,") else {
            return false;
        };
        return matches!(kind, "png" | "jpeg" | "gif" | "webp" | "svg+xml") && plain(data, "+/=");
    }
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String(&'static [Check]),
    Boolean,
    Enum(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: Type,
    /// May be left out (zod's `.optional()`).
    pub optional: bool,
    /// May be `null` (zod's `.nullable()`).
    pub nullable: bool,
}

impl Field {
    pub const fn required(name: &'static str, ty: Type) -> Field {
        Field {
            name,
            ty,
            optional: false,
            nullable: false,
        }
    }
    pub const fn optional(name: &'static str, ty: Type) -> Field {
        Field {
            name,
            ty,
            optional: true,
            nullable: false,
        }
    }
    pub const fn nullable(self) -> Field {
        Field {
            nullable: true,
            ..self
        }
    }
}

/// A zod object schema: fields in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectSchema {
    pub fields: &'static [Field],
}

/// A zod issue. Serializes with zod's key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    InvalidType {
        expected: String,
        received: &'static str,
        path: Vec<String>,
    },
    InvalidEmail {
        path: Vec<String>,
    },
    TooSmall {
        minimum: usize,
        path: Vec<String>,
    },
    TooBig {
        maximum: usize,
        path: Vec<String>,
    },
    /// A `.refine()` that failed.
    Custom {
        message: &'static str,
        path: Vec<String>,
    },
    InvalidEnumValue {
        received: String,
        options: &'static [&'static str],
        path: Vec<String>,
    },
}

impl Issue {
    pub fn path(&self) -> &[String] {
        match self {
            Issue::InvalidType { path, .. }
            | Issue::InvalidEmail { path }
            | Issue::TooSmall { path, .. }
            | Issue::TooBig { path, .. }
            | Issue::Custom { path, .. }
            | Issue::InvalidEnumValue { path, .. } => path,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Issue::InvalidType {
                received: "undefined",
                ..
            } => "Required".to_string(),
            Issue::InvalidType {
                expected, received, ..
            } => format!("Expected {expected}, received {received}"),
            Issue::InvalidEmail { .. } => "Invalid email".to_string(),
            Issue::TooSmall { minimum, .. } => {
                format!("String must contain at least {minimum} character(s)")
            }
            Issue::TooBig { maximum, .. } => {
                format!("String must contain at most {maximum} character(s)")
            }
            Issue::Custom { message, .. } => message.to_string(),
            Issue::InvalidEnumValue {
                received, options, ..
            } => format!(
                "Invalid enum value. Expected {}, received '{received}'",
                join_enum(options)
            ),
        }
    }
}

impl Serialize for Issue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.message();
        match self {
            Issue::InvalidType {
                expected,
                received,
                path,
            } => {
                let mut map = serializer.serialize_map(Some(5))?;
                map.serialize_entry("code", "invalid_type")?;
                map.serialize_entry("expected", expected)?;
                map.serialize_entry("received", received)?;
                map.serialize_entry("path", path)?;
                map.serialize_entry("message", &message)?;
                map.end()
            }
            Issue::InvalidEmail { path } => {
                let mut map = serializer.serialize_map(Some(4))?;
                map.serialize_entry("validation", "email")?;
                map.serialize_entry("code", "invalid_string")?;
                map.serialize_entry("message", &message)?;
                map.serialize_entry("path", path)?;
                map.end()
            }
            Issue::TooSmall { minimum, path } => length_issue(
                serializer,
                ("too_small", "minimum", *minimum),
                &message,
                path,
            ),
            Issue::TooBig { maximum, path } => {
                length_issue(serializer, ("too_big", "maximum", *maximum), &message, path)
            }
            Issue::Custom { path, .. } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("code", "custom")?;
                map.serialize_entry("message", &message)?;
                map.serialize_entry("path", path)?;
                map.end()
            }
            Issue::InvalidEnumValue {
                received,
                options,
                path,
            } => {
                let mut map = serializer.serialize_map(Some(5))?;
                map.serialize_entry("received", received)?;
                map.serialize_entry("code", "invalid_enum_value")?;
                map.serialize_entry("options", options)?;
                map.serialize_entry("path", path)?;
                map.serialize_entry("message", &message)?;
                map.end()
            }
        }
    }
}

/// A string length issue: `(code, bound's key, bound)`, then zod's other keys.
fn length_issue<S: Serializer>(
    serializer: S,
    (code, bound_key, bound): (&str, &str, usize),
    message: &str,
    path: &[String],
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(7))?;
    map.serialize_entry("code", code)?;
    map.serialize_entry(bound_key, &bound)?;
    map.serialize_entry("type", "string")?;
    map.serialize_entry("inclusive", &true)?;
    map.serialize_entry("exact", &false)?;
    map.serialize_entry("message", message)?;
    map.serialize_entry("path", path)?;
    map.end()
}

fn join_enum(options: &[&str]) -> String {
    options
        .iter()
        .map(|o| format!("'{o}'"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// zod's name for the type of a JSON value.
pub fn received_type(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// zod 3's email rule:
/// `^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$` (case-insensitive).
pub fn is_zod_email(s: &str) -> bool {
    if s.starts_with('.') || s.contains("..") {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_'+-.".contains(c))
        && local
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "_+-".contains(c));
    let Some((labels, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let tld_ok = tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic());
    let labels_ok = labels.split('.').all(|label| {
        let mut chars = label.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    local_ok && tld_ok && labels_ok
}

/// JavaScript's `string.length`.
fn js_length(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Whether `check` applies in `profile`: Dokploy has none of the checks the
/// contract adds to its schemas (difference 23: email length and `image`;
/// difference 14: `update` takes any string as email or password).
fn applies(check: &Check, profile: Profile) -> bool {
    profile == Profile::Contract
        || !matches!(
            check,
            Check::Max(crate::procedures::MAX_EMAIL_CHARS)
                | Check::Image
                | Check::EmailUnlessEmpty
                | Check::MinUnlessEmpty(_)
        )
}

pub(crate) fn check_string(s: &str, checks: &[Check], path: &[String], issues: &mut Vec<Issue>) {
    check_string_in(s, checks, path, issues, Profile::Contract);
}

fn check_string_in(
    s: &str,
    checks: &[Check],
    path: &[String],
    issues: &mut Vec<Issue>,
    profile: Profile,
) {
    for check in checks.iter().filter(|c| applies(c, profile)) {
        let failed = match *check {
            Check::Min(min) => js_length(s) < min,
            Check::MinUnlessEmpty(min) => !s.is_empty() && js_length(s) < min,
            Check::Email => !is_zod_email(s),
            Check::EmailUnlessEmpty => !s.is_empty() && !is_zod_email(s),
            Check::Max(max) => js_length(s) > max,
            Check::Image => !is_avatar(s),
        };
        if failed {
            issues.push(match *check {
                Check::Min(minimum) | Check::MinUnlessEmpty(minimum) => Issue::TooSmall {
                    minimum,
                    path: path.to_vec(),
                },
                Check::Email | Check::EmailUnlessEmpty => Issue::InvalidEmail {
                    path: path.to_vec(),
                },
                Check::Max(maximum) => Issue::TooBig {
                    maximum,
                    path: path.to_vec(),
                },
                Check::Image => Issue::Custom {
                    message: INVALID_IMAGE,
                    path: path.to_vec(),
                },
            });
        }
    }
}

fn check_field(field: &Field, value: Option<&Value>, issues: &mut Vec<Issue>, profile: Profile) {
    let path = vec![field.name.to_string()];
    match value {
        None if field.optional => return,
        Some(Value::Null) if field.nullable => return,
        _ => {}
    }
    match (field.ty, value) {
        (Type::String(checks), Some(Value::String(s))) => {
            check_string_in(s, checks, &path, issues, profile)
        }
        (Type::Boolean, Some(Value::Bool(_))) => {}
        (Type::Enum(options), Some(Value::String(s))) => {
            if !options.contains(&s.as_str()) {
                issues.push(Issue::InvalidEnumValue {
                    received: s.clone(),
                    options,
                    path,
                });
            }
        }
        (ty, value) => issues.push(Issue::InvalidType {
            expected: match ty {
                Type::String(_) => "string".to_string(),
                Type::Boolean => "boolean".to_string(),
                Type::Enum(options) => join_enum(options),
            },
            received: received_type(value),
            path,
        }),
    }
}

impl ObjectSchema {
    /// Validates `input` (`None` is JavaScript's `undefined`). On success returns the
    /// object with unknown keys dropped, in schema field order.
    pub fn validate(&self, input: Option<&Value>) -> Result<Value, Vec<Issue>> {
        self.validate_in(input, Profile::Contract)
    }

    /// `validate` as `profile` validates (Dokploy's schemas lack some checks).
    pub fn validate_in(
        &self,
        input: Option<&Value>,
        profile: Profile,
    ) -> Result<Value, Vec<Issue>> {
        let object = match input {
            Some(Value::Object(object)) => object,
            other => {
                return Err(vec![Issue::InvalidType {
                    expected: "object".to_string(),
                    received: received_type(other),
                    path: Vec::new(),
                }])
            }
        };
        let mut issues = Vec::new();
        let mut cleaned = Map::new();
        for field in self.fields {
            let value = object.get(field.name);
            check_field(field, value, &mut issues, profile);
            if let Some(value) = value {
                cleaned.insert(field.name.to_string(), value.clone());
            }
        }
        if issues.is_empty() {
            Ok(Value::Object(cleaned))
        } else {
            Err(issues)
        }
    }

    /// The input of a REST query: decoded `key=value` pairs become an object, a key
    /// that repeats becomes an array, and top-level fields are coerced to the
    /// schema's type (zod's `z.coerce`: a boolean is JavaScript's `Boolean(string)`).
    pub fn input_from_query(&self, pairs: &[(String, String)]) -> Value {
        let mut object = Map::new();
        for (key, value) in pairs {
            match object.get_mut(key) {
                None => {
                    object.insert(key.clone(), Value::String(value.clone()));
                }
                Some(Value::Array(values)) => values.push(Value::String(value.clone())),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::String(value.clone())]);
                }
            }
        }
        for field in self.fields {
            if let (Type::Boolean, Some(value)) = (field.ty, object.get_mut(field.name)) {
                if let Value::String(s) = value {
                    *value = Value::Bool(!s.is_empty());
                }
            }
        }
        Value::Object(object)
    }

    /// The names of the fields that must be present.
    pub fn required_fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().filter(|f| !f.optional).map(|f| f.name)
    }
}

/// The JSON text of the issues, pretty-printed as `JSON.stringify(issues, null, 2)`
/// does (tRPC's message for a validation error).
pub fn issues_pretty_json(issues: &[Issue]) -> String {
    serde_json::to_string_pretty(issues).expect("issues always serialize")
}

/// zod's `error.flatten()`: `{"formErrors": [...], "fieldErrors": {"field": [...]}}`.
pub fn flatten(issues: &[Issue]) -> Value {
    let mut form_errors = Vec::new();
    let mut field_errors = Map::new();
    for issue in issues {
        match issue.path().first() {
            None => form_errors.push(Value::String(issue.message())),
            Some(field) => {
                let entry = field_errors
                    .entry(field.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(messages) = entry {
                    messages.push(Value::String(issue.message()));
                }
            }
        }
    }
    serde_json::json!({ "formErrors": form_errors, "fieldErrors": field_errors })
}

impl ObjectSchema {
    /// Validates and converts to the wire type in one step, answering the contract's
    /// 400 `Input validation failed` with the issues.
    pub fn parse<T: serde::de::DeserializeOwned>(
        &self,
        input: Option<&Value>,
        profile: Profile,
    ) -> Result<T, crate::ApiError> {
        let cleaned = self
            .validate_in(input, profile)
            .map_err(crate::ApiError::validation)?;
        // The schema and the wire type describe the same object: a value that passed
        // the schema always converts (a property test holds the two together).
        serde_json::from_value(cleaned).map_err(|e| {
            crate::ApiError::new(
                crate::ErrorCode::InternalServerError,
                format!("input schema and wire type disagree: {e}"),
            )
        })
    }
}
