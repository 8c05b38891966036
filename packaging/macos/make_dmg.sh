#!/bin/sh
# macOS: pack the built "Journey Studio.app" (packaging/build.py on a Mac) into a drag-to-Applications .dmg.
#   packaging/macos/make_dmg.sh [DIST_DIR]        # default packaging/dist -> DIST_DIR/Journey-Studio-VERSION.dmg
# Sign and notarize before (codesign --deep / notarytool, with JOURNEY_STUDIO_CODESIGN_IDENTITY at build time);
# an unsigned app opens only after the user allows it in System Settings > Privacy & Security.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dist=${1:-"$here/../dist"}
app="$dist/Journey Studio.app"
[ -d "$app" ] || { echo "no $app: build it first with packaging/build.py" >&2; exit 2; }
version=$(/usr/libexec/PlistBuddy -c "Print :CFBundleShortVersionString" "$app/Contents/Info.plist")
stage=$(mktemp -d)
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
out="$dist/Journey-Studio-$version.dmg"
rm -f "$out"
hdiutil create -volname "Journey Studio $version" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$out"
rm -rf "$stage"
echo "$out"
