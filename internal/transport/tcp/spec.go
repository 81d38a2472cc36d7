package tcp

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"streamhub/internal/codec/framing"
	"streamhub/internal/core/topic"
)

// Spec is one raw port: ADDR=TOPICS[?framing=lines|length|raw&max=BYTES].
// An input port names one topic; an output port one or more filters
// separated by commas.
type Spec struct {
	Addr    string
	Topics  []string
	Framing framing.Mode
	Max     int // largest message; 0 means the server's payload limit
	raw     string
}

func (s Spec) String() string { return s.raw }

// ParseSpec parses a port spec; input ports take exactly one topic name.
func ParseSpec(s string, input bool) (Spec, error) {
	spec := Spec{raw: s}
	addr, rest, ok := strings.Cut(s, "=")
	if !ok {
		return spec, fmt.Errorf("tcp port %q: want ADDR=TOPIC[?framing=lines|length|raw]", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return spec, fmt.Errorf("tcp port %q: address: %w", s, err)
	}
	spec.Addr = addr
	topics, query, _ := strings.Cut(rest, "?")
	opts, err := url.ParseQuery(query)
	if err != nil {
		return spec, fmt.Errorf("tcp port %q: options: %w", s, err)
	}
	for k := range opts {
		if k != "framing" && k != "max" {
			return spec, fmt.Errorf("tcp port %q: unknown option %q (want framing or max)", s, k)
		}
	}
	if spec.Framing, err = framing.ParseMode(opts.Get("framing")); err != nil {
		return spec, fmt.Errorf("tcp port %q: %w", s, err)
	}
	if v := opts.Get("max"); v != "" {
		if spec.Max, err = strconv.Atoi(v); err != nil || spec.Max <= 0 {
			return spec, fmt.Errorf("tcp port %q: max must be a positive number of bytes", s)
		}
	}
	for _, t := range strings.Split(topics, ",") {
		if input {
			err = topic.ValidateName(t)
		} else {
			err = topic.ValidateFilter(t)
		}
		if err != nil {
			return spec, fmt.Errorf("tcp port %q: %w", s, err)
		}
		spec.Topics = append(spec.Topics, t)
	}
	if input && len(spec.Topics) != 1 {
		return spec, fmt.Errorf("tcp port %q: an input port publishes to exactly one topic", s)
	}
	return spec, nil
}
