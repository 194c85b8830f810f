//! uid and gid names from `etc/passwd` and `etc/group` under a root directory.

use std::collections::HashMap;
use std::path::Path;

/// uid → user name and gid → group name.
#[derive(Clone, Debug, Default)]
pub struct Users {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Users {
    /// Read `root/etc/passwd` and `root/etc/group` (missing or malformed lines are skipped).
    pub fn load(root: &Path) -> Users {
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_default();
        Users {
            users: parse(&read("etc/passwd")),
            groups: parse(&read("etc/group")),
        }
    }

    /// From the texts of a passwd and a group file.
    pub fn from_texts(passwd: &str, group: &str) -> Users {
        Users {
            users: parse(passwd),
            groups: parse(group),
        }
    }

    /// The user called `uid`.
    pub fn user(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(String::as_str)
    }

    /// The group called `gid`.
    pub fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }
}

/// `name:x:id:...` lines; the first name of an id wins.
fn parse(text: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split(':');
        let (Some(name), _, Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>() {
            out.entry(id).or_insert_with(|| name.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_group() {
        let u = Users::from_texts("root:x:0:0:root:/root:/bin/bash\n# c\nbad\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n", "root:x:0:\nadm:x:4:syslog\n");
        assert_eq!(u.user(0), Some("root"));
        assert_eq!(u.user(33), Some("www-data"));
        assert_eq!(u.user(5), None);
        assert_eq!(u.group(4), Some("adm"));
    }
}
