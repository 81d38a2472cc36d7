package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestErrorBodiesQuoteLittle: a 100 KB invalid topic is not echoed whole,
// neither in an HTTP error body nor in a TCP text error line.
func TestErrorBodiesQuoteLittle(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.TCP.Addr = "127.0.0.1:0" })
	huge := strings.Repeat("a", 100<<10) + "/#"
	for _, u := range []string{
		http.MethodPost + " " + s.URL + "/v1/publish?topic=" + url.QueryEscape(huge),
		http.MethodGet + " " + s.URL + "/v1/poll?timeout=0&topic=" + url.QueryEscape(huge+"#"),
		http.MethodGet + " " + s.URL + "/v1/subscribe?topic=" + url.QueryEscape(huge+"#"),
		http.MethodPost + " " + s.URL + "/v1/nowhere/" + strings.Repeat("b", 100<<10),
	} {
		method, target, _ := strings.Cut(u, " ")
		req, _ := http.NewRequest(method, target, strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || len(body) > 512 || !strings.Contains(string(body), "…") {
			t.Errorf("%.60s…: %d with a body of %d bytes: %.300s", u, resp.StatusCode, len(body), body)
		}
	}
	tc, err := net.Dial("tcp", s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := io.WriteString(tc, "PUB "+huge+" 1\nx\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil || len(line) > 512 {
		t.Errorf("TCP error line of %d bytes: %.300s %v", len(line), line, err)
	}
}
