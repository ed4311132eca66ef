package demo

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// hostileStack is one zone of the CDN (origin, edge, balancer, DNS, steering) on a small title.
func hostileStack(t *testing.T) (*Stack, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole CDN")
	}
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"}); err != nil {
		t.Fatal(err)
	}
	st, err := Start(ctx, StackConfig{Content: dir, Zones: []string{"zone-a"}, EdgesPerZone: 1, Origins: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop(context.Background()) })
	return st, dir
}

// TestSlowloris holds 40 connections to each HTTP server (origin, edge, balancer, steering),
// each sending its request a byte a second. Meanwhile a normal request must be answered at
// once, and every slow connection must be closed by the server within its read timeout (10 s)
// plus a margin, not held open for as long as the client keeps dribbling.
func TestSlowloris(t *testing.T) {
	st, _ := hostileStack(t)
	seg := "/vod/title-000/400k/seg00000.m4s"
	servers := map[string]string{
		"origin":   strings.TrimPrefix(st.Origins[0], "http://"),
		"edge":     strings.TrimPrefix(st.Edges[0].URL, "http://"),
		"balancer": st.LBs["zone-a"],
		"steering": strings.TrimPrefix(st.Steering, "http://"),
	}
	const perServer = 40
	const readTimeout = 10 * time.Second // httpx.Options default
	deadline := readTimeout + 10*time.Second
	type result struct {
		server string
		held   time.Duration
		closed bool
	}
	results := make(chan result, perServer*len(servers))
	var wg sync.WaitGroup
	start := time.Now()
	for name, addr := range servers {
		for range perServer {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					results <- result{name, 0, true}
					return
				}
				defer c.Close()
				t0 := time.Now()
				req := "GET " + seg + " HTTP/1.1\r\nHost: cdn\r\nX-Slow: " + strings.Repeat("s", 100) + "\r\n\r\n"
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for i := 0; i < len(req) && time.Since(t0) < deadline; i++ {
					if _, err := c.Write([]byte{req[i]}); err != nil {
						results <- result{name, time.Since(t0), true}
						return
					}
					// A closed connection shows as a read of EOF (or a reset) before the next byte.
					c.SetReadDeadline(time.Now().Add(time.Second))
					var b [512]byte
					if _, err := c.Read(b[:]); err != nil {
						if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
							results <- result{name, time.Since(t0), true}
							return
						}
					} else {
						results <- result{name, time.Since(t0), true} // answered (a 408 or similar): the server ended it
						return
					}
					<-tick.C
				}
				results <- result{name, time.Since(t0), false}
			}()
		}
	}
	// While they dribble, a normal request to every server is answered promptly.
	c := &http.Client{Timeout: 5 * time.Second}
	normal := map[string]string{"origin": seg, "edge": seg, "balancer": seg, "steering": "/steer/title-000?zone=zone-a"}
	for name, addr := range servers {
		t0 := time.Now()
		resp, err := c.Get("http://" + addr + normal[name])
		if err != nil {
			t.Errorf("%s under slowloris: %v", name, err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s under slowloris: status %d", name, resp.StatusCode)
		}
		t.Logf("%s: normal request answered in %v with %d slow connections open", name, time.Since(t0).Round(time.Millisecond), perServer)
	}
	wg.Wait()
	close(results)
	worst := map[string]time.Duration{}
	for r := range results {
		if !r.closed {
			t.Errorf("%s kept a slowloris connection open for %v", r.server, r.held)
		}
		worst[r.server] = max(worst[r.server], r.held)
	}
	for name, d := range worst {
		t.Logf("%s: every slow connection closed by the server, the last after %v", name, d.Round(time.Millisecond))
	}
	t.Logf("slowloris run took %v", time.Since(start).Round(time.Second))
}

