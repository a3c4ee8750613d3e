# Shared by scripts/test.sh and scripts/demo.sh: Debian packages, PostgreSQL, the virtualenv.
# Source it from the repository root; it only defines functions.
# shellcheck shell=bash

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# Run a command with its output hidden; on failure show the output and stop.
quietly() {
    local what=$1 log status=0
    shift
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$log" >&2
        rm -f "$log"
        die "$what failed (exit $status): $*"
    fi
    rm -f "$log"
}

have() {
    PATH="$PATH:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1
}

# apt_install PACKAGE...: install Debian packages (needs root and apt-get).
apt_install() {
    [ "$(id -u)" -eq 0 ] || die "missing $*: run as root or install them (apt-get install $*)"
    have apt-get || die "missing $* and no apt-get to install them with"
    echo "setup: installing $* (Debian packages; a minute or two on a fresh machine)"
    quietly "apt-get update" apt-get update
    quietly "apt-get install $*" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

# The slapd package starts a system slapd from its postinst; the tests run their own
# instances on free ports, so a freshly installed one is stopped to leave nothing behind.
stop_system_slapd() {
    local pidfile=/var/run/slapd/slapd.pid
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        quietly "stopping the system slapd" /etc/init.d/slapd stop
    fi
}

# Samba's packages start and enable smbd, nmbd, winbind (and samba-ad-dc) from their postinsts
# where policy-rc.d allows; the tests run their own AD DC from a temp dir, so a fresh install
# is stopped and disabled to leave no system daemons behind.
stop_system_samba() {
    local service
    for service in samba-ad-dc smbd nmbd winbind; do
        [ -e "/etc/init.d/$service" ] || continue
        if [ -d /run/systemd/system ]; then
            quietly "stopping $service" systemctl disable --now -q "$service"
            continue
        fi
        # start-stop-daemon --oknodo: fine when it does not run
        quietly "stopping $service" "/etc/init.d/$service" stop
        if have systemctl; then
            quietly "disabling $service" systemctl disable -q "$service"
        else
            quietly "disabling $service" update-rc.d "$service" disable
        fi
    done
    # smbd and winbindd start samba-dcerpcd on demand, and no init script stops it
    quietly "stopping samba-dcerpcd" start-stop-daemon --stop --quiet --oknodo --retry 5 \
        --pidfile /run/samba/samba-dcerpcd.pid --exec /usr/libexec/samba/samba-dcerpcd
}

# ensure_packages [test]: the Debian packages the demo (and with "test" the test suite) need.
ensure_packages() {
    local missing=()
    have python3 || missing+=(python3)
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
    have ldapsearch && have ldapwhoami || missing+=(ldap-utils)
    # python-ldap, of the test extra, is built from source against libldap and libsasl;
    # ensure_venv installs that extra for the demo too
    [ -f /usr/include/ldap.h ] || missing+=(libldap2-dev)
    [ -f /usr/include/sasl/sasl.h ] || missing+=(libsasl2-dev)
    have gcc || missing+=(gcc)
    python3 -c 'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' \
        >/dev/null 2>&1 || missing+=(python3-dev)
    local new_slapd=0
    if [ "${1:-}" = test ]; then
        if ! have slapd || ! have slapadd; then
            missing+=(slapd)
            new_slapd=1
        fi
        have pg_isready && have psql || missing+=(postgresql)
        have mariadb || missing+=(mariadb-server)
        # the SQL source's ODBC tests: unixODBC and Debian's drivers for both servers
        have odbcinst || missing+=(unixodbc)
        odbcinst -q -d -n 'PostgreSQL Unicode' >/dev/null 2>&1 || missing+=(odbc-postgresql)
        odbcinst -q -d -n 'MariaDB Unicode' >/dev/null 2>&1 || missing+=(odbc-mariadb)
        # a CSV export opened by a spreadsheet (libreoffice --headless --convert-to)
        have libreoffice || missing+=(libreoffice-calc-nogui)
        # the systemd unit's test (systemd-analyze verify, systemd-sysusers --dry-run)
        have systemd-analyze && have systemd-sysusers || missing+=(systemd)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
        [ "$new_slapd" -eq 0 ] || stop_system_slapd
    fi
    if [ "${1:-}" = test ] && ! { have samba && have samba-tool && [ -d /usr/share/samba/setup ]; }; then
        # the AD DC the tests provision (samba-ad-provision holds the provisioning data);
        # no recommends: libnss-winbind and libpam-winbind would hook into the host's logins
        apt_install --no-install-recommends samba-ad-dc samba-ad-provision
        stop_system_samba
    fi
}

pg_answers() {
    pg_isready -q -h 127.0.0.1 -p 5432
}

pg_trusts() {
    PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p 5432 -U postgres -w -d postgres -Atqc 'select 1' \
        >/dev/null 2>&1
}

# The newest installed PostgreSQL version (its cluster "main" is the one we use).
pg_version() {
    local version
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null |
        sort -V | tail -n 1)
    [ -n "$version" ] || die "PostgreSQL is installed but has no cluster under /etc/postgresql"
    echo "$version"
}

