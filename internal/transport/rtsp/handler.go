package rtsp

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"streamhub/internal/auth"
	"streamhub/internal/media"
	"streamhub/internal/tlsconf"
)

// handler answers gortsplib's callbacks.
type handler struct{ s *Server }

var (
	_ gortsplib.ServerHandlerOnAnnounce     = (*handler)(nil)
	_ gortsplib.ServerHandlerOnRecord       = (*handler)(nil)
	_ gortsplib.ServerHandlerOnDescribe     = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSetup        = (*handler)(nil)
	_ gortsplib.ServerHandlerOnPlay         = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSessionClose = (*handler)(nil)
)

// OnSessionClose ends a publisher's path (readers told, state offline),
// or a reader's place among the path's readers; either leaves the list.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	switch p := ctx.Session.UserData().(type) {
	case *publishing:
		p.pub.Close()
		p.unlist()
	case *reading:
		p.stop()
	}
}

func pathOf(p string) string { return strings.Trim(p, "/") }

func status(code base.StatusCode) *base.Response { return &base.Response{StatusCode: code} }

// authorize returns the identity the request may publish (or read) name
// as (nil when the policy is open), or the refusal: 401 with a Basic
// challenge without valid credentials, 403 without the right. RTSP
// clients carry credentials in the URL
// (rtsp://user:pass@host/...), sent as Basic after the challenge; a
// ?token= query works too. Over RTSPS, a verified client certificate
// (auth.clientca) names the user when the request carries no credentials.
func (s *Server) authorize(nc net.Conn, req *base.Request, query, name string, publish bool) (*auth.Identity, *base.Response) {
	p := s.cfg.Policy
	if p.Open() {
		return nil, nil
	}
	id, err := s.identity(nc, req, query)
	if err != nil {
		s.remote.Info("refused", "reason", err, "path", name)
		return nil, &base.Response{StatusCode: base.StatusUnauthorized,
			Header: base.Header{"WWW-Authenticate": base.HeaderValue{`Basic realm="streamhub"`}}}
	}
	ok := p.CanRead(id, media.Topic(name))
	if publish {
		ok = p.CanPublish(id, media.Topic(name))
	}
	if !ok {
		if id.Anonymous {
			return nil, &base.Response{StatusCode: base.StatusUnauthorized,
				Header: base.Header{"WWW-Authenticate": base.HeaderValue{`Basic realm="streamhub"`}}}
		}
		s.remote.Info("refused", "reason", "no right", "user", id.User, "path", name, "publish", publish)
		return nil, status(base.StatusForbidden)
	}
	return id, nil
}

// listed registers a session that publishes or plays path in the admin
// API's list, whose kick closes the session (and its connection).
func (s *Server) listed(ss *gortsplib.ServerSession, conn *gortsplib.ServerConn, id *auth.Identity, path string, publisher bool) (unlist func()) {
	return s.cfg.Registry.AddMedia(id, "rtsp", conn.NetConn().RemoteAddr().String(), path, publisher, ss.Close)
}

func (s *Server) identity(nc net.Conn, req *base.Request, query string) (*auth.Identity, error) {
	remote := nc.RemoteAddr().String()
	if h := req.Header["Authorization"]; len(h) > 0 {
		user, pass, ok := basicAuth(h[0])
		if !ok {
			return nil, errors.New("rtsp: want Basic credentials")
		}
		return s.cfg.Policy.Login(context.Background(), auth.Credentials{Protocol: "rtsp", Remote: remote, User: user, Password: pass})
	}
	if token := queryValue(query, "token"); token != "" {
		return s.cfg.Policy.Login(context.Background(), auth.Credentials{Protocol: "rtsp", Remote: remote, Token: token})
	}
	if user := tlsconf.ConnUser(nc); user != "" {
		return s.cfg.Policy.Certificate(user, ""), nil
	}
	return s.cfg.Policy.Anonymous("")
}
