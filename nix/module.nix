# NixOS module: installs this machine's secrets from a clan-style repository at activation (or
# from a systemd unit), with sops-nix's layout (/run/secrets -> /run/secrets.d/N on a ramfs),
# its options' names and its behaviour: secrets needed for users in /run/secrets-for-users
# before users are created, templates with placeholders, uid/gid, restart and reload units.
#
# Which secrets the machine gets is decided at evaluation time by lib.nix (links to the machine,
# directly or through its groups, and its vars secrets); clan's vars settings (`deploy`,
# `neededFor`) decide which are installed and when, as clan's sops vars backend does. Each one
# is copied into the store and listed in a sops-nix manifest (one for services, one for
# users), checked at build time and installed by `secrets install`.
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

  # The machine's secrets by name, as `secrets list` shows them (read from the repository, not
  # from the options below, so that option defaults can depend on them).
  machineSecretNames = secretsLib.machineSecretNames {
    repo = cfg.repository;
    inherit (cfg) machine;
  };

  # clan's description of its vars files, when the machine is a clan machine.
  clanVars = secretsLib.clanVars {
    inherit (cfg) machine;
    generators = cfg.vars.generators;
  };
  varsPhase = secretsLib.varsPhase clanVars;

  usersTarget = "/run/secrets-for-users";

  # Defaults of a secret's settings: clan's settings of a vars file (its `owner`, `group`,
  # `mode`, `restartUnits`, and `neededFor = "users"` as `neededForUsers`), as clan's sops
  # backend hands them to sops-nix; sops-nix's defaults otherwise.
  secretDefaults =
    name:
    let
      file = clanVars.${name} or { };
    in
    {
      inherit name;
      owner = file.owner or null;
      uid = 0;
      group = file.group or null;
      gid = 0;
      mode = file.mode or "0400";
      neededForUsers = varsPhase name == "users";
      restartUnits = file.restartUnits or [ ];
      reloadUnits = [ ];
    };

  # What a secret and a template share: owner, uid, group, gid, mode, units.
  fileOptions = defaults: {
    owner = mkOption {
      type = types.nullOr types.str;
      default = defaults.owner;
      description = "User owning the file, by name (default root). Only with `uid` 0.";
    };
    uid = mkOption {
      type = types.nullOr types.int;
      default = defaults.uid;
      description = "Owner by uid, used when `owner` is null; applied even when no user has it.";
    };
    group = mkOption {
      type = types.nullOr types.str;
      default = defaults.group;
      description = "Group of the file, by name (default: the owner's primary group, else root). Only with `gid` 0.";
    };
    gid = mkOption {
      type = types.nullOr types.int;
      default = defaults.gid;
      description = "Group by gid, used when `group` is null; applied even when no group has it.";
    };
    mode = mkOption {
      type = types.str;
      default = defaults.mode;
      description = "Permissions, in octal.";
    };
    restartUnits = mkOption {
      type = types.listOf types.str;
      default = defaults.restartUnits;
      example = [ "nginx.service" ];
      description = "Units restarted when the file is added or changes.";
    };
    reloadUnits = mkOption {
      type = types.listOf types.str;
      default = defaults.reloadUnits;
      example = [ "nginx.service" ];
      description = "Units reloaded when the file is added or changes.";
    };
  };

  settingType = types.submodule (
    { name, config, ... }:
    let
      defaults = secretDefaults name;
    in
    {
      options = fileOptions defaults // {
        name = mkOption {
          type = types.str;
          default = name;
          description = "File name under the target folder.";
        };
        neededForUsers = mkOption {
          type = types.bool;
          default = defaults.neededForUsers;
          defaultText = lib.literalMD "`true` for a clan vars file with `neededFor = \"users\"`";
          description = ''
            Install the secret into /run/secrets-for-users before users and groups are created,
            so that a hashed password file (`users.users.<name>.hashedPasswordFile`) works at
            first boot. It must be owned by root.
          '';
        };
        path = mkOption {
          type = types.nullOr types.str;
          default = "${if config.neededForUsers then usersTarget else cfg.target}/${config.name}";
          defaultText = lib.literalExpression ''"''${config.services.secrets.target}/''${name}", or "/run/secrets-for-users/''${name}" with neededForUsers'';
          description = "Where the secret is read; another path is a symlink that follows each generation.";
        };
      };
    }
  );

  templateType = types.submodule (
    { name, config, ... }:
    {
      options = fileOptions {
        owner = null;
        uid = 0;
        group = null;
        gid = 0;
        mode = "0400";
        restartUnits = [ ];
        reloadUnits = [ ];
      } // {
        name = mkOption {
          type = types.str;
          default = name;
          description = "File name under <target>/rendered/.";
        };
        path = mkOption {
          type = types.str;
          default = "${cfg.target}/rendered/${config.name}";
          defaultText = lib.literalExpression ''"''${config.services.secrets.target}/rendered/''${name}"'';
          description = "Where the rendered file is read; another path is a symlink that follows each generation.";
        };
        content = mkOption {
          type = types.lines;
          default = "";
          description = "The text, with `config.services.secrets.placeholder.<secret>` where a secret's value goes.";
        };
        file = mkOption {
          type = types.path;
          default = pkgs.writeText config.name config.content;
          defaultText = lib.literalExpression "pkgs.writeText name content";
          description = "A file holding the text; when set, `content` is ignored.";
        };
      };
    }
  );

  # The owner's primary group when no group is given, as sops-nix's option default.
  withGroup =
    s:
    s
    // {
      group =
        if s.group != null then
          s.group
        else if s.owner != null then
          config.users.users.${s.owner}.group
        else
          null;
    };

  # Every secret of the machine with its settings, configured or default.
  effective = builtins.listToAttrs (
    map (name: {
      inherit name;
      value = withGroup (
        cfg.secrets.${name} or (
          let
            d = secretDefaults name;
          in
          d // { path = "${if d.neededForUsers then usersTarget else cfg.target}/${name}"; }
        )
      );
    }) machineSecretNames
  );

  # The phase each secret is installed in: "services", "users", or not by this module.
  phaseOf =
    name:
    let
      vars = varsPhase name;
    in
    if vars != "services" && vars != "users" then
      vars
    else if effective.${name}.neededForUsers then
      "users"
    else
      "services";
  namesIn = phase: builtins.filter (n: phaseOf n == phase) machineSecretNames;
  serviceNames = namesIn "services";
  userNames = namesIn "users";

  settingsOf =
    names:
    builtins.listToAttrs (
      map (name: {
        inherit name;
        value = {
          inherit (effective.${name})
            name
            owner
            uid
            group
            gid
            mode
            restartUnits
            reloadUnits
            ;
        }
        // lib.optionalAttrs (effective.${name}.path != null) { inherit (effective.${name}) path; };
      }) names
    );

  manifestFor =
    {
      names,
      target,
      templates,
    }:
    secretsLib.manifest {
      repo = cfg.repository;
      inherit (cfg) machine keepGenerations;
      inherit target;
      keyFile = cfg.age.keyFile;
      sshKeyPaths = cfg.age.sshKeyPaths;
      settings = settingsOf names;
      only = names;
      inherit templates;
      inherit (cfg) useTmpfs;
      logging = {
        keyImport = builtins.elem "keyImport" cfg.log;
        secretChanges = builtins.elem "secretChanges" cfg.log;
      };
      storeCopy = name: path: builtins.path { inherit name path; };
    };

  # Checked at build time like sops-nix's manifest: every file parses, nothing decrypted.
  checked =
    name: manifest:
    pkgs.runCommand name
      {
        manifest = builtins.toJSON manifest;
        passAsFile = [ "manifest" ];
      }
      ''
        ${cfg.package}/bin/secrets install --check --manifest "$manifestPath"
        cp "$manifestPath" "$out"
      '';

  manifestFile = checked "secrets-manifest.json" (manifestFor {
    names = serviceNames;
    inherit (cfg) target;
    templates = builtins.mapAttrs (_: withGroup) cfg.templates;
  });

  # sops-nix renders no template for users.
  usersManifestFile = checked "secrets-manifest-for-users.json" (manifestFor {
    names = userNames;
    target = usersTarget;
    templates = { };
  });

  # The machines of the repository, as `secrets install` knows them.
  machines = secretsLib.machines cfg.repository;

  sysusers = config.systemd.sysusers.enable or false;
  userborn = config.services.userborn.enable or false;

  # The install command of one manifest. The installer mounts the ramfs (a tmpfs with
  # useTmpfs) at the manifest's generations folder itself, as sops-install-secrets does, and
  # not during a dry activation, which changes nothing.
  installCommand =
    extra: manifest:
    "${cfg.package}/bin/secrets install ${extra}--manifest ${manifest}${lib.optionalString (!cfg.ramfs) " --no-mount"}";

  # What a unit installing secrets needs mounted: the key files.
  keyMounts = lib.optional (cfg.age.keyFile != null) cfg.age.keyFile ++ cfg.age.sshKeyPaths;

  # sops-nix's unit settings shared by both units: no default dependencies (they run in
  # early boot), restarts through systemctl (switch-to-configuration has read its lists by
  # the time such a unit runs).
  unitCommon = command: {
    environment.SOPS_RESTART_UNITS_VIA_SYSTEMCTL = "1";
    unitConfig = {
      DefaultDependencies = "no";
      RequiresMountsFor = keyMounts;
    };
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      ExecStart = [ command ];
    };
  };

  # Settings for secrets the machine does not get, and for vars secrets this module does not
  # install (clan's settings say so): either would leave a service without the file it names.
  unknownSettings = builtins.filter (n: !(builtins.elem n machineSecretNames)) (builtins.attrNames cfg.secrets);
  notInstalled = builtins.filter (n: builtins.elem n machineSecretNames && phaseOf n != "services" && phaseOf n != "users") (
    builtins.attrNames cfg.secrets
  );
  whyNot =
    name:
    let
      phase = phaseOf name;
    in
    if phase == "none" then
      "clan's vars settings say deploy = false"
    else
      "it is needed for ${phase}, which clan uploads itself";

  notRoot = x: x != null && x != "root";
  nonZero = x: x != null && x != 0;
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
      description = "Mount a ramfs (a tmpfs with `useTmpfs`) on <target>.d so that secrets are never swapped to disk; false leaves the folder on the file system it is on.";
    };

    useTmpfs = mkOption {
      type = types.bool;
      default = false;
      description = "A tmpfs (with `noswap` where the kernel has it, Linux 6.4 and later) instead of a ramfs, as sops-nix's `sops.useTmpfs`.";
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

    log = mkOption {
      type = types.listOf (
        types.enum [
          "keyImport"
          "secretChanges"
        ]
      );
      default = [
        "keyImport"
        "secretChanges"
      ];
      description = "What the install says (sops-nix's `sops.log`): ssh keys used as age keys, and changed secrets.";
    };

    useSystemdActivation = mkOption {
      type = types.bool;
      default = sysusers || userborn;
      defaultText = lib.literalExpression "config.systemd.sysusers.enable || config.services.userborn.enable";
      description = ''
        Install from the systemd unit `install-secrets.service` (in sysinit, after local file
        systems, systemd-sysusers and userborn) instead of an activation snippet, as sops-nix's
        `sops.useSystemdActivation`. On by default where systemd-sysusers or userborn create the
        users, which happens after activation snippets; useful too when a key file needs a mount.
        Secrets with `neededForUsers` follow how users are created, not this option: a unit
        before systemd-sysusers or userborn with them, an activation snippet before `users`
        otherwise.
      '';
    };

    vars.generators = mkOption {
      type = types.attrsOf types.raw;
      default = config.clan.core.vars.generators or { };
      defaultText = lib.literalExpression "config.clan.core.vars.generators, when clan's module is imported";
      description = ''
        clan's vars generators of this machine, whose files' `deploy`, `neededFor`, `owner`,
        `group`, `mode` and `restartUnits` decide how vars secrets are installed, as clan's sops
        backend does: a file with `deploy = false` or `neededFor` "activation" or
        "partitioning" is not installed here (clan uploads those itself), one with "users" is
        installed with `neededForUsers`.
      '';
    };

    placeholder = mkOption {
      type = types.attrsOf types.str;
      readOnly = true;
      default = builtins.listToAttrs (
        map (name: {
          inherit name;
          value = secretsLib.placeholder name;
        }) machineSecretNames
      );
      defaultText = lib.literalMD "`<SOPS:sha256(name):PLACEHOLDER>` for each secret of the machine";
      description = "The text that stands for each secret's value in templates, by secret name.";
    };

    templates = mkOption {
      type = types.attrsOf templateType;
      default = { };
      example = lib.literalExpression ''
        {
          "app.env" = {
            content = "DB_PASSWORD=''${config.services.secrets.placeholder.db-password}";
            owner = "app";
            restartUnits = [ "app.service" ];
          };
        }
      '';
      description = ''
        Files rendered from secrets after they are installed, into <target>/rendered/<name>, as
        sops-nix's `sops.templates`.
      '';
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
      {
        assertion = builtins.all (n: !(notRoot effective.${n}.owner || nonZero effective.${n}.uid || notRoot effective.${n}.group || nonZero effective.${n}.gid)) userNames;
        message = "services.secrets: neededForUsers cannot be used for secrets that are not root's: ${
          builtins.concatStringsSep ", " (
            builtins.filter (n: notRoot effective.${n}.owner || nonZero effective.${n}.uid || notRoot effective.${n}.group || nonZero effective.${n}.gid) userNames
          )
        }";
      }
      {
        assertion = unknownSettings == [ ];
        message = "services.secrets.secrets: settings for secrets that machine ${cfg.machine} does not get: ${builtins.concatStringsSep ", " unknownSettings}";
      }
      {
        # systemd-sysusers sets a password from a file only when it creates the user.
        assertion = userNames != [ ] && sysusers -> config.users.mutableUsers or true;
        message = "services.secrets: neededForUsers with systemd.sysusers.enable needs users.mutableUsers (as sops-nix requires)";
      }
    ]
    ++ builtins.concatLists (
      lib.mapAttrsToList (kind: files: builtins.concatLists (
        lib.mapAttrsToList (name: f: [
          {
            assertion = !(f.owner != null && nonZero f.uid);
            message = "services.secrets.${kind}.${name}: set either owner or uid, not both";
          }
          {
            assertion = !(f.group != null && nonZero f.gid);
            message = "services.secrets.${kind}.${name}: set either group or gid, not both";
          }
        ]) files
      )) {
        inherit (cfg) secrets templates;
      }
    );

    # A typo in the machine's name would install no secret at all: say so at build time.
    warnings =
      lib.optional (!(builtins.elem cfg.machine machines)) (
        "services.secrets.machine: `${cfg.machine}` is not a machine of ${toString cfg.repository} "
        + "(machines there: ${if machines == [ ] then "none" else builtins.concatStringsSep ", " machines}); no secret will be installed"
      )
      ++ map (n: "services.secrets.secrets.\"${n}\": not installed by this module: ${whyNot n}") notInstalled;

    environment.systemPackages = [ cfg.package ];

    system.build.secretsManifest = manifestFile;
    system.build.secretsManifestForUsers = usersManifestFile;

    system.activationScripts =
      lib.optionalAttrs (!cfg.useSystemdActivation) {
        installSecrets = {
          deps = [
            "specialfs"
            "users"
            "groups"
          ];
          supportsDryActivation = true;
          text = installCommand "" manifestFile;
        };
      }
      // lib.optionalAttrs (userNames != [ ] && !(sysusers || userborn)) {
        # Before `users`, which reads hashed password files; owners cannot be looked up yet.
        installSecretsForUsers = {
          deps = [ "specialfs" ];
          supportsDryActivation = true;
          text = installCommand "--ignore-passwd " usersManifestFile;
        };
        users.deps = [ "installSecretsForUsers" ];
      };

    systemd.services =
      lib.optionalAttrs cfg.useSystemdActivation {
        install-secrets = unitCommon (installCommand "" manifestFile) // {
          description = "Install this machine's secrets";
          wantedBy = [ "sysinit.target" ];
          after = [
            "local-fs.target"
            "systemd-sysusers.service"
            "userborn.service"
          ];
          # Run again on every switch (sysinit-reactivation.target), as activation would.
          requiredBy = [ "sysinit-reactivation.target" ];
          before = [ "sysinit-reactivation.target" ];
        };
      }
      // lib.optionalAttrs (userNames != [ ] && (sysusers || userborn)) {
        install-secrets-for-users = unitCommon (installCommand "--ignore-passwd " usersManifestFile) // {
          description = "Install the secrets needed to create users";
          wantedBy = [
            "systemd-sysusers.service"
            "userborn.service"
          ];
          before = [
            "systemd-sysusers.service"
            "userborn.service"
          ];
        };
      };
  };
}
