package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"streamhub/bench/internal/webrtcpeer"
)

// publishRTMP sends aus over RTMP at fps, looping, each stamped with the
// wall clock when it is written, until ctx ends.
func publishRTMP(ctx context.Context, rawURL string, aus [][][]byte, fps float64) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		return fmt.Errorf("rtmp publish %s: %w", rawURL, err)
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	track := &gortmplib.Track{Codec: &codecs.H264{SPS: findNALU(aus, h264.NALUTypeSPS), PPS: findNALU(aus, h264.NALUTypePPS)}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{track}}
	if err := w.Initialize(); err != nil {
		return fmt.Errorf("rtmp publish: %w", err)
	}
	frame := time.Duration(float64(time.Second) / fps)
	tick := time.NewTicker(frame)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		pts := time.Duration(i) * frame
		if err := w.WriteH264(track, pts, pts, stamped(aus[i%len(aus)], time.Now())); err != nil {
			return fmt.Errorf("rtmp publish: %w", err)
		}
	}
}

func findNALU(aus [][][]byte, typ h264.NALUType) []byte {
	for _, au := range aus {
		for _, n := range au {
			if h264.NALUType(n[0]&0x1f) == typ {
				return n
			}
		}
	}
	return nil
}

// readRTMP plays rawURL and hands each H.264 access unit to onAU.
func readRTMP(ctx context.Context, rawURL string, onAU func([][]byte)) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	c := &gortmplib.Client{URL: u}
	if err := c.Initialize(ctx); err != nil {
		return fmt.Errorf("rtmp play %s: %w", rawURL, err)
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	r := &gortmplib.Reader{Conn: c}
	if err := r.Initialize(); err != nil {
		return fmt.Errorf("rtmp play: %w", err)
	}
	for _, t := range r.Tracks() {
		if _, ok := t.Codec.(*codecs.H264); ok {
			r.OnDataH264(t, func(_, _ time.Duration, au [][]byte) { onAU(au) })
		}
	}
	for {
		if err := r.Read(); err != nil {
			return err
		}
	}
}

// readRTSP plays rawURL over TCP and hands each H.264 access unit to onAU.
func readRTSP(ctx context.Context, rawURL string, onAU func([][]byte)) error {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return err
	}
	tcp := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	desc, _, err := c.Describe(u)
	if err != nil {
		return fmt.Errorf("rtsp describe %s: %w", rawURL, err)
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return errors.New("rtsp: no H.264 track")
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return err
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return fmt.Errorf("rtsp setup: %w", err)
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if au, err := dec.Decode(pkt); err == nil {
			onAU(au)
		}
	})
	if _, err := c.Play(nil); err != nil {
		return fmt.Errorf("rtsp play: %w", err)
	}
	return c.Wait()
}

// readWHEP plays whepURL with a pion peer (recvonly H.264) and hands each
// access unit to onAU.
func readWHEP(ctx context.Context, whepURL string, onAU func([][]byte)) error {
	pc, err := webrtcpeer.New()
	if err != nil {
		return err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		dec, err := (&format.H264{PayloadTyp: uint8(tr.PayloadType()), PacketizationMode: 1}).CreateDecoder()
		if err != nil {
			return
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			// Errors are packets of an unfinished or lost access unit.
			if au, err := dec.Decode(pkt); err == nil {
				onAU(au)
			}
		}
	})
	if err := webrtcpeer.Negotiate(ctx, pc, whepURL); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
