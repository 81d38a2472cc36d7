package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// buildVersion is set at link time, for release builds:
//
//	go build -ldflags "-X main.buildVersion=v1.2.3" ./cmd/streamhub
//
// It is never written at run time.
var buildVersion string

// version is what --version prints after "streamhub version": the linked
// version, else the module's, with the commit and Go version the build
// information holds.
func version() string {
	v := buildVersion
	info, ok := debug.ReadBuildInfo()
	if v == "" && ok {
		v = info.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	details := []string{runtime.Version()}
	if ok {
		details = append(details, vcsDetails(info.Settings)...)
	}
	return v + " (" + strings.Join(details, ", ") + ")"
}

// vcsDetails is the commit (and whether the tree had changes) the binary
// was built from, when the go command recorded it.
func vcsDetails(settings []debug.BuildSetting) []string {
	var out []string
	for _, s := range settings {
		switch {
		case s.Key == "vcs.revision":
			out = append(out, "commit "+s.Value[:min(12, len(s.Value))])
		case s.Key == "vcs.modified" && s.Value == "true":
			out = append(out, "modified")
		}
	}
	return out
}
