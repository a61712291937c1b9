//! Builds, pulls and pushes on the real engine and a real registry (Debian's docker-registry on
//! 127.0.0.1:5000, started by `scripts/setup.sh`).

mod common;
use common::Stack;

const DOCKERFILE: &str = "FROM wharf-busybox:latest\nARG GREETING=unset\nCOPY . /app\nRUN echo \"$GREETING\" > /greeting\nCMD [\"sh\", \"-c\", \"cat /greeting; exec sleep 300\"]\n";

fn registry_up() -> bool {
    std::net::TcpStream::connect_timeout(&"127.0.0.1:5000".parse().unwrap(), std::time::Duration::from_secs(1)).is_ok()
}

#[test]
fn a_rebuild_recreates_exactly_the_services_whose_image_changed() {
    let s = Stack::new(
        "rebuild",
        r#"
services:
  a:
    build:
      context: a
      args: {GREETING: from-a}
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    init: true
  b:
    build:
      context: b
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    init: true
  c:
    image: wharf-busybox:latest
    init: true
    command: ["sleep", "300"]
"#,
    );
    for d in ["a", "b"] {
        // Distinct from the first step: two concurrent builds of identical steps race for the
        // classic builder's cache and may later reuse each other's layers.
        s.file(&format!("{d}/Dockerfile"), &DOCKERFILE.replacen('\n', &format!("\nLABEL svc={d}\n"), 1));
        s.file(&format!("{d}/src.txt"), "one");
    }
    // `up` builds the missing images by itself.
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    assert!(err.contains("Built"), "{err}");
    let ids = |svc: &str| s.inspect("{{.Id}}", &s.container(svc, 1));
    let before: Vec<String> = ["a", "b", "c"].iter().map(|x| ids(x)).collect();
    assert_eq!(s.docker(&["exec", &s.container("a", 1), "cat", "/greeting"]).trim(), "from-a");
    // Nothing changed: `up --build` rebuilds from cache and recreates nothing.
    let (ok, _, err) = s.wharf(&["up", "-d", "--build"]);
    assert!(ok, "{err}");
    let same: Vec<String> = ["a", "b", "c"].iter().map(|x| ids(x)).collect();
    assert_eq!(same, before, "{err}");
    // The fingerprint (context, Dockerfile, options, base image) matched: no build was sent.
    assert!(err.contains(&format!("Image {}-a  Up to date", s.project)), "{err}");
    // One context changes: only that service is recreated.
    s.file("a/src.txt", "two");
    let (ok, _, err) = s.wharf(&["up", "-d", "--build"]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("Image {}-a  Building", s.project)), "{err}");
    assert!(err.contains(&format!("Image {}-b  Up to date", s.project)), "{err}");
    let after: Vec<String> = ["a", "b", "c"].iter().map(|x| ids(x)).collect();
    assert_ne!(after[0], before[0], "a's image changed: {err}");
    assert_eq!(after[1..], before[1..], "b and c untouched: {err}");
    let out = s.docker(&["exec", &s.container("a", 1), "cat", "/app/src.txt"]);
    assert_eq!(out.trim(), "two");
}

