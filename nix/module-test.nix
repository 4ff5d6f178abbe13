# Evaluates the NixOS module with a minimal stand-in for nixpkgs' `lib` and `pkgs` (builtins
# only): the activation script runs `secrets install` on a manifest listing the machine's
# secrets with their settings. True, or a throw naming what differs.
#   nix-instantiate --store dummy:// --eval --strict -E 'import ./nix/module-test.nix { }'
{
  repo ? ../fixtures/clan-repo,
}:
let
  id = x: x;
  lib = {
    mkEnableOption = id;
    mkOption = id;
    mkIf = cond: value: if cond then value else { };
    literalExpression = id;
    literalMD = id;
    mapAttrs = builtins.mapAttrs;
    mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (builtins.attrNames attrs);
    optionalAttrs = cond: attrs: if cond then attrs else { };
    optionalString = cond: s: if cond then s else "";
    optional = cond: x: if cond then [ x ] else [ ];
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
    types = {
      str = "str";
      int = "int";
      raw = "raw";
      lines = "lines";
      bool = "bool";
      enum = id;
      path = "path";
      package = "package";
      ints.unsigned = "unsigned";
      nullOr = id;
      listOf = id;
      attrsOf = id;
      submodule =
        f:
        f {
          name = "example";
          config = {
            name = "example";
            neededForUsers = false;
            content = "";
          };
        };
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
  package = "/nix/store/fake-secrets";
  setting = name: {
    inherit name;
    owner = null;
    uid = 0;
    group = null;
    gid = 0;
    mode = "0400";
    path = null;
    neededForUsers = false;
    restartUnits = [ ];
    reloadUnits = [ ];
  };
  template = name: setting name // {
    path = "/run/secrets/rendered/${name}";
    content = "";
    file = "/nix/store/text-${name}";
  };
  token = "vars/per-machine/web1/gen/token";
  config = {
    networking.hostName = "web1";
    services.openssh = {
      enable = false;
      hostKeys = [ ];
    };
    users.users.nginx.group = "www";
    users.users.root.group = "root";
    services.secrets = {
      enable = true;
      inherit package;
      repository = repo;
      machine = "web1";
      target = "/run/secrets";
      keepGenerations = 2;
      ramfs = true;
      useTmpfs = false;
      useSystemdActivation = false;
      log = [ "secretChanges" ];
      age.keyFile = "/var/lib/sops-nix/key.txt";
      age.sshKeyPaths = [ ];
      vars.generators = { };
      templates = { };
      secrets."group-secret" = setting "group-secret" // {
        owner = "nginx";
        restartUnits = [ "nginx.service" ];
      };
    };
  };
  # `config` with `change` merged in, as the module system merges definitions.
  update =
    base: change:
    base
    // builtins.mapAttrs (
      n: v: if builtins.isAttrs v && builtins.isAttrs (base.${n} or null) && !(v ? _type) then update base.${n} v else v
    ) change;
  evaluate = config: import ./module.nix { self = { }; } { inherit config lib pkgs; };
  with_ = change: evaluate (update config change);
  module = evaluate config;
  withSsh = with_ {
    services.openssh = {
      enable = true;
      hostKeys = [
        { type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }
        { type = "rsa"; path = "/etc/ssh/ssh_host_rsa_key"; }
        { type = "ed25519"; path = "/run/secrets/vars/per-machine/web1/openssh/ssh.id_ed25519"; }
      ];
    };
  };
  typo = with_ { services.secrets.machine = "webl"; };
  script = module.config.system.activationScripts.installSecrets;
  manifestOf = file: builtins.fromJSON (builtins.unsafeDiscardStringContext file.env.manifest);
  manifest = manifestOf module.config.system.build.secretsManifest;
  first = builtins.head manifest.secrets;
  names = m: map (s: s.name) m.secrets;
  contains = needle: s: builtins.replaceStrings [ needle ] [ "" ] s != s;
  expect = what: ok: if ok then true else throw "module: ${what}";
  failing = m: map (a: a.message) (builtins.filter (a: !a.assertion) m.config.assertions);

  # uid and gid instead of names.
  numeric = with_ {
    services.secrets.secrets."group-secret" = setting "group-secret" // {
      uid = 1234;
      gid = 5678;
    };
  };
  numericFirst = builtins.head (manifestOf numeric.config.system.build.secretsManifest).secrets;
  both = with_ {
    services.secrets.secrets."group-secret" = setting "group-secret" // {
      owner = "nginx";
      uid = 1234;
    };
  };

  # A secret needed to create users: its own manifest and an activation snippet before `users`.
  forUsers = with_ {
    services.secrets.secrets.${token} = setting token // {
      neededForUsers = true;
      path = "/run/secrets-for-users/${token}";
    };
  };
  usersManifest = manifestOf forUsers.config.system.build.secretsManifestForUsers;
  usersScript = forUsers.config.system.activationScripts.installSecretsForUsers;
  notRootForUsers = with_ {
    services.secrets.secrets.${token} = setting token // {
      neededForUsers = true;
      owner = "nginx";
    };
  };
  # Under systemd-sysusers: units, the one for users before sysusers, as sops-nix orders them.
  sysusers = update config {
    systemd.sysusers.enable = true;
    users.mutableUsers = true;
    services.secrets.useSystemdActivation = true;
    services.secrets.secrets.${token} = setting token // { neededForUsers = true; };
  };
  withSysusers = evaluate sysusers;
  immutableSysusers = evaluate (update sysusers { users.mutableUsers = false; });
  unit = withSysusers.config.systemd.services.install-secrets;
  usersUnit = withSysusers.config.systemd.services.install-secrets-for-users;
  userbornDefault = (with_ { services.userborn.enable = true; }).options.services.secrets.useSystemdActivation.default;

  # Templates with placeholders.
  placeholders = module.options.services.secrets.placeholder.default;
  templated = with_ {
    services.secrets.templates."app.env" = template "app.env" // {
      content = "PASSWORD=${placeholders."group-secret"}\n";
      owner = "nginx";
      restartUnits = [ "app.service" ];
      reloadUnits = [ "proxy.service" ];
    };
  };
  templatedManifest = manifestOf templated.config.system.build.secretsManifest;
  rendered = builtins.head templatedManifest.templates;

  # clan's vars: the generator's `deploy` flag and `neededFor` phase.
  withVars = file: with_ { services.secrets.vars.generators.gen.files.token = file; };
  varsIn = file: {
    services = names (manifestOf (withVars file).config.system.build.secretsManifest);
    users = names (manifestOf (withVars file).config.system.build.secretsManifestForUsers);
  };
  clanFile = {
    name = "token";
    secret = true;
    deploy = true;
    neededFor = "services";
    owner = "root";
    group = "root";
    mode = "0440";
    restartUnits = [ "gen.service" ];
  };
  varsServices = manifestOf (withVars clanFile).config.system.build.secretsManifest;
  varsToken = builtins.elemAt varsServices.secrets 1;
