package rtmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"

	"streamhub/internal/auth"
	"streamhub/internal/media"
	"streamhub/internal/tlsconf"
)

// serve runs one connection: handshake, connect, then publish or play.
func (s *Server) serve(conn net.Conn) {
	defer conn.Close()
	remote := conn.RemoteAddr().String()
	conn.SetDeadline(time.Now().Add(s.cfg.Timeout))
	guard := newChunkGuard(s.cfg.MaxMessage, s.cfg.Partial)
	defer guard.close()
	sc := &gortmplib.ServerConn{RW: newGuardConn(conn, guard)}
	if err := sc.Initialize(); err != nil {
		s.remote.Info("bad handshake or connect", "remote", remote, "err", err)
		return
	}
	if err := sc.AcceptConn(); err != nil {
		s.remote.Info("bad connection setup", "remote", remote, "err", err)
		return
	}
	name := pathOf(sc.URL)
	if err := media.ValidatePath(name); err != nil {
		s.refuse(sc, remote, "NetStream.Publish.BadName", err)
		return
	}
	id, err := s.identity(conn, sc.URL.Query())
	if err == nil && !s.allowed(id, name, sc.Publish) {
		err = errors.New("not authorized for media/" + name)
	}
	if err != nil {
		code := "NetStream.Play.Failed"
		if sc.Publish {
			code = "NetStream.Publish.Unauthorized"
		}
		s.refuse(sc, remote, code, err)
		return
	}
	conn.SetDeadline(time.Time{})
	defer s.cfg.Registry.AddMedia(id, "rtmp", remote, name, sc.Publish, func() { conn.Close() })()
	if sc.Publish {
		err = s.publish(conn, sc, name)
	} else {
		err = s.play(conn, sc, name)
	}
	s.log.Debug("connection closed", "remote", remote, "path", name, "publish", sc.Publish, "err", err)
}

// pathOf is the media path of an RTMP URL: rtmp://host/live/cam1?token=x
// is live/cam1, whether the encoder split it into app and stream key or not.
func pathOf(u *url.URL) string {
	return strings.Trim(u.Path, "/")
}

// identity authenticates what an RTMP URL can carry: ?token= or
// ?user=&pass= (encoders have no other place for credentials); without
// them, over RTMPS, a verified client certificate (auth.clientca) names
// the user.
func (s *Server) identity(conn net.Conn, q url.Values) (*auth.Identity, error) {
	if s.cfg.Policy.Open() {
		return nil, nil
	}
	remote := conn.RemoteAddr().String()
	if token := q.Get("token"); token != "" {
		return s.cfg.Policy.Login(context.Background(), auth.Credentials{Protocol: "rtmp", Remote: remote, Token: token})
	}
	if user := q.Get("user"); user != "" {
		return s.cfg.Policy.Login(context.Background(), auth.Credentials{Protocol: "rtmp", Remote: remote,
			User: user, Password: q.Get("pass")})
	}
	if user := tlsconf.ConnUser(conn); user != "" {
		return s.cfg.Policy.Certificate(user, ""), nil
	}
	return s.cfg.Policy.Anonymous("")
}

func (s *Server) allowed(id *auth.Identity, name string, publish bool) bool {
	if s.cfg.Policy.Open() {
		return true
	}
	if publish {
		return s.cfg.Policy.CanPublish(id, media.Topic(name))
	}
	return s.cfg.Policy.CanRead(id, media.Topic(name))
}

// refuse answers the publish or play command with an error status, which
// ffmpeg and OBS report, and ends the connection.
func (s *Server) refuse(sc *gortmplib.ServerConn, remote, code string, reason error) {
	s.remote.Info("refused", "remote", remote, "code", code, "reason", reason)
	sc.Write(&message.CommandAMF0{ //nolint:errcheck // the connection closes next either way
		ChunkStreamID:   5,
		MessageStreamID: 0x1000000,
		Name:            "onStatus",
		Arguments: []any{nil, amf0.Object{
			{Key: "level", Value: "error"},
			{Key: "code", Value: code},
			{Key: "description", Value: reason.Error()},
		}},
	})
}

func errorf(format string, args ...any) error { return fmt.Errorf("rtmp: "+format, args...) }
