package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pion/webrtc/v4"

	"streamhub/internal/auth"
	"streamhub/internal/limit"
	"streamhub/internal/transport/kit/httpx"
)

// Prefix is where sessions are created (POST) and ended (DELETE Prefix/id).
const Prefix = "/v1/webrtc"

// maxOffer bounds an SDP offer; a browser's with many channels and
// candidates stays well under it.
const maxOffer = 64 << 10

// ServeOffer answers POST /v1/webrtc: an SDP offer in, 201 with the answer
// (every candidate gathered) and the session's Location out.
func (s *Server) ServeOffer(w http.ResponseWriter, r *http.Request) {
	if s.api == nil {
		httpx.WriteError(w, http.StatusServiceUnavailable, "webrtc_disabled", "webrtc.udp and webrtc.tcp are both off")
		return
	}
	offer, ok := readOffer(w, r)
	if !ok {
		return
	}
	if ss, ok := s.startSession(w, r, offer, nil); ok {
		ss.writeAnswer(w)
	}
}

// startSession makes a session for the request's offer: a connection
// slot, the peer connection, setup (tracks to add before the answer), the
// answer. A failure is answered; the caller writes the answer on success.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, offer string, setup func(*session) error) (*session, bool) {
	return s.startSessionWith(s.api, w, r, offer, setup)
}

// startSessionWith is startSession on api (WHIP's negotiates only what a
// media path carries).
func (s *Server) startSessionWith(api *webrtc.API, w http.ResponseWriter, r *http.Request, offer string,
	setup func(*session) error) (*session, bool) {
	// The session outlives the request, so it holds a session slot and a
	// connection slot of its own, whatever the protocol of the request
	// that made it.
	releaseSession, err := s.cfg.Sessions.Acquire(r.RemoteAddr)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		httpx.WriteError(w, httpx.ConnRefusalStatus(err), "too_many_sessions", sessionRefusal(err))
		return nil, false
	}
	releaseConn, err := s.cfg.Admission.Acquire(r.RemoteAddr)
	if err != nil {
		releaseSession()
		httpx.WriteConnRefusal(w, err)
		return nil, false
	}
	release := func() { releaseConn(); releaseSession() }
	ss, err := s.newSession(api, auth.FromContext(r.Context()), r.RemoteAddr, release)
	if err != nil {
		release()
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return nil, false
	}
	if setup != nil {
		if err := setup(ss); err != nil {
			ss.close()
			httpx.WriteError(w, http.StatusInternalServerError, "webrtc_failed", err.Error())
			return nil, false
		}
	}
	if err := ss.answer(r.Context(), offer); err != nil {
		ss.close()
		var bad *badOfferError
		if errors.As(err, &bad) {
			httpx.WriteError(w, http.StatusBadRequest, "bad_sdp", err.Error())
			return nil, false
		}
		httpx.WriteError(w, http.StatusInternalServerError, "webrtc_failed", err.Error())
		return nil, false
	}
	return ss, true
}

// sessionRefusal names the bound a refused session met.
func sessionRefusal(err error) string {
	if errors.Is(err, limit.ErrTooManyConnections) {
		return "too many WebRTC sessions on the server (webrtc.sessions)"
	}
	return "too many WebRTC sessions from this address (webrtc.peraddress)"
}

// writeAnswer answers 201 with the session's SDP answer, its Location and
// the ICE servers.
func (ss *session) writeAnswer(w http.ResponseWriter) {
	for _, u := range ss.srv.cfg.ICEServers {
		w.Header().Add("Link", "<"+u+`>; rel="ice-server"`)
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", Prefix+"/"+ss.id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, ss.pc.LocalDescription().SDP)
}

// ServeDelete answers DELETE /v1/webrtc/{id}: only the identity that made
// the session may end it.
func (s *Server) ServeDelete(w http.ResponseWriter, r *http.Request) {
	ss := s.lookup(r.PathValue("id"))
	if ss == nil || ss.identity.User != auth.FromContext(r.Context()).User {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such session")
		return
	}
	ss.close()
	w.WriteHeader(http.StatusNoContent)
}

// readOffer reads the request's SDP offer, answering a bad request itself.
func readOffer(w http.ResponseWriter, r *http.Request) (string, bool) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/sdp" {
		httpx.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "the offer must be application/sdp")
		return "", false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOffer))
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "bad_sdp", "reading the offer: "+err.Error())
		return "", false
	}
	if !strings.HasPrefix(string(body), "v=0") {
		httpx.WriteError(w, http.StatusBadRequest, "bad_sdp", "the body is not an SDP offer")
		return "", false
	}
	return string(body), true
}

// badOfferError is an offer pion could not take: the client's fault.
type badOfferError struct{ err error }

func (e *badOfferError) Error() string { return "bad offer: " + e.err.Error() }
func (e *badOfferError) Unwrap() error { return e.err }

// answer applies the offer and sets the answer, returning once ICE
// gathering is complete, so the client needs no trickle.
func (ss *session) answer(ctx context.Context, offer string) error {
	if err := ss.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return &badOfferError{err}
	}
	if ss.beforeAnswer != nil {
		if err := ss.beforeAnswer(); err != nil {
			return err
		}
	}
	answer, err := ss.pc.CreateAnswer(nil)
	if err != nil {
		return &badOfferError{err}
	}
	gathered := webrtc.GatheringCompletePromise(ss.pc)
	if err := ss.pc.SetLocalDescription(answer); err != nil {
		return err
	}
	select {
	case <-gathered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
