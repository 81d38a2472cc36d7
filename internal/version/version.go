// Package version is streamhub's one version number, the same for the
// server ($SYS/broker/version, the dashboard, /v1/admin/stats) and the
// command line (--version).
package version

import (
	"regexp"
	"runtime/debug"
	"strings"
)

// release is the version of this source tree.
const release = "0.1.0"

// linked is set at link time for release builds, and wins over release:
//
//	go build -ldflags "-X streamhub/internal/version.linked=1.2.3" ./cmd/streamhub
//
// It is never written at run time.
var linked string

// pseudoVersion matches the versions the go command makes up from a commit
// (v0.0.0-20261207041200-abcdef123456), which say less than release.
var pseudoVersion = regexp.MustCompile(`\d{14}-[0-9a-f]{12}`)

// Number is the version: the linked one, else the module's when the go
// command recorded a tagged one (go install streamhub/cmd/streamhub@v1.2.3),
// else this tree's release.
func Number() string {
	if linked != "" {
		return strings.TrimPrefix(linked, "v")
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" && !pseudoVersion.MatchString(v) {
			return strings.TrimPrefix(v, "v")
		}
	}
	return release
}
