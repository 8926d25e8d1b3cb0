//! The TypeScript `AppRouter` type of the tRPC transport, generated from the same
//! definitions as the OpenAPI document: each procedure's input from its
//! `ObjectSchema`, its output from its `Documented` output type. A frontend types
//! `createTRPCProxyClient<AppRouter>` or `createTRPCReact<AppRouter>` (tRPC 10,
//! superjson) with it, `error.data.zodError` included, without Dokploy's server code.
//! `specs/typescript/router.d.ts` is `router_d_ts()`, checked in (tested).

use crate::openapi::{input_name, Components, Documented};
use crate::procedures::{Definition, Kind, Procedure};
use serde_json::{Map, Value};
use std::fmt::Write;

/// A JSON Schema of the generated documents as a TypeScript type.
fn ts_type(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference
            .rsplit('/')
            .next()
            .unwrap_or("unknown")
            .to_string();
    }
    if let Some(value) = schema.get("const") {
        return value.to_string();
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        return union(options.iter().map(Value::to_string));
    }
    for (keyword, separator) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
        if let Some(parts) = schema.get(keyword).and_then(Value::as_array) {
            let parts: Vec<String> = parts.iter().map(ts_type).collect();
            return format!("({})", parts.join(separator));
        }
    }
    match schema.get("type") {
        Some(Value::String(ty)) => single_type(ty, schema),
        Some(Value::Array(types)) => union(
            types
                .iter()
                .filter_map(Value::as_str)
                .map(|ty| single_type(ty, schema)),
        ),
        _ => "unknown".to_string(),
    }
}

fn union(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(" | ")
}

fn single_type(ty: &str, schema: &Value) -> String {
    match ty {
        "string" => "string".into(),
        "boolean" => "boolean".into(),
        "integer" | "number" => "number".into(),
        "null" => "null".into(),
        "array" => {
            let items = schema.get("items").map_or("unknown".into(), ts_type);
            if items.contains(' ') {
                format!("Array<{items}>")
            } else {
                format!("{items}[]")
            }
        }
        "object" => object_type(schema, 0),
        _ => "unknown".into(),
    }
}

/// `{ key: T; optional?: T }`, each key with its description as a doc comment.
fn object_type(schema: &Value, depth: usize) -> String {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return "Record<string, unknown>".into();
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let indent = "  ".repeat(depth + 1);
    let mut text = String::from("{\n");
    for (name, property) in properties {
        if let Some(description) = property.get("description").and_then(Value::as_str) {
            let _ = writeln!(text, "{indent}/** {} */", description.replace("*/", "*\\/"));
        }
        let optional = if required.contains(&name.as_str()) {
            ""
        } else {
            "?"
        };
        let _ = writeln!(
            text,
            "{indent}{}{optional}: {};",
            key(name),
            ts_type(property)
        );
    }
    text.push_str(&"  ".repeat(depth));
    text.push('}');
    text
}

/// A property name, quoted when it is not an identifier.
fn key(name: &str) -> String {
    let plain = name.chars().enumerate().all(|(i, c)| {
        c == '_' || c == '$' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
    });
    if plain {
        name.to_string()
    } else {
        serde_json::to_string(name).expect("a string serializes")
    }
}

/// One procedure's line of the router: `name: Mutation<Input, Output>;`.
struct RouterEntry {
    procedure: Procedure,
    input: String,
    output: String,
}

fn entry<P: Definition>(components: &mut Components, inputs: &mut Map<String, Value>) -> RouterEntry
where
    P::Output: Documented,
{
    let procedure = P::PROCEDURE;
    let input = match procedure.input {
        Some(schema) => {
            let name = input_name(&procedure);
            inputs.insert(
                name.clone(),
                crate::openapi::input_schema_of(&procedure, schema),
            );
            name
        }
        None => "void | undefined".to_string(),
    };
    let output = match P::Output::schema(components) {
        Some(schema) => ts_type(&schema),
        None => "void".to_string(),
    };
    RouterEntry {
        procedure,
        input,
        output,
    }
}

