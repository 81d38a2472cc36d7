package tls13rec

import "fmt"

// alert is a TLS alert description (RFC 8446, section 6).
type alert uint8

const (
	alertCloseNotify       alert = 0
	alertUnexpectedMessage alert = 10
	alertBadRecordMAC      alert = 20
	alertRecordOverflow    alert = 22
	alertIllegalParameter  alert = 47
	alertDecodeError       alert = 50
	alertInternalError     alert = 80
	alertUserCanceled      alert = 90
)

var alertText = map[alert]string{
	alertCloseNotify:       "close notify",
	alertUnexpectedMessage: "unexpected message",
	alertBadRecordMAC:      "bad record MAC",
	alertRecordOverflow:    "record overflow",
	alertIllegalParameter:  "illegal parameter",
	alertDecodeError:       "error decoding message",
	alertInternalError:     "internal error",
	alertUserCanceled:      "user canceled",
}

func (a alert) Error() string {
	if s, ok := alertText[a]; ok {
		return "tls: " + s
	}
	return fmt.Sprintf("tls: alert(%d)", uint8(a))
}

// localError is a fault of the peer's records, answered with an alert.
type localError struct {
	alert  alert
	detail string
}

func newAlert(a alert, format string, args ...any) error {
	return &localError{alert: a, detail: fmt.Sprintf(format, args...)}
}

func (e *localError) Error() string { return fmt.Sprintf("tls13rec: %s (%v)", e.detail, e.alert) }
func (e *localError) Unwrap() error { return e.alert }
