# Sourced by the setup-*.sh scripts: install Debian packages only when missing.
# shellcheck shell=bash

require_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "setup: run as root (it installs Debian packages and mounts bpffs): in a root shell, npm run setup; otherwise sudo npm run setup" >&2
    exit 1
  fi
}

# ensure_packages WHAT PKG...: apt-get installs those of PKG not installed yet.
ensure_packages() {
  local what=$1
  shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing $what: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
