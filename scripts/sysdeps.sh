#!/usr/bin/env bash
# Installs the system packages needed to build the Python dependencies (mysqlclient needs pkg-config, a C
# compiler, Python headers and the MariaDB client headers), wrk for the throughput benchmark, and the runtime tools of
# upload checks (libvips for pyvips, ExifTool for metadata removal), on Debian/Ubuntu when they are missing.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v gcc >/dev/null || missing+=(gcc)
pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || missing+=(libmariadb-dev)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=(python3-dev)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v wrk >/dev/null || missing+=(wrk)  # the HTTP load generator of bench/throughput.py
# Uploads: libvips decodes images (uploads/verify.py, through pyvips); ExifTool strips metadata (uploads/scrub.py).
[ -n "$(/sbin/ldconfig -p 2>/dev/null | grep 'libvips\.so\.42' || true)" ] || missing+=(libvips42)
command -v exiftool >/dev/null || missing+=(libimage-exiftool-perl)

[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "Please install: ${missing[*]} (pkg-config, a C compiler, Python headers, venv, MariaDB/MySQL client headers, wrk, libvips 8, ExifTool)" >&2
  exit 1
fi
