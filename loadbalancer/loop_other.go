//go:build !linux

package loadbalancer

import (
	"context"
	"net"
)

// loops is the event loop engine, Linux only.
type loops struct{}

// serveLoops is Linux only: elsewhere the fasthttp server serves the client port.
func (s *Server) serveLoops(net.Listener) (bool, error) { return false, nil }

func (s *Server) stopLoops(context.Context) error { return nil }
