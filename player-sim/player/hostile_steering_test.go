package player_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// steeringFake is a loopback server that plays steering service and CDN at once: it answers
// /play/<title>/master.m3u8 and /steering/*.json with whatever a test case says, and serves a
// packaged title under /vod/ (or /t/<token>/vod/ when token is set) with SHA-256 ETags. It
// listens on 127.0.0.1 and on a second address, alt, on 127.0.0.2 (a pathway to clone to).
type steeringFake struct {
	url, host string
	alt       string
	dir       string
	token     string                   // content needs /t/<token>/vod/...; "" for /vod/...
	corrupt   bool                     // flip a byte of every segment (its ETag still the good one's)
	play      func(host string) string // the playback manifest
	steer     func(host string) []byte // the steering manifest
	mu        sync.Mutex
	steerReqs []string // request URIs of steering manifests
	content   []string // request paths of content
}

func newSteeringFake(t *testing.T, dir string) *steeringFake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	alt, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	f := &steeringFake{host: ln.Addr().String(), alt: alt.Addr().String(), dir: dir}
	f.url = "http://" + f.host
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	for _, l := range []net.Listener{ln, alt} {
		wg.Add(1)
		go func() { defer wg.Done(); srv.Serve(l) }()
	}
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return f
}

func (f *steeringFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/play/"):
		w.Write([]byte(f.play(f.host)))
		return
	case strings.HasPrefix(p, "/steering/"):
		f.mu.Lock()
		f.steerReqs = append(f.steerReqs, r.URL.RequestURI())
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(bytes.ReplaceAll(f.steer(f.host), []byte("{{alt}}"), []byte(f.alt)))
		return
	}
	f.mu.Lock()
	f.content = append(f.content, p)
	f.mu.Unlock()
	if f.token != "" {
		rest, ok := strings.CutPrefix(p, "/t/"+f.token)
		if !ok {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		p = rest
	}
	rel, ok := strings.CutPrefix(p, "/vod/")
	if !ok && f.token != "" {
		http.Error(w, "forbidden: outside the token's prefix", http.StatusForbidden) // as an edge does
		return
	}
	if !ok || strings.Contains(rel, "..") {
		http.NotFound(w, r)
		return
	}
	b, err := os.ReadFile(filepath.Join(f.dir, filepath.FromSlash(rel)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(b)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	if f.corrupt && (strings.HasSuffix(rel, ".ts") || strings.HasSuffix(rel, ".m4s")) {
		b[len(b)/2] ^= 0xff
	}
	w.Write(b)
}

// loopbackOnly is a client that refuses, and records, any connection to an address that is not
// a loopback IP (a host name included: nothing here should need one).
func loopbackOnly(mu *sync.Mutex, bad *[]string) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			ip, perr := netip.ParseAddr(host)
			if err != nil || perr != nil || !ip.IsLoopback() {
				mu.Lock()
				*bad = append(*bad, network+" "+addr)
				mu.Unlock()
				return nil, errors.New("test: refused a connection off loopback")
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// playback writes a playback manifest: the steering tag, then one variant per pathway=URI pair.
func playback(serverURI string, pathwaysURIs ...string) string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:6\n")
	first := strings.SplitN(pathwaysURIs[0], "=", 2)[0]
	fmt.Fprintf(&b, "#EXT-X-CONTENT-STEERING:SERVER-URI=%q,PATHWAY-ID=%q\n", serverURI, first)
	for _, pu := range pathwaysURIs {
		p, u, _ := strings.Cut(pu, "=")
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=500000,PATHWAY-ID=%q\n%s\n", p, u)
	}
	return b.String()
}

// TestHostileSteering feeds a content-steering player hostile playback and steering manifests
// from a real loopback server. Each ends in a clean error or is ignored, the player going on
// with what it had; none panics, and none makes the player connect anywhere but loopback.
func TestHostileSteering(t *testing.T) {
	dir := t.TempDir()
	if _, err := packager.Package(context.Background(), packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"}); err != nil {
		t.Fatal(err)
	}
	const tok = "v1~1~L3ZvZC8~~AAAA"
	variant := func(host string) string { return "a=http://" + host + "/vod/title-000/300k/index.m3u8" }
	good := func(string) []byte { return []byte(`{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":["a"]}`) }
	okPlay := func(host string) string { return playback("/steering/s.json", variant(host)) }
	manifest := func(s string) func(string) []byte {
		return func(host string) []byte { return []byte(strings.ReplaceAll(s, "{{host}}", host)) }
	}
	huge := func(string) []byte {
		return []byte(`{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":["a"],"X":"` + strings.Repeat("x", 10<<20) + `"}`)
	}
	for _, c := range []struct {
		name  string
		token string // the fake's content needs it
		play  func(host string) string
		steer func(host string) []byte
		fail  string // in the player's fail reason; "" when it must play to the end
	}{
		{name: "control", play: okPlay, steer: good},
		{name: "variant URIs javascript:", play: func(string) string { return playback("/steering/s.json", "a=javascript:alert(1)") }, steer: good, fail: "no pathway"},
		{name: "variant URIs file:", play: func(string) string {
			return playback("/steering/s.json", "a=file:///etc/passwd", "b=file://localhost/etc/passwd")
		}, steer: good, fail: "no pathway"},
		{name: "a file: pathway beside a good one", play: func(host string) string {
			return playback("/steering/s.json", "b=file:///etc/passwd", variant(host))
		}, steer: manifest(`{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":["b","a"]}`)},
		{name: "variant with userinfo to another host", play: func(host string) string {
			return playback("/steering/s.json", "a=http://"+host+"@192.0.2.1/vod/title-000/300k/index.m3u8")
		}, steer: good, fail: "no pathway"},
		{name: "variant path that is not a token", play: func(host string) string {
			return playback("/steering/s.json", "a=http://"+host+"/t/../../etc/vod/title-000/300k/index.m3u8")
		}, steer: good, fail: "no pathway"},
		{name: "SERVER-URI file:", play: func(host string) string { return playback("file:///etc/passwd", variant(host)) }, steer: good, fail: "SERVER-URI"},
		{name: "SERVER-URI javascript:", play: func(host string) string { return playback("javascript:alert(1)", variant(host)) }, steer: good, fail: "SERVER-URI"},
		{name: "SERVER-URI off loopback with userinfo", play: func(host string) string { return playback("http://"+host+"@192.0.2.1/s.json", variant(host)) }, steer: good, fail: "SERVER-URI"},
		{name: "playback manifest of 10 MB", play: func(host string) string { return okPlay(host) + strings.Repeat("#EXT-X-FOO\n", 1<<20) }, steer: good, fail: "more than"},
		{name: "playback manifest not HLS", play: func(string) string { return "<html>" }, steer: good, fail: "playback manifest"},
		{name: "absurd TTL", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":99999999999,"PATHWAY-PRIORITY":["a"]}`)},
		{name: "negative TTL", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":-1,"PATHWAY-PRIORITY":["a"]}`)},
		{name: "clone HOST with a path, first", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":["b","a"],` +
			`"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"192.0.2.1/x"}}]}`)},
		{name: "clone HOST with userinfo, first", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":["b","a"],` +
			`"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"{{host}}@192.0.2.1"}}]}`)},
		{name: "clone HOST with a backslash, first", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":["b","a"],` +
			`"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"{{host}}\\\\@192.0.2.1"}}]}`)},
		{name: "steering manifest of 10 MB", play: okPlay, steer: huge},
		{name: "invalid JSON", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":`)},
		{name: "VERSION 2", play: okPlay, steer: manifest(`{"VERSION":2,"TTL":1,"PATHWAY-PRIORITY":["a"]}`)},
		{name: "empty priority", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":[]}`)},
		{name: "unknown pathways only", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":["x","y"]}`)},
		{name: "RELOAD-URI file:", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":1,"RELOAD-URI":"file:///etc/passwd","PATHWAY-PRIORITY":["a"]}`)},
		{name: "RELOAD-URI javascript:", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":1,"RELOAD-URI":"javascript:alert(1)","PATHWAY-PRIORITY":["a"]}`)},
		{name: "RELOAD-URI to another host", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":1,"RELOAD-URI":"http://192.0.2.1/steering/s.json","PATHWAY-PRIORITY":["a"]}`)},
		{name: "RELOAD-URI to https on the same host", play: okPlay, steer: manifest(`{"VERSION":1,"TTL":1,"RELOAD-URI":"https://{{host}}/steering/s.json","PATHWAY-PRIORITY":["a"]}`)},
		{name: "signed pathway, its clone keeps the token", token: tok, play: func(host string) string {
			return playback("/steering/s.json", "a=http://"+host+"/t/"+tok+"/vod/title-000/300k/index.m3u8")
		}, steer: manifest(`{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":["b","a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"{{alt}}"}}]}`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newSteeringFake(t, dir)
			f.play, f.steer, f.token = c.play, c.steer, c.token
			var mu sync.Mutex
			var offLoopback []string
			client := loopbackOnly(&mu, &offLoopback)
			entry := &player.ContentSteeringEntry{URL: f.url, Client: client}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := player.Play(ctx, player.Config{Title: "title-000", Entry: entry, Client: client, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatalf("Play: %v", err)
			}
			switch {
			case c.fail == "" && r.Failed:
				t.Errorf("failed: %s", r.FailReason)
			case c.fail == "" && (r.Corrupt != 0 || r.Unverified != 0 || len(r.Chunks) != 2):
				t.Errorf("%d chunks, %d corrupt, %d unverified", len(r.Chunks), r.Corrupt, r.Unverified)
			case c.fail != "" && (!r.Failed || !strings.Contains(r.FailReason, c.fail)):
				t.Errorf("failed %v (%s); want a failure about %q", r.Failed, r.FailReason, c.fail)
			}
			if c.fail == "" {
				// Reload a few times more: whatever the manifests said, the player asks the
				// steering server on the same host.
				for range 3 {
					entry.Refresh(ctx, "title-000")
				}
				f.mu.Lock()
				for _, u := range f.steerReqs {
					if !strings.HasPrefix(u, "/steering/s.json?") || !strings.Contains(u, "_HLS_pathway=") {
						t.Errorf("steering manifest asked as %s", u)
					}
				}
				if len(f.steerReqs) < 3 {
					t.Errorf("%d steering requests, want 3 or more", len(f.steerReqs))
				}
				if c.token != "" {
					// The clone came first: the segments came from it, with the token.
					for _, ch := range r.Chunks {
						if ch.Base != "http://"+f.alt+"/t/"+c.token {
							t.Errorf("segment from %s, want the clone http://%s/t/%s", ch.Base, f.alt, c.token)
						}
					}
					for _, p := range f.content {
						if !strings.HasPrefix(p, "/t/"+c.token+"/") {
							t.Errorf("content asked without the token: %s", p)
						}
					}
				}
				f.mu.Unlock()
			}
			mu.Lock()
			defer mu.Unlock()
			if len(offLoopback) > 0 {
				t.Errorf("connections off loopback: %v", offLoopback)
			}
		})
	}
}
