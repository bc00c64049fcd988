#!/bin/sh
# deps.sh [build|test|list-build|list-test]: make sure the Debian packages
# of deps.txt are installed.
#   build, test   check the packages `make run` (build) or `make check`
#                 (build and test) need; install the missing ones with
#                 apt-get, as root or through `sudo -n`; otherwise stop
#                 with the exact apt-get line to run.
#   list-build, list-test   print the packages, space separated.
# Silent when everything is there. CERB_DEPS_INSTALL=no: never install,
# only say what is missing. Without dpkg-query (not Debian) it checks
# nothing: ./configure reports what it misses.
set -u
what=${1:-test}
here=$(dirname "$0")
list=$here/../deps.txt

pkgs() {
    case $1 in
    build) awk '!/^#/ && $2 == "build" { printf "%s ", $1 }' "$list" ;;
    *)     awk '!/^#/ && ($2 == "build" || $2 == "test") { printf "%s ", $1 }' "$list" ;;
    esac
}

case $what in
list-build) pkgs build | sed 's/ $//'; echo; exit 0 ;;
list-test|list) pkgs test | sed 's/ $//'; echo; exit 0 ;;
build|test|all) ;;
*) echo "usage: etc/deps.sh build|test|list-build|list-test" >&2; exit 2 ;;
esac
[ "$what" = all ] && what=test
want=$(pkgs "$what")
command -v dpkg-query >/dev/null 2>&1 || exit 0

# One dpkg-query for all: installed ones print "NAME ii".
have=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $want 2>/dev/null |
       awk '$2 == "ii" { print $1 }')
missing=
for p in $want; do
    case " $(echo $have) " in
    *" $p "*) ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0
missing=${missing# }

line="apt-get install -y --no-install-recommends $missing"
if [ "$what" = build ]; then for="to build cerberus"; else for="to build and test cerberus"; fi
echo "cerberus: missing Debian packages $for: $missing" >&2
if [ "${CERB_DEPS_INSTALL:-yes}" != no ]; then
    if [ "$(id -u)" -eq 0 ]; then
        sudo=
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        sudo=no
    fi
    if [ "$sudo" != no ]; then
        echo "cerberus: installing them: ${sudo:+$sudo }$line" >&2
        export DEBIAN_FRONTEND=noninteractive
        # A fresh machine has no package lists yet: update, then retry.
        if $sudo $line >&2 || { $sudo apt-get update -qq >&2 && $sudo $line >&2; }; then
            exit 0
        fi
        echo "cerberus: apt-get failed" >&2
    fi
fi
echo "cerberus: install them, then run make again:" >&2
echo "    sudo $line" >&2
exit 1
