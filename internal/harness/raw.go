package harness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// RawExchange sends raw on a new connection to addr and reads len(heads) responses (to a HEAD
// when heads[i]); it returns them as text (status, every header but Date sorted by name, the
// body's length and checksum) and whether the server closed the connection after them. Two
// servers that answer alike give the same text.
func RawExchange(t interface {
	Helper()
	Errorf(string, ...any)
}, addr, raw string, heads ...bool) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial %s: %v", addr, err)
		return "", false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Errorf("write: %v", err)
		return "", false
	}
	br := bufio.NewReader(c)
	var out strings.Builder
	for _, head := range heads {
		req := &http.Request{Method: "GET"}
		if head {
			req.Method = "HEAD"
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			fmt.Fprintf(&out, "read error\n")
			return out.String(), true
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&out, "%s\n", resp.Status)
		var names []string
		for k := range resp.Header {
			if k != "Date" {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&out, "%s: %s\n", k, strings.Join(resp.Header[k], " | "))
		}
		s := 0
		for _, b := range body {
			s = s*31 + int(b)
		}
		fmt.Fprintf(&out, "body %d bytes, sum %d, err %v\n", len(body), s, err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = br.ReadByte()
	return out.String(), err == io.EOF
}
