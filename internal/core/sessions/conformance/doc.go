// Package conformance holds TestSessionStoreConformance: one table of
// behaviours every MQTT session store must show (create once, write and
// delete only at the revision last read, revisions that never come back,
// one winner among concurrent writers, records that survive a restart
// where the store persists), run on each store as the server assembles
// it: memory (no data directory), pebble (a data directory) and
// jetstream (a cluster's key-value bucket on an in-process nats-server).
// It is a package of its own because it imports the store and the cluster
// broker, which import the sessions package.
package conformance
