package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// fileKey and envKey describe an unknown key of the YAML file and of the
// environment, and name the known keys suggested instead.
func fileKey(path string) string { return path }

func unknownFileKey(path string) string { return "unknown key " + path }

func envKey(path string) string {
	return "STREAMHUB_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

func unknownEnvKey(path string) string {
	return "unknown variable " + envKey(path) + " (key " + path + ")"
}

// unknownKey is a key that was set but that no field of Config has, with
// the known keys it may have been meant as.
type unknownKey struct {
	path       string
	candidates []string
}

// checkKeys reports every key of raw (a koanf tree, as k.Raw() gives it)
// that Config has no field for, naming the nearest known key: describe
// says what an unknown key is, name how the user writes a known one (a
// YAML path, or a variable name).
func checkKeys(raw map[string]any, describe, name func(path string) string) error {
	unknown := unknownKeys(reflect.TypeFor[Config](), raw, "")
	slices.SortFunc(unknown, func(a, b unknownKey) int { return strings.Compare(a.path, b.path) })
	var errs []error
	for _, u := range unknown {
		msg := describe(u.path)
		if near, ok := nearest(u.path, u.candidates); ok {
			msg += "; did you mean " + name(near) + "?"
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

// unknownKeys walks raw along the struct type t, whose keys are its fields'
// koanf tags, and returns the keys t does not have.
func unknownKeys(t reflect.Type, raw map[string]any, prefix string) []unknownKey {
	var unknown []unknownKey
	for key, value := range raw {
		f, ok := fieldByKey(t, key)
		if !ok {
			for _, p := range leafPaths(join(prefix, key), value) {
				unknown = append(unknown, unknownKey{path: p, candidates: knownPaths(t, prefix)})
			}
			continue
		}
		unknown = append(unknown, unknownBelow(f.Type, value, join(prefix, key))...)
	}
	return unknown
}

// unknownBelow checks the value set for a known key of type t.
func unknownBelow(t reflect.Type, value any, path string) []unknownKey {
	switch {
	case t.Kind() == reflect.Struct:
		if m, ok := value.(map[string]any); ok {
			return unknownKeys(t, m, path)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		var unknown []unknownKey
		for i, item := range listItems(value) {
			unknown = append(unknown, unknownKeys(t.Elem(), item, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return unknown
	default: // a leaf: nothing may be set below it
		if m, ok := value.(map[string]any); ok {
			var unknown []unknownKey
			for key, v := range m {
				for _, p := range leafPaths(join(path, key), v) {
					unknown = append(unknown, unknownKey{path: p})
				}
			}
			return unknown
		}
	}
	return nil
}

// listItems returns the maps of a YAML list of mappings (or of the
// []map[string]any the environment provider builds); anything else is
// left to the decoder to refuse.
func listItems(value any) []map[string]any {
	v := reflect.ValueOf(value)
	if v.Kind() != reflect.Slice {
		return nil
	}
	items := make([]map[string]any, v.Len())
	for i := range v.Len() {
		items[i], _ = v.Index(i).Interface().(map[string]any)
	}
	return items
}

// fieldByKey finds the field of t tagged key; like the decoder, it ignores
// case.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); strings.EqualFold(f.Tag.Get("koanf"), key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// leafPaths lists the paths of the values set at and below path.
func leafPaths(path string, value any) []string {
	m, ok := value.(map[string]any)
	if !ok || len(m) == 0 {
		return []string{path}
	}
	var paths []string
	for key, v := range m {
		paths = append(paths, leafPaths(join(path, key), v)...)
	}
	return paths
}

// knownPaths lists every key path of the struct type t below prefix,
// sections included (so "histroy" can be matched to "history").
func knownPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for i := range t.NumField() {
		f := t.Field(i)
		path := join(prefix, f.Tag.Get("koanf"))
		paths = append(paths, path)
		if f.Type.Kind() == reflect.Struct {
			paths = append(paths, knownPaths(f.Type, path)...)
		}
	}
	return paths
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// nearest returns the candidate closest to key in edit distance, if it is
// close enough to be a likely typo.
func nearest(key string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(key), c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best, bestDist >= 0 && bestDist <= max(2, len(key)/4)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