#[test]
fn the_context_honours_dockerignore_and_build_options() {
    let s = Stack::new(
        "ignore",
        r#"
services:
  app:
    image: ${COMPOSE_PROJECT_NAME}-custom:dev
    build:
      context: ./ctx
      dockerfile: docker/App.dockerfile
      target: final
      args: [GREETING=list-form]
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}", stage: built}
      tags: ["${COMPOSE_PROJECT_NAME}-extra:1"]
      extra_hosts: ["db.internal=10.1.2.3"]
    init: true
    command: ["sleep", "300"]
"#,
    );
    s.file(
        "ctx/docker/App.dockerfile",
        "FROM wharf-busybox:latest AS base\nRUN echo base > /stage\nFROM base AS final\nARG GREETING\nCOPY . /app\nRUN echo \"$GREETING\" > /greeting && grep db.internal /etc/hosts > /hosts\n",
    );
    s.file("ctx/.dockerignore", "# build junk\nnode_modules\n**/*.log\ndocs\n!docs/keep.md\ndocker\n");
    for f in ["keep.txt", "node_modules/x/index.js", "a.log", "sub/b.log", "sub/c.txt", "docs/keep.md", "docs/drop.md"]
    {
        s.file(&format!("ctx/{f}"), "x");
    }
    let (ok, out, err) = s.wharf(&["build", "-q"]);
    assert!(ok, "{err}");
    assert!(!out.contains("Step"), "-q prints no builder output: {out}");
    let (ok, _, err) = s.wharf(&["up", "-d", "--no-build"]);
    assert!(ok, "{err}");
    let c = s.container("app", 1);
    let files = s.docker(&["exec", &c, "find", "/app", "-type", "f"]);
    let mut files: Vec<&str> = files.lines().collect();
    files.sort();
    // The Dockerfile is sent though ignored (the builder needs it; the engine then drops it
    // from what COPY sees, as with the docker CLI).
    assert_eq!(files, ["/app/.dockerignore", "/app/docs/keep.md", "/app/keep.txt", "/app/sub/c.txt"]);
    assert_eq!(s.docker(&["exec", &c, "cat", "/greeting"]).trim(), "list-form");
    assert!(s.docker(&["exec", &c, "cat", "/hosts"]).contains("10.1.2.3"));
    let image = format!("{}-custom:dev", s.project);
    assert_eq!(s.inspect("{{.Config.Labels.stage}}", &image), "built");
    let extra = format!("{}-extra:1", s.project);
    assert_eq!(s.inspect("{{.Id}}", &extra), s.inspect("{{.Id}}", &image), "build.tags tag the same image");
}

#[test]
fn bad_builds_name_the_service_and_leave_nothing_behind() {
    let s = Stack::new(
        "badbuild",
        r#"
services:
  kit:
    build: {context: kit, labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}}
"#,
    );
    // A secret mount the file provides no secret for: built through a session (as compose does),
    // and the step that reads the absent secret fails, named with its output.
    s.file("kit/Dockerfile", "FROM wharf-busybox:latest\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n");
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(!ok);
    assert!(err.contains("Building: BuildKit with a session"), "{err}");
    assert!(err.contains("error: service `kit`: ") && err.contains("exit code: 1"), "{err}");
    assert!(err.contains("| [2/2] RUN --mount=type=secret,id=tok cat /run/secrets/tok"), "{err}");
    assert!(s.ids("container").is_empty() && s.ids("network").is_empty(), "nothing created");
    // BuildKit-only syntax, with the classic builder chosen.
    s.file("kit/Dockerfile", "FROM wharf-busybox:latest\nRUN --mount=type=cache,target=/c true\n");
    let (ok, _, err) = s.wharf_with(&[("DOCKER_BUILDKIT", "0")], &["up", "-d"]);
    assert!(!ok);
    assert!(err.contains("service `kit`: Dockerfile:2: `RUN --mount` needs BuildKit, and this build uses the engine's classic builder"), "{err}");
    assert!(s.ids("container").is_empty() && s.ids("network").is_empty(), "nothing created");
    // Syntax the engine's built-in Dockerfile frontend does not know: its line, and what to do.
    s.file("kit/Dockerfile", "FROM wharf-busybox:latest\nCOPY --link Dockerfile /x\n");
    let (ok, _, err) = s.wharf(&["build"]);
    assert!(!ok);
    assert!(err.contains("service `kit`: Dockerfile:2: Unknown flag: link"), "{err}");
    assert!(err.contains("# syntax=docker/dockerfile:1"), "{err}");
    // A `# syntax=` frontend that cannot be fetched (no registry answers there): its line, and what to do.
    s.file("kit/Dockerfile", "# syntax=127.0.0.1:5999/nowhere/frontend:1\nFROM wharf-busybox:latest\n");
    let (ok, _, err) = s.wharf(&["build"]);
    assert!(!ok);
    assert!(
        err.contains("service `kit`: Dockerfile:1: the Dockerfile frontend `127.0.0.1:5999/nowhere/frontend:1` named by `# syntax=` could not be fetched"),
        "{err}"
    );
    assert!(err.contains("remove the `# syntax=` line"), "{err}");

    s.write("services:\n  gone:\n    build: ./nowhere\n");
    let (ok, _, err) = s.wharf(&["build"]);
    assert!(!ok);
    assert!(
        err.contains("service `gone`: build context") && err.contains("nowhere") && err.contains("is not a directory"),
        "{err}"
    );

    s.write(
        "services:\n  fails:\n    build: {context: f, labels: {wharf.test.project: \"${COMPOSE_PROJECT_NAME}\"}}\n",
    );
    s.file(
        "f/Dockerfile",
        "FROM wharf-busybox:latest\nRUN echo preparing && echo 'no such table: users' >&2 && exit 3\n",
    );
    let (ok, _, err) = s.wharf(&["build", "-q"]);
    assert!(!ok);
    assert!(err.contains("service `fails`"), "{err}");
    assert!(err.contains("exit code: 3"), "the builder's answer: {err}");
    assert!(
        err.contains("  | [2/2] RUN echo preparing &&") && err.contains("  | no such table: users"),
        "the failing step's output: {err}"
    );
    // The classic builder's failure reads the same way.
    let (ok, _, err) = s.wharf_with(&[("DOCKER_BUILDKIT", "0")], &["build", "-q"]);
    assert!(!ok);
    assert!(err.contains("returned a non-zero code: 3"), "the builder's answer: {err}");
    assert!(
        err.contains(": RUN echo preparing &&") && err.contains("no such table: users"),
        "the failing step's output: {err}"
    );
}

