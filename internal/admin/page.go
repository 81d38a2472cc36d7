package admin

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"

	"streamhub/internal/transport/kit/httpx"
)

// Every admin list is answered a page at a time: ?limit= items (default
// DefaultPageSize, at most MaxPageSize) after the key ?after=, with the
// key to ask for the next page in "next" (absent on the last page) and
// the whole list's length in "total". A list of ten thousand topics with
// long names would otherwise be one answer of a gigabyte, polled by the
// dashboard every two seconds.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// pageQuery is a request's ?limit= and ?after=.
type pageQuery struct {
	limit int
	after string
}

// readPage reads r's page query, answering 400 (and ok false) for a bad
// limit.
func readPage(w http.ResponseWriter, r *http.Request) (q pageQuery, ok bool) {
	q = pageQuery{limit: DefaultPageSize, after: r.URL.Query().Get("after")}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			httpx.WriteError(w, http.StatusBadRequest, "bad_limit", "limit must be a number from 1 to "+strconv.Itoa(MaxPageSize))
			return q, false
		}
		q.limit = n
	}
	return q, true
}

// page is one page of a list, as answered.
type page[T any] struct {
	items []T
	next  string
	total int
}

// pageOf sorts items by key (in the order compare gives keys) and cuts the
// page q asks for.
func pageOf[T any](items []T, key func(T) string, compare func(a, b string) int, q pageQuery) page[T] {
	slices.SortFunc(items, func(a, b T) int { return compare(key(a), key(b)) })
	start := 0
	if q.after != "" {
		start, _ = slices.BinarySearchFunc(items, q.after, func(it T, after string) int {
			if compare(key(it), after) <= 0 {
				return -1
			}
			return 1
		})
	}
	end := min(start+q.limit, len(items))
	p := page[T]{items: items[start:end], total: len(items)}
	if p.items == nil {
		p.items = []T{}
	}
	if end < len(items) && end > start {
		p.next = key(items[end-1])
	}
	return p
}

// byName orders names as strings.
func byName(a, b string) int { return cmp.Compare(a, b) }

// byNumber orders connection ids, decimal numbers, by value.
func byNumber(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) }

// writePage answers a page of the list called name.
func writePage[T any](w http.ResponseWriter, name string, p page[T]) {
	out := map[string]any{name: p.items, "total": p.total}
	if p.next != "" {
		out["next"] = p.next
	}
	httpx.WriteJSON(w, out)
}
