#!/usr/bin/env bash
# Build the image `sam local invoke --skip-pull-image` runs python3.12 functions in, offline: no container
# registry, only Debian packages (debootstrap), the project's CPython 3.12 and PyPI (requirements.txt).
#
#   build.sh PYTHON312          -> public.ecr.aws/lambda/python:3.12-<arch>, <arch> the host's (x86_64|arm64)
#
# SAM names the runtime's image public.ecr.aws/lambda/python:3.12-<arch> and builds its own
# ...-rapid-<arch> (or samcli/lambda-python:...) on top, adding its Runtime Interface Emulator at
# /var/rapid; with --skip-pull-image it takes this local image instead of pulling AWS's.
# Layout as in AWS's image: Python in /var/lang, the runtime's bootstrap in /var/runtime, code in /var/task,
# layers in /opt. Skipped when an image built from the same inputs (this folder, the Python) exists.
# Needs root (debootstrap), a Debian host (the Python is linked against its libraries) and a Docker engine.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
python="${1:?usage: build.sh PYTHON312}"
case "$(uname -m)" in
  x86_64) arch=x86_64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "build.sh: no Lambda architecture for $(uname -m)" >&2; exit 2 ;;
esac
tag="public.ecr.aws/lambda/python:3.12-${arch}"
label=eksguard.sam-image.inputs
# The host's Debian release: the Python was built against its libraries.
suite="${DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}"
[ -n "$suite" ] || { echo "build.sh: not a Debian host (no VERSION_CODENAME); set DEBIAN_SUITE" >&2; exit 2; }

py_version="$("$python" -c 'import sys, platform; print(sys.version.split()[0], platform.machine())')"
case "$py_version" in
  3.12.*) ;;
  *) echo "build.sh: $python is Python $py_version, not 3.12" >&2; exit 2 ;;
esac
inputs="$( (cat "$here/build.sh" "$here/requirements.txt" "$here/bootstrap"; echo "$py_version $suite $arch") \
  | sha256sum | cut -c1-16)"

if ! found="$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$tag" 2> /dev/null)"; then
  found=absent
fi
case "$found" in
  "$inputs") echo "sam-image: $tag is up to date (inputs $inputs)"; exit 0 ;;
  absent | ?*) ;;  # none yet, or an older build of ours
  *) echo "sam-image: $tag exists and was not built here (AWS's image, pulled?); it has no Powertools for" \
       "PowertoolsLayer=none. Remove it first (docker rmi $tag; docker pull brings it back)." >&2; exit 2 ;;
esac

# The mirror apt already uses (a host with none configured: set DEBIAN_MIRROR).
mirror="${DEBIAN_MIRROR:-$( (sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null;
  sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\)[[:space:]]\+'"$suite"'[[:space:]].*/\2/p' \
    /etc/apt/sources.list 2>/dev/null || true) | grep -v -- '-security' | awk '{print $1; exit}')}"
[ -n "$mirror" ] || { echo "build.sh: no Debian mirror found in apt's sources; set DEBIAN_MIRROR" >&2; exit 2; }

if ! command -v debootstrap > /dev/null; then
  echo "sam-image: installing debootstrap (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq debootstrap > /dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq debootstrap > /dev/null; }
fi

started=$(date +%s)
work="$(mktemp -d /var/tmp/eksguard-sam-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

# Debian's minimal base plus the shared libraries the standard library's extension modules load
# (ssl, hashlib, ctypes, sqlite3, pyexpat, curses, readline, nis); tkinter is left out.
echo "sam-image: debootstrap $suite ($arch) from $mirror"
debootstrap --variant=minbase \
  --include=libssl3,libffi8,libsqlite3-0,libexpat1,libncursesw6,libreadline8,libnsl2,libbz2-1.0,liblzma5,zlib1g \
  "$suite" "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

# The project's CPython in /var/lang, without its site-packages (whatever the host installed there),
# tests, IDLE, tkinter and the static library.
prefix="$("$python" -c 'import sys; print(sys.base_prefix)')"
mkdir -p "$root/var/lang/bin" "$root/var/runtime" "$root/var/task" "$root/opt"
cp -a "$prefix/bin/python3.12" "$root/var/lang/bin/"
ln -s python3.12 "$root/var/lang/bin/python3"
ln -s python3.12 "$root/var/lang/bin/python"
tar -C "$prefix" -c \
  --exclude='lib/python3.12/site-packages/*' --exclude=lib/python3.12/test --exclude=lib/python3.12/idlelib \
  --exclude=lib/python3.12/tkinter --exclude=lib/python3.12/turtledemo --exclude='lib/python3.12/config-3.12-*' \
  --exclude='lib/python3.12/lib-dynload/_tkinter*' --exclude=lib/pkgconfig \
  lib | tar -C "$root/var/lang" -x

# The runtime's packages (boto3 as Lambda ships it, awslambdaric, Powertools in place of its layer).
PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --disable-pip-version-check --no-deps --only-binary=:all: \
  --no-warn-script-location --target "$root/var/lang/lib/python3.12/site-packages" -r "$here/requirements.txt" \
  > "$work/pip.log" 2>&1 || { tail -20 "$work/pip.log" >&2; exit 1; }
install -m 0755 "$here/bootstrap" "$root/var/runtime/bootstrap"

rm -rf "$root"/usr/share/{doc,man,info,locale} "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/*

tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV TZ=:/etc/localtime' \
  --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
  --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
  --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
  --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
  --change 'WORKDIR /var/task' \
  --change "LABEL $label=$inputs" \
  - "$tag" > /dev/null
# SAM's images on top inherit the label: their stale copies can be pruned by it.
docker image prune --force --filter "label=$label" > /dev/null

size="$(docker image inspect -f '{{ .Size }}' "$tag")"
echo "sam-image: built $tag (inputs $inputs) in $(( $(date +%s) - started )) s, $(( size / 1000000 )) MB"