# A PostgreSQL server on 127.0.0.1:5432 that lets user postgres in without a password.
ensure_postgres() {
    local version hba
    if ! pg_answers && ! have pg_ctlcluster; then
        apt_install postgresql
    fi
    if ! pg_answers; then
        version=$(pg_version)
        # the package's postinst may have started it already
        if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
            quietly "starting PostgreSQL $version" \
                pg_ctlcluster --skip-systemctl-redirect "$version" main start
        fi
        for _ in $(seq 50); do
            pg_answers && break
            sleep 0.2
        done
        pg_answers || die "PostgreSQL $version runs but does not answer on 127.0.0.1:5432"
    fi
    pg_trusts && return 0
    version=$(pg_version)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    [ -f "$hba" ] || die "PostgreSQL on 127.0.0.1:5432 wants a password for user postgres" \
        "and there is no $hba to change that"
    # the first matching line wins: put the trust line on top
    sed -i '1i host all postgres 127.0.0.1/32 trust  # added by metadir scripts/setup.sh' "$hba"
    quietly "reloading PostgreSQL $version" \
        pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    for _ in $(seq 25); do
        pg_trusts && return 0
        sleep 0.2
    done
    die "PostgreSQL on 127.0.0.1:5432 still wants a password for user postgres ($hba)"
}

mariadb_answers() {
    mariadb --connect-timeout=5 -h 127.0.0.1 -P 3306 -u root -e 'select 1' >/dev/null 2>&1
}

# A MariaDB server on 127.0.0.1:3306 that lets root in from 127.0.0.1 without a password
# (tests/mariadb.py; METADIR_TEST_MARIADB names another server).
ensure_mariadb() {
    mariadb_answers && return 0
    have mariadbd || apt_install mariadb-server
    if ! mariadb-admin ping >/dev/null 2>&1; then
        quietly "starting MariaDB" /etc/init.d/mariadb start
    fi
    # as the system's root over the socket (unix_socket authentication)
    quietly "letting root in from 127.0.0.1 (MariaDB)" mariadb -u root -e \
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
         GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
    for _ in $(seq 25); do
        mariadb_answers && return 0
        sleep 0.2
    done
    die "MariaDB does not let root in on 127.0.0.1:3306 without a password"
}

# .venv with metadir installed (editable, with the test extra); reinstalled when
# pyproject.toml changes.
ensure_venv() {
    local stamp=.venv/.metadir-installed want
    if [ ! -x .venv/bin/python ]; then
        echo "setup: creating .venv"
        quietly "creating .venv" python3 -m venv .venv
    fi
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $(.venv/bin/python -V 2>&1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] ||
        ! .venv/bin/python -c 'import metadir' 2>/dev/null; then
        echo "setup: installing metadir and its Python packages into .venv (about a minute)"
        quietly "installing metadir into .venv" \
            .venv/bin/python -m pip install --disable-pip-version-check -q -e '.[test]'
        echo "$want" >"$stamp"
    fi
}

# Where ensure_browser puts axe-core's axe.min.js (tests/browser.py reads it from there), and
# the exact version from the npm registry; a different version here is fetched anew.
AXE_CORE_VERSION=4.14.1
AXE_CORE_DIR=.venv/share/axe-core

# ensure_browser: what the browser tests (tests/browser.py) need: Debian's chromium (never a
# browser that a test tool downloads) with a font for screenshots, and axe-core's axe.min.js.
# Call it after ensure_venv, which may make .venv anew.
ensure_browser() {
    local missing=() tmp tarball
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
    if [ "$(cat "$AXE_CORE_DIR/VERSION" 2>/dev/null)" != "$AXE_CORE_VERSION" ] ||
        [ ! -s "$AXE_CORE_DIR/axe.min.js" ]; then
        have npm || missing+=(npm)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
    [ "$(cat "$AXE_CORE_DIR/VERSION" 2>/dev/null)" = "$AXE_CORE_VERSION" ] &&
        [ -s "$AXE_CORE_DIR/axe.min.js" ] && return 0
    echo "setup: installing axe-core@$AXE_CORE_VERSION (npm registry) into $AXE_CORE_DIR"
    tmp=$(mktemp -d)
    # npm pack fetches the package's tarball only: no install scripts run
    quietly "npm pack axe-core@$AXE_CORE_VERSION" \
        npm pack --silent --pack-destination "$tmp" "axe-core@$AXE_CORE_VERSION"
    tarball=$(find "$tmp" -maxdepth 1 -name 'axe-core-*.tgz' -print -quit)
    [ -n "$tarball" ] || die "npm pack axe-core@$AXE_CORE_VERSION left no tarball in $tmp"
    quietly "unpacking $tarball" tar -xzf "$tarball" -C "$tmp" package/axe.min.js package/LICENSE
    mkdir -p "$AXE_CORE_DIR"
    mv "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$AXE_CORE_DIR/"
    echo "$AXE_CORE_VERSION" >"$AXE_CORE_DIR/VERSION"
    rm -rf "$tmp"
}
