# Evaluates the NixOS module with nixpkgs' real module system (`lib.evalModules`), beside
# stand-ins for the few NixOS options it reads and sets: definitions merge, option defaults
# read back, and the activation snippets, units and manifests come out as NixOS would see
# them. True, or a throw naming what differs. Needs nixpkgs' `lib` (the flake's checks pass
# it; CI has no nixpkgs and runs module-test.nix instead):
#   nix-instantiate --store dummy:// --eval --strict -E \
#     'import ./nix/module-eval-test.nix { lib = import <nixpkgs/lib>; }'
{
  lib,
  repo ? ../fixtures/clan-repo,
}:
let
  inherit (lib) mkOption types;
  token = "vars/per-machine/web1/gen/token";

  # The NixOS options the module touches, typed as NixOS types them.
  nixos =
    { ... }:
    {
      options = {
        assertions = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        warnings = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        environment.systemPackages = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        system.build = mkOption {
          type = types.lazyAttrsOf types.unspecified;
          default = { };
        };
        system.activationScripts = mkOption {
          type = types.attrsOf (
            types.submodule {
              options = {
                deps = mkOption {
                  type = types.listOf types.str;
                  default = [ ];
                };
                text = mkOption { type = types.lines; };
                supportsDryActivation = mkOption {
                  type = types.bool;
                  default = false;
                };
              };
            }
          );
          default = { };
        };
        systemd.services = mkOption {
          type = types.attrsOf (types.submodule { freeformType = types.attrsOf types.unspecified; });
          default = { };
        };
        systemd.sysusers.enable = mkOption {
          type = types.bool;
          default = false;
        };
        services.userborn.enable = mkOption {
          type = types.bool;
          default = false;
        };
        services.openssh = {
          enable = mkOption {
            type = types.bool;
            default = false;
          };
          hostKeys = mkOption {
            type = types.listOf types.attrs;
            default = [ ];
          };
        };
        networking.hostName = mkOption { type = types.str; };
        users.mutableUsers = mkOption {
          type = types.bool;
          default = true;
        };
        users.users = mkOption {
          type = types.attrsOf (
            types.submodule {
              options.group = mkOption {
                type = types.str;
                default = "nogroup";
              };
              options.hashedPasswordFile = mkOption {
                type = types.nullOr types.str;
                default = null;
              };
            }
          );
          default = { };
        };
      };
      # NixOS's own `users` snippet, which the one for users must come before.
      config.system.activationScripts.users = {
        deps = [ ];
        text = "update-users-groups";
      };
    };

  pkgs = {
    stdenv.hostPlatform.system = "x86_64-linux";
    util-linux = "/util-linux";
    writeText = name: text: "/nix/store/text-${name}";
    runCommand = name: env: script: {
      inherit name env script;
      outPath = "/nix/store/fake-${name}";
    };
  };

  module = import ./module.nix { self = { }; };

  evaluate =
    config:
    lib.evalModules {
      modules = [
        nixos
        module
        # Imported twice, as through clan and directly: one module for the module system.
        module
        {
          _module.args = { inherit pkgs; };
          networking.hostName = "web1";
          users.users.nginx.group = "www";
          users.users.root.group = "root";
          services.secrets = {
            enable = true;
            package = {
              type = "derivation";
              name = "secrets";
              outPath = "/nix/store/fake-secrets";
            };
            repository = repo;
            age.keyFile = "/var/lib/sops-nix/key.txt";
          };
        }
        config
      ];
    };
  manifestOf = file: builtins.fromJSON (builtins.unsafeDiscardStringContext file.env.manifest);
  names = m: map (s: s.name) m.secrets;
  failing = c: map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
  contains = needle: s: builtins.replaceStrings [ needle ] [ "" ] s != s;
  expect = what: ok: if ok then true else throw "module (evalModules): ${what}";

  plain = (evaluate { }).config;
  full =
    (evaluate (
      { config, ... }:
      {
        services.secrets.secrets."group-secret" = {
          owner = "nginx";
          restartUnits = [ "nginx.service" ];
        };
        services.secrets.secrets.${token}.neededForUsers = true;
        users.users.root.hashedPasswordFile = config.services.secrets.secrets.${token}.path;
        services.secrets.templates."app.env".content = "pw=${config.services.secrets.placeholder."group-secret"}";
      }
    )).config;
  services = manifestOf full.system.build.secretsManifest;
  users = manifestOf full.system.build.secretsManifestForUsers;
  sysusers =
    (evaluate {
      systemd.sysusers.enable = true;
      services.secrets.secrets.${token}.neededForUsers = true;
    }).config;
  vars =
    neededFor:
    let
      c =
        (evaluate {
          services.secrets.vars.generators.gen.files.token = {
            secret = true;
            deploy = true;
            inherit neededFor;
            owner = "root";
            group = "root";
            mode = "0440";
            restartUnits = [ ];
          };
        }).config;
    in
    [
      (names (manifestOf c.system.build.secretsManifest))
      (names (manifestOf c.system.build.secretsManifestForUsers))
    ];
in
builtins.all (x: x) [
  (expect "no assertion fails, no warning" (failing plain == [ ] && plain.warnings == [ ]))
  (expect "the activation snippet installs the manifest" (
    plain.system.activationScripts.installSecrets.text
    == "/nix/store/fake-secrets/bin/secrets install --manifest /nix/store/fake-secrets-manifest.json"
    && plain.system.activationScripts.installSecrets.supportsDryActivation
  ))
  (expect "no unit by default" (plain.systemd.services == { }))
  (expect "every secret of the machine" (names (manifestOf plain.system.build.secretsManifest) == [ "group-secret" token ]))
  (expect "settings reach the manifest" (
    (builtins.head services.secrets).owner == "nginx"
    && (builtins.head services.secrets).group == "www"
    && (builtins.head services.secrets).restartUnits == [ "nginx.service" ]
  ))
  (expect "a path for users reads back and moves the secret" (
    full.users.users.root.hashedPasswordFile == "/run/secrets-for-users/${token}"
    && names services == [ "group-secret" ]
    && names users == [ token ]
    && users.symlinkPath == "/run/secrets-for-users"
  ))
  (expect "the snippet for users comes before NixOS's users snippet" (
    full.system.activationScripts.users.deps == [ "installSecretsForUsers" ]
    && full.system.activationScripts.users.text == "update-users-groups"
    && contains "--ignore-passwd" full.system.activationScripts.installSecretsForUsers.text
  ))
  (expect "templates with placeholders" (
    (builtins.head services.templates).content == "pw=<SOPS:${builtins.hashString "sha256" "group-secret"}:PLACEHOLDER>"
    && services.placeholderBySecretName ? "group-secret"
  ))
  (expect "systemd-sysusers: units, no snippets" (
    sysusers.system.activationScripts == { users = { deps = [ ]; text = "update-users-groups"; supportsDryActivation = false; }; }
    && sysusers.systemd.services ? install-secrets
    && sysusers.systemd.services.install-secrets-for-users.before == [ "systemd-sysusers.service" "userborn.service" ]
  ))
  (expect "clan's phases" (
    vars "services" == [ [ "group-secret" token ] [ ] ]
    && vars "users" == [ [ "group-secret" ] [ token ] ]
    && vars "activation" == [ [ "group-secret" ] [ ] ]
    && vars "partitioning" == [ [ "group-secret" ] [ ] ]
  ))
]
