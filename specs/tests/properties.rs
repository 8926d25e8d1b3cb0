//! Properties of validation over arbitrary input.

use proptest::prelude::*;
use serde_json::{Map, Value};
use specs::validate::Type;

use specs::{ObjectSchema, PROCEDURES};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for a field: often valid, sometimes not.
fn field_value(ty: Type) -> BoxedStrategy<Value> {
    let strings = prop_oneof![
        Just("a@b.co".to_string()),
        Just("Someone@Example.com".to_string()),
        Just("".to_string()),
        Just("admin".to_string()),
        "[a-z0-9]{1,20}",
        ".{0,10}",
    ]
    .prop_map(Value::String);
    match ty {
        Type::String(_) | Type::Enum(_) => {
            prop_oneof![8 => strings, 1 => Just(Value::Null), 1 => any::<i32>().prop_map(|n| n.into())].boxed()
        }
        Type::Boolean => prop_oneof![4 => any::<bool>().prop_map(Value::Bool), 1 => Just(Value::Null)].boxed(),
    }
}

/// An object with each of the schema's fields present or not, plus stray keys.
fn object_for(schema: &'static ObjectSchema) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = schema
        .fields
        .iter()
        .map(|f| {
            let name = f.name.to_string();
            prop::option::weighted(0.85, field_value(f.ty))
                .prop_map(move |v| v.map(|v| (name.clone(), v)))
                .boxed()
        })
        .collect();
    (
        fields,
        prop::collection::btree_map("x[a-z]{1,5}", arbitrary_json(), 0..2),
    )
        .prop_map(|(fields, extra)| {
            let mut object: Map<String, Value> = extra.into_iter().collect();
            for (k, v) in fields.into_iter().flatten() {
                object.insert(k, v);
            }
            Value::Object(object)
        })
        .boxed()
}

/// Through the procedure's wire type and back to JSON.
fn round_trip(procedure: &specs::Procedure, value: Value) -> Value {
    fn via<P: specs::Definition>(v: Value) -> Value {
        serde_json::to_value(serde_json::from_value::<P::Input>(v).expect("converts")).unwrap()
    }
    macro_rules! by_id {
        ($id:expr, $value:expr, [$($name:ident),*]) => {
            match $id {
                $(specs::Id::$name => via::<specs::procedures::$name>($value),)*
            }
        };
    }
    specs::with_every_procedure!(by_id!(procedure.id, value,))
}

fn procedure_with_input() -> impl Strategy<Value = &'static specs::Procedure> {
    let with_input: Vec<&'static specs::Procedure> =
        PROCEDURES.iter().filter(|p| p.input.is_some()).collect();
    prop::sample::select(with_input)
}

fn check_paths(schema: &ObjectSchema, input: &Value, issues: &[specs::Issue]) {
    for issue in issues {
        match issue.path() {
            [] => assert!(!input.is_object(), "a root issue on an object"),
            [field] => {
                let present = input.get(field).is_some();
                let required = schema.required_fields().any(|r| r == field);
                assert!(
                    present || required,
                    "issue path {field:?} neither in input nor required"
                );
            }
            deeper => panic!("flat schemas give flat paths, got {deeper:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validation_never_panics_and_paths_make_sense(p in procedure_with_input(), input in arbitrary_json()) {
        let schema = p.input.unwrap();
        if let Err(issues) = schema.validate(Some(&input)) {
            prop_assert!(!issues.is_empty());
            check_paths(schema, &input, &issues);
        }
    }

    #[test]
    fn shaped_inputs_validate_consistently(
        (p, input) in procedure_with_input().prop_flat_map(|p| (Just(p), object_for(p.input.unwrap())))
    ) {
        let schema = p.input.unwrap();
        match schema.validate(Some(&input)) {
            Ok(cleaned) => {
                // Unknown keys are gone, known ones are untouched ...
                for (key, value) in cleaned.as_object().unwrap() {
                    prop_assert!(schema.fields.iter().any(|f| f.name == key));
                    prop_assert_eq!(Some(value), input.get(key));
                }
                // ... and the wire type carries the value unchanged.
                prop_assert_eq!(round_trip(p, cleaned.clone()), cleaned);
            }
            Err(issues) => check_paths(schema, &input, &issues),
        }
    }

    #[test]
    fn query_inputs_never_panic(pairs in prop::collection::vec(("[a-z]{1,3}", ".{0,6}"), 0..6), p in procedure_with_input()) {
        let schema = p.input.unwrap();
        let input = schema.input_from_query(&pairs);
        let _ = schema.validate(Some(&input));
    }
}
