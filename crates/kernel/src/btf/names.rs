//! C-like spelling of BTF types for messages and `--dump` output.

use super::{Btf, BtfType, TypeId, MAX_DEPTH};

pub(super) fn type_name(btf: &Btf, id: TypeId) -> String {
    spell(btf, id, 0)
}

fn or_anon(name: &str) -> &str {
    if name.is_empty() {
        "<anon>"
    } else {
        name
    }
}

fn spell(btf: &Btf, id: TypeId, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "<cyclic type>".to_string();
    }
    let Ok(ty) = btf.get(id) else {
        return format!("<bad type {id}>");
    };
    let inner = |t: TypeId| spell(btf, t, depth + 1);
    match ty {
        BtfType::Void => "void".to_string(),
        BtfType::Int { name, .. } | BtfType::Float { name, .. } => name,
        BtfType::Typedef { name, .. } => name,
        BtfType::Struct { name, .. } => format!("struct {}", or_anon(&name)),
        BtfType::Union { name, .. } => format!("union {}", or_anon(&name)),
        BtfType::Enum { name, .. } => format!("enum {}", or_anon(&name)),
        BtfType::Fwd { name, is_union } => {
            format!("{} {name}", if is_union { "union" } else { "struct" })
        }
        BtfType::Ptr { target } => {
            if let Ok(BtfType::FuncProto {
                ret,
                params,
                variadic,
            }) = btf.get(target)
            {
                return format!(
                    "{} (*)({})",
                    inner(ret),
                    param_list(btf, &params, variadic, depth)
                );
            }
            let t = inner(target);
            if t.ends_with('*') {
                format!("{t}*")
            } else {
                format!("{t} *")
            }
        }
        BtfType::Array { .. } => {
            // Nested arrays read outside-in: int[2][3] is an array of 2 arrays of 3.
            let mut dims = String::new();
            let mut cur = id;
            let mut steps = 0;
            while let Ok(BtfType::Array { elem, nelems, .. }) = btf.get(cur) {
                dims.push_str(&format!("[{nelems}]"));
                cur = elem;
                steps += 1;
                if steps > MAX_DEPTH {
                    return "<cyclic type>".to_string();
                }
            }
            format!("{}{dims}", inner(cur))
        }
        BtfType::Const { target } => qualify(inner(target), "const"),
        BtfType::Volatile { target } => qualify(inner(target), "volatile"),
        BtfType::Restrict { target } => qualify(inner(target), "restrict"),
        BtfType::TypeTag { target, .. } => inner(target),
        BtfType::DeclTag { target, .. } => inner(target),
        BtfType::Func { name, .. } => name,
        BtfType::FuncProto {
            ret,
            params,
            variadic,
        } => {
            format!(
                "{} ({})",
                inner(ret),
                param_list(btf, &params, variadic, depth)
            )
        }
        BtfType::Var { name, .. } | BtfType::Datasec { name, .. } => name,
    }
}

/// `const` binds to the left of a pointer (`char *const`) but reads better first for
/// plain types (`const char`).
fn qualify(inner: String, q: &str) -> String {
    if inner.ends_with('*') {
        format!("{inner}{q}")
    } else {
        format!("{q} {inner}")
    }
}

fn param_list(btf: &Btf, params: &[super::Param], variadic: bool, depth: usize) -> String {
    let mut parts: Vec<String> = params
        .iter()
        .map(|p| spell(btf, p.type_id, depth + 1))
        .collect();
    if variadic {
        parts.push("...".to_string());
    }
    if parts.is_empty() {
        "void".to_string()
    } else {
        parts.join(", ")
    }
}