// TestHostileDNS sends malformed packets to the DNS server over UDP and TCP: each gets FORMERR,
// NOTIMP, REFUSED or silence (never a crash, never an answer to garbage) and afterwards a normal
// query still gets the balancers' addresses.
func TestHostileDNS(t *testing.T) {
	st, _ := hostileStack(t)
	domain := mdns.Fqdn(st.Domain)
	query := func(name string, qtype uint16) []byte {
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := query(domain, mdns.TypeA)
	header := func(id, bits, qd, an, ns, ar uint16) []byte {
		b := make([]byte, 12)
		for i, v := range []uint16{id, bits, qd, an, ns, ar} {
			binary.BigEndian.PutUint16(b[2*i:], v)
		}
		return b
	}
	withBits := func(b []byte, bits uint16) []byte {
		c := append([]byte(nil), b...)
		binary.BigEndian.PutUint16(c[2:], bits)
		return c
	}
	loop := append(header(7, 0, 1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1) // a name that points at itself
	longLabel := append(header(8, 0, 1, 0, 0, 0), 63)
	longLabel = append(longLabel, []byte(strings.Repeat("a", 63))...) // label with no end
	many := header(9, 0, 65535, 65535, 65535, 65535)
	cases := []struct {
		name string
		pkt  []byte
	}{
		{"empty packet", nil},
		{"one byte", []byte{0x42}},
		{"header only, 1 question claimed", header(1, 0, 1, 0, 0, 0)},
		{"all counts 65535", many},
		{"compression pointer loop", loop},
		{"label running off the end", longLabel},
		{"truncated question", good[:len(good)-3]},
		{"a response sent as a query", withBits(good, 1<<15)},
		{"opcode UPDATE", withBits(good, 5<<11)},
		{"opcode STATUS", withBits(good, 2<<11)},
		{"trailing garbage", append(append([]byte(nil), good...), make([]byte, 600)...)},
		{"query for another domain", query("example.com.", mdns.TypeA)},
		{"ANY query", query(domain, mdns.TypeANY)},
		{"64 KiB of zeros", make([]byte, 65000)},
	}
	okAnswer := func(net string) {
		t.Helper()
		c := &mdns.Client{Net: net, Timeout: 3 * time.Second}
		r, _, err := c.Exchange(func() *mdns.Msg { m := new(mdns.Msg); m.SetQuestion(domain, mdns.TypeA); return m }(), st.DNS)
		if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
			t.Fatalf("normal %s query after hostile packets: %v %v", net, r, err)
		}
	}
	for _, tc := range cases {
		// UDP: send, read what comes back (if anything) for a short while.
		u, err := net.Dial("udp", st.DNS)
		if err != nil {
			t.Fatal(err)
		}
		if len(tc.pkt) > 0 && len(tc.pkt) < 65000 {
			u.Write(tc.pkt)
		} else if len(tc.pkt) == 0 {
			u.Write([]byte{})
		}
		u.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 65535)
		if n, err := u.Read(buf); err == nil {
			checkHostileAnswer(t, "udp "+tc.name, tc.pkt, buf[:n])
		}
		u.Close()
		// TCP: two-byte length prefix, then the packet.
		tc2, err := net.Dial("tcp", st.DNS)
		if err != nil {
			t.Fatal(err)
		}
		tc2.SetDeadline(time.Now().Add(3 * time.Second))
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(min(len(tc.pkt), 65535)))
		tc2.Write(append(l[:], tc.pkt...))
		if _, err := io.ReadFull(tc2, l[:]); err == nil {
			resp := make([]byte, binary.BigEndian.Uint16(l[:]))
			if _, err := io.ReadFull(tc2, resp); err == nil {
				checkHostileAnswer(t, "tcp "+tc.name, tc.pkt, resp)
			}
		}
		tc2.Close()
		okAnswer("udp")
		okAnswer("tcp")
	}
	// A TCP client that claims 65535 bytes and sends 10, then waits: the server must not hang
	// for the next client.
	hang, err := net.Dial("tcp", st.DNS)
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	hang.Write([]byte{0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	okAnswer("tcp")
	okAnswer("udp")
}

// checkHostileAnswer: an answer to a hostile packet must parse, carry an error code (or be an
// empty answer to a legitimate but foreign question), and never hold records for garbage.
func checkHostileAnswer(t *testing.T, what string, pkt, resp []byte) {
	t.Helper()
	var m mdns.Msg
	if err := m.Unpack(resp); err != nil {
		// miekg/dns answers a header it cannot parse further with a bare FORMERR header.
		if len(resp) >= 12 && resp[3]&0x0f != 0 {
			return
		}
		t.Errorf("%s: answer does not parse: %v", what, err)
		return
	}
	if !m.Response {
		t.Errorf("%s: answer without the QR bit", what)
	}
	if m.Rcode == mdns.RcodeSuccess && len(m.Answer) > 0 {
		// Only a well-formed question for our domain may be answered.
		var q mdns.Msg
		if err := q.Unpack(pkt); err != nil || q.Response || q.Opcode != mdns.OpcodeQuery {
			t.Errorf("%s: %d answer records to a malformed packet", what, len(m.Answer))
		}
	}
}

// TestHostilePlaylists feeds the player hostile playlists from a loopback server: each ends in
// a clean error from player.Play (or plays what is valid), never a panic, a hang, or a request
// anywhere but that server.
func TestHostilePlaylists(t *testing.T) {
	master := func(variants string) string {
		return "#EXTM3U\n#EXT-X-VERSION:3\n" + variants
	}
	variant := func(bw, uri string) string {
		return fmt.Sprintf("#EXT-X-STREAM-INF:BANDWIDTH=%s,RESOLUTION=640x360\n%s\n", bw, uri)
	}
	media := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg0.ts\n#EXT-X-ENDLIST\n"
	cases := []struct {
		name          string
		master, media string
	}{
		{"not a playlist", "<html>hello</html>", media},
		{"empty master", "", media},
		{"master without variants", master(""), media},
		{"variant to another host", master(variant("400000", "http://192.0.2.1/x.m3u8")), media},
		{"variant with file scheme", master(variant("400000", "file:///etc/passwd")), media},
		{"variant escaping the title", master(variant("400000", "../../other/x.m3u8")), media},
		{"absolute variant path", master(variant("400000", "/etc/passwd")), media},
		{"negative bandwidth", master(variant("-5", "a/index.m3u8")), media},
		{"huge bandwidth", master(variant("99999999999999999999", "a/index.m3u8")), media},
		{"media without segments", master(variant("400000", "a/index.m3u8")), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-ENDLIST\n"},
		{"negative duration", master(variant("400000", "a/index.m3u8")), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:-4,\nseg0.ts\n#EXT-X-ENDLIST\n"},
		{"NaN duration", master(variant("400000", "a/index.m3u8")), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:NaN,\nseg0.ts\n#EXT-X-ENDLIST\n"},
		{"segment to another host", master(variant("400000", "a/index.m3u8")), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nhttp://192.0.2.1/seg.ts\n#EXT-X-ENDLIST\n"},
		{"segment escaping the title", master(variant("400000", "a/index.m3u8")), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n../../../../etc/passwd\n#EXT-X-ENDLIST\n"},
		{"100,000 segments of a tag storm", master(variant("400000", "a/index.m3u8")), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n" + strings.Repeat("#EXT-X-DISCONTINUITY\n", 100000)},
		{"8 MiB line", master(variant("400000", "a/index.m3u8")), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4," + strings.Repeat("x", 8<<20) + "\nseg0.ts\n"},
	}
	var mu sync.Mutex
	var cur struct{ master, media string }
	var foreign []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		m, md := cur.master, cur.media
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/master.m3u8"):
			io.WriteString(w, m)
		case strings.HasSuffix(r.URL.Path, ".m3u8"):
			io.WriteString(w, md)
		case strings.HasSuffix(r.URL.Path, ".ts"):
			w.Write(make([]byte, 188*10))
		default:
			http.NotFound(w, r)
		}
		if (!strings.HasPrefix(r.URL.Path, "/vod/t/") || strings.Contains(r.URL.Path, "..")) && r.URL.Path != "/catalog.json" {
			mu.Lock()
			foreign = append(foreign, r.URL.Path)
			mu.Unlock()
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	for _, tc := range cases {
		mu.Lock()
		cur.master, cur.media = tc.master, tc.media
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t0 := time.Now()
		res, err := player.Play(ctx, player.Config{
			Entry: player.URLEntry{Base: base}, Title: "t", MaxSeconds: 8,
			Link: player.ConstLink(50e6), Client: &http.Client{Timeout: 3 * time.Second},
		})
		hung := ctx.Err() != nil
		cancel()
		switch {
		case hung:
			t.Errorf("%s: the player hung until the test's deadline", tc.name)
		case err != nil:
			t.Logf("%s: clean error after %v: %v", tc.name, time.Since(t0).Round(time.Millisecond), err)
		case res.Failed && res.FailReason != "":
			t.Logf("%s: session failed cleanly after %v: %s", tc.name, time.Since(t0).Round(time.Millisecond), res.FailReason)
		default:
			t.Errorf("%s: played %d segments of a hostile playlist (%d corrupt)", tc.name, len(res.Chunks), res.Corrupt)
		}
	}
	if len(foreign) > 0 {
		t.Errorf("the player asked for paths outside the title: %q", foreign)
	}
}
