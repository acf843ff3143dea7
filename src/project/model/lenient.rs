//! Serde helpers for the scalar spellings the Compose schema allows.
//!
//! The schema types many values as "number or string" or "boolean or string" because interpolation
//! produces strings: `cpus: ${CPUS}` arrives as `"0.5"`, `user: 1000` arrives as a number. These
//! helpers accept both spellings and keep serde's standard messages (`invalid type: ..., expected
//! ...`) for everything else, so the loader can point at the value. They are used through
//! `#[serde(deserialize_with = "...")]`; serialization stays the derived one.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Serializer};

/// `skip_serializing_if` for booleans that default to `false`.
pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}

/// A scalar type that may also be written as another scalar: a number in a string, a number where
/// a string is expected, `"true"` for `true`.
pub(crate) trait Scalar: Sized {
    /// What the value should be, for serde's "expected ..." messages.
    const EXPECTING: &'static str;
    fn from_bool(value: bool) -> Option<Self>;
    fn from_i64(value: i64) -> Option<Self>;
    fn from_u64(value: u64) -> Option<Self>;
    fn from_f64(value: f64) -> Option<Self>;
    fn from_text(value: &str) -> Option<Self>;
}

impl Scalar for String {
    const EXPECTING: &'static str = "a string";

    fn from_bool(value: bool) -> Option<Self> {
        Some(value.to_string())
    }

    fn from_i64(value: i64) -> Option<Self> {
        Some(value.to_string())
    }

    fn from_u64(value: u64) -> Option<Self> {
        Some(value.to_string())
    }

    fn from_f64(value: f64) -> Option<Self> {
        Some(value.to_string())
    }

    fn from_text(value: &str) -> Option<Self> {
        Some(value.to_owned())
    }
}

impl Scalar for bool {
    const EXPECTING: &'static str = "a boolean (true or false)";

    fn from_bool(value: bool) -> Option<Self> {
        Some(value)
    }

    fn from_i64(_: i64) -> Option<Self> {
        None
    }

    fn from_u64(_: u64) -> Option<Self> {
        None
    }

    fn from_f64(_: f64) -> Option<Self> {
        None
    }

    /// `true`/`false` in any case, and YAML 1.1's `yes`, `no`, `on`, `off`, `y`, `n` (read by
    /// docker compose v2 with a warning, which the loader gives too).
    fn from_text(value: &str) -> Option<Self> {
        if value.eq_ignore_ascii_case("true") {
            Some(true)
        } else if value.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            yaml11_bool(value)
        }
    }
}

/// A YAML 1.1 boolean that YAML 1.2 reads as a string (`yes`, `No`, `ON`, `y`...).
pub fn yaml11_bool(value: &str) -> Option<bool> {
    match value {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

impl Scalar for f64 {
    const EXPECTING: &'static str = "a number";

    fn from_bool(_: bool) -> Option<Self> {
        None
    }

    fn from_i64(value: i64) -> Option<Self> {
        Some(value as f64)
    }

    fn from_u64(value: u64) -> Option<Self> {
        Some(value as f64)
    }

    fn from_f64(value: f64) -> Option<Self> {
        Some(value)
    }

    fn from_text(value: &str) -> Option<Self> {
        value
            .trim()
            .parse()
            .ok()
            .filter(|number: &f64| number.is_finite())
    }
}

macro_rules! integer_scalar {
    ($($ty:ty => $expecting:literal),* $(,)?) => {$(
        impl Scalar for $ty {
            const EXPECTING: &'static str = $expecting;

            fn from_bool(_: bool) -> Option<Self> {
                None
            }

            fn from_i64(value: i64) -> Option<Self> {
                <$ty>::try_from(value).ok()
            }

            fn from_u64(value: u64) -> Option<Self> {
                <$ty>::try_from(value).ok()
            }

            fn from_f64(value: f64) -> Option<Self> {
                // A whole float (`2.0`) is the integer; `2.5` is not.
                if value.fract() == 0.0 && value >= <$ty>::MIN as f64 && value <= <$ty>::MAX as f64 {
                    Some(value as $ty)
                } else {
                    None
                }
            }

            fn from_text(value: &str) -> Option<Self> {
                value.trim().parse().ok()
            }
        }
    )*};
}

integer_scalar! {
    i64 => "an integer",
    u64 => "a non-negative integer",
    u32 => "a non-negative integer",
    u16 => "an integer from 0 to 65535",
}

/// A value read with [`Scalar`]'s leniency; used inside containers (`Vec<Lenient<T>>`).
pub(crate) struct Lenient<T>(pub(crate) T);

struct ScalarVisitor<T>(PhantomData<T>);

impl<T: Scalar> Visitor<'_> for ScalarVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<T, E> {
        T::from_bool(value).ok_or_else(|| E::invalid_type(Unexpected::Bool(value), &self))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        T::from_i64(value).ok_or_else(|| E::invalid_value(Unexpected::Signed(value), &self))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        T::from_u64(value).ok_or_else(|| E::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        T::from_f64(value).ok_or_else(|| E::invalid_value(Unexpected::Float(value), &self))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        T::from_text(value).ok_or_else(|| E::invalid_value(Unexpected::Str(value), &self))
    }
}

impl<'de, T: Scalar> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ScalarVisitor(PhantomData))
            .map(Lenient)
    }
}