#[test]
fn buildkit_builds_what_the_classic_builder_cannot_and_shows_its_steps() {
    let s = Stack::new(
        "buildkit",
        r#"
services:
  app:
    build: {context: ., labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}}
    init: true
    command: ["sleep", "300"]
  inline:
    build:
      context: .
      dockerfile_inline: "FROM wharf-busybox:latest\nCOPY . /app\n"
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    init: true
    command: ["sleep", "300"]
"#,
    );
    s.file(".dockerignore", "compose.yaml\n");
    s.file(
        "Dockerfile",
        "FROM wharf-busybox:latest\nCOPY --chmod=750 run.sh /run.sh\nRUN --mount=type=cache,target=/cache echo kept > /cache/x && cat /cache/x > /seen && echo step-output\n",
    );
    s.file("run.sh", "#!/bin/sh\necho hi\n");
    let (ok, out, err) = s.wharf(&["build", "--no-cache"]);
    assert!(ok, "{err}");
    let shown = format!("{out}{err}");
    for line in ["app  #", "2/3] COPY --chmod=750 run.sh /run.sh", "step-output", "DONE"] {
        assert!(shown.contains(line), "{line} not in {shown}");
    }
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    let c = s.container("app", 1);
    assert_eq!(s.docker(&["exec", &c, "cat", "/seen"]).trim(), "kept");
    assert_eq!(s.docker(&["exec", &c, "stat", "-c", "%a", "/run.sh"]).trim(), "750");
    // An inline Dockerfile reaches the builder but not `COPY`.
    let files = s.docker(&["exec", &s.container("inline", 1), "ls", "-A", "/app"]);
    let mut files: Vec<&str> = files.lines().collect();
    files.sort();
    assert_eq!(files, [".dockerignore", "Dockerfile", "run.sh"]);
}

#[test]
fn push_remove_pull_and_run_through_a_real_registry() {
    assert!(registry_up(), "no registry on 127.0.0.1:5000: run scripts/setup.sh");
    let s = Stack::new(
        "registry",
        r#"
services:
  app:
    image: 127.0.0.1:5000/${COMPOSE_PROJECT_NAME}/app:1
    build:
      context: app
      args: {GREETING: via-registry}
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    init: true
"#,
    );
    s.file("app/Dockerfile", DOCKERFILE);
    let image = format!("127.0.0.1:5000/{}/app:1", s.project);
    let (ok, _, err) = s.wharf(&["--progress", "plain", "build", "-q", "--push"]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("Image {image}  Pushed")), "{err}");
    let (ok, _, err) = s.wharf(&["--progress", "plain", "push"]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("Image {image}  Pushed")), "{err}");
    let built = s.inspect("{{.Id}}", &image);
    s.docker(&["rmi", &image]);
    assert_eq!(s.inspect("{{.Id}}", &image), "", "removed locally");
    // A named buildable service is pulled when asked.
    let (ok, _, err) = s.wharf(&["--progress", "plain", "pull", "app"]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("Image {image}  Pulled")), "{err}");
    assert_eq!(s.inspect("{{.Id}}", &image), built, "the same image came back");
    let (ok, _, err) = s.wharf(&["up", "-d", "--no-build", "--pull", "missing"]);
    assert!(ok, "{err}");
    // Read from the running container (its log line may not be written yet when `up -d` returns).
    assert_eq!(s.docker(&["exec", &s.container("app", 1), "cat", "/greeting"]).trim(), "via-registry");
}

