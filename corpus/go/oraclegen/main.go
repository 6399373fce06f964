// Command oraclegen type-checks corpus/go/app with go/types for a given GOOS/GOARCH and
// either prints the layout JSON that the app binary itself prints (the same text, byte
// for byte), or writes app/describe_gen.go, the code that makes the binary print it.
//
//	oraclegen -app ../app -goos linux -goarch arm64 [-goversion go1.25.5] > layout.json
//	oraclegen -app ../app -mode describe > ../app/describe_gen.go
//
// Layouts come from types.SizesFor("gc", GOARCH). Run it with the same toolchain that
// built the binary: build constraints (go1.23 for structs.HostLayout) and go/types'
// notion of gc sizes are the running toolchain's. Stdlib only.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/format"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

const modulePath = "example.com/app"

// Package directories, in output order ("" is package main).
var pkgDirs = []string{
	"", "good", "implicit", "embed",
	"intbug", "boolbug", "stringbug", "reorder", "missingpad", "signbug", "badpad",
	"trailingzero", "nonpod", "floatbug", "enumbug", "bitbug",
	"missingfield", "extrafield", "uniongo", "generic",
}

// Generic instantiations to report (generic declarations themselves have no layout).
var instances = []struct {
	pkg, name string
	args      []string // predeclared type names
}{
	{"generic", "Pair", []string{"uint32", "uint64"}},
}

// Types of package main that are plumbing, not cases (the structs.HostLayout shim).
var mainSkipTypes = map[string]bool{"hostLayout": true}

// Files of package main that are not type declarations (excluded when type-checking).
var mainSkip = map[string]bool{"main.go": true, "describe_gen.go": true}

var bigEndian = map[string]bool{
	"s390x": true, "ppc64": true, "mips": true, "mips64": true, "sparc64": true,
}

type loader struct {
	fset    *token.FileSet
	ctx     build.Context
	appDir  string
	pkgs    map[string]*types.Package
	std     types.Importer
	sizes   types.Sizes
	imports map[string]string // dir -> path
}

func (l *loader) Import(path string) (*types.Package, error) {
	if path == modulePath || strings.HasPrefix(path, modulePath+"/") {
		return l.load(strings.TrimPrefix(strings.TrimPrefix(path, modulePath), "/"))
	}
	return l.std.Import(path)
}

