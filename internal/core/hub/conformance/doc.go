// Package conformance holds TestEngineConformance: one table of
// behaviours every engine behind the hub must show (ordering, durable or
// not per topic, resume from every start kind with its resolved start and
// gap, retained messages, acknowledgement after store, restart), run on
// each engine as the server assembles it: memory (no data directory),
// pebble (a data directory) and jetstream (the cluster broker on an
// in-process nats-server). It is a package of its own, beside the hub,
// because it imports the store and the cluster broker, which import the
// hub: the hub's own tests cannot import them without a cycle.
package conformance
