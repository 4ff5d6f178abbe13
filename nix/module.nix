# NixOS module: installs this machine's secrets from a clan-style repository at activation,
# with sops-nix's layout (/run/secrets -> /run/secrets.d/N on a ramfs) and its options' names.
#
# Which secrets the machine gets is decided at evaluation time by lib.nix (links to the machine,
# directly or through its groups, and its vars secrets); each one is copied into the store and
# listed in a sops-nix manifest, checked at build time and installed by `secrets install`.
{ self }:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    types
    ;
  cfg = config.services.secrets;
  secretsLib = import ./lib.nix;

  settingType = types.submodule (
    { name, config, ... }:
    {
      options = {
        name = mkOption {
          type = types.str;
          default = name;
          description = "File name under the target folder.";
        };
        owner = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "User owning the file (default root).";
        };
        group = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "Group of the file (default: the owner's primary group, else root).";
        };
        mode = mkOption {
          type = types.str;
          default = "0400";
          description = "Permissions, in octal.";
        };
        path = mkOption {
          type = types.nullOr types.str;
          default = "${cfg.target}/${config.name}";
          defaultText = lib.literalExpression ''"''${config.services.secrets.target}/''${name}"'';
          description = "Where the secret is read; another path is a symlink that follows each generation.";
        };
        restartUnits = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "nginx.service" ];
          description = "Units restarted when the secret changes.";
        };
        reloadUnits = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "Units reloaded when the secret changes.";
        };
      };
    }
  );

  settings = lib.mapAttrs (
    _: s:
    {
      inherit (s)
        name
        owner
        mode
        restartUnits
        reloadUnits
        ;
      group =
        if s.group != null then
          s.group
        else if s.owner != null then
          config.users.users.${s.owner}.group
        else
          null;
    }
    // lib.optionalAttrs (s.path != null) { inherit (s) path; }
  ) cfg.secrets;

  manifest = secretsLib.manifest {
    repo = cfg.repository;
    inherit (cfg) machine target keepGenerations;
    keyFile = cfg.age.keyFile;
    sshKeyPaths = cfg.age.sshKeyPaths;
    inherit settings;
    storeCopy = name: path: builtins.path { inherit name path; };
  };

  # Checked at build time like sops-nix's manifest: every file parses, nothing decrypted.
  manifestFile =
    pkgs.runCommand "secrets-manifest.json"
      {
        manifest = builtins.toJSON manifest;
        passAsFile = [ "manifest" ];
      }
      ''
        ${cfg.package}/bin/secrets install --check --manifest "$manifestPath"
        cp "$manifestPath" "$out"
      '';

  generations = "${cfg.target}.d";

  # The machines of the repository, as `secrets install` knows them.
  machines = secretsLib.machines cfg.repository;
in
{
  # One identity however often the module is imported (directly and through clan, say), so
  # the module system takes it once instead of declaring its options twice.
  _file = ./module.nix;
  key = "secrets/nix/module.nix";

  options.services.secrets = {
    enable = mkEnableOption "installing this machine's secrets from a clan-style repository";

    package = mkOption {
      type = types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      defaultText = lib.literalExpression "secrets.packages.\${system}.default";
      description = "The package providing `secrets`.";
    };

    repository = mkOption {
      type = types.path;
      example = lib.literalExpression "./.";
      description = "The repository: the folder holding sops/ (and vars/).";
    };

    machine = mkOption {
      type = types.str;
      default = config.networking.hostName;
      defaultText = lib.literalExpression "config.networking.hostName";
      description = "This machine's name in sops/machines/.";
    };

    target = mkOption {
      type = types.str;
      default = "/run/secrets";
      description = "Where the secrets appear: a symlink to the newest generation in <target>.d/.";
    };

    keepGenerations = mkOption {
      type = types.ints.unsigned;
      default = 1;
      description = "Generations kept, the current one included; 0 keeps all.";
    };

    ramfs = mkOption {
      type = types.bool;
      default = true;
      description = "Mount a ramfs on <target>.d so that secrets are never swapped to disk.";
    };

    age.keyFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/var/lib/sops-nix/key.txt";
      description = "The machine's age key file (outside the store).";
    };

    age.sshKeyPaths = mkOption {
      type = types.listOf types.str;
      default =
        if config.services.openssh.enable then
          # A host key installed from these secrets cannot open them (sops-nix leaves those out too).
          map (k: k.path) (
            builtins.filter (
              k: k.type == "ed25519" && !(lib.hasPrefix "${cfg.target}/" k.path)
            ) config.services.openssh.hostKeys
          )
        else
          [ ];
      defaultText = lib.literalMD "the ed25519 keys of {option}`services.openssh.hostKeys`, but those under the target";
      description = "ssh-ed25519 host keys used as age keys.";
    };

    secrets = mkOption {
      type = types.attrsOf settingType;
      default = { };
      example = lib.literalExpression ''
        {
          db-password = { owner = "postgres"; restartUnits = [ "postgresql.service" ]; };
          "vars/per-machine/web1/nginx/cert-key".path = "/etc/nginx/key.pem";
        }
      '';
      description = ''
        Settings of the machine's secrets, by name as `secrets list` shows them. Every secret of
        the machine is installed; these only change how. Naming a secret the machine does not
        get is an error.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.age.keyFile != null || cfg.age.sshKeyPaths != [ ];
        message = "services.secrets: no key: set services.secrets.age.keyFile, or enable services.openssh for its host key";
      }
    ];

    # A typo in the machine's name would install no secret at all: say so at build time.
    warnings = lib.optional (!(builtins.elem cfg.machine machines)) (
      "services.secrets.machine: `${cfg.machine}` is not a machine of ${toString cfg.repository} "
      + "(machines there: ${if machines == [ ] then "none" else builtins.concatStringsSep ", " machines}); no secret will be installed"
    );

    environment.systemPackages = [ cfg.package ];

    system.build.secretsManifest = manifestFile;

    system.activationScripts.installSecrets = {
      deps = [
        "specialfs"
        "users"
        "groups"
      ];
      text = ''
        ${lib.optionalString cfg.ramfs ''
          mkdir -p ${generations}
          if ! ${pkgs.util-linux}/bin/mountpoint -q ${generations}; then
            ${pkgs.util-linux}/bin/mount -t ramfs -o nodev,nosuid,noexec,mode=0751 none ${generations}
          fi
        ''}
        ${cfg.package}/bin/secrets install --manifest ${manifestFile}${lib.optionalString (!cfg.ramfs) " --no-mount"}
      '';
    };
  };
}
