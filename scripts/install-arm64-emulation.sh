#!/usr/bin/env bash
# Lets this amd64 host run arm64 programs and containers, so the arm64 images are tested for real
# (tests/tests/arm64.rs): Debian's qemu-user-static, registered with the kernel's binfmt_misc.
# Idempotent: a second run changes nothing. Called by scripts/install-host-deps.sh; needs root.
#
# The registration carries flag F ("fix binary"): the kernel opens the interpreter once, here,
# so it also runs arm64 programs inside containers, whose root filesystem has no qemu.
set -euo pipefail

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { echo "install-arm64-emulation.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs a package and registers with the kernel)"
case "$(uname -m)" in
  aarch64|arm64) log "this host is arm64 itself: no emulation needed"; exit 0 ;;
  x86_64) ;;
  *) die "only x86_64 hosts are supported, not $(uname -m)" ;;
esac

interpreter=/usr/bin/qemu-aarch64-static
if [ ! -x "$interpreter" ]; then
  log "installing qemu-user-static (Debian)"
  apt-get update -qq
  # Without binfmt-support (a recommendation): the registration below is ours, the same on
  # every host whatever init system it runs.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi

binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
  log "mounting binfmt_misc on $binfmt"
  mount -t binfmt_misc binfmt_misc "$binfmt" || die "cannot mount binfmt_misc (a container without the privilege?)"
fi

entry=$binfmt/qemu-aarch64
if [ -e "$entry" ]; then
  # Another tool (binfmt-support, systemd-binfmt, docker's tonistiigi/binfmt) may have registered
  # it already: keep it when it is enabled and fixed, else replace it with ours.
  if grep -qx enabled "$entry" && grep -q '^flags: .*F' "$entry"; then
    log "arm64 emulation is registered: $(sed -n 's/^interpreter //p' "$entry")"
    exit 0
  fi
  log "replacing the registration in $entry (disabled or without flag F)"
  echo -1 >"$entry"
fi

# ELF, 64-bit, little-endian, executable or shared object, machine 0xb7 (aarch64).
magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
printf ':qemu-aarch64:M::%s:%s:%s:OCF' "$magic" "$mask" "$interpreter" >"$binfmt/register"
grep -qx enabled "$entry" || die "the kernel did not enable $entry"
log "registered arm64 emulation: $interpreter"