#[test]
fn a_base_image_behind_credentials_is_pulled_by_wharf_before_a_buildkit_build() {
    assert!(registry_up(), "no registry on 127.0.0.1:5000: run scripts/setup.sh");
    let s = Stack::new(
        "privbase",
        r#"
services:
  app:
    build: {context: app, labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}}
    init: true
    command: ["sleep", "300"]
"#,
    );
    let base = format!("127.0.0.1:5000/{}/base:1", s.project);
    s.docker(&["tag", "wharf-busybox:latest", &base]);
    s.docker(&["push", &base]);
    s.docker(&["rmi", &base]);
    assert_eq!(s.inspect("{{.Id}}", &base), "", "the base is only in the registry");
    s.file("app/Dockerfile", &format!("FROM {base}\nRUN echo built-on-base > /mark\n"));
    // Credentials for the registry (this one takes any), from a credential helper: BuildKit,
    // without a session, would pull anonymously, so wharf pulls the base with them first.
    s.file("docker-config/config.json", r#"{"credsStore": "wharftest"}"#);
    let helper = "#!/bin/sh\nread -r server\n[ \"$1 $server\" = 'get 127.0.0.1:5000' ] && echo '{\"Username\":\"u\",\"Secret\":\"p\"}'\n";
    s.file("bin/docker-credential-wharftest", helper);
    let bin = s.dir.path().join("bin");
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(bin.join("docker-credential-wharftest"), mode).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let config = s.dir.path().join("docker-config");
    let env = [("DOCKER_CONFIG", config.to_str().unwrap()), ("PATH", path.as_str())];
    let (ok, _, err) = s.wharf_with(&env, &["--progress", "plain", "up", "-d"]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("Image {base}  Pulled")), "{err}");
    assert_eq!(s.docker(&["exec", &s.container("app", 1), "cat", "/mark"]).trim(), "built-on-base");
}

#[test]
fn up_pulls_a_missing_image_and_an_absent_registry_is_named_quickly() {
    assert!(registry_up(), "no registry on 127.0.0.1:5000: run scripts/setup.sh");
    let s = Stack::new("pull", "services: {}\n");
    let image = format!("127.0.0.1:5000/{}/busybox:latest", s.project);
    s.docker(&["tag", "wharf-busybox:latest", &image]);
    s.docker(&["push", &image]);
    s.docker(&["rmi", &image]);
    s.write(&format!("services:\n  svc:\n    image: {image}\n    init: true\n    command: [sleep, '300']\n"));
    let (ok, _, err) = s.wharf(&["--progress", "plain", "up", "-d"]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("Image {image}  Pulled")), "{err}");
    assert_eq!(s.inspect("{{.State.Running}}", &s.container("svc", 1)), "true");

    // `never` refuses to fetch.
    s.write("services:\n  svc:\n    image: 127.0.0.1:5000/nothing/here:1\n    pull_policy: never\n");
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(!ok);
    assert!(
        err.contains("service `svc`: image `127.0.0.1:5000/nothing/here:1` is missing: `pull_policy: never`"),
        "{err}"
    );

    // Nothing listens on 5999: the pull fails at once, naming the image and the registry.
    s.write("services:\n  svc:\n    image: 127.0.0.1:5999/nowhere/app:1\n");
    let t = std::time::Instant::now();
    let (ok, _, err) = s.wharf(&["pull"]);
    assert!(!ok);
    assert!(t.elapsed() < std::time::Duration::from_secs(30), "did not hang");
    assert!(err.contains("image `127.0.0.1:5999/nowhere/app:1`: cannot pull"), "{err}");
    assert!(err.contains("no registry answers at `127.0.0.1:5999`"), "{err}");
    let (ok, _, err) = s.wharf(&["pull", "--ignore-pull-failures"]);
    assert!(ok, "{err}");
    assert!(err.contains("warning: cannot pull"), "{err}");
}