macro_rules! every_entry {
    ($components:ident, $inputs:ident, [$($procedure:ident),*]) => {
        vec![$(entry::<crate::procedures::$procedure>(&mut $components, &mut $inputs)),*]
    };
}

/// The header of the generated declaration.
const HEADER: &str = "\
// Generated from the specs crate by `make contract`: do not edit by hand.
//
// The tRPC router of the Dokploy auth API as a type, for
// `createTRPCProxyClient<AppRouter>` and `createTRPCReact<AppRouter>` (tRPC 10)
// with `transformer: superjson`. Needs `@trpc/server` 10 (types only).
import type {
  CreateRouterInner,
  DataTransformer,
  DefaultErrorShape,
  Procedure,
  ProcedureParams,
  RootConfig,
} from '@trpc/server';
";

const ERRORS: &str = "
/** zod's `error.flatten()`: what `error.data.zodError` holds when input validation failed. */
export interface ZodFlattenedError {
  formErrors: string[];
  fieldErrors: { [field: string]: string[] | undefined };
}

/** tRPC's default error shape plus Dokploy's `zodError` (`null` unless input validation failed). */
export type ErrorShape = DefaultErrorShape & {
  data: { zodError: ZodFlattenedError | null };
};

type Config = RootConfig<{
  ctx: object;
  meta: object;
  errorShape: ErrorShape;
  transformer: DataTransformer;
}>;

type Query<TInput, TOutput> = Procedure<
  'query',
  ProcedureParams<Config, object, TInput, TInput, TOutput, TOutput, object>
>;
type Mutation<TInput, TOutput> = Procedure<
  'mutation',
  ProcedureParams<Config, object, TInput, TInput, TOutput, TOutput, object>
>;
";

/// The whole declaration file.
pub fn router_d_ts() -> String {
    let mut components = Components::default();
    let mut inputs = Map::new();
    let entries = with_every_procedure!(every_entry!(components, inputs,));
    let mut text = String::from(HEADER);
    let mut named: Vec<(String, Value)> = components.into_map().into_iter().collect();
    named.extend(inputs);
    for (name, schema) in &named {
        text.push('\n');
        if let Some(description) = schema.get("description").and_then(Value::as_str) {
            let _ = writeln!(text, "/** {} */", description.replace("*/", "*\\/"));
        }
        let is_object = schema.get("type") == Some(&Value::String("object".into()))
            && schema.get("properties").is_some();
        if is_object {
            let _ = writeln!(text, "export interface {name} {}", object_type(schema, 0));
        } else {
            let _ = writeln!(text, "export type {name} = {};", ts_type(schema));
        }
    }
    text.push_str(ERRORS);
    text.push_str(
        "\n/** Every procedure of the contract, by namespace (`auth.login` is `auth.login`). */\n",
    );
    text.push_str("export type AppRouter = CreateRouterInner<Config, {\n");
    let mut namespaces: Vec<&str> = Vec::new();
    for entry in &entries {
        let namespace = entry.procedure.name.split('.').next().unwrap_or_default();
        if !namespaces.contains(&namespace) {
            namespaces.push(namespace);
        }
    }
    for namespace in namespaces {
        let _ = writeln!(text, "  {namespace}: CreateRouterInner<Config, {{");
        for entry in entries
            .iter()
            .filter(|e| e.procedure.name.split('.').next() == Some(namespace))
        {
            let method = entry.procedure.name.split_once('.').map_or("", |(_, m)| m);
            let kind = match entry.procedure.kind {
                Kind::Query => "Query",
                Kind::Mutation => "Mutation",
            };
            let _ = writeln!(
                text,
                "    /** {} */\n    {method}: {kind}<{}, {}>;",
                crate::openapi::summary(entry.procedure.id),
                entry.input,
                entry.output
            );
        }
        text.push_str("  }>;\n");
    }
    text.push_str("}>;\n");
    text
}
