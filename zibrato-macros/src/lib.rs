//! `#[count_me]` and `#[time_me]`: instrument a function or method, sync or `async`,
//! the way the original library's decorators did.
//!
//! Use them through the `zibrato` crate, which re-exports them and the client they
//! record through:
//!
//! ```text
//! #[zibrato::time_me(level = "info", name = "db.query")]
//! fn query(sql: &str) -> Result<Rows, DbError> { … }
//!
//! #[zibrato::count_me(level = "info", name = "jobs.done", value = 1, source = "worker-3")]
//! async fn run_job(job: Job) -> anyhow::Result<()> { … }
//! ```
//!
//! Arguments: `level` and `name` (string literals, required), `source` (string literal,
//! optional: by default the global client's source), and for `count_me` `value`
//! (integer literal, default 1). Levels and names are checked when the program
//! compiles: an invalid one is a compile error that says what is wrong.
//!
//! The function keeps its signature, generics, return value and `?`; the macros add one
//! `static` call site and one guard as the first statement of the body. The guard
//! records on every return and records nothing when the function panics. In an
//! `async fn` the body runs inside the future, so the timer spans the future from its
//! first poll to its completion, across every `.await`, not only the first poll.
//!
//! Measurements go to the client installed with `zibrato::install`; with none
//! installed they are counted in `zibrato::unrecorded_without_client()` and dropped.
//!
//! # Which crate the expansion names
//!
//! The expanded code calls into the client library. The macros find it in the calling
//! crate's `Cargo.toml`: the `zibrato` dependency under whatever name it is given
//! (`zb = { package = "zibrato", … }` works), else `zibrato-client`, which re-exports
//! the macros too. A crate that re-exports Zibrato to its own users, whose
//! `Cargo.toml` names neither, passes the path: `#[count_me(crate = "my_sdk::zibrato",
//! level = "info", name = "calls")]`, as serde's `crate` attribute works.

use proc_macro::TokenStream;
use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::Span;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprUnary, ItemFn, Lit, LitStr, MetaNameValue, Token, UnOp};

/// Counts each call of the function when it returns (not when it panics).
///
/// `#[count_me(level = "info", name = "calls", value = 1, source = "web-1")]`; `value`
/// and `source` are optional.
#[proc_macro_attribute]
pub fn count_me(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Which::Count, args, item).unwrap_or_else(|e| e.to_compile_error().into())
}

/// Times each call of the function, from entry (for `async fn`, first poll) to return.
///
/// `#[time_me(level = "info", name = "db.query", source = "db-1")]`; `source` is
/// optional.
#[proc_macro_attribute]
pub fn time_me(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Which::Time, args, item).unwrap_or_else(|e| e.to_compile_error().into())
}

#[derive(Clone, Copy, PartialEq)]
enum Which {
    Count,
    Time,
}

struct Args {
    krate: proc_macro2::TokenStream,
    level: LitStr,
    name: LitStr,
    source: Option<LitStr>,
    value: Option<Expr>,
}

fn expand(which: Which, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(which, args)?;
    let mut function: ItemFn = syn::parse(item)?;
    if let Some(constness) = &function.sig.constness {
        return Err(syn::Error::new_spanned(
            constness,
            "a const fn cannot be instrumented",
        ));
    }
    let krate = &args.krate;
    let level = &args.level;
    let name = &args.name;
    let source = match &args.source {
        Some(source) => quote!(::core::option::Option::Some(#source)),
        None => quote!(::core::option::Option::None),
    };
    let callsite = match which {
        Which::Count => {
            let value = args.value.clone().map_or_else(|| quote!(1), |v| quote!(#v));
            quote!(#krate::__private::Callsite::counter(#level, #name, #source, #value))
        }
        Which::Time => quote!(#krate::__private::Callsite::timer(#level, #name, #source)),
    };
    let statements = &function.block.stmts;
    // The body goes in a block of its own, so a second attribute on the same function
    // (`#[time_me] #[count_me]`) puts its callsite in a scope of its own too.
    let body = quote! {{
        static __ZIBRATO_CALLSITE: #krate::__private::Callsite = #callsite;
        let __zibrato_guard = __ZIBRATO_CALLSITE.start();
        { #(#statements)* }
    }};
    *function.block = syn::parse2(body)?;
    Ok(quote!(#function).into())
}

fn parse_args(which: Which, args: TokenStream) -> syn::Result<Args> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse(args)?;
    let mut level = None;
    let mut name = None;
    let mut source = None;
    let mut value = None;
    let mut krate = None;
    for pair in pairs {
        if pair.path.is_ident("crate") {
            let lit = string_literal(&pair.value, "crate")?;
            let path: syn::Path = lit.parse().map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    format!(
                        "crate must name a path, such as \"my_sdk::zibrato\"; got {:?}",
                        lit.value()
                    ),
                )
            })?;
            krate = Some(quote!(#path));
            continue;
        }
        let key = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match key.as_str() {
            "level" => {
                let lit = string_literal(&pair.value, "level")?;
                zibrato_wire::Level::new(&lit.value()).map_err(|e| {
                    syn::Error::new(lit.span(), format!("invalid level {:?}: {e}", lit.value()))
                })?;
                level = Some(lit);
            }
            "name" | "source" => {
                let lit = string_literal(&pair.value, &key)?;
                zibrato_wire::validate_name(&lit.value()).map_err(|e| {
                    syn::Error::new(lit.span(), format!("invalid {key} {:?}: {e}", lit.value()))
                })?;
                if key == "name" {
                    name = Some(lit);
                } else {
                    source = Some(lit);
                }
            }
            "value" if which == Which::Count => {
                if !is_integer_literal(&pair.value) {
                    return Err(syn::Error::new_spanned(
                        &pair.value,
                        "value must be an integer literal, such as 1 or -1",
                    ));
                }
                value = Some(pair.value);
            }
            _ => {
                let expected = match which {
                    Which::Count => "level, name, value, source or crate",
                    Which::Time => "level, name, source or crate",
                };
                return Err(syn::Error::new_spanned(
                    &pair.path,
                    format!("unknown argument; expected {expected}"),
                ));
            }
        }
    }
    let missing =
        |what: &str| syn::Error::new(Span::call_site(), format!("missing `{what} = \"…\"`"));
    Ok(Args {
        krate: krate.unwrap_or_else(client_path),
        level: level.ok_or_else(|| missing("level"))?,
        name: name.ok_or_else(|| missing("name"))?,
        source,
        value,
    })
}

/// The path of the client library as the calling crate names it: its `zibrato`
/// dependency (renamed or not), else its `zibrato-client` one, else `::zibrato`.
fn client_path() -> proc_macro2::TokenStream {
    let found = [("zibrato", "zibrato"), ("zibrato-client", "zibrato_client")]
        .into_iter()
        .find_map(|(package, own_name)| match crate_name(package) {
            // The crate's own tests, examples and doctests: they see it by its name.
            Ok(FoundCrate::Itself) => Some(own_name.to_string()),
            Ok(FoundCrate::Name(name)) => Some(name),
            Err(_) => None,
        })
        .unwrap_or_else(|| "zibrato".to_string());
    let ident = syn::Ident::new(&found, Span::call_site());
    quote!(::#ident)
}

fn string_literal(expr: &Expr, key: &str) -> syn::Result<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("{key} must be a string literal"),
        )),
    }
}

fn is_integer_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(_), ..
        }) => true,
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => is_integer_literal(expr),
        _ => false,
    }
}
