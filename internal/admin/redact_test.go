package admin

import (
	"encoding/json"
	"strings"
	"testing"

	"streamhub/internal/config"
)

func TestRedactHidesSecrets(t *testing.T) {
	cfg := config.Defaults()
	cfg.Auth.JWT.Secret = "s3cr3t-value"
	b, err := json.Marshal(Redact(cfg))
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if strings.Contains(out, "s3cr3t-value") {
		t.Fatalf("secret shown: %s", out)
	}
	for _, want := range []string{`"secret":"(redacted)"`, `"addr":"127.0.0.1:8080"`, `"shutdown":"10s"`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in %s", want, out)
		}
	}
}
