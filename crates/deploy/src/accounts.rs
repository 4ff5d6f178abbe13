//! Owners and groups of installed files: names looked up in `/etc/passwd` and `/etc/group`
//! (as Go's `os/user` does without cgo, which is how sops-install-secrets is built), or given
//! as numbers.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{DeployError, Result};

/// Who should own an installed file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Account {
    /// Whoever runs the install (no chown).
    #[default]
    Unchanged,
    /// A uid or gid, used as given (not looked up).
    Id(u32),
    /// A user or group name, looked up in the account databases.
    Name(String),
}

impl Account {
    /// A name, or a number when it is all digits.
    pub fn parse(text: &str) -> Account {
        match text.parse::<u32>() {
            Ok(id) => Account::Id(id),
            Err(_) => Account::Name(text.to_string()),
        }
    }
}

/// One line of the account databases.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    name: String,
    id: u32,
    /// The primary group, for users.
    group: Option<u32>,
}

/// The system's users and groups.
#[derive(Clone, Debug)]
pub struct Accounts {
    passwd: PathBuf,
    group: PathBuf,
    users: Vec<Row>,
    groups: Vec<Row>,
}

impl Accounts {
    /// The databases of this system.
    pub fn system() -> Result<Accounts> {
        Accounts::under(Path::new("/"))
    }

    /// The databases below another root.
    pub fn under(root: &Path) -> Result<Accounts> {
        let passwd = root.join("etc/passwd");
        let group = root.join("etc/group");
        Ok(Accounts { users: read_db(&passwd, true)?, groups: read_db(&group, false)?, passwd, group })
    }

    /// A user's uid and primary gid.
    pub fn user(&self, account: &Account) -> Result<Option<(u32, Option<u32>)>> {
        Ok(match account {
            Account::Unchanged => None,
            Account::Id(id) => Some((*id, self.users.iter().find(|r| r.id == *id).and_then(|r| r.group))),
            Account::Name(name) => {
                let row = self.users.iter().find(|r| &r.name == name).ok_or_else(|| DeployError::UnknownAccount {
                    kind: "user",
                    name: name.clone(),
                    database: self.passwd.clone(),
                })?;
                Some((row.id, row.group))
            }
        })
    }

    /// A group's gid (`None` for [`Account::Unchanged`]); an unknown name is an error.
    pub fn group(&self, account: &Account) -> Result<Option<u32>> {
        Ok(match account {
            Account::Unchanged => None,
            Account::Id(id) => Some(*id),
            Account::Name(name) => Some(
                self.groups
                    .iter()
                    .find(|r| &r.name == name)
                    .ok_or_else(|| DeployError::UnknownAccount { kind: "group", name: name.clone(), database: self.group.clone() })?
                    .id,
            ),
        })
    }

    /// The gid of a group name, if it exists.
    pub fn group_id(&self, name: &str) -> Option<u32> {
        self.groups.iter().find(|r| r.name == name).map(|r| r.id)
    }
}

fn read_db(path: &Path, users: bool) -> Result<Vec<Row>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DeployError::io(path, e)),
    };
    Ok(text.lines().filter_map(|line| parse_row(line, users)).collect())
}

/// `name:x:id:…` (passwd: `name:x:uid:gid:…`); comments and malformed lines are skipped.
fn parse_row(line: &str, users: bool) -> Option<Row> {
    if line.starts_with('#') {
        return None;
    }
    let mut fields = line.split(':');
    let name = fields.next()?.to_string();
    let _password = fields.next()?;
    let id = fields.next()?.parse().ok()?;
    let group = if users { fields.next().and_then(|g| g.parse().ok()) } else { None };
    Some(Row { name, id, group })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_resolve() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(root.path().join("etc/passwd"), "# c\nroot:x:0:0:root:/root:/bin/sh\npostgres:x:71:72::/var/lib/pg:/bin/false\nbroken\n")
            .unwrap();
        fs::write(root.path().join("etc/group"), "root:x:0:\npostgres:x:72:\nkeys:x:96:\n").unwrap();
        let accounts = Accounts::under(root.path()).unwrap();
        assert_eq!(accounts.user(&Account::parse("postgres")).unwrap(), Some((71, Some(72))));
        assert_eq!(accounts.user(&Account::parse("1234")).unwrap(), Some((1234, None)));
        assert_eq!(accounts.user(&Account::Unchanged).unwrap(), None);
        assert_eq!(accounts.group(&Account::parse("postgres")).unwrap(), Some(72));
        assert_eq!(accounts.group_id("keys"), Some(96));
        assert!(matches!(accounts.user(&Account::parse("nobody-here")), Err(DeployError::UnknownAccount { kind: "user", .. })));
        assert!(matches!(accounts.group(&Account::parse("nogroup-here")), Err(DeployError::UnknownAccount { kind: "group", .. })));
    }
}
