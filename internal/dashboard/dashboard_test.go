package dashboard

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// TestNothingFromElsewhere: the dashboard's files name no other origin, so
// it works offline and behind the page's Content-Security-Policy.
func TestNothingFromElsewhere(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s refers to %s", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPageAndAssets(t *testing.T) {
	for _, c := range []struct {
		handler http.Handler
		path    string
		want    string
	}{
		{Page(), "/", "text/html; charset=utf-8"},
		{Assets(), "/dashboard/app.js", "text/javascript; charset=utf-8"},
		{Assets(), "/dashboard/app.css", "text/css; charset=utf-8"},
	} {
		rec := httptest.NewRecorder()
		c.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != c.want || rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d %q %q", c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Security-Policy"))
		}
	}
}
