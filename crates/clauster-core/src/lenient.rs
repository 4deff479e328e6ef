//! Lenient serde visitors: they accept any JSON value and keep only the shapes they care
//! about, so one odd field never costs a whole transcript line.

use serde::de::{IgnoredAny, MapAccess, SeqAccess};

/// The visitor methods for the scalar JSON shapes (booleans, numbers, strings, null), each
/// answering `$value`.
macro_rules! scalar_shapes {
    ($value:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

pub(crate) use scalar_shapes;

/// Reads the rest of an array and drops it.
pub(crate) fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Reads the rest of an object and drops it.
pub(crate) fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// `visit_seq` that skips the array and answers `$value`.
macro_rules! ignore_seq {
    ($value:expr) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            $crate::lenient::skip_seq(seq)?;
            Ok($value)
        }
    };
}

/// `visit_map` that skips the object and answers `$value`.
macro_rules! ignore_map {
    ($value:expr) => {
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            $crate::lenient::skip_map(map)?;
            Ok($value)
        }
    };
}

pub(crate) use {ignore_map, ignore_seq};

/// `Deserialize` for `$target` through a visitor of the given methods, whose `Value` is
/// `$target` and which expects `$expecting`; the deserializer is asked with `$method`
/// (`deserialize_any` for a value of any shape). The methods may name `'de`.
macro_rules! deserialize_with {
    ($target:ty, $method:ident, $expecting:literal, { $($methods:tt)* }) => {
        impl<'de> serde::Deserialize<'de> for $target {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $target;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    $($methods)*
                }
                deserializer.$method(V)
            }
        }
    };
}

pub(crate) use deserialize_with;

/// `true` only for a JSON `true`; any other value, of any shape, reads as `false`.
pub(crate) struct OnlyTrue(pub(crate) bool);

deserialize_with!(OnlyTrue, deserialize_any, "any JSON value", {
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<OnlyTrue, E> {
        Ok(OnlyTrue(false))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<OnlyTrue, E> {
        Ok(OnlyTrue(false))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<OnlyTrue, E> {
        Ok(OnlyTrue(false))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<OnlyTrue, E> {
        Ok(OnlyTrue(false))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<OnlyTrue, E> {
        Ok(OnlyTrue(false))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<OnlyTrue, E> {
        Ok(OnlyTrue(v))
    }
    ignore_seq!(OnlyTrue(false));
    ignore_map!(OnlyTrue(false));
});
