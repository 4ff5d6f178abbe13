# The `secrets` binary, built from the workspace with nixpkgs' Rust tooling; the test suite runs
# in the check phase (the tests that need a peer tool skip when it is missing).
{
  lib,
  rustPlatform,
  pkg-config,
  zlib,
  age,
  git,
  openssh,
  sops,
  bash,
}:
let
  workspace = builtins.fromTOML (builtins.readFile ../Cargo.toml);
in
rustPlatform.buildRustPackage {
  pname = "secrets";
  inherit (workspace.workspace.package) version;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../crates
      ../tests
      ../fixtures
      ../README.md
      ./lib.nix
      ./sops-install-secrets.sh
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [ pkg-config ];
  buildInputs = [ zlib ];
  nativeCheckInputs = [
    age
    git
    openssh
    sops
  ];

  cargoBuildFlags = [
    "--package"
    "secrets-cli"
  ];
  cargoTestFlags = [ "--workspace" ];
  # The tests create their own keys and homes; git needs an identity for commits.
  preCheck = ''
    export HOME=$(mktemp -d)
    git config --global user.email test@example.com
    git config --global user.name Test
  '';

  # `sops-install-secrets`, so that sops-nix's module can run this binary instead.
  postInstall = ''
    substitute ${./sops-install-secrets.sh} $out/bin/sops-install-secrets \
      --replace-fail '#!/usr/bin/env bash' '#!${bash}/bin/bash' \
      --replace-fail '@secrets@' "$out/bin/secrets"
    chmod +x $out/bin/sops-install-secrets
  '';

  meta = {
    description = "A git-native secrets manager speaking the SOPS format with age keys, compatible with clan and sops-nix";
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "secrets";
    platforms = lib.platforms.unix;
  };
}
