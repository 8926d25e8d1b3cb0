//! The tRPC transport's wire format (tRPC v10 with the superjson transformer, as
//! Dokploy's web frontend and CLI speak it): result and error items, the status of
//! a batch, and superjson decoding of inputs.

use crate::error::ApiError;
use crate::validate::{flatten, issues_pretty_json};
use serde_json::{json, Map, Value};

/// At most this many calls in one batched request (a deliberate limit, see
/// `CONTRACT.md` §1b).
pub const MAX_BATCH_CALLS: usize = 50;

/// The message of a batch call whose `input` is missing or not an object.
pub const BATCH_INPUT_NOT_OBJECT: &str = "\"input\" needs to be an object when doing a batch call";

/// The message when a path names no procedure of the request's kind.
pub fn no_procedure(kind: &str, path: &str) -> String {
    format!("No \"{kind}\"-procedure on path \"{path}\"")
}

/// The message for a method other than GET, POST and HEAD.
pub fn unexpected_method(method: &str) -> String {
    format!("Unexpected request method {method}")
}

/// The message when a batch has more calls than `MAX_BATCH_CALLS`.
pub fn too_many_calls(count: usize) -> String {
    format!("A batch may hold at most {MAX_BATCH_CALLS} calls, this one has {count}")
}

/// A procedure's output (JSON text) as a success item, as JSON text:
/// `{"result":{"data":{"json":<output>}}}`; `None` (JavaScript's `undefined`) is
/// `{"json":null,"meta":{"values":["undefined"]}}`. Written straight to text: this
/// is every successful tRPC answer's path.
pub fn result_item(output: Option<&str>) -> String {
    match output {
        Some(json) => {
            let mut text = String::with_capacity(json.len() + 30);
            text.push_str(r#"{"result":{"data":{"json":"#);
            text.push_str(json);
            text.push_str("}}}");
            text
        }
        None => r#"{"result":{"data":{"json":null,"meta":{"values":["undefined"]}}}}"#.to_string(),
    }
}

/// An error as an error item, the shape of tRPC's default error formatter plus
/// Dokploy's `zodError`: `{"error":{"json":{"message","code","data"}}}`. `path` is
/// the procedure's path when the error belongs to one call.
pub fn error_item(error: &ApiError, path: Option<&str>) -> Value {
    let mut data = Map::new();
    data.insert("code".into(), json!(error.code.as_str()));
    data.insert("httpStatus".into(), json!(error.http_status()));
    if let Some(path) = path {
        data.insert("path".into(), json!(path));
    }
    let (message, zod_error) = match &error.issues {
        // zod's message for a failed parse is its issues as pretty JSON.
        Some(issues) => (issues_pretty_json(issues), flatten(issues)),
        None => (error.message.clone(), Value::Null),
    };
    data.insert("zodError".into(), zod_error);
    json!({ "error": { "json": {
        "message": message,
        "code": error.code.json_rpc_code(),
        "data": data,
    } } })
}

/// The HTTP status of an answer with these item statuses: their common status, or
/// 207 when they differ.
pub fn batch_status(statuses: impl IntoIterator<Item = u16>) -> u16 {
    let mut statuses = statuses.into_iter();
    match statuses.next() {
        Some(first) if statuses.all(|s| s == first) => first,
        Some(_) => 207,
        None => 200,
    }
}

/// Decodes one superjson value into the input a procedure sees (`None` is
/// `undefined`). `{}`, and anything that is not an object, is `undefined`, as
/// `superjson.deserialize` makes it. Of the annotations in `meta.values` only
/// `"undefined"` changes a value here (it removes the key, or makes the whole input
/// `undefined`); no procedure takes a Date, Map, Set or BigInt, so other
/// annotated values are left as their JSON form.
pub fn decode_superjson(payload: &Value) -> Option<Value> {
    let object = payload.as_object()?;
    let mut value = object.get("json")?.clone();
    match object.get("meta").and_then(|m| m.get("values")) {
        Some(Value::Array(root)) if is_undefined(root) => return None,
        Some(Value::Object(paths)) => {
            for (path, annotation) in paths {
                if annotation.as_array().is_some_and(|a| is_undefined(a)) {
                    remove_path(&mut value, &split_path(path));
                }
            }
        }
        _ => {}
    }
    Some(value)
}

fn is_undefined(annotation: &[Value]) -> bool {
    annotation.first().and_then(Value::as_str) == Some("undefined")
}

/// superjson's path syntax: keys joined by `.`, with `\.` and `\\` escaped.
fn split_path(path: &str) -> Vec<String> {
    let mut keys = vec![String::new()];
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    keys.last_mut().expect("never empty").push(next);
                }
            }
            '.' => keys.push(String::new()),
            c => keys.last_mut().expect("never empty").push(c),
        }
    }
    keys
}

fn remove_path(value: &mut Value, keys: &[String]) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut current = value;
    for key in parents {
        current = match current {
            Value::Object(map) => match map.get_mut(key) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => match key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    // An undefined array element is JSON's null, which it already is.
    if let Value::Object(map) = current {
        map.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Issue;

    #[test]
    fn undefined_at_the_root_and_in_a_key() {
        assert_eq!(decode_superjson(&json!({})), None);
        assert_eq!(decode_superjson(&json!(5)), None);
        assert_eq!(
            decode_superjson(&json!({"json": null, "meta": {"values": ["undefined"]}})),
            None
        );
        assert_eq!(
            decode_superjson(
                &json!({"json": {"a": null, "b": 1}, "meta": {"values": {"a": ["undefined"]}}})
            ),
            Some(json!({"b": 1}))
        );
        assert_eq!(
            decode_superjson(
                &json!({"json": {"x.y": {"z": 1}, "k": 2}, "meta": {"values": {"x\\.y.z": ["undefined"]}}})
            ),
            Some(json!({"x.y": {}, "k": 2}))
        );
        assert_eq!(decode_superjson(&json!({"json": null})), Some(Value::Null));
    }

    #[test]
    fn items_have_the_reference_shape() {
        assert_eq!(
            result_item(None),
            r#"{"result":{"data":{"json":null,"meta":{"values":["undefined"]}}}}"#
        );
        assert_eq!(
            result_item(Some(r#"{"a":[1,"x"]}"#)),
            r#"{"result":{"data":{"json":{"a":[1,"x"]}}}}"#
        );
        let error = ApiError::validation(vec![Issue::InvalidEmail {
            path: vec!["email".into()],
        }]);
        let item = error_item(&error, Some("auth.login"));
        assert_eq!(
            item["error"]["json"]["data"].to_string(),
            r#"{"code":"BAD_REQUEST","httpStatus":400,"path":"auth.login","zodError":{"formErrors":[],"fieldErrors":{"email":["Invalid email"]}}}"#
        );
        assert_eq!(item["error"]["json"]["code"], json!(-32600));
        assert!(item["error"]["json"]["message"]
            .as_str()
            .unwrap()
            .starts_with("[\n  {\n"));
        let unauthorized = error_item(&ApiError::unauthorized(), None);
        assert_eq!(
            unauthorized.to_string(),
            r#"{"error":{"json":{"message":"UNAUTHORIZED","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,"zodError":null}}}}"#
        );
    }

    #[test]
    fn a_batch_answers_its_common_status_or_207() {
        assert_eq!(batch_status([200, 200]), 200);
        assert_eq!(batch_status([401]), 401);
        assert_eq!(batch_status([200, 401]), 207);
    }
}
