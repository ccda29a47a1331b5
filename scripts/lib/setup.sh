# Set-up helpers shared by scripts/test and .ci/run. Each one is idempotent
# and says what it did; none of them needs anything but Debian's packages,
# PyPI and npm.

say() { printf '[setup] %s\n' "$*" >&2; }

# PostgreSQL for the store tests. They create (and drop) a database of their
# own on this server, so one server serves every test run.
ensure_postgres() {
  export CALLSYNC_TEST_POSTGRES_URL="${CALLSYNC_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if pg_up; then say "PostgreSQL is up at 127.0.0.1:5432"; return 0; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "PostgreSQL is not installed: installing it from Debian's packages"
    as_root apt-get update -qq || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba" 2>/dev/null; then
    say "allowing trust auth on 127.0.0.1 for the test server"
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
  say "PostgreSQL did not come up; its tests will say they are skipped"
  return 0
}

pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p 5432
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# simple-salesforce and jsforce, unmodified, for the sandbox fidelity tests.
ensure_fidelity_clients() {
  local tools="$root/.tools"
  mkdir -p "$tools"
  if command -v python3 >/dev/null 2>&1; then
    if [ ! -x "$tools/venv/bin/python" ] || ! "$tools/venv/bin/python" -c 'import simple_salesforce' 2>/dev/null; then
      say "installing simple-salesforce into .tools/venv"
      python3 -m venv "$tools/venv"
      "$tools/venv/bin/pip" install -q --disable-pip-version-check 'simple-salesforce>=1.12,<2'
    fi
    export CALLSYNC_FIDELITY_PYTHON="$tools/venv/bin/python"
  else
    say "no python3: the simple-salesforce check will say it is skipped"
  fi
  if command -v npm >/dev/null 2>&1; then
    if [ ! -d "$tools/node/node_modules/jsforce" ]; then
      say "installing jsforce into .tools/node"
      mkdir -p "$tools/node"
      (cd "$tools/node" && npm install --silent --no-audit --no-fund --prefix . 'jsforce@^3' >/dev/null)
    fi
    export CALLSYNC_FIDELITY_NODE_PATH="$tools/node/node_modules"
  else
    say "no npm: the jsforce check will say it is skipped"
  fi
}

# schemathesis, unmodified, for the fuzz test of the API (tests/fuzz.rs).
ensure_fuzzer() {
  local tools="$root/.tools"
  if ! command -v python3 >/dev/null 2>&1; then
    say "no python3: the fuzz test will say it is skipped"
    return 0
  fi
  mkdir -p "$tools"
  [ -x "$tools/venv/bin/python" ] || python3 -m venv "$tools/venv"
  if [ ! -x "$tools/venv/bin/schemathesis" ]; then
    say "installing schemathesis into .tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4.32,<5'
  fi
  export CALLSYNC_SCHEMATHESIS="$tools/venv/bin/schemathesis"
}

# Debian's chromium and playwright-core (npm) for the console's browser tests
# (crates/callsync/tests/console_browser.rs). playwright-core drives the
# system chromium; no browser is ever downloaded.
ensure_browser() {
  local tools="$root/.tools"
  if [ ! -x /usr/bin/chromium ]; then
    say "chromium is not installed: installing it from Debian's packages"
    as_root apt-get update -qq || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || true
  fi
  # Japanese pages need a Japanese font, or the screenshots show boxes.
  if [ -x /usr/bin/chromium ] && ! ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1; then
    say "installing a Japanese font (fonts-noto-cjk) for the console's screenshots"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null || true
  fi
  if [ -x /usr/bin/chromium ]; then
    export CALLSYNC_TEST_CHROMIUM=/usr/bin/chromium
  else
    say "no chromium: the browser tests will say they are skipped"
  fi
  if command -v npm >/dev/null 2>&1; then
    if [ ! -d "$tools/node/node_modules/playwright-core" ]; then
      say "installing playwright-core into .tools/node"
      mkdir -p "$tools/node"
      (cd "$tools/node" && npm install --silent --no-audit --no-fund --prefix . 'playwright-core@^1.49' >/dev/null)
    fi
    export CALLSYNC_TEST_PLAYWRIGHT_NODE_PATH="$tools/node/node_modules"
  else
    say "no npm: the browser tests will say they are skipped"
  fi
}
