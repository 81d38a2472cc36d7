package admin

import (
	"reflect"
	"strings"
	"time"

	"streamhub/internal/quote"
)

// secretKeys are configuration keys whose values are never shown.
var secretKeys = map[string]bool{"secret": true, "password": true, "token": true}

// Redacted replaces a secret that is set.
const Redacted = "(redacted)"

// Redact turns a configuration struct into a tree keyed as the YAML file
// is (koanf tags), durations as text, secrets replaced by Redacted.
func Redact(v any) any {
	if v == nil {
		return nil
	}
	return redactValue(reflect.ValueOf(v), "")
}

func redactValue(v reflect.Value, key string) any {
	if d, ok := v.Interface().(time.Duration); ok {
		return d.String()
	}
	switch v.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			out[name] = redactValue(v.Field(i), name)
		}
		return out
	case reflect.Slice:
		out := make([]any, 0, v.Len())
		for i := range v.Len() {
			out = append(out, redactValue(v.Index(i), key))
		}
		return out
	case reflect.String:
		if secretKeys[key] && v.String() != "" {
			return Redacted
		}
		return quote.URL(v.String()) // nats://user:password@host
	}
	return v.Interface()
}
