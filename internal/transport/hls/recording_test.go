package hls

import (
	"net/url"
	"testing"
	"time"

	"streamhub/internal/media/record"
)

// TestRecordingPlaylist: the playlist of a listing, golden: one init
// section per discontinuity, each segment's wall time and place on the
// timeline, the token carried onto every URI; an event playlist being
// recorded has no end.
func TestRecordingPlaylist(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	a, b, c := "20261207T100000.000000Z_1000000us.mp4", "20261207T100001.000000Z_1600000us.mp4", "20261207T101000.000000Z_1000000us.mp4"
	segs := []record.Listed{
		{Name: a, Init: a, Start: t0, Duration: time.Second},
		{Name: b, Init: a, Start: t0.Add(time.Second), Duration: 1600 * time.Millisecond, Offset: time.Second},
		{Name: c, Init: c, Start: t0.Add(10 * time.Minute), Duration: time.Second, Offset: 2600 * time.Millisecond, Discontinuity: true},
	}
	carry := url.Values{"token": {"T"}}
	want := `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="recording_init.mp4?seg=20261207T100000.000000Z_1000000us.mp4&token=T"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:00.000000Z
#EXTINF:1.000000,
recording_segment.m4s?offset=0&seg=20261207T100000.000000Z_1000000us.mp4&token=T
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:01.000000Z
#EXTINF:1.600000,
recording_segment.m4s?offset=1000000&seg=20261207T100001.000000Z_1600000us.mp4&token=T
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="recording_init.mp4?seg=20261207T101000.000000Z_1000000us.mp4&token=T"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:10:00.000000Z
#EXTINF:1.000000,
recording_segment.m4s?offset=2600000&seg=20261207T101000.000000Z_1000000us.mp4&token=T
#EXT-X-ENDLIST
`
	if got := recordingPlaylist(segs, true, false, carry); got != want {
		t.Fatalf("VOD playlist:\n%s\nwant:\n%s", got, want)
	}
	event := recordingPlaylist(segs[:1], false, true, url.Values{})
	wantEvent := `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:1
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-START:TIME-OFFSET=0,PRECISE=YES
#EXT-X-MAP:URI="recording_init.mp4?seg=20261207T100000.000000Z_1000000us.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:00.000000Z
#EXTINF:1.000000,
recording_segment.m4s?offset=0&seg=20261207T100000.000000Z_1000000us.mp4
`
	if event != wantEvent {
		t.Fatalf("event playlist being recorded:\n%s\nwant:\n%s", event, wantEvent)
	}
}
