package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// authResults are the results of auth.http calls (auth.Result*), whose
// counters exist at 0 from the start.
var authResults = []string{"allow", "deny", "error", "timeout"}

// authCallback counts the calls to the auth.http service.
type authCallback struct {
	requests *prometheus.CounterVec
	cached   *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newAuthCallback(reg *prometheus.Registry) *authCallback {
	a := &authCallback{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_auth_http_requests_total",
			Help: "Calls to the auth.http login service, by result (allow, deny, error, timeout)."}, []string{"result"}),
		cached: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_auth_http_cache_hits_total",
			Help: "Logins answered from the auth.http cache without a call, by result (allow, deny)."}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhub_auth_http_duration_seconds",
			Help:    "How long calls to the auth.http login service took, failed ones included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10)}),
	}
	for _, r := range authResults {
		a.requests.WithLabelValues(r)
	}
	a.cached.WithLabelValues("allow")
	a.cached.WithLabelValues("deny")
	reg.MustRegister(a.requests, a.cached, a.latency)
	return a
}

// AuthCallback counts one call to the auth.http service.
func (m *Metrics) AuthCallback(result string, took time.Duration) {
	m.authCallback.requests.WithLabelValues(result).Inc()
	m.authCallback.latency.Observe(took.Seconds())
}

// AuthCallbackCached counts a login the auth.http cache answered.
func (m *Metrics) AuthCallbackCached(result string) {
	m.authCallback.cached.WithLabelValues(result).Inc()
}
