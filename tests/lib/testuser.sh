# shellcheck shell=bash
# The unprivileged test user. sockgate runs rootless, so every test that exercises it runs as
# this user; only the setup here needs root. Source this file, then call testuser_setup.

TESTUSER_NAME=${TESTUSER_NAME:-sgtest}
TESTUSER_HOME=/home/$TESTUSER_NAME

# Number of subordinate ids given to the user, as useradd and Podman expect by default.
readonly TESTUSER_SUBID_COUNT=65536

# Prints the first id after every range in a /etc/subuid-style file, rounded up to a multiple of
# the range size, or 100000 (the useradd default start) when the file has no ranges.
testuser_next_free_subid() {
    local file=$1
    local next=100000 start count end
    while IFS=: read -r _ start count; do
        [[ $start =~ ^[0-9]+$ && $count =~ ^[0-9]+$ ]] || continue
        end=$((start + count))
        if ((end > next)); then
            next=$(((end + TESTUSER_SUBID_COUNT - 1) / TESTUSER_SUBID_COUNT * TESTUSER_SUBID_COUNT))
        fi
    done <"$file"
    echo "$next"
}

# Gives the user a subordinate uid and gid range unless it has one already.
testuser_add_subids() {
    local file option start
    for file in /etc/subuid /etc/subgid; do
        touch "$file"
        if grep -q "^$TESTUSER_NAME:" "$file"; then
            continue
        fi
        start=$(testuser_next_free_subid "$file")
        option=--add-subuids
        [[ $file == /etc/subgid ]] && option=--add-subgids
        usermod "$option" "$start-$((start + TESTUSER_SUBID_COUNT - 1))" "$TESTUSER_NAME"
    done
}

# Makes /dev/net/tun usable by unprivileged users: slirp4netns and pasta open it inside the
# user namespace, where the device's owner (root outside) does not map to anyone.
testuser_open_tun_device() {
    if [[ ! -c /dev/net/tun ]]; then
        mkdir -p /dev/net
        mknod /dev/net/tun c 10 200
    fi
    chmod 0666 /dev/net/tun
}

# Creates /run/user/UID (mode 0700, owned by the user): Podman and slirp4netns keep their
# sockets and state under XDG_RUNTIME_DIR.
testuser_make_runtime_dir() {
    local uid
    uid=$(id -u "$TESTUSER_NAME")
    install -d -m 0755 /run/user
    install -d -m 0700 -o "$TESTUSER_NAME" -g "$TESTUSER_NAME" "/run/user/$uid"
}

# Creates the test user if needed and prepares what rootless networking needs. Idempotent.
testuser_setup() {
    if ! id -u "$TESTUSER_NAME" >/dev/null 2>&1; then
        useradd --create-home --home-dir "$TESTUSER_HOME" --shell /bin/bash \
            --user-group "$TESTUSER_NAME"
    fi
    install -d -m 0755 -o "$TESTUSER_NAME" -g "$TESTUSER_NAME" "$TESTUSER_HOME"

    testuser_add_subids
    testuser_open_tun_device
    testuser_make_runtime_dir

    if ! testuser_run unshare --user --map-root-user --net true; then
        die "user $TESTUSER_NAME cannot create a user and network namespace." \
            "Check the sysctls user.max_user_namespaces and kernel.unprivileged_userns_clone"
    fi
}

# Runs a command as the test user with a clean, login-like environment. Leading NAME=VALUE
# arguments add environment variables, as with env(1). Standard input, output and error are
# inherited.
testuser_run() {
    local uid
    uid=$(id -u "$TESTUSER_NAME")
    runuser -u "$TESTUSER_NAME" -- env -i \
        HOME="$TESTUSER_HOME" USER="$TESTUSER_NAME" LOGNAME="$TESTUSER_NAME" SHELL=/bin/bash \
        XDG_RUNTIME_DIR="/run/user/$uid" LANG=C.UTF-8 TERM="${TERM:-dumb}" \
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin \
        ${CI:+CI="$CI"} \
        "$@"
}
