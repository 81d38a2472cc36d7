package cluster_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"streamhub/internal/cluster"
	"streamhub/internal/media"
	"streamhub/internal/testkit"
)

// mediaNode is a media registry spread over the cluster as the server
// builds it.
func mediaNode(t *testing.T, url, name string) *media.Registry {
	t.Helper()
	h, b := node(t, url, name)
	m, err := b.Media(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := media.New(media.Config{Cluster: m}, h, nil, slog.New(slog.DiscardHandler))
	m.Attach(reg)
	t.Cleanup(reg.Close)
	return reg
}

var _ media.Cluster = (*cluster.Media)(nil)

// TestMediaPathAcrossNodes: a path published on a is busy on b and read
// there frame by frame; when a's publisher leaves, b's reader is told and
// b may publish the path.
func TestMediaPathAcrossNodes(t *testing.T) {
	t.Parallel()
	nats := testkit.StartNATS(t)
	a, b := mediaNode(t, nats.ClientURL(), "a"), mediaNode(t, nats.ClientURL(), "b")
	tracks := []media.Track{{Codec: media.H264, ClockRate: 90000, SPS: []byte{0x67, 1}, PPS: []byte{0x68, 2}}}
	pub, err := a.Publish("live/x", "test", tracks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish("live/x", "test", tracks); !errors.Is(err, media.ErrBusy) {
		t.Fatalf("second publisher on b: %v, want busy", err)
	}
	rd, err := b.Read("live/x", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if l := b.List(); len(l) != 0 {
		t.Errorf("b lists a's path as its own: %+v", l)
	}
	if got := rd.Tracks(); len(got) != 1 || got[0].Codec != media.H264 || string(got[0].SPS) != "\x67\x01" {
		t.Fatalf("tracks on b: %+v", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sent := make(chan struct{})
	go func() { // frames until b has one: b subscribed before it asked, but a sends from its answer on
		defer close(sent)
		for pts := int64(0); ctx.Err() == nil; pts += 3000 {
			pub.Write(media.Frame{PTS: pts, DTS: pts, Keyframe: true, Units: [][]byte{{0x65, 0xaa}}})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	f, err := rd.Next(ctx)
	cancel()
	<-sent
	if err != nil {
		t.Fatal(err)
	}
	if !f.Keyframe || len(f.Units) != 3 || string(f.Units[2]) != "\x65\xaa" {
		t.Fatalf("frame on b: %+v, want SPS, PPS and the slice", f)
	}

	pub.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for err == nil {
		_, err = rd.Next(ctx)
	}
	if !errors.Is(err, media.ErrEnded) {
		t.Fatalf("reader on b after the publisher left: %v, want ended", err)
	}
	testkit.Eventually(t, 20*time.Second, "b publishes the path a gave back", func() bool {
		p, err := b.Publish("live/x", "test", tracks)
		if err == nil {
			p.Close()
		}
		return err == nil
	})
}
