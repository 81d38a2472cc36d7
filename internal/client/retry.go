package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/topic"
)

// Backoff between attempts to reach a server: doubled after each failure,
// reset once a connection is established.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
)

// retrier paces a subscriber's reconnections and says, on each one, where
// it is trying to connect and why the last attempt failed; it gives up
// once the server has been unreachable for longer than giveUpAfter (zero:
// never).
type retrier struct {
	target      string
	log         *slog.Logger
	giveUpAfter time.Duration
	backoff     time.Duration
	downSince   time.Time // zero while connected
}

func newRetrier(target string, log *slog.Logger, giveUpAfter time.Duration) *retrier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &retrier{target: target, log: log, giveUpAfter: giveUpAfter, backoff: firstBackoff}
}

// connected records that a connection was established.
func (r *retrier) connected() {
	r.backoff, r.downSince = firstBackoff, time.Time{}
}

// wait sleeps before the next attempt after err. It returns an error when
// it gives up, and ctx's error when ctx ends first.
func (r *retrier) wait(ctx context.Context, err error) error {
	now := time.Now()
	if r.downSince.IsZero() {
		r.downSince = now
	}
	if down := now.Sub(r.downSince); r.giveUpAfter > 0 && down >= r.giveUpAfter {
		return fmt.Errorf("client: %s unreachable, giving up after %s (--retry-for): %w", r.target, r.giveUpAfter, err)
	}
	stop := "Ctrl-C to stop"
	if r.giveUpAfter > 0 {
		stop = fmt.Sprintf("giving up after %s (--retry-for); Ctrl-C to stop", r.giveUpAfter)
	}
	r.log.Warn("no connection to the server, retrying", "url", r.target, "err", err, "in", r.backoff, "stop", stop)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.backoff):
	}
	r.backoff = min(2*r.backoff, maxBackoff)
	return nil
}

// session is one connection of a subscription: it subscribes (after cursor,
// if set), tells retry once connected, and hands messages to handle until
// the connection ends.
type session func(cursor string, retry *retrier, handle Handler) error

// resubscribe runs sessions until the subscription ends (see
// endOfSubscription), reconnecting through a retrier and resuming after the
// last cursor handled.
func resubscribe(ctx context.Context, target string, filters []string, opts SubscribeOptions, handle Handler, run session) error {
	// A filter the server would refuse is refused here, at once: MQTT
	// 3.1.1 has no refusal for it but closing the connection, which would
	// look like a network failure worth retrying.
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			return fmt.Errorf("client: %w", err)
		}
	}
	cursor := opts.Cursor
	retry := newRetrier(target, opts.Log, opts.RetryFor)
	track := func(e envelope.Envelope, line []byte) error {
		if e.ID != "" {
			cursor = e.ID
		}
		return handle(e, line)
	}
	for {
		err := run(cursor, retry, track)
		if done, err := endOfSubscription(ctx, err); done {
			return err
		}
		if err := retry.wait(ctx, err); err != nil {
			return ignoreCanceled(ctx, err)
		}
	}
}

// endOfSubscription tells whether a connection's end ends the
// subscription: the handler stopped it, ctx ended, or the server refused
// it (retrying would not help).
func endOfSubscription(ctx context.Context, err error) (bool, error) {
	var se *statusError
	switch {
	case errors.Is(err, ErrStop), ctx.Err() != nil:
		return true, nil
	case errors.As(err, &se):
		return true, err
	}
	return false, nil
}

// ignoreCanceled drops the error of a ctx that ended: the user stopped us.
func ignoreCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
