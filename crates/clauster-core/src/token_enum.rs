//! `token_enum!`: an enum whose values are exact, case-sensitive tokens (a status, a mode, a
//! policy) with the four items every such enum has: `ALL` in declaration order, `as_token`,
//! `Display` (the token) and `FromStr` (the token, or an alias, else the given error built
//! from the rejected text).

/// Declares the enum and its token items: `pub enum Name else Error { … }` or `pub enum Name
/// else Error::Variant { … }`, where `Error` is the `FromStr` error and `Error` (or
/// `Error::Variant`) builds it from the rejected text. Each variant is `Name = "token"`,
/// optionally followed by `| "alias"` spellings that `FromStr` also accepts (never written
/// back).
macro_rules! token_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident else $err:ident $(:: $err_variant:ident)? {
            $($(#[$vmeta:meta])* $variant:ident = $token:literal $(| $alias:literal)*),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [Self; Self::TOKENS.len()] = [$(Self::$variant),+];

            /// Every token, in declaration order (what a form offers).
            pub const TOKENS: [&'static str; [$($token),+].len()] = [$($token),+];

            /// The token, as recorded and as written on the wire.
            pub fn as_token(self) -> &'static str {
                match self {
                    $(Self::$variant => $token),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_token())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($token $(| $alias)* => Ok(Self::$variant),)+
                    other => Err($err $(:: $err_variant)? (other.to_owned())),
                }
            }
        }
    };
}

pub(crate) use token_enum;
