#!/bin/sh
# Install Journey Studio from its Linux archive for the current user (or, as root with --system, for everybody):
# the program folder, a `journey-studio` command, the menu entry, the icon and the .jstudio / .jpkg file types.
#
#   ./install.sh               # ~/.local/opt/journey-studio, ~/.local/bin/journey-studio, ~/.local/share/...
#   sudo ./install.sh --system # /opt/journey-studio, /usr/local/bin/journey-studio, /usr/local/share/...
#   ./install.sh --uninstall   # (with --system as root) removes what it installed
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mode=user
action=install
for arg in "$@"; do
    case "$arg" in
        --system) mode=system ;;
        --uninstall) action=uninstall ;;
        *) echo "usage: $0 [--system] [--uninstall]" >&2; exit 2 ;;
    esac
done
if [ "$mode" = system ]; then
    opt=/opt/journey-studio; bin=/usr/local/bin; share=/usr/local/share
else
    opt="$HOME/.local/opt/journey-studio"; bin="$HOME/.local/bin"; share="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
sizes="16 24 32 48 64 128 256 512"

refresh() {
    command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$share/mime" >/dev/null 2>&1 || true
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$share/applications" >/dev/null 2>&1 || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$share/icons/hicolor" >/dev/null 2>&1 || true
}

if [ "$action" = uninstall ]; then
    rm -rf "$opt"
    rm -f "$bin/journey-studio" "$share/applications/journey-studio.desktop" "$share/mime/packages/journey-studio-mime.xml"
    for s in $sizes; do rm -f "$share/icons/hicolor/${s}x${s}/apps/journey-studio.png"; done
    rm -f "$share/icons/hicolor/scalable/apps/journey-studio.svg"
    refresh
    echo "Journey Studio removed."
    exit 0
fi

mkdir -p "$opt" "$bin" "$share/applications" "$share/mime/packages"
rm -rf "$opt.new" && cp -R "$here/journey-studio" "$opt.new" && rm -rf "$opt" && mv "$opt.new" "$opt"
ln -sf "$opt/journey-studio" "$bin/journey-studio"
sed "s|^Exec=journey-studio|Exec=$opt/journey-studio|; s|^TryExec=journey-studio|TryExec=$opt/journey-studio|" \
    "$here/journey-studio.desktop" > "$share/applications/journey-studio.desktop"
cp "$here/journey-studio-mime.xml" "$share/mime/packages/journey-studio-mime.xml"
for s in $sizes; do
    mkdir -p "$share/icons/hicolor/${s}x${s}/apps"
    cp "$here/icons/journey-studio-$s.png" "$share/icons/hicolor/${s}x${s}/apps/journey-studio.png"
done
mkdir -p "$share/icons/hicolor/scalable/apps"
cp "$here/icons/journey-studio.svg" "$share/icons/hicolor/scalable/apps/journey-studio.svg"
refresh
echo "Journey Studio installed in $opt; run it from the menu or as $bin/journey-studio"
