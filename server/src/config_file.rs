//! `--config FILE`: the server's settings in a TOML file, each under its flag's long
//! name (`listen = "0.0.0.0:3000"`, `trusted-proxy = ["10.0.0.2"]`, `mode =
//! "cloud"`). The file's values reach the command line parser as the environment
//! variables of those settings, and only where the environment has none: a flag
//! wins over the environment, which wins over the file.

use std::collections::BTreeMap;

/// A setting the file may hold: its flag's long name and its environment variable.
#[derive(Debug, Clone)]
pub struct Setting {
    pub long: String,
    pub env: String,
}

/// The environment variables (name, value) that `text`, a config file's TOML, sets.
/// Keys are flags' long names (`_` taken as `-`); values are strings, integers,
/// booleans, or lists of those (a flag that repeats). Anything else is an error
/// that names the key.
pub fn as_environment(text: &str, settings: &[Setting]) -> Result<Vec<(String, String)>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not a TOML file: {}", e.message()))?;
    let by_long: BTreeMap<&str, &Setting> = settings.iter().map(|s| (s.long.as_str(), s)).collect();
    let mut environment = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let Some(setting) = by_long.get(long.as_str()) else {
            return Err(format!(
                "`{key}` is no setting: the keys are the long names of the flags that \
                 `dokploy-auth serve --help` lists, such as `listen` or `trusted-proxy`"
            ));
        };
        let text = match value {
            toml::Value::Array(items) => items
                .iter()
                .map(|item| scalar(key, item))
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            other => scalar(key, other)?,
        };
        environment.push((setting.env.clone(), text));
    }
    Ok(environment)
}

fn scalar(key: &str, value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Boolean(yes) => Ok(yes.to_string()),
        other => Err(format!(
            "`{key}` takes a string, a number, true or false (or a list of them), not a {}",
            other.type_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Vec<Setting> {
        [
            ("listen", "DOKPLOY_AUTH_LISTEN"),
            ("trusted-proxy", "DOKPLOY_AUTH_TRUSTED_PROXIES"),
            ("cookie-secure", "DOKPLOY_AUTH_COOKIE_SECURE"),
            ("max-connections", "DOKPLOY_AUTH_MAX_CONNECTIONS"),
        ]
        .into_iter()
        .map(|(long, env)| Setting {
            long: long.into(),
            env: env.into(),
        })
        .collect()
    }

    #[test]
    fn each_key_becomes_its_settings_variable() {
        let text = r#"
            listen = "0.0.0.0:3000"
            trusted_proxy = ["10.0.0.2", "10.0.0.3"]
            cookie-secure = true
            max-connections = 4096
        "#;
        let mut environment = as_environment(text, &settings()).unwrap();
        environment.sort();
        assert_eq!(
            environment,
            [
                ("DOKPLOY_AUTH_COOKIE_SECURE", "true"),
                ("DOKPLOY_AUTH_LISTEN", "0.0.0.0:3000"),
                ("DOKPLOY_AUTH_MAX_CONNECTIONS", "4096"),
                ("DOKPLOY_AUTH_TRUSTED_PROXIES", "10.0.0.2,10.0.0.3"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn unknown_keys_and_values_of_no_use_are_named() {
        let error = as_environment("lisen = \"x\"", &settings()).unwrap_err();
        assert!(error.contains("`lisen` is no setting"), "{error}");
        let error = as_environment("[serve]\nlisten = \"x\"", &settings()).unwrap_err();
        assert!(error.contains("`serve` is no setting"), "{error}");
        let error = as_environment("max-connections = 1.5", &settings()).unwrap_err();
        assert!(error.contains("`max-connections` takes"), "{error}");
        let error = as_environment("listen = ", &settings()).unwrap_err();
        assert!(error.contains("not a TOML file"), "{error}");
    }
}
