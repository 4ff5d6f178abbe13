//! The build-time check (sops-install-secrets' `-check-mode=sopsfile`): every file parses as
//! a sops file of its declared format and every key leads to a string, without any key to
//! decrypt with. Owners are not looked up: the build sandbox has no such users.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrets_sops::{EncryptedFile, Format};

use crate::error::{DeployError, Result, SecretProblem};
use crate::extract;
use crate::plan::Plan;

/// Checks a plan against its files.
pub fn check(plan: &Plan) -> Result<()> {
    plan.validate()?;
    let mut parsed: BTreeMap<PathBuf, (Format, &str, EncryptedFile)> = BTreeMap::new();
    for file in &plan.files {
        if let Some((format, first, _)) = parsed.get(&file.source) {
            if *format != file.format {
                return Err(DeployError::secret(
                    &file.name,
                    SecretProblem::FormatClash {
                        file: file.source.clone(),
                        format: file.format,
                        first: (*first).to_string(),
                        earlier: *format,
                    },
                ));
            }
        } else {
            let encrypted = extract::parse(&file.source, file.format)?;
            parsed.insert(file.source.clone(), (file.format, &file.name, encrypted));
        }
        let (_, _, encrypted) = &parsed[&file.source];
        extract::check_key(&file.name, encrypted, &file.key)?;
    }
    Ok(())
}
