#!/usr/bin/env bash
# Release check: publishes every module of this checkout at one version to a
# local file-based module proxy, the way a tag would publish them, then
# installs them from it as a user would, in an empty directory, with
# GOWORK=off, GOFLAGS=-mod=mod and the proxy as the only source of
# smscourier modules:
#
#   go install github.com/smscourier/smscourier/cmd/smscourier@VERSION
#   go install github.com/smscourier/smscourier/cmd/smscourier-template-worker@VERSION
#   go get     github.com/smscourier/smscourier@VERSION and .../queue@VERSION
#
# On the way it checks that each nested module's go.mod is tidy and that its
# go.sum holds what tidy wants, but for the sums of smscourier modules, which
# exist only once a version is published and so are not committed.
#
#   scripts/release-check.sh [VERSION]        # default v0.1.0
#   scripts/release-check.sh --tidy [VERSION] # write the tidied go.mod and
#                                             # go.sum back into the checkout
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
write_back=false
if [ "${1:-}" = "--tidy" ]; then write_back=true; shift; fi
version=${1:-v0.1.0}
# Nested modules in publishing order: each requires only those before it.
modules=(queue guard cmd/smscourier examples/otel)
commands=(cmd/smscourier cmd/smscourier-template-worker)

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
proxy=$work/proxy stage=$work/stage user=$work/user
mkdir -p "$proxy" "$stage" "$user"

echo "-- building the proxy tool"
(cd "$root/scripts/modproxy" && GOWORK=off go build -o "$work/modproxy" .)

# What a published copy holds: the checkout without .git and ignored files.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$stage" 2>/dev/null) \
  || (cd "$root" && tar --exclude=.git -cf - . | tar -C "$stage" -xf -)

# Everything but smscourier comes from the local module cache, else from
# the usual proxy; smscourier modules only from ours (listed first, and
# absent elsewhere). A fresh module cache, so no earlier copy of VERSION is
# used; the sums of smscourier modules are not in the checksum database.
upstream="file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)"
export GOWORK=off GOFLAGS=-mod=mod GOPROXY="file://$proxy,$upstream" \
  GONOSUMDB=github.com/smscourier GOMODCACHE="$work/modcache" GOPATH="$work/gopath"

publish() { "$work/modproxy" -proxy "$proxy" -version "$version" "$1"; }

# strip_ours prints a go.sum without the lines of smscourier modules.
strip_ours() { grep -v '^github.com/smscourier/' "$1" || true; }

echo "-- publishing github.com/smscourier/smscourier@$version"
publish "$stage"
status=0
for m in "${modules[@]}"; do
  echo "-- tidying and publishing $m@$version"
  (cd "$stage/$m" && go mod tidy)
  if $write_back; then
    cp "$stage/$m/go.mod" "$root/$m/go.mod"
    strip_ours "$stage/$m/go.sum" > "$root/$m/go.sum"
  else
    if ! diff -u "$root/$m/go.mod" "$stage/$m/go.mod"; then
      echo "$m/go.mod is not tidy: run scripts/release-check.sh --tidy"; status=1
    fi
    if ! diff -u <(strip_ours "$root/$m/go.sum") <(strip_ours "$stage/$m/go.sum"); then
      echo "$m/go.sum is not tidy: run scripts/release-check.sh --tidy"; status=1
    fi
  fi
  publish "$stage/$m"
done
[ "$status" = 0 ] || exit "$status"
if grep -l '^replace\|^[[:space:]]*replace ' "$stage/go.mod" $(printf "$stage/%s/go.mod " "${modules[@]}"); then
  echo "a committed go.mod has a replace directive: go install @version refuses such a module"; exit 1
fi

echo "-- installing from the proxy in an empty directory"
cd "$user"
for c in "${commands[@]}"; do
  GOBIN="$work/bin" go install "github.com/smscourier/smscourier/$c@$version"
done
"$work/bin/smscourier" help > /dev/null
"$work/bin/smscourier" migrate --database "$user/q.db" | grep -q '^migrated: '
go mod init example.com/user > /dev/null 2>&1
go get "github.com/smscourier/smscourier@$version" "github.com/smscourier/smscourier/queue@$version"
cat > main.go <<'GO'
package main

import (
	"fmt"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
)

func main() { fmt.Println(smscourier.DefaultFrom, queue.DefaultMaxJobAttempts) }
GO
go build -o /dev/null .
echo "release check passed: every module installs at $version from the local proxy"