/// A required scalar.
pub(crate) fn scalar<'de, D: Deserializer<'de>, T: Scalar>(deserializer: D) -> Result<T, D::Error> {
    Lenient::deserialize(deserializer).map(|value| value.0)
}

/// An optional scalar; `null` is `None`.
pub(crate) fn opt_scalar<'de, D: Deserializer<'de>, T: Scalar>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<Lenient<T>>::deserialize(deserializer).map(|value| value.map(|value| value.0))
}

/// A list of scalars.
pub(crate) fn vec_scalar<'de, D: Deserializer<'de>, T: Scalar>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Vec::<Lenient<T>>::deserialize(deserializer)
        .map(|values| values.into_iter().map(|v| v.0).collect())
}

/// A list of strings that may also be written as one string (the schema's `string_or_list`).
pub(crate) struct StringList(pub(crate) Vec<String>);

struct StringListVisitor;

impl<'de> Visitor<'de> for StringListVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(vec![value.to_owned()])
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(vec![value.to_string()])
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(vec![value.to_string()])
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(vec![value.to_string()])
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(vec![value.to_string()])
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Lenient(value)) = seq.next_element::<Lenient<String>>()? {
            values.push(value);
        }
        Ok(values)
    }
}

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(StringListVisitor)
            .map(StringList)
    }
}

/// A list of strings, also written as one string.
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    StringList::deserialize(deserializer).map(|list| list.0)
}

/// The value type of a `list_or_dict` map: `String` (a missing value is `""`, as for labels) or
/// `Option<String>` (a missing value is `None`, as for `environment`: "take it from the shell").
pub(crate) trait DictValue: Sized {
    fn from_value(value: Option<String>) -> Self;
}

impl DictValue for String {
    fn from_value(value: Option<String>) -> Self {
        value.unwrap_or_default()
    }
}

impl DictValue for Option<String> {
    fn from_value(value: Option<String>) -> Self {
        value
    }
}

struct DictVisitor<V>(PhantomData<V>);

impl<'de, V: DictValue> Visitor<'de> for DictVisitor<V> {
    type Value = BTreeMap<String, V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of strings or a list of KEY=VALUE strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = BTreeMap::new();
        while let Some((key, value)) = map.next_entry::<String, Option<Lenient<String>>>()? {
            values.insert(key, V::from_value(value.map(|value| value.0)));
        }
        Ok(values)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = BTreeMap::new();
        while let Some(entry) = seq.next_element::<String>()? {
            let (key, value) = match entry.split_once('=') {
                Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                None => (entry, None),
            };
            values.insert(key, V::from_value(value));
        }
        Ok(values)
    }
}

/// A map of strings, also written as a list of `KEY=VALUE` strings (the schema's `list_or_dict`).
/// Numbers and booleans become strings.
pub(crate) fn dict<'de, D: Deserializer<'de>, V: DictValue>(
    deserializer: D,
) -> Result<BTreeMap<String, V>, D::Error> {
    deserializer.deserialize_any(DictVisitor(PhantomData))
}

/// A map of scalars or lists of scalars (`provider.options`); a scalar is a list of one.
pub(crate) fn multi_dict<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let values = BTreeMap::<String, StringList>::deserialize(deserializer)?;
    Ok(values
        .into_iter()
        .map(|(key, value)| (key, value.0))
        .collect())
}

/// A map whose values may be `null`, meaning "all defaults" (top-level `networks: {front: }`).
pub(crate) fn map_null_default<'de, D, T>(deserializer: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let values = BTreeMap::<String, Option<T>>::deserialize(deserializer)?;
    Ok(values
        .into_iter()
        .map(|(key, value)| (key, value.unwrap_or_default()))
        .collect())
}

/// Serializes a whole float as an integer (`cpus: 2`, not `2.0`), as `docker compose config` does.
pub(crate) fn serialize_opt_number<S: Serializer>(
    value: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(number) if number.fract() == 0.0 && number.abs() < 9.0e15 => {
            serializer.serialize_i64(*number as i64)
        }
        Some(number) => serializer.serialize_f64(*number),
        None => serializer.serialize_none(),
    }
}

/// A number printed as a string, as docker compose v2 prints `mem_swappiness` (a size type there).
pub(crate) fn serialize_opt_as_string<S: Serializer>(
    value: &Option<i64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.serialize_str(&value.to_string()),
        None => serializer.serialize_none(),
    }
}

/// A file mode printed as docker compose v2 prints it: an octal string (`"0440"`).
pub(crate) fn serialize_opt_file_mode<S: Serializer>(
    mode: &Option<u32>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match mode {
        Some(mode) => serializer.serialize_str(&format!("0{mode:o}")),
        None => serializer.serialize_none(),
    }
}

/// A file mode: a number as written, or a string read as octal (`"0440"`), as compose-go reads it.
pub(crate) fn opt_file_mode<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    struct ModeVisitor;

    impl Visitor<'_> for ModeVisitor {
        type Value = Option<u32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a file mode: a number, or an octal string such as \"0440\"")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            u32::try_from(value)
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            u32::try_from(value)
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            let digits = value.strip_prefix("0o").unwrap_or(value);
            u32::from_str_radix(digits, 8)
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Str(value), &self))
        }
    }

    deserializer.deserialize_any(ModeVisitor)
}
