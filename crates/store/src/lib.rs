//! The `sops/` repository model. Built on [`secrets_sops`].
