//! Making a tool's script from its template: `{{name}}` placeholders filled from flags, and
//! the kernel-side filters (`-p`, `--cgroup`, `-u`) every tool shares.

use crate::tool::{Options, ToolError};

/// Replaces every `{{name}}` in `template` by its value; a placeholder left unfilled is an
/// error (a bug in the tool, caught by the registry tests).
pub fn fill(template: &str, vars: &[(&str, String)]) -> Result<String, ToolError> {
    let mut text = template.to_string();
    for (name, value) in vars {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    if let Some(start) = text.find("{{") {
        let rest = text.get(start + 2..).unwrap_or("");
        let name = rest.split("}}").next().unwrap_or(rest);
        return Err(ToolError::Placeholder(name.to_string()));
    }
    Ok(text)
}

/// The predicate for the common filters (`-p PID`, `--cgroup PATH`, `-u UID`) plus `extra`
/// conditions, joined with `&&`; `1` when there are none.
pub fn filter(opts: &Options, extra: &[String]) -> Result<String, ToolError> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(pid) = opts.num("pid")? {
        parts.push(format!("pid == {pid}"));
    }
    if let Some(uid) = opts.num("uid")? {
        parts.push(format!("uid == {uid}"));
    }
    if let Some(path) = opts.get("cgroup") {
        parts.push(format!("cgroup == cgroupid({})", quote(path, "--cgroup")?));
    }
    parts.extend(extra.iter().cloned());
    Ok(if parts.is_empty() {
        "1".to_string()
    } else {
        parts.join(" && ")
    })
}

/// `value` as a script string literal; quotes, backslashes and control characters are
/// refused rather than escaped, since no path or name a tool takes needs them.
pub fn quote(value: &str, flag: &str) -> Result<String, ToolError> {
    if value
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(ToolError::BadValue {
            flag: flag.to_string(),
            value: value.to_string(),
            why: "quotes, backslashes and control characters are not allowed",
        });
    }
    Ok(format!("\"{value}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_reports_leftovers() {
        assert_eq!(
            fill("/ {{f}} / {{f}}", &[("f", "1".into())]),
            Ok("/ 1 / 1".into())
        );
        assert_eq!(
            fill("{{a}} {{b}}", &[("a", "x".into())]),
            Err(ToolError::Placeholder("b".into()))
        );
    }

    #[test]
    fn common_filters() {
        let o = Options::new([("pid", "12"), ("cgroup", "/sys/fs/cgroup/x")], false);
        assert_eq!(
            filter(&o, &["args->ret < 0".into()]).as_deref(),
            Ok("pid == 12 && cgroup == cgroupid(\"/sys/fs/cgroup/x\") && args->ret < 0")
        );
        assert_eq!(filter(&Options::default(), &[]).as_deref(), Ok("1"));
        assert!(filter(&Options::new([("pid", "x")], false), &[]).is_err());
        assert!(filter(&Options::new([("cgroup", "a\"b")], false), &[]).is_err());
    }
}
