package media

import (
	"fmt"
	"strings"
)

// maxPathLen bounds a path name; URLs carry it, so it stays short.
const maxPathLen = 256

// ValidatePath checks a media path name: one or more levels of letters,
// digits, '-', '_' and '.', separated by '/', none empty, "." or "..".
// The same name is a topic level sequence (media/<path>, $media/<path>),
// so MQTT wildcards and other punctuation are refused.
func ValidatePath(name string) error {
	if name == "" || len(name) > maxPathLen {
		return fmt.Errorf("%w: %q: want 1 to %d characters", ErrBadPath, name, maxPathLen)
	}
	for level := range strings.SplitSeq(name, "/") {
		if level == "" || level == "." || level == ".." {
			return fmt.Errorf("%w: %q: empty, \".\" or \"..\" level", ErrBadPath, name)
		}
		for _, c := range level {
			if !pathChar(c) {
				return fmt.Errorf("%w: %q: character %q not allowed", ErrBadPath, name, c)
			}
		}
	}
	return nil
}

func pathChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// Topic is the topic whose rights govern a path: publishing needs the
// publish right on it, reading the subscribe right.
func Topic(path string) string { return "media/" + path }
