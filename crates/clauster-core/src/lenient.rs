//! Lenient serde visitors: they accept any JSON value and keep only the shapes they care
//! about, so one odd field never costs a whole transcript line.

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

/// `visit_seq` that skips the array and answers `$value`.
macro_rules! ignore_seq {
    ($value:expr) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
}

/// `visit_map` that skips the object and answers `$value`.
macro_rules! ignore_map {
    ($value:expr) => {
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok($value)
        }
    };
}

pub(crate) use {ignore_map, ignore_seq};

/// `true` only for a JSON `true`; any other value, of any shape, reads as `false`.
pub(crate) struct OnlyTrue(pub(crate) bool);

impl<'de> serde::Deserialize<'de> for OnlyTrue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OnlyTrue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
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
        }
        deserializer.deserialize_any(V)
    }
}
