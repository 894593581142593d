#!/bin/sh
# Regenerates NAME.out for every NAME.xml without NAME.err with the Java oracle.
# Usage: ./regenerate.sh [JAR_DIR]   (default /usr/share/java)
set -eu
cd "$(dirname "$0")"
jars=${1:-/usr/share/java}
cp="$jars/xercesImpl.jar:$jars/commons-text.jar:$jars/commons-lang3.jar:$jars/commons-io.jar"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
javac -d "$tmp" -cp "$cp" ResponseOracle.java
# base64(SHA-512("request")), the digest the Rust tests use
hash=$(printf request | openssl dgst -sha512 -binary | base64 -w0)
for xml in *.xml; do
  name=${xml%.xml}
  [ -e "$name.err" ] && continue
  charset=$(cat "$name.charset" 2>/dev/null || true)
  java -cp "$tmp:$cp" ResponseOracle "$xml" "$name.out" "$charset" "$hash"
done
