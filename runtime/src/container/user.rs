//! The container's user, resolved as docker does (moby/sys `user.GetExecUser`): `name`, `uid`,
//! `name:group`, `uid:gid`, looked up in the container's own `/etc/passwd` and `/etc/group` (read after
//! the root is pivoted, so no symlink in the image can point the lookup at the host's files). A numeric
//! uid need not exist in passwd; a name must.

/// Who the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: those listing the user in `/etc/group`, then `group_add`.
    pub groups: Vec<u32>,
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: fields[0],
            uid: fields[2].parse().ok()?,
            gid: fields[3].parse().ok()?,
            home: fields.get(5).copied().unwrap_or(""),
        })
    })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    group.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 3 || line.starts_with('#') {
            return None;
        }
        Some(GroupEntry {
            name: fields[0],
            gid: fields[2].parse().ok()?,
            members: fields
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

fn find_group(group: &str, spec: &str) -> Result<u32, String> {
    if let Some(entry) = group_entries(group).find(|entry| entry.name == spec) {
        return Ok(entry.gid);
    }
    spec.parse()
        .map_err(|_| format!("unable to find group {spec}: no matching entries in group file"))
}

/// Resolves `user` (`""` is root) plus `group_add` against the given file contents (empty if a file is
/// missing).
pub fn resolve(
    user: &str,
    group_add: &[String],
    passwd: &str,
    group: &str,
) -> Result<ExecUser, String> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let by_name = passwd_entries(passwd).find(|entry| entry.name == user_part);
    let (uid, mut gid, home, name) = match (by_name, user_part.parse::<u32>()) {
        (Some(entry), _) => (
            entry.uid,
            entry.gid,
            entry.home.to_owned(),
            Some(entry.name.to_owned()),
        ),
        (None, Ok(uid)) => match passwd_entries(passwd).find(|entry| entry.uid == uid) {
            Some(entry) => (
                uid,
                entry.gid,
                entry.home.to_owned(),
                Some(entry.name.to_owned()),
            ),
            None => (uid, 0, "/".to_owned(), None),
        },
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            ));
        }
    };
    let mut groups = Vec::new();
    if let Some(group_part) = group_part {
        gid = find_group(group, group_part)?;
    } else if let Some(name) = &name {
        groups.extend(
            group_entries(group)
                .filter(|entry| entry.members.contains(&name.as_str()))
                .map(|entry| entry.gid),
        );
    }
    for extra in group_add {
        groups.push(find_group(group, extra)?);
    }
    groups.dedup();
    let home = if home.is_empty() {
        "/".to_owned()
    } else {
        home
    };
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\n";

    #[test]
    fn resolves_like_docker() {
        let root = resolve("", &[], PASSWD, GROUP).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let www = resolve("www", &[], PASSWD, GROUP).unwrap();
        assert_eq!((www.uid, www.gid, www.groups.clone()), (33, 33, vec![50]));
        let numeric = resolve("1234", &[], PASSWD, GROUP).unwrap();
        assert_eq!(
            (numeric.uid, numeric.gid, numeric.home.as_str()),
            (1234, 0, "/")
        );
        let pair = resolve("1234:50", &["www".into()], PASSWD, GROUP).unwrap();
        assert_eq!((pair.uid, pair.gid, pair.groups), (1234, 50, vec![33]));
        let named_group = resolve("www:staff", &[], PASSWD, GROUP).unwrap();
        assert_eq!(named_group.gid, 50);
        let error = resolve("nobody", &[], PASSWD, GROUP).unwrap_err();
        assert!(error.contains("unable to find user nobody"), "{error}");
        assert!(resolve("www:nogroup", &[], PASSWD, GROUP).is_err());
    }
}
