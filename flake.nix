{
  description = "secrets: a git-native secrets manager speaking the SOPS format with age keys";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        secrets = pkgs.callPackage ./nix/package.nix { };
        default = secrets;
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.secrets}/bin/secrets";
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.stdenv.hostPlatform.system}.secrets ];
          packages = with pkgs; [
            cargo
            clippy
            rustfmt
            rust-analyzer
            sops
            age
            openssh
          ];
        };
      });

      nixosModules = {
        secrets = import ./nix/module.nix { inherit self; };
        default = self.nixosModules.secrets;
      };

      # Which secrets a machine gets, and its manifest: builtins only.
      lib = import ./nix/lib.nix;

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.secrets;
        nix-lib =
          assert import ./nix/tests.nix { };
          assert import ./nix/module-test.nix { };
          assert import ./nix/module-eval-test.nix { inherit (nixpkgs) lib; };
          pkgs.runCommand "secrets-nix-lib-tests" { } "touch $out";
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
