#!/usr/bin/env bash
# Install the system packages and Python packages evictsim and its tests need (Debian, root).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(containerd runc busybox-static e2fsprogs util-linux chromium)
missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[test]'
