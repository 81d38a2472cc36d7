package auth

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLoginHTTP measures logins through auth.http: "call" asks the
// service (in this process, over loopback) for every login, with
// credentials that differ each time so that neither the cache nor the
// single flight saves a call; "cached" logs the same credentials in
// again, answered from the cache. 8 logins per core run at a time.
// Logins per second = 1e9 / ns/op.
//
//	go test -run '^$' -bench BenchmarkLoginHTTP -benchtime 3s ./internal/auth/
func BenchmarkLoginHTTP(b *testing.B) {
	svc := newLoginService(b, func(req callbackRequest) (int, string) {
		return http.StatusOK, `{"result":"allow","publish":["devices/` + req.Username + `/#"]}`
	})
	for _, c := range []struct {
		name  string
		cache time.Duration
	}{{"call", 0}, {"cached", time.Minute}} {
		b.Run(c.name, func(b *testing.B) {
			p, _ := callbackPolicy(b, svc.URL, func(cfg *Config) { cfg.HTTP.Cache = c.cache })
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8) // 8 logins at a time per core, as in a reconnect storm
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					user := "dev"
					if c.cache == 0 {
						user = "dev" + strconv.FormatInt(n.Add(1), 10)
					}
					if _, err := login(p, Credentials{Protocol: "mqtt", Remote: "192.0.2.1:1", User: user, Password: "pw"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
