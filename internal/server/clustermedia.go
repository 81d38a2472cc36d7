package server

import (
	"context"
	"fmt"

	"streamhub/internal/media"
)

// clusterMedia makes media paths cluster-wide on a cluster (one publisher
// per path, every path readable on every node; docs/CLUSTER.md): the
// registry's Cluster, and attach, to call with the registry once built.
// Nil on a node alone.
func (s *Server) clusterMedia() (c media.Cluster, attach func(*media.Registry), err error) {
	if s.cluster == nil {
		return nil, func(*media.Registry) {}, nil
	}
	m, err := s.cluster.Media(context.Background())
	if err != nil {
		return nil, nil, fmt.Errorf("server: %w", err)
	}
	return m, m.Attach, nil
}
