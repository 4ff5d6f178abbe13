//! Converting ssh-ed25519 keys to age X25519 keys the way the Go `ssh-to-age` tool does.
