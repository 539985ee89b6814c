#!/usr/bin/env bash
# Sets up a Debian 12 machine for MidStream: system packages, the .venv, and the Kafka jars.
#
# Idempotent: installs only what is missing, and reinstalls the project into
# .venv only when pyproject.toml changed. Run as root when system packages are
# missing (apt-get); otherwise any user will do.
#
#   deploy/setup.sh                 everything (needed for `make test` and the stack)
#   deploy/setup.sh --python-only   just .venv (the demo needs no services)
set -euo pipefail
cd "$(dirname "$0")/.."

python_only=0
for arg in "$@"; do
  case "$arg" in
    --python-only) python_only=1 ;;
    -h | --help)
      sed -n '2,9s/^# \{0,1\}//p' "$0"
      exit 0
      ;;
    *)
      echo "setup: unknown option $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { printf 'setup: %s\n' "$*"; }

# Major Java version of `java` on PATH: 17 for "17.0.15", 8 for "1.8.0_392"; 0 if absent.
java_major() {
  command -v java >/dev/null || { echo 0; return; }
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9.]*\).*/\1/p' | head -n1)
  v=${v#1.}
  echo "${v%%.*}"
}

missing=()
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
if [[ $python_only == 0 ]]; then
  if (($(java_major) < 17)); then missing+=(openjdk-17-jre-headless); fi
  command -v mvn >/dev/null || missing+=(maven)
  command -v kcat >/dev/null || missing+=(kcat)
  command -v prometheus >/dev/null || missing+=(prometheus)
  # Media peers of the integration tests: an RTMP/HLS server, the publisher, a WebRTC browser.
  [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  [[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]] || missing+=(libnginx-mod-rtmp)
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  command -v chromium >/dev/null || missing+=(chromium)
fi

if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No recommends: the prometheus package would pull in node-exporter and more.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "system packages present"
fi

if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.midstream-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
  say "installing the project into .venv (pip install -e '.[test,bench]')"
  .venv/bin/python -m pip install -q -e '.[test,bench]'
  echo "$wanted" >"$stamp"
else
  say ".venv up to date"
fi

if [[ $python_only == 0 ]]; then
  bash deploy/kafka/fetch.sh
fi
say "done"