func (l *loader) load(dir string) (*types.Package, error) {
	if p, ok := l.pkgs[dir]; ok {
		return p, nil
	}
	abs := filepath.Join(l.appDir, dir)
	bp, err := l.ctx.ImportDir(abs, 0)
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	names := append([]string(nil), bp.GoFiles...)
	sort.Strings(names)
	for _, name := range names {
		if dir == "" && mainSkip[name] {
			continue
		}
		f, err := parser.ParseFile(l.fset, filepath.Join(abs, name), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	path := modulePath
	if dir != "" {
		path += "/" + dir
	}
	conf := types.Config{Importer: l, Sizes: l.sizes}
	pkg, err := conf.Check(path, l.fset, files, nil)
	if err != nil {
		return nil, fmt.Errorf("type-checking %s: %w", path, err)
	}
	l.pkgs[dir] = pkg
	return pkg, nil
}

// A leaf of the report: a named field, or a field promoted through an embedded struct.
type fieldInfo struct {
	path     string // "Pid", "Header.Pid"
	selector string // what follows "v." in Go: "Pid" (promoted fields are selected directly)
	offset   int64
	size     int64
	align    int64
}

type typeInfo struct {
	dwarfName string // as the gc toolchain names it in DWARF
	goExpr    string // the type in describe_gen.go
	importAs  string // package to import ("" for main)
	typ       types.Type
	fields    []fieldInfo
}

func collectFields(sizes types.Sizes, st *types.Struct, base int64, prefix string, out *[]fieldInfo) {
	vars := make([]*types.Var, st.NumFields())
	for i := range vars {
		vars[i] = st.Field(i)
	}
	offs := sizes.Offsetsof(vars)
	for i, v := range vars {
		if v.Name() == "_" {
			continue
		}
		fi := fieldInfo{
			path:     prefix + v.Name(),
			selector: v.Name(),
			offset:   base + offs[i],
			size:     sizes.Sizeof(v.Type()),
			align:    sizes.Alignof(v.Type()),
		}
		*out = append(*out, fi)
		if v.Embedded() {
			if inner, ok := v.Type().Underlying().(*types.Struct); ok {
				collectFields(sizes, inner, base+offs[i], prefix+v.Name()+".", out)
			}
		}
	}
}

func main() {
	appDir := flag.String("app", "", "directory of the app module (corpus/go/app)")
	goos := flag.String("goos", runtime.GOOS, "target GOOS")
	goarch := flag.String("goarch", runtime.GOARCH, "target GOARCH")
	goversion := flag.String("goversion", runtime.Version(), "go_version to print")
	mode := flag.String("mode", "json", "json | describe")
	flag.Parse()
	if *appDir == "" {
		fmt.Fprintln(os.Stderr, "oraclegen: -app is required")
		os.Exit(2)
	}
	if err := run(*appDir, *goos, *goarch, *goversion, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "oraclegen:", err)
		os.Exit(1)
	}
}

func run(appDir, goos, goarch, goversion, mode string) error {
	sizes := types.SizesFor("gc", goarch)
	if sizes == nil {
		return fmt.Errorf("no gc sizes for GOARCH %q", goarch)
	}
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = goos, goarch, false
	fset := token.NewFileSet()
	l := &loader{
		fset: fset, ctx: ctx, appDir: appDir, sizes: sizes,
		pkgs: map[string]*types.Package{},
		std:  importer.ForCompiler(fset, "source", nil),
	}

	var infos []typeInfo
	for _, dir := range pkgDirs {
		pkg, err := l.load(dir)
		if err != nil {
			return err
		}
		dwarfPkg, exprPkg := pkg.Path(), pkg.Name()+"."
		if dir == "" {
			dwarfPkg, exprPkg = "main", ""
		}
		// Named struct types in source order.
		var objs []*types.TypeName
		for _, name := range pkg.Scope().Names() {
			if tn, ok := pkg.Scope().Lookup(name).(*types.TypeName); ok && !tn.IsAlias() {
				if _, ok := tn.Type().Underlying().(*types.Struct); ok {
					objs = append(objs, tn)
				}
			}
		}
		sort.Slice(objs, func(i, j int) bool { return objs[i].Pos() < objs[j].Pos() })
		for _, tn := range objs {
			named := tn.Type().(*types.Named)
			if named.TypeParams().Len() > 0 || (dir == "" && mainSkipTypes[tn.Name()]) {
				continue
			}
			infos = append(infos, typeInfo{
				dwarfName: dwarfPkg + "." + tn.Name(),
				goExpr:    exprPkg + tn.Name(),
				importAs:  importPath(dir),
				typ:       named,
			})
		}
		for _, in := range instances {
			if in.pkg != dir {
				continue
			}
			gen := pkg.Scope().Lookup(in.name).(*types.TypeName).Type()
			var targs []types.Type
			for _, a := range in.args {
				targs = append(targs, types.Universe.Lookup(a).Type())
			}
			inst, err := types.Instantiate(types.NewContext(), gen, targs, true)
			if err != nil {
				return err
			}
			infos = append(infos, typeInfo{
				dwarfName: dwarfPkg + "." + in.name + "[" + strings.Join(in.args, ",") + "]",
				goExpr:    exprPkg + in.name + "[" + strings.Join(in.args, ", ") + "]",
				importAs:  importPath(dir),
				typ:       inst,
			})
		}
	}
	for i := range infos {
		st := infos[i].typ.Underlying().(*types.Struct)
		collectFields(sizes, st, 0, "", &infos[i].fields)
	}

	switch mode {
	case "json":
		os.Stdout.Write(renderJSON(infos, sizes, goversion, goos, goarch))
		return nil
	case "describe":
		src, err := renderDescribe(infos)
		if err != nil {
			return err
		}
		os.Stdout.Write(src)
		return nil
	}
	return fmt.Errorf("unknown -mode %q", mode)
}

func importPath(dir string) string {
	if dir == "" {
		return ""
	}
	return modulePath + "/" + dir
}

// renderJSON writes exactly what app/main.go writes.
func renderJSON(infos []typeInfo, sizes types.Sizes, goversion, goos, goarch string) []byte {
	var b []byte
	str := func(s string) { b = strconv.AppendQuote(b, s) }
	b = append(b, "{\n  \"go_version\": "...)
	str(goversion)
	b = append(b, ",\n  \"goos\": "...)
	str(goos)
	b = append(b, ",\n  \"goarch\": "...)
	str(goarch)
	b = append(b, ",\n  \"ptr_size\": "...)
	b = strconv.AppendInt(b, sizes.Sizeof(types.Typ[types.Uintptr]), 10)
	b = append(b, ",\n  \"big_endian\": "...)
	b = strconv.AppendBool(b, bigEndian[goarch])
	b = append(b, ",\n  \"types\": [\n"...)
	for i, ti := range infos {
		if i > 0 {
			b = append(b, ",\n"...)
		}
		b = append(b, "    {\n      \"type\": "...)
		str(ti.dwarfName)
		b = append(b, ",\n      \"size\": "...)
		b = strconv.AppendInt(b, sizes.Sizeof(ti.typ), 10)
		b = append(b, ",\n      \"align\": "...)
		b = strconv.AppendInt(b, sizes.Alignof(ti.typ), 10)
		b = append(b, ",\n      \"fields\": ["...)
		for j, f := range ti.fields {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n        {\"name\": "...)
			str(f.path)
			b = append(b, ", \"offset\": "...)
			b = strconv.AppendInt(b, f.offset, 10)
			b = append(b, ", \"size\": "...)
			b = strconv.AppendInt(b, f.size, 10)
			b = append(b, ", \"align\": "...)
			b = strconv.AppendInt(b, f.align, 10)
			b = append(b, '}')
		}
		if len(ti.fields) > 0 {
			b = append(b, "\n      "...)
		}
		b = append(b, "]\n    }"...)
	}
	b = append(b, "\n  ]\n}\n"...)
	return b
}

func renderDescribe(infos []typeInfo) ([]byte, error) {
	var w bytes.Buffer
	w.WriteString("// Code generated by corpus/go/oraclegen -mode describe; DO NOT EDIT.\n\n")
	w.WriteString("package main\n\nimport (\n\t\"unsafe\"\n\n")
	seen := map[string]bool{}
	for _, ti := range infos {
		if ti.importAs != "" && !seen[ti.importAs] {
			seen[ti.importAs] = true
			fmt.Fprintf(&w, "\t%q\n", ti.importAs)
		}
	}
	w.WriteString(")\n\n// One package-level variable per type: kept by keep(), so its type stays in DWARF.\nvar (\n")
	for i, ti := range infos {
		fmt.Fprintf(&w, "\tv%d %s // %s\n", i, ti.goExpr, ti.dwarfName)
	}
	w.WriteString(")\n\nfunc describeAll() {\n")
	for i, ti := range infos {
		v := fmt.Sprintf("v%d", i)
		fmt.Fprintf(&w, "\tkeep(unsafe.Pointer(&%s))\n", v)
		fmt.Fprintf(&w, "\tbeginType(%q, unsafe.Sizeof(%s), unsafe.Alignof(%s))\n", ti.dwarfName, v, v)
		for _, f := range ti.fields {
			sel := v + "." + f.selector
			fmt.Fprintf(&w, "\tfield(%q, unsafe.Offsetof(%s), unsafe.Sizeof(%s), unsafe.Alignof(%s))\n", f.path, sel, sel, sel)
		}
		w.WriteString("\tendType()\n\n")
	}
	w.WriteString("}\n")
	return format.Source(w.Bytes())
}
