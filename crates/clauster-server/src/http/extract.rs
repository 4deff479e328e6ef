//! Request-body extractors shared by the handlers.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A request body that must be a JSON object, with typed field access (http-api.md §1).
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let not_object = || ApiError::invalid("request body must be a JSON object", None);
        match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            // serde_json stops at 128 levels: the body may well be an object.
            Err(err) if err.to_string().starts_with("recursion limit exceeded") => {
                Err(ApiError::invalid(
                    "request body is nested too deeply (128 levels or more)",
                    None,
                ))
            }
            _ => Err(not_object()),
        }
    }

    /// The fields, for the checks the typed accessors do not cover.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    /// An optional string field; `null` counts as absent.
    pub fn string(&self, name: &'static str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(ApiError::invalid(
                format!("{name} must be a string"),
                Some(name),
            )),
        }
    }

    /// An optional boolean field; `null` counts as absent.
    pub fn boolean(&self, name: &'static str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(value)) => Ok(Some(*value)),
            Some(_) => Err(ApiError::invalid(
                format!("{name} must be a boolean"),
                Some(name),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JsonObject;

    #[test]
    fn a_body_nested_too_deeply_is_called_so() {
        let deep = format!("{{\"project\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        let Err(err) = JsonObject::parse(deep.as_bytes()) else {
            panic!("accepted a body 5000 levels deep");
        };
        let said = format!("{err:?}");
        assert!(said.contains("nested too deeply"), "{said}");
        for not_object in [&b"[]"[..], b"not json", b"{\"a\":"] {
            let Err(err) = JsonObject::parse(not_object) else {
                panic!("accepted {not_object:?}");
            };
            let said = format!("{err:?}");
            assert!(said.contains("must be a JSON object"), "{said}");
        }
        assert!(JsonObject::parse(br#"{"project":[[[1]]]}"#).is_ok());
    }
}
