#!/bin/sh
# Removes what install.sh wrote. Your settings, messages and logs stay unless you pass --purge.
#
#     ./uninstall.sh [--prefix DIR] [--purge]
set -eu

prefix="${HOME}/.local"
purge=no
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --purge) purge=yes; shift ;;
        -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

app="$prefix/opt/im-desktop"
manifest="$app/.installed-files"
if [ -f "$manifest" ]; then
    while IFS= read -r file; do
        [ -n "$file" ] || continue
        rm -f "$file"
        # Folders this install made and left empty go too (icon size folders, applications, metainfo).
        dir=$(dirname "$file")
        while [ "$dir" != "$prefix" ] && [ "$dir" != "/" ] && rmdir "$dir" 2>/dev/null; do
            dir=$(dirname "$dir")
        done
    done < "$manifest"
fi
rm -rf "$app"
rmdir "$prefix/opt" 2>/dev/null || true

if [ "$purge" = yes ]; then
    # The app's own folders (XDG defaults, as platformdirs resolves them).
    rm -rf "${XDG_CONFIG_HOME:-$HOME/.config}/im-desktop" "${XDG_DATA_HOME:-$HOME/.local/share}/im-desktop" \
           "${XDG_CACHE_HOME:-$HOME/.cache}/im-desktop" "${XDG_STATE_HOME:-$HOME/.local/state}/im-desktop"
    echo "im-desktop and its settings, messages and logs are removed. Tickets kept with Remember me stay in" \
         "your keyring under the service name im-desktop until you remove them there."
else
    echo "im-desktop is removed; your settings and messages are kept (uninstall.sh --purge removes them)."
fi
