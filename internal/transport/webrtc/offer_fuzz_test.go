package webrtc

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzOffer posts arbitrary offers: each gets a 201 or a 4xx JSON error,
// never a panic, and a refused one leaves no session behind. Seeds are in
// testdata/fuzz/FuzzOffer (a browser's offer, truncated and mangled ones).
func FuzzOffer(f *testing.F) {
	f.Add("v=0\r\n")
	f.Add("")
	s, _, _ := startServer(f, nil)
	f.Fuzz(func(t *testing.T, offer string) {
		req := httptest.NewRequest(http.MethodPost, Prefix, strings.NewReader(offer))
		req.Header.Set("Content-Type", "application/sdp")
		rec := httptest.NewRecorder()
		s.ServeOffer(rec, req)
		switch {
		case rec.Code == http.StatusCreated:
			s.lookup(strings.TrimPrefix(rec.Header().Get("Location"), Prefix+"/")).close()
		case rec.Code >= 400 && rec.Code < 500:
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("%d with %q, want a JSON error", rec.Code, ct)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if n := s.Sessions(); n != 0 {
			t.Fatalf("%d sessions left", n)
		}
	})
}
