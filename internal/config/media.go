package config

import (
	"errors"
	"fmt"
	"net"
	"time"

	"streamhub/internal/core/topic"
)

// Media configures media paths (see docs/MEDIA.md): the per-reader
// queues, and what a second publisher of a path gets.
type Media struct {
	// Queue and Queuebytes bound each reader's queue; past them the reader
	// skips to the next keyframe (counted in streamhub_media_frames_skipped_total).
	Queue      int `koanf:"queue"`
	Queuebytes int `koanf:"queuebytes"`
	// Takeover lets a new publisher replace a path's current one;
	// otherwise it is refused.
	Takeover bool `koanf:"takeover"`
	// State is how often an online path's $media/<path> state (bitrate,
	// readers) is republished; 0: only on changes.
	State time.Duration `koanf:"state"`
	// Record lists the paths recorded to the data directory, each filter
	// with its retention.
	Record []MediaRecord `koanf:"record"`
}

// MediaRecord records the paths matching Filter (a topic filter over path
// names: live/#) as fMP4 segments of at least Segment, keeping at most Age
// and Bytes of each path (zero: no limit).
type MediaRecord struct {
	Filter  string        `koanf:"filter"`
	Segment time.Duration `koanf:"segment"` // 0: 10s
	Age     time.Duration `koanf:"age"`
	Bytes   int64         `koanf:"bytes"`
}

// RTMP is the RTMP listener (publish and play).
type RTMP struct {
	Addr    string        `koanf:"addr"`    // empty disables
	Timeout time.Duration `koanf:"timeout"` // handshake, each publisher read, each player write
	// Maxmessage bounds one RTMP message (a frame, a command) in bytes; a
	// client announcing a longer one is disconnected. 0: 1 MiB.
	Maxmessage int `koanf:"maxmessage"`
	// Tlsaddr is RTMPS's listener (empty: none), serving Cert and Key, or
	// http.cert and http.key when unset (see MediaCert).
	Tlsaddr string `koanf:"tlsaddr"`
	Cert    string `koanf:"cert"`
	Key     string `koanf:"key"`
}

// MediaCert is the certificate and key a media TLS listener (RTMPS,
// RTSPS) serves: its own, or the HTTP listener's, as MQTT's TLS listener.
// Client certificates are auth.clientca's, as on every TLS listener.
func (c Config) MediaCert(cert, key string) (string, string) {
	if cert != "" || key != "" {
		return cert, key
	}
	return c.HTTP.Cert, c.HTTP.Key
}

// RTSP is the RTSP listener (ANNOUNCE/RECORD and DESCRIBE/PLAY); RTP over
// UDP uses the two ports after its port.
type RTSP struct {
	Addr    string        `koanf:"addr"`    // empty disables
	Timeout time.Duration `koanf:"timeout"` // the first request, each read and write
	// Tlsaddr is RTSPS's listener (empty: none), TCP only (RTP goes
	// interleaved in the TLS connection), serving Cert and Key, or
	// http.cert and http.key when unset (see MediaCert).
	Tlsaddr string `koanf:"tlsaddr"`
	Cert    string `koanf:"cert"`
	Key     string `koanf:"key"`
}

// HLS serves media paths on the HTTP listener at /hls/<path>/index.m3u8.
type HLS struct {
	Variant         string        `koanf:"variant"` // mpegts, fmp4 or lowlatency
	Segments        int           `koanf:"segments"`
	Segmentduration time.Duration `koanf:"segmentduration"`
	Partduration    time.Duration `koanf:"partduration"`
	Idle            time.Duration `koanf:"idle"` // a path's muxer stops after this long without requests
}

func defaultMedia() (Media, RTMP, RTSP, HLS) {
	return Media{Queue: 1024, Queuebytes: 16 << 20, State: 5 * time.Second},
		RTMP{Addr: "127.0.0.1:1935", Timeout: 10 * time.Second, Maxmessage: 1 << 20},
		RTSP{Addr: "127.0.0.1:8554", Timeout: 10 * time.Second},
		HLS{Variant: "mpegts", Segments: 7, Segmentduration: time.Second, Partduration: 200 * time.Millisecond,
			Idle: time.Minute}
}

func (c Config) validateMedia() []error {
	var errs []error
	for key, addr := range map[string]string{"rtmp.addr": c.RTMP.Addr, "rtsp.addr": c.RTSP.Addr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", key, addr, err))
		}
	}
	for _, t := range [][4]string{{"rtmp", c.RTMP.Tlsaddr, c.RTMP.Cert, c.RTMP.Key},
		{"rtsp", c.RTSP.Tlsaddr, c.RTSP.Cert, c.RTSP.Key}} {
		prefix, t := t[0], t[1:]
		errs = appendPair(errs, prefix+".cert", t[1], prefix+".key", t[2])
		if t[0] == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(t[0]); err != nil {
			errs = append(errs, invalid(prefix+".tlsaddr", "%s.tlsaddr %q: %w", prefix, t[0], err))
		}
		if cert, _ := c.MediaCert(t[1], t[2]); cert == "" {
			errs = append(errs, invalid(prefix+".tlsaddr", "%s.tlsaddr needs %s.cert and %s.key, or http.cert and http.key", prefix, prefix, prefix))
		}
	}
	if m := c.RTMP.Maxmessage; m != 0 && (m < 1<<10 || m > 0xFFFFFF) {
		errs = append(errs, fmt.Errorf("rtmp.maxmessage %d: want 1024 to 16777215 bytes (0: 1 MiB)", m))
	}
	if c.Media.Queue <= 0 || c.Media.Queuebytes <= 0 {
		errs = append(errs, errors.New("media.queue and media.queuebytes must be positive"))
	}
	if len(c.Media.Record) > 0 && c.Data == "" {
		errs = append(errs, invalid("data", "media.record needs a data directory: set data (--data DIR)"))
	}
	for _, r := range c.Media.Record {
		if err := topic.ValidateFilter(r.Filter); err != nil {
			errs = append(errs, invalid("media.record", "media.record: %w", err))
		}
		if r.Segment < 0 || r.Age < 0 || r.Bytes < 0 {
			errs = append(errs, invalid("media.record", "media.record %q: segment, age and bytes must not be negative", r.Filter))
		}
	}
	switch c.HLS.Variant {
	case "mpegts", "fmp4", "lowlatency":
	default:
		errs = append(errs, fmt.Errorf("hls.variant %q: want mpegts, fmp4 or lowlatency", c.HLS.Variant))
	}
	if c.HLS.Segments < 1 || c.HLS.Segmentduration <= 0 || c.HLS.Partduration <= 0 {
		errs = append(errs, errors.New("hls.segments, hls.segmentduration and hls.partduration must be positive"))
	}
	return errs
}
