# Which secrets a machine gets from a clan-style repository, and the sops-nix manifest that
# installs them. Builtins only, so that it evaluates (and is tested) without nixpkgs.
#
# The rules are those of `secrets install` (crates/deploy/src/source.rs), which a test
# checks against this file:
# - the machine's groups: folders of sops/groups/ with an entry machines/<machine>;
# - its secrets: folders of sops/secrets/, vars/per-machine/<machine>/*/* and vars/shared/*/*
#   holding a regular file `secret` and an entry machines/<machine>, or groups/<g> for one of
#   its groups. Entries count whatever their type (a link, even dangling, or a folder); folders
#   count only as real directories.
let
  entries = dir: if builtins.pathExists dir then builtins.readDir dir else { };

  subdirs =
    dir:
    let
      all = entries dir;
    in
    builtins.filter (name: all.${name} == "directory") (builtins.attrNames all);

  has = dir: name: builtins.hasAttr name (entries dir);

  concatMap = f: list: builtins.concatLists (map f list);

  machineGroups =
    { repo, machine }:
    builtins.filter (group: has (repo + "/sops/groups/${group}/machines") machine) (
      subdirs (repo + "/sops/groups")
    );

  # The machines of a repository: folders of sops/machines/, and of vars/per-machine/ for a
  # machine with vars only (as `secrets install --machine` accepts them).
  machines =
    repo:
    let
      withKeys = subdirs (repo + "/sops/machines");
    in
    withKeys ++ builtins.filter (m: !(builtins.elem m withKeys)) (subdirs (repo + "/vars/per-machine"));

  # One candidate folder: its name as installed and where it is.
  candidate = name: dir: { inherit name dir; };

  candidates =
    { repo, machine }:
    map (s: candidate s (repo + "/sops/secrets/${s}")) (subdirs (repo + "/sops/secrets"))
    ++ concatMap (
      generator:
      map (
        file:
        candidate "vars/per-machine/${machine}/${generator}/${file}" (
          repo + "/vars/per-machine/${machine}/${generator}/${file}"
        )
      ) (subdirs (repo + "/vars/per-machine/${machine}/${generator}"))
    ) (subdirs (repo + "/vars/per-machine/${machine}"))
    ++ concatMap (
      generator:
      map (file: candidate "vars/shared/${generator}/${file}" (repo + "/vars/shared/${generator}/${file}")) (
        subdirs (repo + "/vars/shared/${generator}")
      )
    ) (subdirs (repo + "/vars/shared"));

  machineSecrets =
    { repo, machine }:
    let
      groups = machineGroups { inherit repo machine; };
      via =
        c:
        if has (c.dir + "/machines") machine then
          "direct"
        else
          let
            linked = builtins.filter (g: has (c.dir + "/groups") g) groups;
          in
          if linked == [ ] then null else "group:${builtins.head linked}";
      withVia = map (c: c // { via = via c; }) (
        builtins.filter (c: (entries c.dir).secret or null == "regular") (candidates {
          inherit repo machine;
        })
      );
      kept = builtins.filter (c: c.via != null) withVia;
      sorted = builtins.sort (a: b: a.name < b.name) kept;
    in
    map (c: {
      inherit (c) name via;
      file = c.dir + "/secret";
    }) sorted;

  # A store path name for a secret (no `/`, no leading dot), as clan names its copies.
  storeName = name: "secret-" + builtins.replaceStrings [ "/" ] [ "_" ] name;

  # The manifest `secrets install --manifest` (and sops-install-secrets) reads. `settings` holds
  # per-secret options by name; `storeCopy name path` copies a secret file into the store (the
  # NixOS module passes `builtins.path`; the default keeps the path as is, for evaluation tests).
  manifest =
    {
      repo,
      machine,
      target ? "/run/secrets",
      keepGenerations ? 1,
      keyFile ? null,
      sshKeyPaths ? [ ],
      settings ? { },
      storeCopy ? (name: path: path),
    }:
    let
      secrets = machineSecrets { inherit repo machine; };
      known = map (s: s.name) secrets;
      unknown = builtins.filter (n: !(builtins.elem n known)) (builtins.attrNames settings);
      entry =
        s:
        let
          o = settings.${s.name} or { };
          name = o.name or s.name;
        in
        {
          inherit name;
          key = "";
          path = o.path or "${target}/${name}";
          owner = o.owner or null;
          uid = 0;
          group = o.group or null;
          gid = 0;
          sopsFile = "${storeCopy (storeName s.name) s.file}";
          format = "binary";
          mode = o.mode or "0400";
          restartUnits = o.restartUnits or [ ];
          reloadUnits = o.reloadUnits or [ ];
        };
    in
    if unknown != [ ] then
      throw "settings for secrets that machine ${machine} does not get: ${builtins.concatStringsSep ", " unknown}"
    else
      {
        secrets = map entry secrets;
        templates = [ ];
        placeholderBySecretName = { };
        secretsMountPoint = "${target}.d";
        symlinkPath = target;
        inherit keepGenerations;
        gnupgHome = null;
        sshKeyPaths = [ ];
        ageKeyFile = keyFile;
        ageSshKeyPaths = sshKeyPaths;
        useTmpfs = false;
        userMode = false;
        logging = {
          keyImport = false;
          secretChanges = true;
        };
      };
in
{
  inherit
    machineGroups
    machines
    machineSecrets
    manifest
    storeName
    ;

  # Just the names, for comparing with `secrets install --check`.
  machineSecretNames = args: map (s: s.name) (machineSecrets args);
}
