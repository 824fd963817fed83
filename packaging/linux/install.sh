#!/bin/sh
# Installs im-desktop for this user, without root: the app under ~/.local/opt/im-desktop, a command in
# ~/.local/bin, and a desktop-menu entry with its icons and AppStream metadata. Running it again updates in
# place. ./uninstall.sh removes exactly what this wrote (with --purge, your settings and messages too).
#
#     ./install.sh [--prefix DIR]      (default: ~/.local)
set -eu

APP_ID=org.imdesktop.ImDesktop
here=$(cd "$(dirname "$0")" && pwd)
prefix="${HOME}/.local"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

app="$prefix/opt/im-desktop"
share="$prefix/share"
manifest="$app/.installed-files"

# What the desktop must provide (the bundle uses the system's X/Wayland, GL, D-Bus and font libraries).
missing=$(LC_ALL=C ldd "$here/im-desktop/_internal/PySide6/Qt/plugins/platforms/libqxcb.so" \
          "$here/im-desktop/_internal/libpython3"*.so* 2>/dev/null | awk '/not found/ {print $1}' | sort -u)
if [ -n "$missing" ]; then
    echo "install.sh: this system lacks libraries the app needs: $(echo $missing)" >&2
    echo "  on Debian/Ubuntu: sudo apt install libxcb-cursor0 libxkbcommon-x11-0 libegl1 libssl3" >&2
fi

# A fresh copy next to the old one, then swapped in: an update never leaves half of each.
mkdir -p "$prefix/opt"
rm -rf "$app.new"
cp -R "$here/im-desktop" "$app.new"
cp "$here/uninstall.sh" "$app.new/uninstall.sh"
if [ -d "$app" ]; then rm -rf "$app.old"; mv "$app" "$app.old"; fi
mv "$app.new" "$app"
rm -rf "$app.old"

installed=""
put() {  # put SOURCE DEST: copy one file, remember it for the uninstaller
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2"
    installed="$installed$2
"
}

mkdir -p "$prefix/bin"
ln -sf "$app/im-desktop" "$prefix/bin/im-desktop"
installed="$installed$prefix/bin/im-desktop
"
# The menu entry runs the app by its full path: ~/.local/bin is not on every desktop session's PATH. Exec is a
# quoted command line (spaces in the home folder), TryExec a plain path (quotes would hide the entry).
quoted=$(printf '%s' "$app/im-desktop" | sed 's/[\\"`$]/\\&/g')
exec_sed=$(printf '"%s"' "$quoted" | sed 's/[\\|&]/\\&/g')
try_sed=$(printf '%s' "$app/im-desktop" | sed 's/[\\|&]/\\&/g')
sed -e "s|@EXEC@|$exec_sed|" -e "s|@TRYEXEC@|$try_sed|" "$here/share/applications/$APP_ID.desktop.in" \
    > "$app/$APP_ID.desktop"
put "$app/$APP_ID.desktop" "$share/applications/$APP_ID.desktop"
for icon in $(cd "$here/share/icons" && find hicolor -type f); do
    put "$here/share/icons/$icon" "$share/icons/$icon"
done
put "$here/share/metainfo/$APP_ID.metainfo.xml" "$share/metainfo/$APP_ID.metainfo.xml"
printf '%s' "$installed" > "$manifest"

# Menus notice a new entry by themselves (no MIME types here, so no update-desktop-database, whose cache file
# would outlive an uninstall). The icon cache only exists where the user made an icon theme of their own.
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$share/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -f -t "$share/icons/hicolor" || true
fi

echo "im-desktop is installed in $app; start it from the menu or with $prefix/bin/im-desktop."
