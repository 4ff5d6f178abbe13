//! The user-facing text of [`DecryptFailure`]: who the file is for, what was tried, what to do.

use std::fmt;

use super::DecryptFailure;

pub(super) fn write(failure: &DecryptFailure, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let several = failure.groups.len() > 1;
    if several {
        writeln!(
            f,
            "cannot decrypt the data key: {} of {} key groups opened, {} needed.",
            failure.opened,
            failure.groups.len(),
            failure.threshold
        )?;
        writeln!(f, "Key groups of this file:")?;
        for (index, recipients) in failure.groups.iter().enumerate() {
            let state = match failure.group_opened.get(index) {
                Some(true) => "opened",
                Some(false) => "not opened",
                None => "not tried",
            };
            writeln!(f, "  group {} ({state}): {}", index + 1, list(recipients))?;
        }
    } else {
        writeln!(f, "cannot decrypt the data key: no identity at hand opens it.")?;
        writeln!(f, "This file is encrypted for:")?;
        for recipient in failure.groups.iter().flatten() {
            writeln!(f, "  {recipient}")?;
        }
        if failure.groups.iter().all(Vec::is_empty) {
            writeln!(f, "  (no age recipients)")?;
        }
    }

    if !failure.problems.is_empty() {
        writeln!(f, "Keys that could not be used:")?;
        for problem in &failure.problems {
            writeln!(f, "  {problem}")?;
        }
    }

    writeln!(f, "Key sources tried:")?;
    for source in &failure.sources {
        writeln!(f, "  {}: {}", source.source, source.outcome)?;
    }
    if failure.sources.is_empty() {
        writeln!(f, "  (none)")?;
    }

    write!(f, "{}", hint(failure))
}

fn list(recipients: &[String]) -> String {
    if recipients.is_empty() {
        "(no age recipients)".to_string()
    } else {
        recipients.join(", ")
    }
}

fn hint(failure: &DecryptFailure) -> String {
    let recipients = || failure.groups.iter().flatten();
    let has_ssh = recipients().any(|r| r.trim_start().starts_with("ssh-"));
    let has_age = recipients().any(|r| r.trim_start().starts_with("age1"));
    let whose = if failure.groups.len() > 1 {
        let missing = failure.threshold.saturating_sub(failure.opened).max(1);
        let groups = if missing == 1 { "group" } else { "groups" };
        format!("a recipient in {missing} more {groups} not opened")
    } else {
        "one of these recipients".to_string()
    };
    let mut ways = Vec::new();
    if has_age || !has_ssh {
        ways.push(format!(
            "point SOPS_AGE_KEY_FILE at an identity file holding the secret key of {whose} \
             (or add that key to ~/.config/sops/age/keys.txt)"
        ));
    }
    if has_ssh {
        let whose = if has_age { format!("{whose}, if it is an ssh key") } else { whose };
        ways.push(format!("set SOPS_AGE_SSH_PRIVATE_KEY_FILE to the private ssh key of {whose}"));
    }
    let mut text = format!("To decrypt, {}.", ways.join("; or "));
    if recipients().next().is_some() {
        text.push_str("\nWithout such a key, ask someone who can decrypt this file to add your public key to it.");
    }
    text
}
