package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/core/engine"
)

// Place answers a start older than the node's memory windows: a time
// (seqAtTime) or a count (lastN) is found in the stream, and the start is
// a gap if retention removed messages after it or a filter reaches
// non-durable topics (gap). An error while telling the gap is no gap: the
// replay that follows fails or retries on its own.
func (b *JetStream) Place(ctx context.Context, filters []string, from engine.From, upTo uint64) (engine.Placed, error) {
	// Filters reaching no durable topic have nothing in the stream: the
	// windows are read from the start instead of the stream for nothing.
	if !b.durableAny(filters) {
		return engine.PlaceUnkept(from, upTo), nil
	}
	p := engine.Placed{After: from.After, Replay: true}
	var err error
	switch {
	case !from.Since.IsZero():
		p.After, err = b.seqAtTime(ctx, filters, from.Since, upTo)
	case from.Last > 0:
		p.After, _, err = b.lastN(ctx, filters, from.Last, upTo)
	}
	if err != nil {
		return engine.Placed{}, err
	}
	if p.After >= upTo {
		// Nothing stored to replay; filters reaching topics the stream
		// never keeps may have lost messages from the windows all the same.
		p.Gap = !b.durableAll(filters)
		return p, nil
	}
	if p.Gap, err = b.gap(ctx, filters, p.After); err != nil {
		b.log.Warn("cluster: could not tell whether history is gone; no gap reported", "err", err)
	}
	return p, nil
}

// seqAtTime is the position just before the first message of the stream
// published at or after t: a `from=TIME` start older than the node's
// memory windows. With none, it is after the stream's last message, or
// upTo if that is later (upTo as well where filters match no durable
// topic): a message acknowledged before the start but not yet delivered
// to this node's windows (it is beyond upTo) is held, not live, and a
// start after it must not replay it (the hub's floor skips it). A consumer
// starts at t by JetStream's own timestamps, taken as it stored each
// message, a moment after its node stamped it: a message stamped before
// t but stored at t or later is passed over here. A start at the
// stream's first message is 0, as on a single node's store: the resume
// then answers a gap if retention removed any message.
func (b *JetStream) seqAtTime(ctx context.Context, filters []string, t time.Time, upTo uint64) (uint64, error) {
	if !b.durableAny(filters) {
		return upTo, nil // never in the stream: the windows hold all there is
	}
	info, err := b.link().messages.Info(ctx)
	if err != nil {
		return 0, unavailable("start at a time: stream info", err)
	}
	st := info.State
	if st.Msgs == 0 {
		return upTo, nil
	}
	afterAll := max(upTo, durablePosition(st.LastSeq))
	if st.LastTime.Before(t) {
		return afterAll, nil
	}
	cons, err := b.link().messages.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t,
	})
	if err != nil {
		return 0, unavailable("start at a time: consumer", err)
	}
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(b.cfg.Timeout))
		if err != nil {
			return 0, unavailable("start at a time", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return 0, fmt.Errorf("cluster: start at a time: %w", err)
		}
		seq := meta.Sequence.Stream
		if seq > st.LastSeq {
			return afterAll, nil // stored after the start was asked: live
		}
		if m, err := b.decode(msg); err == nil && msg.Subject() != b.tickSubject() && !m.Time.Before(t) {
			if seq == st.FirstSeq {
				// From the stream's start: retention may have removed
				// messages published after t, which the gap (after 0) says.
				return 0, nil
			}
			return durablePosition(seq) - 1, nil
		}
		if seq == st.LastSeq {
			return afterAll, nil
		}
	}
}

// lastNSpan is how many stream messages lastN reads first.
const lastNSpan = 256

// lastN is the position just before the n-th last message of the stream
// at or before upTo matching filters (a `last=N` start older than the
// node's memory windows); when fewer match, 0 and how many did. A stream
// is read forward only: lastN reads spans back from upTo, each twice as
// long as the one after it, until n matched.
func (b *JetStream) lastN(ctx context.Context, filters []string, n int, upTo uint64) (uint64, int, error) {
	if !b.durableAny(filters) {
		return upTo, 0, nil // never in the stream: the windows hold all there is
	}
	info, err := b.link().messages.Info(ctx)
	if err != nil {
		return 0, 0, unavailable("last messages: stream info", err)
	}
	first, end := info.State.FirstSeq, streamSeq(upTo)
	found, span := 0, uint64(max(n, lastNSpan))
	for info.State.Msgs > 0 && first > 0 && end >= first {
		lo := first
		if end-first >= span {
			lo = end - span + 1
		}
		positions, err := b.matching(ctx, filters, lo, end)
		if err != nil {
			return 0, 0, err
		}
		if k := len(positions); found+k >= n {
			return positions[k-(n-found)] - 1, n, nil
		}
		found += len(positions)
		end, span = lo-1, span*2
	}
	return 0, found, nil
}

// matching is the positions of the stream's messages from sequence lo to
// hi matching filters, in order.
func (b *JetStream) matching(ctx context.Context, filters []string, lo, hi uint64) ([]uint64, error) {
	var out []uint64
	after, upTo := durablePosition(lo-1), durablePosition(hi)
	for {
		msgs, last, done, err := b.Replay(ctx, filters, after, upTo, replayPage)
		if err != nil {
			return nil, fmt.Errorf("cluster: last messages: %w", err)
		}
		for _, m := range msgs {
			out = append(out, m.Seq)
		}
		if done {
			return out, nil
		}
		after = last
	}
}

// replayPage is how many messages matching reads at once.
const replayPage = 1000
