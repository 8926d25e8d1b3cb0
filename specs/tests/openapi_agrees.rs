//! The procedure table and `openapi.yaml` describe the same procedures.

use serde_json::Value;
use specs::{Access, Kind, PROCEDURES};
use std::collections::BTreeSet;

fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("dangling {reference}"))
        }
        None => value,
    }
}

#[test]
fn same_procedures_methods_access_and_required_fields() {
    let doc = specs::openapi_json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();

    let table: BTreeSet<String> = PROCEDURES.iter().map(|p| format!("/{}", p.name)).collect();
    let documented: BTreeSet<String> = paths.keys().cloned().collect();
    assert_eq!(
        table, documented,
        "openapi.yaml paths differ from the procedure table"
    );

    for procedure in PROCEDURES {
        let item = paths[&format!("/{}", procedure.name)].as_object().unwrap();
        let method = procedure.kind.http_method().to_lowercase();
        assert_eq!(item.len(), 1, "{}: one method per path", procedure.name);
        let op = item
            .get(&method)
            .unwrap_or_else(|| panic!("{}: no {method}", procedure.name));

        assert_eq!(op["x-procedure"], procedure.name);
        assert_eq!(op["x-kind"], procedure.kind.as_str());
        let access = match procedure.access {
            Access::Public => "public",
            Access::Protected => "protected",
            Access::Admin => "admin",
        };
        assert_eq!(op["x-access"], access, "{}", procedure.name);
        // Public operations clear the document's default security; the others keep it.
        let public_in_doc = op
            .get("security")
            .is_some_and(|s| s.as_array().unwrap().is_empty());
        assert_eq!(
            public_in_doc,
            procedure.access == Access::Public,
            "{}",
            procedure.name
        );
        // A mutation writes, and answers 503 while the store cannot (difference 27).
        let has_503 = op["responses"].get("503").is_some();
        assert_eq!(
            has_503,
            procedure.kind == Kind::Mutation,
            "{}: 503 on mutations",
            procedure.name
        );
        let has_401 = op["responses"].get("401").is_some();
        assert_eq!(
            has_401,
            procedure.access != Access::Public,
            "{}",
            procedure.name
        );

        let required_doc: BTreeSet<String> = match procedure.kind {
            Kind::Mutation => op
                .get("requestBody")
                .map(|body| {
                    let schema = resolve(&doc, &body["content"]["application/json"]["schema"]);
                    schema["required"]
                        .as_array()
                        .map(|names| {
                            names
                                .iter()
                                .map(|v| v.as_str().unwrap().to_string())
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
            Kind::Query => op
                .get("parameters")
                .map(|params| {
                    params
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|p| p["required"] == true)
                        .map(|p| p["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default(),
        };
        let required_table: BTreeSet<String> = procedure
            .input
            .map(|s| s.required_fields().map(String::from).collect())
            .unwrap_or_default();
        assert_eq!(
            required_doc, required_table,
            "{}: required input fields",
            procedure.name
        );
        assert_eq!(
            op["requestBody"]["required"] == true || op.get("parameters").is_some(),
            procedure.input.is_some(),
            "{}: input or none",
            procedure.name
        );
        // A mutation without input still declares an optional JSON body, so that
        // generated clients send `Content-Type: application/json` (difference 22).
        if procedure.kind == Kind::Mutation {
            assert!(
                op["requestBody"]["content"]["application/json"].is_object(),
                "{}: a JSON body",
                procedure.name
            );
        }
    }
}

#[test]
fn every_documented_field_is_in_the_schema_and_back() {
    let doc = specs::openapi_json();
    for procedure in PROCEDURES.iter().filter(|p| p.kind == Kind::Mutation) {
        let (Some(schema), Some(body)) = (
            procedure.input,
            doc["paths"][format!("/{}", procedure.name)]["post"].get("requestBody"),
        ) else {
            continue;
        };
        let documented = resolve(&doc, &body["content"]["application/json"]["schema"]);
        let doc_fields: Vec<&str> = documented["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let table_fields: Vec<&str> = schema.fields.iter().map(|f| f.name).collect();
        assert_eq!(
            doc_fields, table_fields,
            "{}: fields in order",
            procedure.name
        );
    }
}

#[test]
fn every_input_example_passes_the_validator() {
    let doc = specs::openapi_json();
    let mut checked = 0;
    for procedure in PROCEDURES {
        let Some(schema) = procedure.input else {
            continue;
        };
        let example = match procedure.kind {
            Kind::Mutation => {
                let name = specs::openapi::input_name(procedure);
                doc["components"]["schemas"][&name]["examples"][0].clone()
            }
            Kind::Query => {
                let operation = &doc["paths"][format!("/{}", procedure.name)]["get"];
                let fields = operation["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap().to_string(),
                            p["example"].clone(),
                        )
                    })
                    .collect();
                Value::Object(fields)
            }
        };
        assert!(
            schema.validate(Some(&example)).is_ok(),
            "{}: its example {example} does not pass",
            procedure.name
        );
        checked += 1;
    }
    assert_eq!(
        checked,
        PROCEDURES.iter().filter(|p| p.input.is_some()).count()
    );
}
