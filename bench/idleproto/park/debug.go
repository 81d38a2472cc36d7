package main

import (
	"encoding/json"
	"log"
	"net/http"
	_ "net/http/pprof" // the heap profile of the parked connections
	"runtime"
	"runtime/debug"
)

// serveDebug serves net/http/pprof and two helpers for the client's
// measurements: /debug/memstats (runtime.MemStats as JSON) and /debug/free
// (debug.FreeOSMemory, then the MemStats after it).
func serveDebug(addr string) {
	memstats := func(w http.ResponseWriter) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]uint64{
			"heap_alloc": m.HeapAlloc, "heap_inuse": m.HeapInuse, "heap_idle": m.HeapIdle,
			"heap_released": m.HeapReleased, "heap_sys": m.HeapSys, "stack_inuse": m.StackInuse,
			"sys": m.Sys, "num_gc": uint64(m.NumGC), "heap_objects": m.HeapObjects,
		})
	}
	http.HandleFunc("/debug/memstats", func(w http.ResponseWriter, _ *http.Request) { memstats(w) })
	http.HandleFunc("/debug/free", func(w http.ResponseWriter, _ *http.Request) {
		debug.FreeOSMemory()
		memstats(w)
	})
	log.Print(http.ListenAndServe(addr, nil))
}