in
builtins.all id [
  (expect "options are declared" (module.options.services.secrets ? repository))
  (expect "no assertion fails" (failing module == [ ]))
  (expect "activation runs after users and groups" (
    script.deps == [
      "specialfs"
      "users"
      "groups"
    ]
  ))
  (expect "activation installs the checked manifest, the installer mounting its ramfs" (
    script.text == "/nix/store/fake-secrets/bin/secrets install --manifest /nix/store/fake-secrets-manifest.json"
  ))
  (expect "dry activation runs the installer, which changes nothing then" script.supportsDryActivation)
  (expect "ramfs = false leaves the folder as it is" (
    contains " --no-mount" (with_ { services.secrets.ramfs = false; }).config.system.activationScripts.installSecrets.text
  ))
  (expect "useTmpfs reaches the manifest" (
    (manifestOf (with_ { services.secrets.useTmpfs = true; }).config.system.build.secretsManifest).useTmpfs
  ))
  (expect "the manifest is checked at build time" (
    contains "secrets install --check --manifest" module.config.system.build.secretsManifest.script
  ))
  (expect "the machine's secrets are listed" (
    names manifest == [
      "group-secret"
      token
    ]
  ))
  (expect "each is a store copy" (builtins.substring 0 11 first.sopsFile == "/nix/store/"))
  (expect "the owner's primary group is used" (first.owner == "nginx" && first.group == "www"))
  (expect "units and generations" (first.restartUnits == [ "nginx.service" ] && manifest.keepGenerations == 2))
  (expect "keys" (manifest.ageKeyFile == "/var/lib/sops-nix/key.txt" && manifest.symlinkPath == "/run/secrets"))
  (expect "logging follows services.secrets.log" (manifest.logging == { keyImport = false; secretChanges = true; }))
  (expect "a secret's path reads back as where it is" (
    module.options.services.secrets.secrets.type.options.path.default == "/run/secrets/example"
  ))
  (expect "ed25519 host keys but those installed from the secrets" (
    withSsh.options.services.secrets.age.sshKeyPaths.default == [ "/etc/ssh/ssh_host_ed25519_key" ]
  ))
  (expect "one identity when imported twice" (module.key == "secrets/nix/module.nix" && module ? _file))
  (expect "no warning for a machine of the repository" (module.config.warnings == [ ]))
  (expect "a warning naming the machines for one that is not" (
    contains "`webl` is not a machine" (builtins.head typo.config.warnings)
    && contains "machines there: web1" (builtins.head typo.config.warnings)
  ))

  # uid / gid
  (expect "uid and gid reach the manifest" (
    numericFirst.owner == null && numericFirst.uid == 1234 && numericFirst.group == null && numericFirst.gid == 5678
  ))
  (expect "owner and uid together are refused" (
    builtins.any (contains "set either owner or uid, not both") (failing both)
  ))

  # neededForUsers
  (expect "a secret for users leaves the regular manifest" (names (manifestOf forUsers.config.system.build.secretsManifest) == [ "group-secret" ]))
  (expect "it has its own manifest at /run/secrets-for-users" (
    names usersManifest == [ token ]
    && usersManifest.symlinkPath == "/run/secrets-for-users"
    && usersManifest.secretsMountPoint == "/run/secrets-for-users.d"
    && (builtins.head usersManifest.secrets).path == "/run/secrets-for-users/${token}"
  ))
  (expect "its default path reads back there" (
    (import ./module.nix { self = { }; } {
      inherit config pkgs;
      lib = lib // {
        types = lib.types // {
          submodule = f: f {
            name = "example";
            config = {
              name = "example";
              neededForUsers = true;
            };
          };
        };
      };
    }).options.services.secrets.secrets.type.options.path.default == "/run/secrets-for-users/example"
  ))
  (expect "installed before users, owners not looked up" (
    usersScript.deps == [ "specialfs" ]
    && forUsers.config.system.activationScripts.users.deps == [ "installSecretsForUsers" ]
    && usersScript.text == "/nix/store/fake-secrets/bin/secrets install --ignore-passwd --manifest /nix/store/fake-secrets-manifest-for-users.json"
  ))
  (expect "no snippet for users without such secrets" (!(module.config.system.activationScripts ? installSecretsForUsers)))
  (expect "a secret for users must be root's" (
    builtins.any (contains "neededForUsers cannot be used for secrets that are not root's: ${token}") (failing notRootForUsers)
  ))

  # systemd activation
  (expect "systemd-sysusers or userborn turn systemd activation on" (
    withSysusers.options.services.secrets.useSystemdActivation.default && userbornDefault
    && !module.options.services.secrets.useSystemdActivation.default
  ))
  (expect "a unit instead of activation snippets" (withSysusers.config.system.activationScripts == { }))
  (expect "the unit runs in sysinit after users exist, and again on each switch" (
    unit.wantedBy == [ "sysinit.target" ]
    && unit.after == [ "local-fs.target" "systemd-sysusers.service" "userborn.service" ]
    && unit.requiredBy == [ "sysinit-reactivation.target" ]
    && unit.before == [ "sysinit-reactivation.target" ]
    && unit.unitConfig.DefaultDependencies == "no"
    && unit.serviceConfig.Type == "oneshot"
    && unit.serviceConfig.RemainAfterExit
  ))
  (expect "the unit restarts units through systemctl and waits for its key" (
    unit.environment.SOPS_RESTART_UNITS_VIA_SYSTEMCTL == "1"
    && unit.unitConfig.RequiresMountsFor == [ "/var/lib/sops-nix/key.txt" ]
    && unit.serviceConfig.ExecStart == [ "/nix/store/fake-secrets/bin/secrets install --manifest /nix/store/fake-secrets-manifest.json" ]
  ))
  (expect "secrets for users: a unit before systemd-sysusers" (
    usersUnit.before == [ "systemd-sysusers.service" "userborn.service" ]
    && usersUnit.wantedBy == [ "systemd-sysusers.service" "userborn.service" ]
    && contains "--ignore-passwd" (builtins.head usersUnit.serviceConfig.ExecStart)
  ))
  (expect "systemd-sysusers with secrets for users needs mutable users" (
    failing withSysusers == [ ]
    && builtins.any (contains "needs users.mutableUsers") (failing immutableSysusers)
  ))

  # templates
  (expect "a placeholder for each secret, in sops-nix's form" (
    builtins.attrNames placeholders == [ "group-secret" token ]
    && placeholders."group-secret" == "<SOPS:${builtins.hashString "sha256" "group-secret"}:PLACEHOLDER>"
  ))
  (expect "templates reach the manifest with their settings" (
    rendered.name == "app.env"
    && rendered.content == "PASSWORD=${placeholders."group-secret"}\n"
    && rendered.file == "/nix/store/text-app.env"
    && rendered.path == "/run/secrets/rendered/app.env"
    && rendered.owner == "nginx" && rendered.group == "www"
    && rendered.restartUnits == [ "app.service" ] && rendered.reloadUnits == [ "proxy.service" ]
  ))
  (expect "with templates, the manifest maps every secret to its placeholder" (
    templatedManifest.placeholderBySecretName == {
      "group-secret" = placeholders."group-secret";
      ${token} = placeholders.${token};
    }
  ))
  (expect "without templates, no placeholders (as sops-nix)" (manifest.placeholderBySecretName == { } && manifest.templates == [ ]))

  # clan vars
  (expect "a vars file is installed for services by default" (varsIn clanFile == { services = [ "group-secret" token ]; users = [ ]; }))
  (expect "clan's owner, group, mode and restartUnits apply" (
    varsToken.name == token && varsToken.mode == "0440" && varsToken.owner == "root" && varsToken.group == "root"
    && varsToken.restartUnits == [ "gen.service" ]
  ))
  (expect "deploy = false is not installed" (varsIn (clanFile // { deploy = false; }) == { services = [ "group-secret" ]; users = [ ]; }))
  (expect "neededFor users goes to /run/secrets-for-users" (
    varsIn (clanFile // { neededFor = "users"; }) == { services = [ "group-secret" ]; users = [ token ]; }
  ))
  (expect "neededFor activation and partitioning are clan's to upload" (
    varsIn (clanFile // { neededFor = "activation"; }) == { services = [ "group-secret" ]; users = [ ]; }
    && varsIn (clanFile // { neededFor = "partitioning"; }) == { services = [ "group-secret" ]; users = [ ]; }
  ))
  (expect "settings of a secret the machine does not get are refused" (
    builtins.any (contains "settings for secrets that machine web1 does not get: typo") (
      failing (with_ { services.secrets.secrets.typo = setting "typo"; })
    )
  ))
  (expect "settings of a vars secret clan uploads itself say why they do nothing" (
    (with_ {
      services.secrets.vars.generators.gen.files.token = clanFile // { neededFor = "activation"; };
      services.secrets.secrets.${token} = setting token;
    }).config.warnings == [
      "services.secrets.secrets.\"${token}\": not installed by this module: it is needed for activation, which clan uploads itself"
    ]
  ))
  (expect "a shared generator's file is found by its rel_dir" (
    builtins.attrNames ((import ./lib.nix).clanVars { machine = "web1"; generators.wifi = { share = true; files.psk = { }; }; })
    == [ "vars/shared/wifi/psk" ]
  ))
]
