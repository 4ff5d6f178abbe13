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
    optionalAttrs = cond: attrs: if cond then attrs else { };
    optionalString = cond: s: if cond then s else "";
    optional = cond: x: if cond then [ x ] else [ ];
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
    types = {
      str = "str";
      bool = "bool";
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
          config.name = "example";
        };
    };
  };
  pkgs = {
    stdenv.hostPlatform.system = "x86_64-linux";
    util-linux = "/util-linux";
    runCommand = name: env: script: {
      inherit name env script;
      outPath = "/nix/store/fake-${name}";
    };
  };
  package = "/nix/store/fake-secrets";
  setting = name: {
    inherit name;
    owner = null;
    group = null;
    mode = "0400";
    path = null;
    restartUnits = [ ];
    reloadUnits = [ ];
  };
  config = {
    networking.hostName = "web1";
    services.openssh = {
      enable = false;
      hostKeys = [ ];
    };
    users.users.nginx.group = "www";
    services.secrets = {
      enable = true;
      inherit package;
      repository = repo;
      machine = "web1";
      target = "/run/secrets";
      keepGenerations = 2;
      ramfs = true;
      age.keyFile = "/var/lib/sops-nix/key.txt";
      age.sshKeyPaths = [ ];
      secrets."group-secret" = setting "group-secret" // {
        owner = "nginx";
        restartUnits = [ "nginx.service" ];
      };
    };
  };
  evaluate = config: import ./module.nix { self = { }; } { inherit config lib pkgs; };
  module = evaluate config;
  withSsh = evaluate (
    config
    // {
      services = config.services // {
        openssh = {
          enable = true;
          hostKeys = [
            { type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }
            { type = "rsa"; path = "/etc/ssh/ssh_host_rsa_key"; }
            { type = "ed25519"; path = "/run/secrets/vars/per-machine/web1/openssh/ssh.id_ed25519"; }
          ];
        };
      };
    }
  );
  typo = evaluate (config // { services = config.services // { secrets = config.services.secrets // { machine = "webl"; }; }; });
  script = module.config.system.activationScripts.installSecrets;
  manifest = builtins.fromJSON (
    builtins.unsafeDiscardStringContext module.config.system.build.secretsManifest.env.manifest
  );
  first = builtins.head manifest.secrets;
  contains = needle: s: builtins.replaceStrings [ needle ] [ "" ] s != s;
  expect = what: ok: if ok then true else throw "module: ${what}";
in
builtins.all id [
  (expect "options are declared" (module.options.services.secrets ? repository))
  (expect "an assertion about keys" (builtins.head module.config.assertions).assertion)
  (expect "activation runs after users and groups" (
    script.deps == [
      "specialfs"
      "users"
      "groups"
    ]
  ))
  (expect "activation installs the checked manifest" (
    contains "/nix/store/fake-secrets/bin/secrets install --manifest /nix/store/fake-secrets-manifest.json" script.text
  ))
  (expect "a ramfs on the generations folder" (
    contains "mount -t ramfs -o nodev,nosuid,noexec,mode=0751 none /run/secrets.d" script.text
  ))
  (expect "the manifest is checked at build time" (
    contains "secrets install --check --manifest" module.config.system.build.secretsManifest.script
  ))
  (expect "the machine's secrets are listed" (
    map (s: s.name) manifest.secrets == [
      "group-secret"
      "vars/per-machine/web1/gen/token"
    ]
  ))
  (expect "each is a store copy" (builtins.substring 0 11 first.sopsFile == "/nix/store/"))
  (expect "the owner's primary group is used" (first.owner == "nginx" && first.group == "www"))
  (expect "units and generations" (first.restartUnits == [ "nginx.service" ] && manifest.keepGenerations == 2))
  (expect "keys" (manifest.ageKeyFile == "/var/lib/sops-nix/key.txt" && manifest.symlinkPath == "/run/secrets"))
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
]
