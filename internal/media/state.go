package media

import (
	"context"
	"encoding/json"
	"time"

	"streamhub/internal/core/message"
)

// StateTopicPrefix is where path states are published: $media/live/cam1.
const StateTopicPrefix = "$media/"

// State is a path's retained $media/<path> message and its GET /v1/media entry.
type State struct {
	Path    string         `json:"path"`
	Online  bool           `json:"online"`
	Source  string         `json:"source,omitempty"` // the publisher's protocol
	Since   *time.Time     `json:"since,omitempty"`
	Tracks  []TrackState   `json:"tracks,omitempty"`
	Bytes   uint64         `json:"bytes_received"`
	Bitrate int64          `json:"bitrate"` // bits per second, averaged since the path came online
	Readers map[string]int `json:"readers"` // per protocol
	Skipped int            `json:"frames_skipped"`
	// Recorded is what media.record kept of the path, online or not.
	Recorded *Recorded `json:"recorded,omitempty"`
}

// Recorded is the span a path's recording covers and its size on disk.
type Recorded struct {
	First time.Time `json:"first"`
	Last  time.Time `json:"last"` // the end of the newest segment
	Bytes int64     `json:"bytes"`
}

// TrackState describes one track.
type TrackState struct {
	Codec      string `json:"codec"`
	ClockRate  int    `json:"clock_rate"`
	SampleRate int    `json:"sample_rate,omitempty"`
	Channels   int    `json:"channels,omitempty"`
}

func (p *path) state() State {
	since := p.since
	st := State{Path: p.name, Online: true, Source: p.protocol, Since: &since, Bytes: p.bytes.Load(),
		Readers: map[string]int{}}
	if secs := time.Since(p.since).Seconds(); secs >= 1 {
		st.Bitrate = int64(float64(st.Bytes*8) / secs)
	}
	for _, t := range p.tracks {
		ts := TrackState{Codec: t.Codec, ClockRate: t.ClockRate, Channels: t.Channels}
		if t.AAC != nil {
			ts.SampleRate, ts.Channels = t.AAC.SampleRate, t.AAC.ChannelCount
		}
		st.Tracks = append(st.Tracks, ts)
	}
	p.mu.RLock()
	readers := make([]*Reader, 0, len(p.readers))
	for rd := range p.readers {
		readers = append(readers, rd)
	}
	p.mu.RUnlock()
	for _, rd := range readers {
		if n := rd.counted(); n > 0 {
			st.Readers[rd.protocol] += n
		}
		st.Skipped += rd.Skipped()
	}
	return st
}

// publishState sends st as the retained $media/<path> message. An
// offline state stays retained, so a late subscriber learns the path ended.
func (r *Registry) publishState(st State) {
	if r.sink == nil {
		return
	}
	if r.cfg.Recorded != nil {
		if rec, ok := r.cfg.Recorded(st.Path); ok {
			st.Recorded = &rec
		}
	}
	payload, err := json.Marshal(st)
	if err != nil {
		r.log.Error("media state", "path", st.Path, "err", err)
		return
	}
	m := &message.Message{Topic: StateTopicPrefix + st.Path, Payload: payload, ContentType: "application/json",
		Retain: true, UTF8: true}
	if _, err := r.sink.Publish(context.Background(), m); err != nil {
		r.log.Warn("media state not published", "path", st.Path, "err", err)
	}
}
