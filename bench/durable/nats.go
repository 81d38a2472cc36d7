package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// newStream connects and makes an empty file-stored stream BENCH on bench.>.
func newStream(ctx context.Context, addr string, replicas int) (*nats.Conn, jetstream.Stream, error) {
	nc, err := nats.Connect(addr)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	js.DeleteStream(ctx, "BENCH")
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage, Replicas: replicas})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, stream, nil
}

// jetStreamSync publishes with js.Publish, c goroutines each waiting for
// its ack on one connection, and replays with a pull consumer.
func jetStreamSync(addr string, ld load) ([]row, error) {
	ctx := context.Background()
	nc, stream, err := newStream(ctx, addr, ld.replicas)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	pub, err := parallel(ld.n, ld.c, func(_, _ int) error {
		_, err := js.Publish(ctx, "bench.x", ld.payload)
		return err
	})
	if err != nil {
		return nil, err
	}
	if ld.noReplay {
		return []row{{"js.Publish", pub, 0}}, nil
	}
	replay, err := timed(ld.n, func() error { return fetchReplay(ctx, stream, ld.n) })
	if err != nil {
		return nil, err
	}
	return []row{{"js.Publish, pull-consumer replay (Fetch 1000)", pub, replay}}, nil
}

// jetStreamAsync publishes with js.PublishAsync over c connections, each
// with window acks outstanding, then replays with an ordered consumer and
// with a pull consumer.
func jetStreamAsync(addr string, ld load) ([]row, error) {
	ctx := context.Background()
	nc, stream, err := newStream(ctx, addr, ld.replicas)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	pub, err := timed(ld.n, func() error { return publishAsync(addr, ld) })
	if err != nil {
		return nil, err
	}
	published := row{fmt.Sprintf("js.PublishAsync (%d connections × %d in flight)", ld.c, ld.window), pub, 0}
	if ld.noReplay {
		return []row{published}, nil
	}
	ordered, err := timed(ld.n, func() error { return orderedReplay(ctx, stream, ld.n) })
	if err != nil {
		return nil, err
	}
	fetched, err := timed(ld.n, func() error { return fetchReplay(ctx, stream, ld.n) })
	if err != nil {
		return nil, err
	}
	return []row{
		published,
		{"ordered-consumer replay", 0, ordered},
		{"pull-consumer replay (Fetch 1000)", 0, fetched},
	}, nil
}

func publishAsync(addr string, ld load) error {
	var wg sync.WaitGroup
	errs := make(chan error, ld.c)
	for i := range ld.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := publishAsyncOn(addr, share(ld.n, ld.c, i), ld); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func publishAsyncOn(addr string, n int, ld load) error {
	nc, err := nats.Connect(addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(ld.window))
	if err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, 0, n)
	for range n {
		f, err := js.PublishAsync("bench.x", ld.payload, jetstream.WithStallWait(time.Minute))
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return fmt.Errorf("acks outstanding after a minute: %d", js.PublishAsyncPending())
	}
	for _, f := range futures {
		select {
		case err := <-f.Err():
			return err
		default:
		}
	}
	return nil
}

func orderedReplay(ctx context.Context, stream jetstream.Stream, n int) error {
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for got := range n {
		if _, err := it.Next(); err != nil {
			return fmt.Errorf("after %d messages: %w", got, err)
		}
	}
	return nil
}

func fetchReplay(ctx context.Context, stream jetstream.Stream, n int) error {
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return err
	}
	defer stream.DeleteConsumer(ctx, cons.CachedInfo().Name)
	for got := 0; got < n; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return err
		}
		k := 0
		for range batch.Messages() {
			k++
		}
		if k == 0 {
			return fmt.Errorf("replay stopped at %d of %d", got, n)
		}
		got += k
	}
	return nil
}
