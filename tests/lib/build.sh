# shellcheck shell=bash
# Copies the source tree to a directory that the test user owns and builds it there as that
# user. CI clones as root into a path that the test user may not read (under /root, for
# example), and the tests must run unprivileged. Source after common.sh and testuser.sh.

BUILD_WORK_DIR=${SOCKGATE_WORK_DIR:-$TESTUSER_HOME/sockgate}
BUILD_SOURCE_DIR=$BUILD_WORK_DIR/src
BUILD_BINARY_DIR=$BUILD_WORK_DIR/build
BUILD_JOBS=${SOCKGATE_BUILD_JOBS:-2}

# Replaces the test user's copy of the source tree with the tree at $1. Build directories and
# .git stay behind. tar keeps modification times, so an unchanged file does not trigger a
# rebuild in the kept build directory.
build_copy_source() {
    local source=$1
    testuser_run mkdir -p "$BUILD_WORK_DIR"
    testuser_run rm -rf "$BUILD_SOURCE_DIR"
    testuser_run mkdir "$BUILD_SOURCE_DIR"
    tar -C "$source" --exclude=./.git --exclude='./build*' --exclude=./out --exclude=./.cache \
        --owner=0 --group=0 -cf - . |
        testuser_run tar -C "$BUILD_SOURCE_DIR" --no-same-owner -xf -
}

build_configure() {
    testuser_run cmake -S "$BUILD_SOURCE_DIR" -B "$BUILD_BINARY_DIR" -G Ninja \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
}

# Builds the given targets, or all of them when none is given.
build_targets() {
    testuser_run ninja -C "$BUILD_BINARY_DIR" -j "$BUILD_JOBS" "$@"
}

# Removes the build directory, for a build from scratch.
build_clean() {
    testuser_run rm -rf "$BUILD_BINARY_DIR"
}
