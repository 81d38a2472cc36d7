package config

import (
	"time"

	"streamhub/internal/webhook"
)

// Webhook POSTs server events as signed JSON to a URL (docs/WEBHOOKS.md).
type Webhook struct {
	Name   string   `koanf:"name"`   // in the admin API, the metrics and the queue's key
	URL    string   `koanf:"url"`    // http:// or https://
	Secret string   `koanf:"secret"` // HMAC-SHA256 key of X-Streamhub-Signature
	Events []string `koanf:"events"` // connect, disconnect, subscribe, publish, media.online, media.offline
	Topics []string `koanf:"topics"` // the filters of publish events
	// Timeout bounds one attempt; Backoff is the wait after a failed one,
	// doubling up to Backoffmax (0: 10s, 1s, 1m).
	Timeout    time.Duration `koanf:"timeout"`
	Backoff    time.Duration `koanf:"backoff"`
	Backoffmax time.Duration `koanf:"backoffmax"`
	// Queue bounds the events waiting, in the data directory when there
	// is one, else in memory (0: 10000); newer ones are dropped past it.
	Queue int `koanf:"queue"`
	// Attempts drops an event after that many failures (0: never).
	Attempts int `koanf:"attempts"`
}

// Hooks is the webhooks as the webhook package takes them.
func (c Config) Hooks() []webhook.Hook {
	var out []webhook.Hook
	for _, w := range c.Webhooks {
		out = append(out, webhook.Hook{Name: w.Name, URL: w.URL, Secret: w.Secret, Events: w.Events, Topics: w.Topics,
			Timeout: w.Timeout, Backoff: w.Backoff, BackoffMax: w.Backoffmax, Queue: w.Queue, Attempts: w.Attempts})
	}
	return out
}

func (c Config) validateWebhooks() []error {
	var errs []error
	seen := map[string]bool{}
	for i, h := range c.Hooks() {
		if err := h.Validate(); err != nil {
			errs = append(errs, invalid("webhooks", "webhooks[%d] (%s): %w", i, h.Name, err))
		}
		if seen[h.Name] {
			errs = append(errs, invalid("webhooks", "webhooks[%d]: name %q used twice", i, h.Name))
		}
		seen[h.Name] = true
	}
	return errs
}
