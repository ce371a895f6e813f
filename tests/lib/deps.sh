# shellcheck shell=bash
# Debian packages needed to build, test and benchmark sockgate. Source this file (after common.sh)
# as root and call deps_install.

DEPS_PACKAGES=(
    # Build
    build-essential cmake ninja-build pkg-config git
    tao-pegtl-dev libtomlplusplus-dev prometheus-cpp-dev libseccomp-dev libmnl-dev
    nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
    # Unit tests, benchmarks, fuzzing (libFuzzer comes with clang's runtime libraries)
    libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev
    # Rootless containers and their networks
    runc crun podman slirp4netns passt uidmap iproute2
    # Real programs for the end-to-end tests and the benchmarks
    iperf3 curl nginx-light redis-server redis-tools prometheus busybox-static bats
    python3 python3-matplotlib wrk hyperfine procps psmisc jq util-linux coreutils
)

# Prints the packages of DEPS_PACKAGES that are not installed. One dpkg-query call for all of
# them keeps the check fast. dpkg-query prints nothing for a package it does not know, so
# such a package counts as missing.
deps_missing() {
    local -A installed=()
    local package status
    while read -r package status; do
        [[ $status == installed ]] && installed[${package%%:*}]=1
    done < <(dpkg-query --show --showformat='${Package} ${db:Status-Status}\n' \
        "${DEPS_PACKAGES[@]}" 2>/dev/null)
    for package in "${DEPS_PACKAGES[@]}"; do
        [[ -n ${installed[$package]:-} ]] || echo "$package"
    done
}

# Installs the missing packages without starting their services: nginx, redis and prometheus
# start a daemon on install, and the tests start their own on their own addresses. A
# policy-rc.d that exits 101 makes invoke-rc.d and deb-systemd-invoke skip every start.
deps_install() {
    local missing policy=/usr/sbin/policy-rc.d policy_created=0
    mapfile -t missing < <(deps_missing)
    if ((${#missing[@]} == 0)); then
        log_info "all ${#DEPS_PACKAGES[@]} Debian packages are installed"
        return 0
    fi
    log_info "installing ${#missing[@]} Debian packages: ${missing[*]}"

    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# Written by sockgate tests/lib/deps.sh while it installs.\nexit 101\n' \
            >"$policy"
        chmod 0755 "$policy"
        policy_created=1
    fi

    local status=0
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || status=$?
    if ((status == 0)); then
        RUNLEVEL=1 apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null ||
            status=$?
    fi

    ((policy_created)) && rm -f "$policy"
    if ((status != 0)); then
        die "apt-get failed with status $status while installing: ${missing[*]};" \
            "run 'apt-get install ${missing[*]}' by hand to see why"
    fi

    mapfile -t missing < <(deps_missing)
    ((${#missing[@]} == 0)) || die "still not installed after apt-get: ${missing[*]}"
}
