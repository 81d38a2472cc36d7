package media

import "testing"

// VP8 and VP9 frames are video whose keyframe bit readers start at.
func TestVPxKeyframesAndVideo(t *testing.T) {
	cases := []struct {
		codec      string
		key, delta []byte
	}{
		{VP8, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}, []byte{0x11, 0x02, 0x00}},
		{VP9, []byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf0}, []byte{0x86, 0x00}},
	}
	for _, c := range cases {
		if !(Track{Codec: c.codec}).Video() {
			t.Errorf("%s: not video", c.codec)
		}
		if !IsKeyframe(c.codec, [][]byte{c.key}) {
			t.Errorf("%s: keyframe not recognised", c.codec)
		}
		if IsKeyframe(c.codec, [][]byte{c.delta}) || IsKeyframe(c.codec, nil) {
			t.Errorf("%s: a delta frame or nothing taken for a keyframe", c.codec)
		}
	}
}

// FuzzIsKeyframe feeds WHIP's untrusted VP8 and VP9 frames to the keyframe
// test, which parses VP9's uncompressed header: it must never panic.
func FuzzIsKeyframe(f *testing.F) {
	f.Fuzz(func(t *testing.T, vp9 bool, frame []byte) {
		codec := VP8
		if vp9 {
			codec = VP9
		}
		IsKeyframe(codec, [][]byte{frame})
	})
}
