# Evaluation tests of lib.nix against the fixture repository: true, or a throw naming what
# differs. Run with
#   nix-instantiate --store dummy:// --eval --strict nix/tests.nix
{
  repo ? ../fixtures/clan-repo,
}:
let
  lib = import ./lib.nix;
  expect =
    what: actual: expected:
    if actual == expected then
      true
    else
      throw "${what}: expected ${builtins.toJSON expected}, got ${builtins.toJSON actual}";
  web1 = lib.machineSecrets {
    inherit repo;
    machine = "web1";
  };
  manifest = lib.manifest {
    inherit repo;
    machine = "web1";
    target = "/run/secrets";
    keyFile = "/var/lib/sops-nix/key.txt";
    sshKeyPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
    settings."group-secret" = {
      owner = "nginx";
      group = "nginx";
      mode = "0440";
      restartUnits = [ "nginx.service" ];
    };
    settings."vars/per-machine/web1/gen/token".path = "/etc/app/token";
  };
  first = builtins.head manifest.secrets;
  second = builtins.elemAt manifest.secrets 1;
  forUsers = lib.manifest {
    inherit repo;
    machine = "web1";
    target = "/run/secrets-for-users";
    only = [ "vars/per-machine/web1/gen/token" ];
    settings."vars/per-machine/web1/gen/token".uid = null;
  };
  templated = lib.manifest {
    inherit repo;
    machine = "web1";
    settings."group-secret" = {
      uid = 7;
      gid = 8;
    };
    templates.t = {
      content = "x=${lib.placeholder "group-secret"}";
      mode = "0440";
    };
  };
  bad = builtins.tryEval (
    (lib.manifest {
      inherit repo;
      machine = "web1";
      settings.typo = { };
    }).secrets
  );
in
builtins.all (x: x) [
  (expect "groups of web1" (lib.machineGroups {
    inherit repo;
    machine = "web1";
  }) [ "servers" ])
  (expect "secrets of web1" (map (s: s.name) web1) [
    "group-secret"
    "vars/per-machine/web1/gen/token"
  ])
  (expect "how they reach web1" (map (s: s.via) web1) [
    "group:servers"
    "direct"
  ])
  (expect "files" (map (s: s.file) web1) [
    (repo + "/sops/secrets/group-secret/secret")
    (repo + "/vars/per-machine/web1/gen/token/secret")
  ])
  (expect "an unknown machine gets nothing" (lib.machineSecretNames {
    inherit repo;
    machine = "web2";
  }) [ ])
  (expect "store names" (lib.storeName "vars/per-machine/web1/gen/token") "secret-vars_per-machine_web1_gen_token")
  (expect "manifest mount point" manifest.secretsMountPoint "/run/secrets.d")
  (expect "manifest keys" [ manifest.ageKeyFile manifest.ageSshKeyPaths ] [
    "/var/lib/sops-nix/key.txt"
    [ "/etc/ssh/ssh_host_ed25519_key" ]
  ])
  (expect "settings of group-secret" {
    inherit (first)
      name
      owner
      group
      mode
      restartUnits
      format
      path
      ;
  } {
    name = "group-secret";
    owner = "nginx";
    group = "nginx";
    mode = "0440";
    restartUnits = [ "nginx.service" ];
    format = "binary";
    path = "/run/secrets/group-secret";
  })
  (expect "defaults of the vars secret" {
    inherit (second) mode owner path;
  } {
    mode = "0400";
    owner = null;
    path = "/etc/app/token";
  })
  (expect "settings for an unknown secret are refused" bad.success false)
  (expect "only the names asked for, in their own folders" {
    inherit (forUsers) symlinkPath secretsMountPoint;
    names = map (s: s.name) forUsers.secrets;
    path = (builtins.head forUsers.secrets).path;
    uid = (builtins.head forUsers.secrets).uid;
  } {
    symlinkPath = "/run/secrets-for-users";
    secretsMountPoint = "/run/secrets-for-users.d";
    names = [ "vars/per-machine/web1/gen/token" ];
    path = "/run/secrets-for-users/vars/per-machine/web1/gen/token";
    uid = 0;
  })
  (expect "no templates, no placeholders" [ manifest.templates manifest.placeholderBySecretName ] [ [ ] { } ])
  (expect "uid and gid" (map (s: [ s.uid s.gid ]) templated.secrets) [ [ 7 8 ] [ 0 0 ] ])
  (expect "a template with sops-nix's fields" (builtins.head templated.templates) {
    name = "t";
    content = "x=${lib.placeholder "group-secret"}";
    file = "";
    path = "/run/secrets/rendered/t";
    owner = null;
    uid = 0;
    group = null;
    gid = 0;
    mode = "0440";
    restartUnits = [ ];
    reloadUnits = [ ];
  })
  (expect "a placeholder for every secret with templates" (builtins.attrNames templated.placeholderBySecretName) [
    "group-secret"
    "vars/per-machine/web1/gen/token"
  ])
  (expect "clan's phases" (map (lib.varsPhase {
    a = { deploy = false; };
    b = { neededFor = "users"; };
    c = { secret = false; };
    d = { };
  }) [ "a" "b" "c" "d" "e" ]) [ "none" "users" "none" "services" "services" ])
]
