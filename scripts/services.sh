# Sourced by scripts/test: makes sure what the tests need is running, installing it
# from Debian's packages on a fresh machine. Exports TEST_POSTGRES_URL.
#   - a Docker engine (Debian's docker.io), started as a background dockerd if none answers
#   - a PostgreSQL server (Debian's postgresql), started, with a password for the tests
#   - the sandbox image lucid-sandbox:latest, built once by `lucid sandbox build-image`
#   - headless Chromium and chromedriver (Debian's chromium, chromium-driver), and
#     Firefox (Debian's firefox-esr) with geckodriver (built once by cargo install)
#   - the deployment files' validators (PyPI's kubernetes-validate, check-jsonschema)
# Idempotent: what already runs is left alone.

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  if [ -z "${LUCID_APT_UPDATED:-}" ]; then
    as_root apt-get update -qq
    LUCID_APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_until() { # wait_until SECONDS WHAT COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "error: $what did not come up within ${seconds}s" >&2
  return 1
}

ensure_docker() {
  if docker version >/dev/null 2>&1; then
    echo "docker: engine already answering"
    return
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "docker: installing docker.io"
    apt_install docker.io
  fi
  if ! docker version >/dev/null 2>&1; then
    echo "docker: starting dockerd in the background (log: /tmp/lucid-dockerd.log)"
    # In a session of its own: stopping the shell (or process group) that started it,
    # a test run cut short say, must not take the engine down with it.
    as_root sh -c 'setsid nohup dockerd >/tmp/lucid-dockerd.log 2>&1 < /dev/null &'
    wait_until 60 "dockerd" docker version || { tail -20 /tmp/lucid-dockerd.log >&2; return 1; }
  fi
  echo "docker: engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
}

ensure_postgres() {
  if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    echo "postgres: using TEST_POSTGRES_URL from the environment"
    return
  fi
  # The client alone (psql) is often there; the server is what the tests need.
  if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "postgres: installing postgresql"
    apt_install postgresql
  fi
  local version
  version=$(ls -d /usr/lib/postgresql/*/bin/postgres | awk -F/ '{print $5}' | sort -V | tail -n 1)
  if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
    as_root pg_createcluster "$version" main >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
    as_root pg_ctlcluster "$version" main start
  fi
  local port
  port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
  wait_until 30 "postgresql" as_root su postgres -c "psql -p $port -qAtc 'SELECT 1'"
  as_root su postgres -c "psql -p $port -qc \"ALTER USER postgres PASSWORD 'lucid-tests'\"" >/dev/null
  export TEST_POSTGRES_URL="postgres://postgres:lucid-tests@127.0.0.1:$port/postgres"
  echo "postgres: $version running on port $port"
}

ensure_sandbox_image() {
  if docker image inspect lucid-sandbox:latest >/dev/null 2>&1; then
    echo "sandbox image: lucid-sandbox:latest already built"
    return
  fi
  # Where no registry answers, lucid builds the image from debootstrap.
  if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
    echo "sandbox image: installing debootstrap"
    apt_install debootstrap
  fi
  echo "sandbox image: building lucid-sandbox:latest (a few minutes, once)"
  if [ "$(id -u)" -eq 0 ]; then
    cargo run --quiet --locked -- sandbox build-image
  else
    # debootstrap needs root; the build itself stays the user's.
    cargo build --quiet --locked --bin lucid
    as_root env DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}" \
      "${CARGO_TARGET_DIR:-target}/debug/lucid" sandbox build-image
  fi
}

# Headless Chromium and its WebDriver server, for the tests of lucid's pages.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium: $(chromium --version 2>/dev/null | awk 'NR == 1')"
    return
  fi
  echo "chromium: installing chromium and chromium-driver"
  apt_install chromium chromium-driver
  echo "chromium: $(chromium --version 2>/dev/null | awk 'NR == 1')"
}

# Firefox and its WebDriver server. Debian packages Firefox but not geckodriver,
# which Mozilla publishes on crates.io: built once into ~/.cargo/bin.
ensure_firefox() {
  if ! command -v firefox >/dev/null 2>&1; then
    echo "firefox: installing firefox-esr"
    apt_install firefox-esr
  fi
  if ! command -v geckodriver >/dev/null 2>&1; then
    echo "firefox: building geckodriver (a few minutes, once)"
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/geckodriver" \
      cargo install --quiet --locked geckodriver --version 0.37.1
  fi
  echo "firefox: $(firefox --version 2>/dev/null | awk 'NR == 1'), $(geckodriver --version | awk 'NR == 1')"
}

# The deployment files' validators (tests/it/deploy_manifests.rs), from PyPI into a
# virtualenv outside the clone, every version pinned: kubernetes-validate, with
# Kubernetes' JSON schemas inside it, and check-jsonschema, with the Compose
# specification's schema inside it. Neither fetches anything when it runs.
# Exports TEST_MANIFEST_VALIDATORS, the directory of their commands.
MANIFEST_VALIDATORS_PINNED="kubernetes-validate==1.37.0 check-jsonschema==0.39.0 \
jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 \
rpds-py==2026.9.1 attrs==26.1.0 PyYAML==6.0.4 ruamel.yaml==0.19.1 regress==2026.9.1 \
click==8.5.1 requests==2.34.2 certifi==2026.10.19.post1 charset-normalizer==3.5.3 \
idna==3.20 urllib3==2.8.0 importlib_resources==7.1.0 packaging==26.4 \
typing_extensions==4.16.0"

ensure_manifest_validators() {
  local dir=${LUCID_VALIDATORS_DIR:-/var/tmp/lucid-validators}
  export TEST_MANIFEST_VALIDATORS="$dir/bin"
  if [ "$(cat "$dir/pinned.txt" 2>/dev/null)" = "$MANIFEST_VALIDATORS_PINNED" ]; then
    echo "manifest validators: already in $dir"
    return
  fi
  if ! python3 -m venv --help >/dev/null 2>&1; then
    echo "manifest validators: installing python3-venv"
    apt_install python3 python3-venv
  fi
  echo "manifest validators: installing kubernetes-validate and check-jsonschema into $dir"
  rm -rf "$dir"
  python3 -m venv "$dir"
  # shellcheck disable=SC2086 # one requirement a word
  "$dir/bin/pip" install --quiet --disable-pip-version-check $MANIFEST_VALIDATORS_PINNED
  printf '%s' "$MANIFEST_VALIDATORS_PINNED" >"$dir/pinned.txt"
  echo "manifest validators: $("$dir/bin/kubernetes-validate" --version), check-jsonschema $("$dir/bin/pip" show check-jsonschema | awk '/^Version/ {print $2}')"
}
