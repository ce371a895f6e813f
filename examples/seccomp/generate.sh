#!/usr/bin/env bash
# Regenerates the default seccomp profiles in this folder from the Podman installed here, for
# testing `sockgate profile --base` against real profiles:
#
#   podman-default.json  Podman's default profile as the package ships it, in the Docker/Podman
#                        format (archMap, includes and excludes by capability and architecture).
#   runc-default.json    the same profile as Podman hands it to runc in config.json for a
#                        rootless container on this machine: includes and excludes resolved for
#                        the default capabilities and this architecture. runc and crun accept it
#                        in linux.seccomp, and Podman accepts it as a profile file.
#
# Run it as an unprivileged user who can run rootless Podman, with busybox-static installed. It
# creates one container (never started, no image pulled) in temporary storage and removes
# everything afterwards.
set -euo pipefail

SOURCE_PROFILE=${SOURCE_PROFILE:-/usr/share/containers/seccomp.json}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d)
# Removes the container, stops the pause process that rootless Podman keeps for this storage,
# and removes the folder.
cleanup() {
    podman_in_work rm --all --force >/dev/null 2>&1 || true
    if [[ -s $WORK/tmp/pause.pid ]]; then
        kill -KILL "$(cat "$WORK/tmp/pause.pid")" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

podman_in_work() {
    podman --root "$WORK/root" --runroot "$WORK/runroot" --tmpdir "$WORK/tmp" \
        --storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
}

cp "$SOURCE_PROFILE" "$HERE/podman-default.json"

# Runtime state stays in the temporary folder too.
mkdir -m 0700 "$WORK/run"
export XDG_RUNTIME_DIR=$WORK/run
mkdir -p "$WORK/rootfs/bin"
cp /bin/busybox "$WORK/rootfs/bin/true"
id=$(podman_in_work create --runtime runc --network none --rootfs "$WORK/rootfs" /bin/true)
# `podman init` writes the OCI configuration and lets runc create the container, but does not
# start its command.
podman_in_work init "$id" >/dev/null
config=$(find "$WORK/root" -path "*/$id/userdata/config.json" | head -1)
jq '.linux.seccomp' "$config" >"$HERE/runc-default.json"

echo "wrote $HERE/podman-default.json (from $SOURCE_PROFILE, $(podman --version))"
echo "wrote $HERE/runc-default.json ($(jq '.syscalls | length' "$HERE/runc-default.json") rules)"
