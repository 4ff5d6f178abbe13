# Which secrets a machine gets from a clan-style repository, and the sops-nix manifest that
# installs them. Builtins only, so that it evaluates (and is tested) without nixpkgs.
#
# The rules are those of `secrets install` (crates/deploy/src/source.rs), which a test
# checks against this file:
# - the machine's groups: folders of sops/groups/ with an entry machines/<machine>;
# - its secrets: folders of sops/secrets/, vars/per-machine/<machine>/*/* and vars/shared/*/*
#   holding a regular file `secret` and an entry machines/<machine>, or groups/<g> for one of
#   its groups; and folders of vars/per-export/*/*/* with an entry machines/<machine> (clan
#   encrypts an export's file for the machines of its `deploy` list, each linked directly; a
#   group link there comes from default groups, not from `deploy`). Entries count whatever
#   their type (a link, even dangling, or a folder); folders count only as real directories.
#
# Which of them a NixOS machine installs, and when, follows clan's sops vars backend
# (`clanVars` below): a vars file with `deploy = false` or needed for `activation` or
# `partitioning` is not installed by the module, one needed for `users` goes to
# /run/secrets-for-users before users are created.
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
    ) (subdirs (repo + "/vars/shared"))
    ++ concatMap (
      export:
      concatMap (
        generator:
        map (
          file:
          candidate "vars/per-export/${export}/${generator}/${file}" (
            repo + "/vars/per-export/${export}/${generator}/${file}"
          )
          // {
            directOnly = true;
          }
        ) (subdirs (repo + "/vars/per-export/${export}/${generator}"))
      ) (subdirs (repo + "/vars/per-export/${export}"))
    ) (subdirs (repo + "/vars/per-export"));

  machineSecrets =
    { repo, machine }:
    let
      groups = machineGroups { inherit repo machine; };
      via =
        c:
        if has (c.dir + "/machines") machine then
          "direct"
        else if c.directOnly or false then
          null
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

  # The text a template holds for a secret's value until it is installed (sops-nix's
  # `sops.placeholder` form), by the secret's name in the repository.
  placeholder = name: "<SOPS:${builtins.hashString "sha256" name}:PLACEHOLDER>";

  # clan's vars files by the name they are installed under (`vars/<rel_dir>/<file>`), from
  # `clan.core.vars.generators` of the machine's configuration: each with its `deploy`,
  # `neededFor`, `secret`, `owner`, `group`, `mode` and `restartUnits` as clan declares them.
  clanVars =
    { machine, generators }:
    builtins.listToAttrs (
      concatMap (
        generatorName:
        let
          generator = generators.${generatorName};
          files = generator.files or { };
        in
        map (
          fileName:
          let
            file = files.${fileName};
            relDir =
              file.rel_dir or (
                if generator.share or false then
                  "shared/${generatorName}"
                else
                  "per-machine/${machine}/${generatorName}"
              );
          in
          {
            name = "vars/${relDir}/${file.name or fileName}";
            value = file;
          }
        ) (builtins.attrNames files)
      ) (builtins.attrNames generators)
    );

  # When clan's sops backend has a vars file installed: "services" (/run/secrets), "users"
  # (/run/secrets-for-users, before users are created), "activation" and "partitioning"
  # (uploaded by `clan machines update` and `clan machines install`, never installed from the
  # machine's configuration) or "none" (`deploy = false`: an input of other generators only,
  # or a public file). A name clan does not describe is "services".
  varsPhase =
    vars: name:
    let
      file = vars.${name} or null;
    in
    if file == null then
      "services"
    else if !(file.secret or true) || !(file.deploy or true) then
      "none"
    else
      file.neededFor or "services";

  # The manifest `secrets install --manifest` (and sops-install-secrets) reads. `settings` holds
  # per-secret options by name (`name`, `path`, `owner`, `uid`, `group`, `gid`, `mode`,
  # `restartUnits`, `reloadUnits`); `only`, when given, the names this manifest installs (the
  # others are another phase's); `templates` sops-nix's templates by name, with the
  # placeholders of `placeholder`. `storeCopy name path` copies a secret file into the store
  # (the NixOS module passes `builtins.path`; the default keeps the path as is, for evaluation
  # tests).
  manifest =
    {
      repo,
      machine,
      target ? "/run/secrets",
      generations ? "${target}.d",
      keepGenerations ? 1,
      keyFile ? null,
      sshKeyPaths ? [ ],
      settings ? { },
      only ? null,
      templates ? { },
      useTmpfs ? false,
      logging ? {
        keyImport = false;
        secretChanges = true;
      },
      storeCopy ? (name: path: path),
    }:
    let
      all = machineSecrets { inherit repo machine; };
      known = map (s: s.name) all;
      unknown = builtins.filter (n: !(builtins.elem n known)) (builtins.attrNames settings);
      secrets = if only == null then all else builtins.filter (s: builtins.elem s.name only) all;
      installedName = s: (settings.${s.name} or { }).name or s.name;
      orZero = x: if x == null then 0 else x;
      attributes = o: defaultPath: {
        path = o.path or defaultPath;
        owner = o.owner or null;
        uid = orZero (o.uid or 0);
        group = o.group or null;
        gid = orZero (o.gid or 0);
        mode = o.mode or "0400";
        restartUnits = o.restartUnits or [ ];
        reloadUnits = o.reloadUnits or [ ];
      };
      entry =
        s:
        let
          o = settings.${s.name} or { };
          name = installedName s;
        in
        {
          inherit name;
          key = "";
          sopsFile = toString (storeCopy (storeName s.name) s.file);
          format = "binary";
        }
        // attributes o "${target}/${name}";
      template =
        templateName: t:
        let
          name = t.name or templateName;
        in
        {
          inherit name;
          content = t.content or "";
          file = if t ? file then "${t.file}" else "";
        }
        // attributes t "${target}/rendered/${name}";
    in
    if unknown != [ ] then
      throw "settings for secrets that machine ${machine} does not get: ${builtins.concatStringsSep ", " unknown}"
    else
      {
        secrets = map entry secrets;
        templates = map (n: template n templates.${n}) (builtins.attrNames templates);
        # As sops-nix: placeholders only with templates, one for each secret installed.
        placeholderBySecretName =
          if templates == { } then
            { }
          else
            builtins.listToAttrs (
              map (s: {
                name = installedName s;
                value = placeholder s.name;
              }) secrets
            );
        secretsMountPoint = generations;
        symlinkPath = target;
        inherit keepGenerations useTmpfs logging;
        gnupgHome = null;
        sshKeyPaths = [ ];
        ageKeyFile = keyFile;
        ageSshKeyPaths = sshKeyPaths;
        userMode = false;
      };
in
{
  inherit
    clanVars
    machineGroups
    machines
    machineSecrets
    manifest
    placeholder
    storeName
    varsPhase
    ;

  # Just the names, for comparing with `secrets install --check`.
  machineSecretNames = args: map (s: s.name) (machineSecrets args);
}
