package metrics

import "github.com/prometheus/client_golang/prometheus"

// mediaProtocols are the reader protocols of media paths, whose skip
// counters exist at 0 from the start.
var mediaProtocols = []string{"rtmp", "rtsp", "hls"}

func newMediaSkipped(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "streamhub_media_frames_skipped_total",
		Help: "Media frames dropped from slow readers' queues (the reader resumes at the next keyframe), by reader protocol."},
		[]string{"protocol"})
	for _, p := range mediaProtocols {
		c.WithLabelValues(p)
	}
	reg.MustRegister(c)
	return c
}

// MediaSkipped counts frames a slow media reader skipped.
func (m *Metrics) MediaSkipped(protocol string, frames int) {
	m.mediaSkipped.WithLabelValues(protocol).Add(float64(frames))
}
