package cluster

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// boundBucket is a JetStream KV bucket through the link in use, bound
// again to a redialled link on first use.
type boundBucket struct {
	b    *JetStream
	name string

	mu sync.Mutex
	l  *link
	kv jetstream.KeyValue
}

// openBucket creates (or updates) the bucket cfg describes, waiting for
// JetStream as a starting node does for its streams.
func (b *JetStream) openBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (*boundBucket, error) {
	l := b.link()
	var kv jetstream.KeyValue
	err := b.whenReady(ctx, func() (err error) {
		kv, err = l.js.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: key-value bucket %s: %w", cfg.Bucket, err)
	}
	return &boundBucket{b: b, name: cfg.Bucket, l: l, kv: kv}, nil
}

// now is the bucket through the link in use.
func (k *boundBucket) now(ctx context.Context) (jetstream.KeyValue, error) {
	l := k.b.link()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.l != l {
		kv, err := l.js.KeyValue(ctx, k.name)
		if err != nil {
			return nil, fmt.Errorf("cluster: key-value bucket %s: %w", k.name, err)
		}
		k.l, k.kv = l, kv
	}
	return k.kv, nil
}
