//! The five sops stores and how a file name chooses one.

use std::fmt;
use std::path::Path;

/// A sops store: the text layout of a file and of its `sops` metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML, for `.yaml` and `.yml` files; the metadata is a `sops:` mapping.
    Yaml,
    /// JSON, for `.json` files; the metadata is a `"sops"` object.
    Json,
    /// `KEY=value` lines, for `.env` files; the metadata is flattened into `sops_…` keys.
    Dotenv,
    /// INI sections, for `.ini` files; the metadata is a `[sops]` section.
    Ini,
    /// Any other file: its bytes become one `data` string in a JSON document.
    Binary,
}

impl Format {
    /// The store sops picks for a file name: case-sensitive extension match, binary otherwise.
    pub fn from_path(path: &Path) -> Format {
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        Format::from_file_name(&name)
    }

    /// [`Format::from_path`] for a bare file name.
    #[allow(clippy::case_sensitive_file_extension_comparisons, reason = "sops matches extensions case-sensitively")]
    pub fn from_file_name(name: &str) -> Format {
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Parses an `--input-type`/`--output-type` name as sops spells them.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    /// The name sops' `--input-type` and `--output-type` take.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_picks_store_case_sensitively() {
        assert_eq!(Format::from_file_name("a.yaml"), Format::Yaml);
        assert_eq!(Format::from_file_name("a.yml"), Format::Yaml);
        assert_eq!(Format::from_file_name("a.json"), Format::Json);
        assert_eq!(Format::from_file_name("a.env"), Format::Dotenv);
        assert_eq!(Format::from_file_name("a.ini"), Format::Ini);
        assert_eq!(Format::from_file_name("secret"), Format::Binary);
        assert_eq!(Format::from_file_name("a.YAML"), Format::Binary);
        assert_eq!(Format::from_file_name("a.txt"), Format::Binary);
    }
}
