package main

import (
	"runtime"
	"runtime/debug"
	"strings"

	shversion "streamhub/internal/version"
)

// version is what --version prints after "streamhub version": the number
// the server reports too, with the Go version and the commit the build
// information holds.
func version() string {
	details := []string{runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		details = append(details, vcsDetails(info.Settings)...)
	}
	return shversion.Number() + " (" + strings.Join(details, ", ") + ")"
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
